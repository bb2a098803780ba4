#!/usr/bin/env bash
# The GPU check: builds slimfit against the libtorch of this machine's PyTorch (CUDA), then on one
# GPU measures peak CUDA memory (caching allocator, allocated bytes) and warm step time for the
# unfrozen baseline and for SlimFit:
#   1. the single-GPU fallback (`slimfit memory --device cuda`, no launcher), bert-base (seq 128)
#      and vit-b16 (224 px) at batch 128;
#   2. the NCCL backend with one rank (`mpirun -np 1 slimfit train device=cuda backend=nccl`),
#      bert-base at batch 128: a real training loop with the all-reduce going through NCCL, also
#      with offload_optimizer=true (frozen units' AdamW moments in pinned host memory): the
#      device bytes it saves and the step time it costs;
#   3. the peer: PyTorch + Hugging Face transformers, full fine-tuning of the same models, batch
#      and shapes (BertForSequenceClassification, ViTForImageClassification, random weights).
# Writes benchmarks/results/gpu_check.json (or $GPU_CHECK_OUT) and prints it. Sized for under
# 5 minutes on one H200 (the build is most of it).
# Needs: nvcc, CMake, a CUDA PyTorch in python3, and the MPI, HDF5 and nlohmann-json headers (the
# docker/ image has them all). Knobs: GPU_BATCH (128), GPU_SEQ (128), GPU_STEPS (timed, 5),
# GPU_BUILD_DIR (build-gpu), GPU_JOBS (nproc).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${GPU_CHECK_OUT:-$root/benchmarks/results/gpu_check.json}"
build="${GPU_BUILD_DIR:-$root/build-gpu}"
batch="${GPU_BATCH:-128}" seq="${GPU_SEQ:-128}" steps="${GPU_STEPS:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() { echo "gpu_check: $*" >&2; exit 1; }
command -v nvcc > /dev/null || fail "nvcc not found (install the CUDA toolkit or use docker/Dockerfile)"
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  fail "python3's torch sees no CUDA device"
torch_dir="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch"

echo "== build against $torch_dir" >&2
start=$(date +%s)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSLIMFIT_CUDA=ON \
  -DTorch_DIR="$torch_dir" -DCMAKE_CUDA_ARCHITECTURES=90 -DSLIMFIT_BUILD_TESTS=OFF > "$work/cmake.log" 2>&1 ||
  { tail -30 "$work/cmake.log"; fail "cmake failed"; }
cmake --build "$build" --target slimfit -j "${GPU_JOBS:-$(nproc)}" > "$work/build.log" 2>&1 ||
  { grep -m 20 -E "error" "$work/build.log"; fail "build failed"; }
bin="$build/slimfit"
echo "   built in $(( $(date +%s) - start )) s" >&2

echo "== single-GPU fallback: slimfit memory --device cuda" >&2
for model in bert-base vit-b16; do
  for method in baseline slimfit; do
    case $method in
      baseline) args=(--freeze-ratio 0 --no-compress) ;;
      slimfit) args=(--freeze-ratio 0.9) ;;
    esac
    "$bin" memory --device cuda --model "$model" --batch "$batch" --seq "$seq" \
      --time-steps "$steps" "${args[@]}" --json > "$work/memory-$model-$method.json"
  done
done

echo "== NCCL backend, one rank: slimfit train device=cuda backend=nccl" >&2
nccl_ok=true
if command -v mpirun > /dev/null; then
  for method in baseline slimfit slimfit_offload; do
    case $method in
      baseline) args=(freeze_ratio=0 compress=false) ;;
      slimfit) args=(freeze_ratio=0.9 compress=true) ;;
      slimfit_offload) args=(freeze_ratio=0.9 compress=true offload_optimizer=true) ;;
    esac
    mpirun --allow-run-as-root -np 1 "$bin" train device=cuda backend=nccl model=bert-base \
      data=synthetic:4096 "batch=$batch" "seq_len=$seq" "steps=$((steps + 1))" warmup_steps=1 \
      max_eval=256 log_every=1 "${args[@]}" --summary "$work/nccl-$method.json" \
      > "$work/nccl-$method.log" 2>&1 || { tail -20 "$work/nccl-$method.log" >&2; nccl_ok=false; }
  done
