#!/usr/bin/env bash
# The main job: installs and builds what is missing, then fine-tunes the real all-MiniLM-L6-v2
# on the Rotten Tomatoes snippets (fresh vs rotten; fold 0 of 3, mean pooling, as the sentence-
# transformers checkpoint was trained) twice: the unfrozen baseline (stock ops) and SlimFit
# (freeze_ratio 0.9 with its defaults: frozen units coast, a byte budget of 0.9's expected cost,
# compressed saved activations), and prints accuracy, memory and step time side by side. Both
# use lr 2e-4, the baseline's best of 1e-4 / 2e-4 / 3e-4 on this fold (benchmarks/results/
# accuracy_levers_s120.json). Sized to finish within 10 minutes on 2 CPU cores once built.
# Knobs (environment): DEMO_STEPS (default 120), DEMO_BATCH (32), DEMO_SEQ (40), DEMO_EVAL (2000).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" slimfit
bin="${SLIMFIT_BUILD_DIR:-$root/build}/slimfit"
work="$root/.assets/demo"
mkdir -p "$work"
steps="${DEMO_STEPS:-120}" batch="${DEMO_BATCH:-32}" seq="${DEMO_SEQ:-40}" eval="${DEMO_EVAL:-2000}"

data="$root/.assets/rt-$seq.h5"
if [ ! -f "$data" ]; then
  "$bin" prepare --input "$root/.assets/rotten_tomatoes.csv" --output "$data" \
    --vocab "$root/.assets/minilm/vocab.txt" --label-column category --labels rotten,fresh \
    --max-length "$seq"
fi

common=(model=minilm "data=$data" "steps=$steps" "batch=$batch" lr=2e-4
        "warmup_steps=$((steps / 10))" dropout=0.1 pooling=mean kfold=3 fold=0 "max_eval=$eval"
        log_every=20 seed=0)
echo "== baseline: every unit trains, stock libtorch ops"
"$bin" train "${common[@]}" freeze_ratio=0 compress=false --summary "$work/baseline.json"
echo "== slimfit: freeze_ratio 0.9 (frozen units coast, byte budget), compressed saved activations"
"$bin" train "${common[@]}" freeze_ratio=0.9 compress=true "metrics=$work/slimfit.metrics.h5" \
  --summary "$work/slimfit.json"

python3 - "$work/baseline.json" "$work/slimfit.json" <<'PY'
import json, sys
b, s = (json.load(open(p)) for p in sys.argv[1:3])
print()
print(f"MiniLM on Rotten Tomatoes, {b['steps']} steps, evaluated on {b['config']['max_eval']} held-out snippets")
print(f"{'':24}{'baseline':>12}{'slimfit':>12}{'ratio':>10}")
print(f"{'accuracy %':24}{b['final_accuracy']:12.1f}{s['final_accuracy']:12.1f}{s['final_accuracy'] - b['final_accuracy']:+10.1f}")
print(f"{'peak memory MiB':24}{b['peak_bytes'] / 2**20:12.1f}{s['peak_bytes'] / 2**20:12.1f}{b['peak_bytes'] / s['peak_bytes']:9.2f}x")
print(f"{'mean step s':24}{b['mean_step_seconds']:12.3f}{s['mean_step_seconds']:12.3f}{s['mean_step_seconds'] / b['mean_step_seconds']:9.2f}x")
print(f"{'units trained per step':24}{b['trainable_fraction'] * 100:11.0f}%{s['trainable_fraction'] * 100:11.0f}%")
PY
