#!/usr/bin/env bash
# predict_matches.sh BINARY: a short training run's checkpoint, then `predict` and `evaluate` on
# one process and under mpirun -np 2 and 3: the JSONL and the metrics must be byte-identical
# (note [evaluation] in src/train/evaluation.h).
set -u
bin="$1"
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
"$bin" train model=bert-tiny data=synthetic:600 batch=8 seq_len=16 steps=6 log_every=100 \
  checkpoint="$dir/r.h5" > "$dir/train.log" 2>&1 || { cat "$dir/train.log"; exit 1; }
# One thread everywhere, as for the ranks below: the claim is the same arithmetic on the same
# batches, which another thread count need not give (it may split a reduction differently).
OMP_NUM_THREADS=1 "$bin" predict checkpoint="$dir/r.h5" --output "$dir/p1.jsonl" 2> /dev/null || exit 1
OMP_NUM_THREADS=1 "$bin" evaluate checkpoint="$dir/r.h5" --summary "$dir/e1.json" 2> /dev/null ||
  exit 1
for np in 2 3; do
  mpirun --allow-run-as-root --oversubscribe -np "$np" -x OMP_NUM_THREADS=1 "$bin" predict \
    checkpoint="$dir/r.h5" --output "$dir/p$np.jsonl" 2> /dev/null || exit 1
  mpirun --allow-run-as-root --oversubscribe -np "$np" -x OMP_NUM_THREADS=1 "$bin" evaluate \
    checkpoint="$dir/r.h5" --summary "$dir/e$np.json" 2> /dev/null || exit 1
  cmp "$dir/p1.jsonl" "$dir/p$np.jsonl" || { echo "FAIL: predict on $np ranks differs"; exit 1; }
  cmp "$dir/e1.json" "$dir/e$np.json" || { echo "FAIL: evaluate on $np ranks differs"; exit 1; }
done
echo "$(wc -l < "$dir/p1.jsonl") predictions, identical on 1, 2 and 3 ranks; PASS"