else
  echo "   mpirun not found: NCCL leg skipped" >&2
  nccl_ok=false
fi

echo "== peer: PyTorch + transformers" >&2
python3 - "$batch" "$seq" "$steps" > "$work/peer.json" <<'PY'
import json, sys, time
import torch
from transformers import BertConfig, BertForSequenceClassification, ViTConfig, ViTForImageClassification
batch, seq, steps = map(int, sys.argv[1:4])
torch.manual_seed(0)
rows = []
for name in ["bert-base", "vit-b16"]:
    if name == "bert-base":
        model = BertForSequenceClassification(BertConfig(num_labels=2)).cuda()
        inputs = {"input_ids": torch.randint(1000, 30000, (batch, seq), device="cuda")}
    else:
        model = ViTForImageClassification(ViTConfig(num_labels=10)).cuda()
        inputs = {"pixel_values": torch.randn(batch, 3, 224, 224, device="cuda")}
    labels = torch.randint(0, model.config.num_labels, (batch,), device="cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    model.train()
    def step():
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    step()  # warm-up: cuBLAS/cuDNN set-up, optimizer state
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    rows.append({"framework": "hf-transformers", "model": name, "method": "full_finetune",
                 "batch": batch, "seq": seq if name == "bert-base" else 224,
                 "peak_bytes": torch.cuda.max_memory_allocated(),
                 "step_seconds": (time.perf_counter() - t) / steps})
    del model, opt, inputs, labels
    torch.cuda.empty_cache()
print(json.dumps(rows))
PY

python3 - "$work" "$nccl_ok" "$batch" "$seq" > "$out" <<'PY'
import json, subprocess, sys
work, nccl_ok, batch, seq = sys.argv[1], sys.argv[2] == "true", int(sys.argv[3]), int(sys.argv[4])
rows = []
for model in ["bert-base", "vit-b16"]:
    for method in ["baseline", "slimfit"]:
        j = json.load(open(f"{work}/memory-{model}-{method}.json"))
        rows.append({"framework": "slimfit", "mode": "single-gpu (slimfit memory)", "model": model,
                     "method": method, "batch": j["batch"], "seq": j["seq"],
                     "peak_bytes": j["peak_bytes"], "activation_bytes": j["activation_bytes"],
                     "step_seconds": j["step_seconds"], "timed_steps": j.get("timed_steps")})
if nccl_ok:
    for method in ["baseline", "slimfit", "slimfit_offload"]:
        j = json.load(open(f"{work}/nccl-{method}.json"))
        rows.append({"framework": "slimfit", "mode": "nccl backend, 1 rank (slimfit train)",
                     "model": "bert-base", "method": method, "batch": batch, "seq": seq,
                     "peak_bytes": j["peak_bytes"], "step_seconds": j["mean_step_seconds"],
                     "comm_bytes_per_step": j["comm_bytes_per_step"], "steps": j["steps"],
                     "optimizer_bytes": j["optimizer_bytes"],
                     "optimizer_device_bytes": j["optimizer_device_bytes"],
                     "offload_bytes_per_step": j["offload_bytes_per_step"]})
rows += json.load(open(f"{work}/peer.json"))
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                      "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
print(json.dumps({"gpu": gpu, "measured": True, "rows": rows,
                  "notes": "peak_bytes: CUDA caching allocator allocated bytes (slimfit) and "
                           "torch.cuda.max_memory_allocated (peer); step_seconds: mean of warm "
                           "steps (the NCCL rows: mean over all steps, the first included)"},
                 indent=2))
PY
cat "$out"
