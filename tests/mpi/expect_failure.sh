#!/usr/bin/env bash
# expect_failure.sh NP FAULT PATTERN BINARY ARGS...: runs BINARY under mpirun with the fault
# injected (SLIMFIT_FAULT=FAULT) and passes only if the job ends non-zero within 60 s with
# PATTERN in its output: a failing rank brings the job down promptly, never hangs.
set -u
np="$1"; fault="$2"; pattern="$3"; shift 3
start=$(date +%s)
out=$(SLIMFIT_FAULT="$fault" timeout 60 mpirun --allow-run-as-root --oversubscribe -np "$np" \
        -x SLIMFIT_FAULT -x OMP_NUM_THREADS=1 "$@" 2>&1)
rc=$?
elapsed=$(( $(date +%s) - start ))
echo "$out" | tail -n 15
echo "exit $rc after ${elapsed}s"
if [ "$rc" -eq 124 ]; then echo "FAIL: the job hung (killed by timeout)"; exit 1; fi
if [ "$rc" -eq 0 ]; then echo "FAIL: the job succeeded despite the fault"; exit 1; fi
if ! grep -q -- "$pattern" <<<"$out"; then echo "FAIL: no '$pattern' in the output"; exit 1; fi
echo "PASS"
