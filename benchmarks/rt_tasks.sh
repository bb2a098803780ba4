#!/usr/bin/env bash
# Sentence pairs and regression on real text (issue 13): the tasks tools/make_rt_tasks.py builds
# from the Rotten Tomatoes snippets (rt-pairs: do two critics agree? rt-nli: does a hypothesis
# about the critic's verdict follow from the snippet? rt-regression: the fresh share of 2-4
# snippets of one movie), fine-tuned from all-MiniLM-L6-v2, baseline and
# SlimFit, each then used as a user would: evaluate the best checkpoint, export it, load the
# export in transformers (when benchmarks/peer_hf.sh's .venv-peer exists) and predict.
# Writes benchmarks/results/rt_tasks.json and the runs under benchmarks/results/rt_tasks_runs/.
# Finished runs are skipped; an interrupted run continues from its checkpoint (resume=auto).
# Knobs: RTT_STEPS (300), RTT_BATCH (16), RTT_METHODS ("baseline slimfit"), RTT_TASKS
#   ("nli regression"; "pairs" is the harder XOR task), RTT_THREADS (2). pooling=cls, so that the models can be exported
#   (Hugging Face's sequence classifiers pool [CLS]); freeze_ratio 0.9, lr 1e-4, budget and
#   frozen_update at their defaults.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=methods.sh
source "$root/benchmarks/methods.sh"
bin="${SLIMFIT_BIN:-$root/build/slimfit}"
steps="${RTT_STEPS:-300}" batch="${RTT_BATCH:-16}" threads="${RTT_THREADS:-2}"
methods="${RTT_METHODS:-baseline slimfit}" tasks="${RTT_TASKS:-nli regression}"
assets="$root/.assets/rt-tasks" runs="$root/benchmarks/results/rt_tasks_runs"
mkdir -p "$assets" "$runs"
vocab="$root/.assets/minilm/vocab.txt"

[ -f "$assets/rt-nli.csv" ] || python3 "$root/tools/make_rt_tasks.py" --out-dir "$assets"
[ -f "$assets/rt-pairs.h5" ] || "$bin" prepare --input "$assets/rt-pairs.csv" \
  --output "$assets/rt-pairs.h5" --vocab "$vocab" --text-column sentence1 \
  --text-pair-column sentence2 --max-length 96
[ -f "$assets/rt-nli.h5" ] || "$bin" prepare --input "$assets/rt-nli.csv" \
  --output "$assets/rt-nli.h5" --vocab "$vocab" --text-column premise \
  --text-pair-column hypothesis --max-length 96
[ -f "$assets/rt-regression.h5" ] || "$bin" prepare --input "$assets/rt-regression.csv" \
  --output "$assets/rt-regression.h5" --vocab "$vocab" --label-column target --max-length 128

for task in $tasks; do
  for method in $methods; do
    name="rt-$task-s$steps-$method" base="$runs/rt-$task-s$steps-$method"
    if [ ! -f "$base.json" ]; then
      echo "training $name"
      # shellcheck disable=SC2046
      OMP_NUM_THREADS=$threads "$bin" train model=minilm "data=$assets/rt-$task.h5" pooling=cls \
        "steps=$steps" "batch=$batch" lr=1e-4 warmup_steps=$((steps / 10)) dropout=0.1 seed=0 \
        eval_every=$((steps / 6)) "save_best=$base.best.h5" log_every=50 checkpoint_every=25 \
        "checkpoint=$base.ckpt.h5" resume=auto "metrics=$base.metrics.h5" \
        $(train_method_args "$method" 0.9) --summary "$base.train.json" >> "$base.log" 2>&1
      OMP_NUM_THREADS=$threads "$bin" evaluate "checkpoint=$base.best.h5" \
        --summary "$base.best-eval.json" >> "$base.log" 2>&1
      rm -rf "$base.hf"
      "$bin" export "checkpoint=$base.best.h5" --output "$base.hf" >> "$base.log" 2>&1
      OMP_NUM_THREADS=$threads "$bin" predict "model=$base.hf" "data=$assets/rt-$task.h5" \
        max_eval=200 --output "$base.predict.jsonl" >> "$base.log" 2>&1
      python3 - "$base" <<'PY'
import json, sys
base = sys.argv[1]
train, best = json.load(open(base + ".train.json")), json.load(open(base + ".best-eval.json"))
out = {"final": train["final_metrics"], "best_step": train.get("best_step"),
       "best_checkpoint_eval": best, "mean_step_seconds": train["mean_step_seconds"],
       "peak_bytes": train["peak_bytes"], "trainable_fraction": train["trainable_fraction"],
       "predictions_written": sum(1 for _ in open(base + ".predict.jsonl"))}
json.dump(out, open(base + ".json", "w"), indent=2)
PY
      rm -f "$base.ckpt.h5"
    fi
    echo "$name: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["best_checkpoint_eval"])' "$base.json")"
  done
done

python3 - "$runs" "$steps" "$batch" <<'PY' | tee "$root/benchmarks/results/rt_tasks.json"
import glob, json, os, sys
runs, steps, batch = sys.argv[1:4]
results = {os.path.basename(p)[:-5]: json.load(open(p))
           for p in sorted(glob.glob(f"{runs}/rt-*-s{steps}-*.json"))
           if not p.endswith((".train.json", ".best-eval.json"))}
print(json.dumps({
    "protocol": f"tools/make_rt_tasks.py (seed 0) from the Rotten Tomatoes snippets; MiniLM "
                f"(all-MiniLM-L6-v2) with pooling=cls, {steps} steps at batch {batch}, lr 1e-4, "
                f"warm-up 10%, dropout 0.1, seed 0, eval_fraction 0.2 (held out), an evaluation "
                f"every {int(steps) // 6} steps with save_best; pairs and nli at 96 tokens, "
                f"regression at 128; baseline = freeze_ratio 0 and stock ops, slimfit = freeze_ratio 0.9 and "
                f"SlimFit ops; one run each (regression at 128 tokens cuts 249 of the 4,241 rows; "
                f"tools/make_rt_tasks.py recommends 256)",
    "runs": results}, indent=2))
PY
