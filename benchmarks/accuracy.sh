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
#   std are over the folds it ran), ACC_METHODS (methods run at all; default all four),
#   ACC_POOLING (mean, the default: the masked mean of the last hidden states, how
#   all-MiniLM-L6-v2 was trained; cls: Hugging Face's tanh pooler on [CLS]), ACC_RESULT (the
#   output file under benchmarks/results/, default accuracy.json), ACC_LR_<METHOD> (that
#   method's lr, default ACC_LR), ACC_KEYS (extra `slimfit train` keys for the methods that
#   freeze, freeze_only and slimfit), ACC_TAG (a name for those settings). Runs are named
#   rt-POOLING-sSTEPS[-TAG]-METHOD-foldF, so runs of other settings never mix. A run writes a
#   checkpoint every 20 steps and an interrupted run resumes from it (bit-exact), so the script
#   can be stopped and started again at any time; a finished run (its .json) is skipped, and a
#   run that another sweep is running (flock on its .run.lock) is skipped too, so two sweeps
#   with ACC_JOBS=1 share the runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=methods.sh
source "$root/benchmarks/methods.sh"
bin="${SLIMFIT_BIN:-$root/build/slimfit}"
folds="${ACC_FOLDS:-3}" steps="${ACC_STEPS:-120}" batch="${ACC_BATCH:-32}" seq="${ACC_SEQ:-40}"
lr="${ACC_LR:-1e-4}" r="${ACC_R:-0.9}" jobs="${ACC_JOBS:-2}" threads="${ACC_THREADS:-1}"
pooling="${ACC_POOLING:-mean}" keys="${ACC_KEYS:-}" tag="${ACC_TAG:+-$ACC_TAG}"
all_methods="${ACC_METHODS:-baseline freeze_only compress_only slimfit}"
prefix="rt-$pooling-s$steps$tag" result="$root/benchmarks/results/${ACC_RESULT:-accuracy.json}"
runs="$root/benchmarks/results/accuracy_runs"
mkdir -p "$runs"

data="$root/.assets/rt-$seq.h5"
if [ ! -f "$data" ]; then
  "$bin" prepare --input "$root/.assets/rotten_tomatoes.csv" --output "$data" \
    --vocab "$root/.assets/minilm/vocab.txt" --label-column category --labels rotten,fresh \
    --max-length "$seq"
fi

one_run() {  # method fold
  local method=$1 fold=$2 args method_lr_var="ACC_LR_$1"
  local method_lr="${!method_lr_var:-$lr}"
  args=$(train_method_args "$method" "$r")
  [[ "$method" == freeze_only || "$method" == slimfit ]] && args="$args $keys"
  local base="$runs/$prefix-$method-fold$fold" out="$runs/$prefix-$method-fold$fold.json"
  [ -f "$out" ] && return 0
  # A run is claimed with a lock, so two sweeps started side by side share the work.
  exec 9> "$base.run.lock"
  flock -n 9 || { echo "$(basename "$base") runs in another sweep; skipped"; return 0; }
  [ -f "$out" ] && return 0
  local resume=()
  [ -f "$base.ckpt.h5" ] && resume=("resume=$base.ckpt.h5")
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=$threads "$bin" train model=minilm "data=$data" "steps=$steps" "batch=$batch" \
    "lr=$method_lr" warmup_steps=$((steps / 10)) dropout=0.1 seed=0 "kfold=$folds" "fold=$fold" \
    "pooling=$pooling" log_every=20 checkpoint_every=20 "checkpoint=$base.ckpt.h5" \
    "metrics=$base.metrics.h5" $args "${resume[@]}" --summary "$out.tmp" >> "$base.log" 2>&1 ||
    { echo "$(basename "$base") failed (its checkpoint, if any, is kept): see $base.log" >&2; return 1; }
  mv "$out.tmp" "$out"
  rm -f "$base.ckpt.h5" "$base.run.lock"
  echo "$prefix $method fold $fold: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["final_accuracy"])' "$out")%"
}
export -f one_run train_method_args
export bin data steps batch lr r folds threads runs pooling prefix keys ${!ACC_LR_*}

# Every method runs fold 0; folds 1.. run for ACC_FOLD_METHODS (default: all four methods).
fold_methods="${ACC_FOLD_METHODS:-$all_methods}"
for fold in $(seq 0 $((folds - 1))); do
  for method in $all_methods; do
    if [ "$fold" = 0 ] || [[ " $fold_methods " == *" $method "* ]]; then echo "$method $fold"; fi
  done
done | xargs -P "$jobs" -L 1 bash -c 'one_run "$0" "$1"'

python3 - "$runs" "$folds" "$steps" "$batch" "$seq" "$lr" "$r" "$prefix" "$pooling" "$keys" <<'PY' | tee "$result"
import json, os, statistics, sys
runs, folds, steps, batch, seq, lr, r, prefix, pooling, keys = sys.argv[1:11]
folds = int(folds)
methods = {}
for m in ["baseline", "freeze_only", "compress_only", "slimfit"]:
    s = [json.load(open(p)) for p in (f"{runs}/{prefix}-{m}-fold{f}.json" for f in range(folds))
         if os.path.exists(p)]
    if not s:
        continue
    acc = [x["final_accuracy"] for x in s]
    methods[m] = {"accuracy_mean": statistics.mean(acc),
                  "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else None,
                  "n_runs": len(acc), "accuracies": acc, "f1_mean": statistics.mean(x["final_f1"] for x in s),
                  "lr": float(s[0]["config"]["lr"]),
                  "keys": {k: s[0]["config"][k] for k in ["frozen_update", "budget", "score",
                           "staleness", "exploration"] if k in s[0]["config"]},
                  "mean_step_seconds": statistics.mean(x["mean_step_seconds"] for x in s),
                  "peak_bytes": max(x["peak_bytes"] for x in s),
                  "trainable_fraction": statistics.mean(x["trainable_fraction"] for x in s)}
print(json.dumps({
    "task": "rotten_tomatoes", "model": "all-MiniLM-L6-v2", "pooling": pooling, "steps": int(steps),
    "variant": f"{pooling} pooling, {steps} steps",
    "n_runs": min(x["n_runs"] for x in methods.values()),
    "protocol": f"{folds}-fold cross-validation over all 12,808 snippets; each run trains {steps} "
                f"steps at batch {batch}, seq_len {seq}, lr per method as listed (warm-up 10%, "
                f"linear decay), extra keys for the freezing methods: '{keys}', "
                f"freeze_ratio {r} for freeze_only/slimfit, the classifier on {pooling} pooling, and "
                f"is evaluated on its whole held-out "
                f"fold; accuracy in percent; std is the sample std over folds",
    "methods": methods}, indent=2))
PY
