#!/usr/bin/env bash
# stop_and_resume.sh NP MODE BINARY ARGS...: under mpirun -np NP, a run stopped part-way and
# resumed from its checkpoint must end with the same final_train_loss, to the last bit, as the
# same run uninterrupted. MODE term: SIGTERM raised on rank 1 only, at step 3 (every rank must
# stop after step 4, exit non-zero and leave the checkpoint); MODE mpirun: SIGTERM sent to
# mpirun alone once step 2 is logged (it forwards the signal; every rank must stop at one step);
# MODE stop_after: stop_after=5.
set -u
np="$1"; mode="$2"; bin="$3"; shift 3
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
mpi() { timeout 120 mpirun --allow-run-as-root --oversubscribe -np "$np" -x SLIMFIT_FAULT \
          -x OMP_NUM_THREADS=1 "$bin" train "$@" 2>&1; }
loss() { grep -o '"final_train_loss": [^,]*' "$1"; }
export SLIMFIT_FAULT=
mpi "$@" --summary "$dir/straight.json" > "$dir/straight.log" || { cat "$dir/straight.log"; exit 1; }
if [ "$mode" = term ]; then
  out=$(SLIMFIT_FAULT="rank=1,step=3,kind=term" mpi "$@" checkpoint="$dir/ck.h5"); rc=$?
  echo "$out" | tail -n 4
  [ "$rc" -ne 0 ] || { echo "FAIL: the stopped run exited 0"; exit 1; }
  [ "$(grep -c 'stopped by SIGTERM after step 4' <<<"$out")" -eq "$np" ] ||
    { echo "FAIL: not every rank said it stopped after step 4"; exit 1; }
elif [ "$mode" = mpirun ]; then
  mpirun --allow-run-as-root --oversubscribe -np "$np" -x OMP_NUM_THREADS=1 "$bin" train "$@" \
    log_every=1 checkpoint="$dir/ck.h5" > "$dir/stopped.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do grep -q 'step 2/' "$dir/stopped.log" && break; sleep 0.1; done
  kill -TERM "$pid"
  wait "$pid"; rc=$?
  tail -n 4 "$dir/stopped.log"
  [ "$rc" -ne 0 ] || { echo "FAIL: the stopped run exited 0"; exit 1; }
  [ "$(grep -c 'stopped by SIGTERM after step' "$dir/stopped.log")" -eq "$np" ] ||
    { echo "FAIL: not every rank said it stopped"; exit 1; }
  [ "$(grep -o 'stopped by SIGTERM after step [0-9]*' "$dir/stopped.log" | sort -u | wc -l)" -eq 1 ] ||
    { echo "FAIL: the ranks stopped after different steps"; exit 1; }
else
  mpi "$@" stop_after=5 checkpoint="$dir/ck.h5" > "$dir/stopped.log" ||
    { cat "$dir/stopped.log"; exit 1; }
fi
[ -f "$dir/ck.h5" ] || { echo "FAIL: no checkpoint"; exit 1; }
mpi "$@" resume="$dir/ck.h5" checkpoint="$dir/ck.h5" --summary "$dir/resumed.json" \
  > "$dir/resumed.log" || { cat "$dir/resumed.log"; exit 1; }
echo "uninterrupted: $(loss "$dir/straight.json"); stopped and resumed: $(loss "$dir/resumed.json")"
[ "$(loss "$dir/straight.json")" = "$(loss "$dir/resumed.json")" ] || { echo "FAIL"; exit 1; }
echo "PASS"
