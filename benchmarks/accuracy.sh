#!/usr/bin/env bash
# Accuracy on real data, per method, with k-fold cross-validation:
#   all-MiniLM-L6-v2 (real pretrained weights) fine-tuned on the Rotten Tomatoes critic snippets
#   (12,808, fresh vs rotten). Fold f trains on the other k-1 folds and is evaluated on all of
#   fold f. Methods: baseline (r=0, stock ops), freeze_only (r, stock ops), compress_only (r=0,
#   SlimFit ops), slimfit (r, SlimFit ops). Every method sees the same folds, seeds and steps.
# Writes benchmarks/results/accuracy.json (schema in the README) and the per-run summaries under
# benchmarks/results/accuracy_runs/. Runs already summarised are skipped, so the script resumes.
# Knobs (environment): ACC_FOLDS (3), ACC_STEPS (120), ACC_BATCH (32), ACC_SEQ (40), ACC_LR (1e-4),
#   ACC_R (0.9), ACC_JOBS (2 runs at once, ACC_THREADS threads each, default 1),
#   ACC_FOLD_METHODS (methods that run folds 1..k-1; default all four; each method's n_runs and
#   std are over the folds it ran).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=methods.sh
source "$root/benchmarks/methods.sh"
bin="${SLIMFIT_BIN:-$root/build/slimfit}"
folds="${ACC_FOLDS:-3}" steps="${ACC_STEPS:-120}" batch="${ACC_BATCH:-32}" seq="${ACC_SEQ:-40}"
lr="${ACC_LR:-1e-4}" r="${ACC_R:-0.9}" jobs="${ACC_JOBS:-2}" threads="${ACC_THREADS:-1}"
runs="$root/benchmarks/results/accuracy_runs"
mkdir -p "$runs"

data="$root/.assets/rt-$seq.h5"
if [ ! -f "$data" ]; then
  "$bin" prepare --input "$root/.assets/rotten_tomatoes.csv" --output "$data" \
    --vocab "$root/.assets/minilm/vocab.txt" --label-column category --labels rotten,fresh \
    --max-length "$seq"
fi

one_run() {  # method fold
  local method=$1 fold=$2 args
  args=$(train_method_args "$method" "$r")
  local out="$runs/rt-$method-fold$fold.json"
  [ -f "$out" ] && return 0
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=$threads "$bin" train model=minilm "data=$data" "steps=$steps" "batch=$batch" \
    "lr=$lr" warmup_steps=$((steps / 10)) dropout=0.1 seed=0 "kfold=$folds" "fold=$fold" \
    log_every=20 $args --summary "$out.tmp" > "$runs/rt-$method-fold$fold.log" 2>&1
  mv "$out.tmp" "$out"
  echo "rt $method fold $fold: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["final_accuracy"])' "$out")%"
}
export -f one_run train_method_args
export bin data steps batch lr r folds threads runs

# Every method runs fold 0; folds 1.. run for ACC_FOLD_METHODS (default: all four methods).
fold_methods="${ACC_FOLD_METHODS:-baseline freeze_only compress_only slimfit}"
for fold in $(seq 0 $((folds - 1))); do
  for method in baseline freeze_only compress_only slimfit; do
    if [ "$fold" = 0 ] || [[ " $fold_methods " == *" $method "* ]]; then echo "$method $fold"; fi
  done
done | xargs -P "$jobs" -L 1 bash -c 'one_run "$0" "$1"'

python3 - "$runs" "$folds" "$steps" "$batch" "$seq" "$lr" "$r" <<'PY' | tee "$root/benchmarks/results/accuracy.json"
import json, os, statistics, sys
runs, folds, steps, batch, seq, lr, r = sys.argv[1:8]
folds = int(folds)
methods = {}
for m in ["baseline", "freeze_only", "compress_only", "slimfit"]:
    s = [json.load(open(p)) for p in (f"{runs}/rt-{m}-fold{f}.json" for f in range(folds))
         if os.path.exists(p)]
    acc = [x["final_accuracy"] for x in s]
    methods[m] = {"accuracy_mean": statistics.mean(acc),
                  "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else None,
                  "n_runs": len(acc), "accuracies": acc, "f1_mean": statistics.mean(x["final_f1"] for x in s),
                  "mean_step_seconds": statistics.mean(x["mean_step_seconds"] for x in s),
                  "peak_bytes": max(x["peak_bytes"] for x in s),
                  "trainable_fraction": statistics.mean(x["trainable_fraction"] for x in s)}
print(json.dumps({
    "task": "rotten_tomatoes", "model": "all-MiniLM-L6-v2",
    "n_runs": min(x["n_runs"] for x in methods.values()),
    "protocol": f"{folds}-fold cross-validation over all 12,808 snippets; each run trains {steps} "
                f"steps at batch {batch}, seq_len {seq}, lr {lr} (warm-up 10%, linear decay), "
                f"freeze_ratio {r} for freeze_only/slimfit, and is evaluated on its whole held-out "
                f"fold; accuracy in percent; std is the sample std over folds",
    "methods": methods}, indent=2))
PY
