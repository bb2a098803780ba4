#!/usr/bin/env bash
# Data-parallel launch with Open MPI: one rank per GPU (or per CPU socket), the global batch
# split across ranks. GPU binding: each rank picks GPU (local rank % visible GPUs) itself.
#   launch/mpirun.sh -n 8 --hostfile hosts.txt --per-node 4 -- train --config configs/X.conf
#   launch/mpirun.sh -n 2 -- train model=bert-tiny data=synthetic steps=100 batch=16
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
np=2 hostfile="" per_node=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) np="$2"; shift 2 ;;
    --hostfile) hostfile="$2"; shift 2 ;;
    --per-node) per_node="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [-n RANKS] [--hostfile FILE] [--per-node N] -- SLIMFIT_ARGS..." >&2; exit 2 ;;
  esac
done
args=(-np "$np" --bind-to none -x OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" -x SLIMFIT_ASSETS
      -x NCCL_DEBUG -x CUDA_VISIBLE_DEVICES)
[ -n "$hostfile" ] && args+=(--hostfile "$hostfile")
[ -n "$per_node" ] && args+=(--map-by "ppr:${per_node}:node")
[ "$(id -u)" -eq 0 ] && args+=(--allow-run-as-root)
exec mpirun "${args[@]}" "${SLIMFIT_BIN:-$root/build/slimfit}" "$@"
