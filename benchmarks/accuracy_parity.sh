#!/usr/bin/env bash
# The accuracy-parity protocols of issue 11, with the final settings, each resumable (finished
# runs are skipped, interrupted ones continue from their checkpoints):
#   rt1     Rotten Tomatoes, MiniLM, 1 epoch (267 steps), 3 folds: baseline and SlimFit
#   fmnist  Fashion-MNIST 5-9, vit-tiny from the in-project pretrain, 1 epoch (469 steps),
#           3 seeds: baseline and SlimFit (budget=mean, tag parity; budget=worst, tag worst)
#   fmnist-confirm  the same on fresh seeds 3-5: baseline, SlimFit with budget=worst (chosen
#           after seeds 0-2) and with budget=mean, to confirm the choice on unseen seeds
#   rt3     Rotten Tomatoes, the paper's schedule, 3 epochs (801 steps), 3 folds
#   levers  the levers one at a time (benchmarks/accuracy_levers.sh), at 120 steps and 1 epoch
# usage: benchmarks/accuracy_parity.sh PROTOCOL [JOBS]   (JOBS runs at once, default 2)
#
# Final settings. SlimFit: freeze_ratio 0.9 (RT) / 0.8 (Fashion-MNIST), compress on, frozen
# units coast (frozen_update=coast), a byte budget of the expected cost of t - floor(r t) units
# (budget=mean), lr 2e-4 (RT). The baseline gets the best rate of the same grid on the same
# fold (lr 1e-4 / 2e-4 / 3e-4 at 120 steps, fold 0: 80.46 / 80.84 / 80.56), so 2e-4 as well.
# Fashion-MNIST keeps the first protocol's lr 5e-4 for every method. For ViT the final setting
# is budget=worst: on seeds 0-2 budget=mean was 1.24 points below the baseline and worst 0.57;
# on fresh seeds 3-5 (fmnist-confirm) mean was 2.15 below and worst 0.83. For BERT, worst would
# give up the memory goal (bert-base at batch 128: 5.83x fewer saved activations, under 6x;
# benchmarks/results/memory_budget.json), so MiniLM keeps budget=mean.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
protocol="${1:?usage: accuracy_parity.sh rt1|fmnist|fmnist-confirm|rt3|levers [JOBS]}" jobs="${2:-2}"
keys="budget=mean frozen_update=coast"
case "$protocol" in
  rt1 | rt3)
    steps=267 result=accuracy_1epoch_parity.json
    [ "$protocol" = rt3 ] && steps=801 result=accuracy_3epoch_parity.json
    ACC_STEPS=$steps ACC_METHODS="baseline slimfit" ACC_LR_baseline=2e-4 ACC_LR_slimfit=2e-4 \
      ACC_KEYS="$keys" ACC_TAG=parity ACC_RESULT=$result ACC_JOBS=$jobs \
      "$root/benchmarks/accuracy.sh"
    ;;
  fmnist)
    VIT_STEPS=469 VIT_METHODS="baseline slimfit" VIT_KEYS="$keys" VIT_TAG=parity VIT_JOBS=$jobs \
      "$root/benchmarks/accuracy_vit.sh"
    VIT_STEPS=469 VIT_METHODS="slimfit" VIT_KEYS="budget=worst frozen_update=coast" VIT_TAG=worst \
      VIT_JOBS=$jobs "$root/benchmarks/accuracy_vit.sh"
    ;;
  fmnist-confirm)
    VIT_STEPS=469 VIT_SEEDS=3 VIT_FIRST_SEED=3 VIT_METHODS="baseline slimfit" \
      VIT_KEYS="budget=worst frozen_update=coast" VIT_TAG=confirm-worst VIT_JOBS=$jobs \
      "$root/benchmarks/accuracy_vit.sh"
    VIT_STEPS=469 VIT_SEEDS=3 VIT_FIRST_SEED=3 VIT_METHODS="slimfit" \
      VIT_KEYS="budget=mean frozen_update=coast" VIT_TAG=confirm-mean VIT_JOBS=$jobs \
      "$root/benchmarks/accuracy_vit.sh"
    ;;
  levers)
    LEV_STEPS=120 LEV_JOBS=$jobs "$root/benchmarks/accuracy_levers.sh"
    LEV_STEPS=267 LEV_JOBS=$jobs "$root/benchmarks/accuracy_levers.sh" baseline-lr2e-4 \
      slimfit-coast-lr2e-4 slimfit-mean-lr2e-4 slimfit-mean-none-lr2e-4 slimfit-none-lr1e-4
    ;;
  *) echo "accuracy_parity.sh: unknown protocol '$protocol' (rt1, fmnist, fmnist-confirm, rt3, levers)" >&2; exit 2 ;;
esac
