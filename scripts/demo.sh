#!/usr/bin/env bash
# The main job: installs and builds what is missing, then measures one bert-base training step
# (batch 4, sequence 128) as the unfrozen baseline and with SlimFit, side by side.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" slimfit
bin="${SLIMFIT_BUILD_DIR:-$root/build}/slimfit"
echo "== unfrozen baseline (stock libtorch ops, nothing frozen)"
"$bin" memory --model bert-base --batch 4 --seq 128 --freeze-ratio 0 --no-compress
echo "== freezing only (r = 0.95, stock ops)"
"$bin" memory --model bert-base --batch 4 --seq 128 --freeze-ratio 0.95 --no-compress
echo "== slimfit (r = 0.95, compressed saved activations)"
"$bin" memory --model bert-base --batch 4 --seq 128 --freeze-ratio 0.95
