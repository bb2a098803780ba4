#!/usr/bin/env bash
# ViT accuracy on Fashion-MNIST, per method, as a pretrain-then-fine-tune transfer made inside the
# project (no pretrained ViT weights exist in the registries these machines reach; README, "Accuracy"):
#   1. pretrain vit-tiny from random weights on the 30,000 training images of classes 0-4
#      (T-shirt, trouser, pullover, dress, coat), all units trained, stock ops;
#   2. fine-tune from that checkpoint (init=, the classifier starts fresh) on the 30,000 training
#      images of classes 5-9 (sandal, shirt, sneaker, bag, ankle boot), relabelled 0-4, with each
#      method, and evaluate on all 5,000 test images of classes 5-9.
# A from-scratch run of the same fine-tuning (no init) shows what the pretraining contributes.
# Writes benchmarks/results/accuracy_fashion_mnist.json (the accuracy.json schema plus the
# protocol, the pretraining run and the from-scratch reference) and the per-run summaries under
# benchmarks/results/accuracy_vit_runs/. Runs already summarised are skipped (the script resumes).
# Knobs (environment): VIT_PRE_STEPS (600), VIT_STEPS (150), VIT_BATCH (64), VIT_LR (5e-4),
#   VIT_R (0.8), VIT_SEEDS (3), VIT_FIRST_SEED (0; seeds run FIRST..FIRST+SEEDS-1),
#   VIT_JOBS (2 runs at once, VIT_THREADS threads each, default 1),
#   VIT_METHODS (default: baseline freeze_only compress_only slimfit scratch), VIT_LR_<METHOD>
#   (that method's lr, default VIT_LR), VIT_KEYS (extra keys for freeze_only and slimfit),
#   VIT_TAG (a name for those settings: runs are fmnist-sSTEPS-TAG-METHOD-seedK, and the result
#   accuracy_fashion_mnist_sSTEPS-TAG.json; without a tag, the names of the first protocol).
# A run writes a checkpoint every 25 steps and an interrupted run resumes from it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=methods.sh
source "$root/benchmarks/methods.sh"
bin="${SLIMFIT_BIN:-$root/build/slimfit}"
pre_steps="${VIT_PRE_STEPS:-600}" steps="${VIT_STEPS:-150}" batch="${VIT_BATCH:-64}"
lr="${VIT_LR:-5e-4}" r="${VIT_R:-0.8}" seeds="${VIT_SEEDS:-3}" jobs="${VIT_JOBS:-2}"
first_seed="${VIT_FIRST_SEED:-0}"
threads="${VIT_THREADS:-1}" keys="${VIT_KEYS:-}"
methods="${VIT_METHODS:-baseline freeze_only compress_only slimfit scratch}"
name="fmnist" result="accuracy_fashion_mnist.json"
if [ -n "${VIT_TAG:-}" ]; then
  name="fmnist-s$steps-$VIT_TAG" result="accuracy_fashion_mnist_s$steps-$VIT_TAG.json"
fi
runs="$root/benchmarks/results/accuracy_vit_runs"
pre_ckpt="$root/.assets/vit-tiny-fmnist-pretrain.h5"
mkdir -p "$runs" "$root/.assets"

if [ ! -f "$runs/pretrain.json" ] || [ ! -f "$pre_ckpt" ]; then
  echo "pretraining vit-tiny on Fashion-MNIST classes 0-4 ($pre_steps steps)"
  OMP_NUM_THREADS=$((threads * jobs)) "$bin" train model=vit-tiny data=fashion-mnist \
    eval_data=fashion-mnist:test classes=0-4 "steps=$pre_steps" "batch=$batch" lr=1e-3 \
    warmup_steps=$((pre_steps / 10)) freeze_ratio=0 compress=false seed=0 log_every=50 \
    "checkpoint=$pre_ckpt" --summary "$runs/pretrain.json.tmp" > "$runs/pretrain.log" 2>&1
  mv "$runs/pretrain.json.tmp" "$runs/pretrain.json"
fi

