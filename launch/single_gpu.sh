#!/usr/bin/env bash
# Single-GPU (or CPU) fallback: the plain binary, no launcher, no MPI needed at run time.
#   launch/single_gpu.sh memory --model bert-base --batch 32 --seq 128 --freeze-ratio 0.95
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}"
exec "${SLIMFIT_BIN:-$root/build/slimfit}" "$@"
