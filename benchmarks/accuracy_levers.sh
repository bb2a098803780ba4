#!/usr/bin/env bash
# Accuracy levers, one at a time (issue 11): all-MiniLM-L6-v2 on the Rotten Tomatoes snippets,
# fold LEV_FOLD (0) of 3, the same protocol as benchmarks/accuracy.sh (batch 32, seq 40, warm-up
# 10%, linear decay, dropout 0.1, mean pooling, seed 0, evaluated on the whole held-out fold).
# Every arm is a method (methods.sh) plus `slimfit train` keys; each is run on its own, so each
# lever's worth is the difference to the arm it changes.
#
# usage: benchmarks/accuracy_levers.sh [ARM ...]   (default: every arm below)
# Knobs: LEV_STEPS (120), LEV_FOLD (0), LEV_JOBS (2 runs at once, 1 thread each).
# The script is read by bash as it runs: copy it before editing while a sweep is going.
# Runs are named rt-lev-sSTEPS-ARM-foldF under benchmarks/results/accuracy_levers_runs/; a
# finished run (its .json) is skipped, and an unfinished one resumes from its checkpoint
# (checkpoint_every=20), so the script can be stopped and started again at any time.
# Writes benchmarks/results/accuracy_levers_sSTEPS.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=methods.sh
source "$root/benchmarks/methods.sh"
bin="${SLIMFIT_BIN:-$root/build/slimfit}"
steps="${LEV_STEPS:-120}" fold="${LEV_FOLD:-0}" jobs="${LEV_JOBS:-2}" seq=40 r=0.9
runs="$root/benchmarks/results/accuracy_levers_runs"
mkdir -p "$runs"

# name | method | keys (frozen_update=coast and budget=mean are the defaults since issue 11)
arms() {
  cat <<'EOF'
baseline-lr1e-4|baseline|lr=1e-4
baseline-lr2e-4|baseline|lr=2e-4
baseline-lr3e-4|baseline|lr=3e-4
slimfit-none-lr1e-4|slimfit|lr=1e-4 frozen_update=none budget=units
slimfit-coast-lr1e-4|slimfit|lr=1e-4 budget=units
slimfit-coast-lr2e-4|slimfit|lr=2e-4 budget=units
slimfit-coast-lr3e-4|slimfit|lr=3e-4 budget=units
slimfit-coast-lr2e-4-norm|slimfit|lr=2e-4 score=norm budget=units
slimfit-coast-lr2e-4-stale12|slimfit|lr=2e-4 staleness=12 budget=units
slimfit-coast-lr2e-4-explore0.1|slimfit|lr=2e-4 exploration=0.1 budget=units
slimfit-mean-lr1e-4|slimfit|lr=1e-4 budget=mean
slimfit-mean-lr2e-4|slimfit|lr=2e-4 budget=mean
slimfit-worst-lr2e-4|slimfit|lr=2e-4 budget=worst
slimfit-mean-lr2e-4-norm|slimfit|lr=2e-4 budget=mean score=norm
slimfit-mean-none-lr2e-4|slimfit|lr=2e-4 budget=mean frozen_update=none
slimfit-mean-lr2e-4-offload|slimfit|lr=2e-4 budget=mean offload_optimizer=true
EOF
}

data="$root/.assets/rt-$seq.h5"
if [ ! -f "$data" ]; then
  "$bin" prepare --input "$root/.assets/rotten_tomatoes.csv" --output "$data" \
    --vocab "$root/.assets/minilm/vocab.txt" --label-column category --labels rotten,fresh \
    --max-length "$seq"
fi

one_run() {  # name method keys...
  local name=$1 method=$2
  shift 2
  local base="$runs/rt-lev-s$steps-$name-fold$fold"
  [ -f "$base.json" ] && return 0
  local resume=()
  [ -f "$base.ckpt.h5" ] && resume=("resume=$base.ckpt.h5")
  # shellcheck disable=SC2046
  OMP_NUM_THREADS=1 "$bin" train model=minilm "data=$data" "steps=$steps" batch=32 \
    warmup_steps=$((steps / 10)) dropout=0.1 seed=0 kfold=3 "fold=$fold" pooling=mean \
    log_every=20 checkpoint_every=20 "checkpoint=$base.ckpt.h5" "metrics=$base.metrics.h5" \
    $(train_method_args "$method" "$r") "$@" "${resume[@]}" --summary "$base.json.tmp" \
    >> "$base.log" 2>&1 ||
    { echo "$(basename "$base") failed (its checkpoint, if any, is kept): see $base.log" >&2; return 1; }
  mv "$base.json.tmp" "$base.json"
  rm -f "$base.ckpt.h5"
  echo "$name fold $fold, $steps steps: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["final_accuracy"])' "$base.json")%"
}
export -f one_run train_method_args
export bin data steps fold r runs

wanted=" ${*:-} "
arms | while IFS='|' read -r name method keys; do
  if [ "$wanted" = "  " ] || [[ "$wanted" == *" $name "* ]]; then echo "$name $method $keys"; fi
done | xargs -P "$jobs" -L 1 bash -c 'one_run "$@"' one_run

python3 - "$runs" "$steps" "$fold" <<'PY' | tee "$root/benchmarks/results/accuracy_levers_s$steps.json"
import glob, json, os, sys
runs, steps, fold = sys.argv[1:4]
arms = {}
for path in sorted(glob.glob(f"{runs}/rt-lev-s{steps}-*-fold{fold}.json")):
    name = os.path.basename(path)[len(f"rt-lev-s{steps}-"):-len(f"-fold{fold}.json")]
    s = json.load(open(path))
    arms[name] = {"accuracy": s["final_accuracy"], "f1": s["final_f1"],
                  "eval_loss": s["final_eval_loss"], "lr": float(s["config"]["lr"]),
                  "peak_bytes": s["peak_bytes"], "mean_step_seconds": s["mean_step_seconds"],
                  "trainable_fraction": s["trainable_fraction"],
                  "optimizer_bytes": s.get("optimizer_bytes"),
                  "optimizer_resident_bytes_mean": s.get("optimizer_resident_bytes_mean"),
                  "optimizer_resident_bytes_max": s.get("optimizer_resident_bytes_max"),
                  "keys": {k: s["config"][k] for k in
                           ["freeze_ratio", "compress", "frozen_update", "score", "staleness",
                            "exploration", "budget"] if k in s["config"]}}
    if arms[name]["keys"].get("budget") == "bytes":  # two runs of an earlier build
        arms[name]["keys"]["budget"] = "worst"
        arms[name]["note"] = "run by an earlier build, whose budget=bytes is today's budget=worst"
print(json.dumps({
    "task": "rotten_tomatoes", "model": "all-MiniLM-L6-v2", "steps": int(steps), "fold": int(fold),
    "protocol": f"fold {fold} of 3 over all 12,808 snippets; {steps} steps at batch 32, seq_len 40, "
                "warm-up 10%, linear decay, dropout 0.1, mean pooling, seed 0, freeze_ratio 0.9 "
                "for slimfit arms; one run per arm (expect about +-0.5 points of noise); "
                "evaluated on the whole held-out fold (4,269 snippets)",
    "arms": arms}, indent=2))
PY