one_run() {  # method seed
  local method=$1 seed=$2 args init="init=$pre_ckpt" method_lr_var="VIT_LR_$1"
  local method_lr="${!method_lr_var:-$lr}"
  if [ "$method" = scratch ]; then
    args=$(train_method_args baseline "$r")
    init=""
  else
    args=$(train_method_args "$method" "$r")
  fi
  [[ "$method" == freeze_only || "$method" == slimfit ]] && args="$args $keys"
  local base="$runs/$name-$method-seed$seed" out="$runs/$name-$method-seed$seed.json"
  [ -f "$out" ] && return 0
  local resume=()
  [ -f "$base.ckpt.h5" ] && resume=("resume=$base.ckpt.h5")
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=$threads "$bin" train model=vit-tiny data=fashion-mnist classes=5-9 \
    eval_data=fashion-mnist:test $init "steps=$steps" "batch=$batch" "lr=$method_lr" \
    warmup_steps=$((steps / 10)) "seed=$seed" log_every=25 checkpoint_every=25 \
    "checkpoint=$base.ckpt.h5" $args "${resume[@]}" --summary "$out.tmp" >> "$base.log" 2>&1 ||
    { echo "$(basename "$base") failed (its checkpoint, if any, is kept): see $base.log" >&2; return 1; }
  mv "$out.tmp" "$out"
  rm -f "$base.ckpt.h5"
  echo "fashion-mnist $method seed $seed: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["final_accuracy"])' "$out")%"
}
export -f one_run train_method_args
export bin steps batch lr r threads runs pre_ckpt keys name ${!VIT_LR_*}

for seed in $(seq "$first_seed" $((first_seed + seeds - 1))); do
  for method in $methods; do echo "$method $seed"; done
done | xargs -P "$jobs" -L 1 bash -c 'one_run "$0" "$1"'

python3 - "$runs" "$seeds" "$pre_steps" "$steps" "$batch" "$lr" "$r" "$name" "$keys" "$first_seed" <<'PY' | tee "$root/benchmarks/results/$result"
import json, os, statistics, sys
runs, seeds, pre_steps, steps, batch, lr, r, name, keys, first_seed = sys.argv[1:11]
seeds, first_seed = int(seeds), int(first_seed)
def summarise(method):
    paths = [f"{runs}/{name}-{method}-seed{k}.json"
             for k in range(first_seed, first_seed + seeds)]
    s = [json.load(open(p)) for p in paths if os.path.exists(p)]
    if not s:
        return None
    acc = [x["final_accuracy"] for x in s]
    return {"accuracy_mean": statistics.mean(acc),
            "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else None,
            "n_runs": len(acc), "accuracies": acc,
            "mean_step_seconds": statistics.mean(x["mean_step_seconds"] for x in s),
            "peak_bytes": max(x["peak_bytes"] for x in s),
            "trainable_fraction": statistics.mean(x["trainable_fraction"] for x in s),
            "lr": float(s[0]["config"]["lr"]),
            "keys": {k: s[0]["config"][k] for k in ["frozen_update", "budget", "score"]
                     if k in s[0]["config"]}}
methods = {m: summarise(m) for m in ["baseline", "freeze_only", "compress_only", "slimfit"]}
methods = {m: v for m, v in methods.items() if v is not None}
pre = json.load(open(f"{runs}/pretrain.json"))
print(json.dumps({
    "task": "fashion_mnist_transfer", "model": "vit-tiny",
    "n_runs": seeds, "variant": f"pretrained in-project on classes 0-4, {steps} steps",
    "label": "ViT pretrained inside slimfit on Fashion-MNIST classes 0-4, fine-tuned on classes "
             "5-9; not an ImageNet-pretrained ViT (none is reachable from these machines)",
    "protocol": f"pretrain: vit-tiny from random weights, {pre_steps} steps at batch {batch}, "
                f"lr 1e-3, all units, stock ops, on the 30,000 training images of classes 0-4; "
                f"fine-tune: init from that checkpoint (fresh classifier), {steps} steps at batch "
                f"{batch}, lr per method as listed (warm-up 10%, linear decay), extra keys for "
                f"the freezing methods '{keys}', freeze_ratio {r} for "
                f"freeze_only/slimfit, on the 30,000 training images of classes 5-9, evaluated on "
                f"all 5,000 test images of classes 5-9; {seeds} seeds, "
                f"{first_seed}..{first_seed + seeds - 1} (data order, head init, "
                f"schedule); accuracy in percent; std is the sample std over seeds",
    "pretrain": {"accuracy_on_test_classes_0_4": pre["final_accuracy"], "steps": pre["steps"]},
    "reference": {"from_scratch_baseline": summarise("scratch")},
    "methods": methods}, indent=2))
PY
