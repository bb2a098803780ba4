#!/usr/bin/env python3
"""Memory per rank: bert-base and vit-b16, batch {8, 32, 128} x sequence {128, 384} (ViT: 224 and
384 px), for every method, from `slimfit memory --json` (one training step, the counting CPU
allocator: exact live bytes of every tensor).

What is measured and what is extrapolated:
- Full 12-layer models are measured where a step fits this 2-core, 24 GiB machine in reasonable
  time (MEASURED below). Those rows have "measured": true.
- Every other row is a per-layer extrapolation, "measured": false. At each sequence length the
  1-layer and 2-layer models are measured at batch 8; every byte category of the peak is then
  linear in the number of layers (one more layer = the 2-layer minus the 1-layer figure).
  Weights, optimizer state and gradients do not depend on the batch; saved activations, inputs
  and backward workspace are proportional to it (every op is per sample). So
      activation(B, N) = B/8 * act8(N)
      peak(B, N)       = static8(N) + B/8 * dynamic8(N)
  The extrapolation is validated against every measured full-model point; the relative errors
  are written into the JSON ("validation").
- The paper's headline claims are restated as the number of 32 GiB GPUs that data parallelism
  needs for a global batch of 128 (the smallest g with peak(128/g) <= 32 GiB), baseline against
  slimfit. CPU fp32 eager figures; a GPU adds the CUDA context and cuBLAS workspace (not counted).

Usage: python3 benchmarks/memory.py [--quick]
  writes benchmarks/results/memory.json (the rows) and memory_validation.json (extrapolation
  errors against the measured points, and the 32 GiB GPU counts).
Environment: SLIMFIT_BIN (default build/slimfit).
"""
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SLIMFIT_BIN", os.path.join(ROOT, "build", "slimfit"))
OUT = os.path.join(ROOT, "benchmarks", "results", "memory.json")
OUT_CHECK = os.path.join(ROOT, "benchmarks", "results", "memory_validation.json")

# The freezing ratio of each model's headline task in the paper (SPEC.md): SQuAD 2.0 0.80,
# ImageNet 0.95.
MODELS = {"bert-base": {"shapes": [128, 384], "r": 0.8},
          "vit-b16": {"shapes": [224, 384], "r": 0.95}}
BATCHES = [8, 32, 128]
# Full-model points measured (every method unless the set names methods).
MEASURED = {("bert-base", 8, 128): None, ("bert-base", 32, 128): {"slimfit"},
            ("vit-b16", 8, 224): {"baseline", "slimfit"}}
CACHE = os.path.join(ROOT, "benchmarks", "results", "memory_runs")
METHODS = ["baseline", "freeze_only", "compress_only", "slimfit"]
LAYERS = 12
GPU_BYTES = 32 * 2**30
STATIC = ["weights", "optimizer", "gradients"]
DYNAMIC = ["inputs", "activations", "workspace"]


def method_args(method, r):
    return {"baseline": ["--freeze-ratio", "0", "--no-compress"],
            "freeze_only": ["--freeze-ratio", str(r), "--no-compress"],
            "compress_only": ["--freeze-ratio", "0"],
            "slimfit": ["--freeze-ratio", str(r)]}[method]


def measure(model, batch, shape, method, r, layers=0):
    cmd = [BIN, "memory", "--model", model, "--batch", str(batch), "--json"]
    cmd += ["--image-size", str(shape)] if model.startswith("vit") else ["--seq", str(shape)]
    if layers:
        cmd += ["--layers", str(layers)]
    cmd += method_args(method, r)
    # Each measurement is kept, so an interrupted sweep resumes where it stopped.
    os.makedirs(CACHE, exist_ok=True)
    cached = os.path.join(CACHE, "_".join(c.lstrip("-") for c in cmd[2:]) + ".json")
    if os.path.exists(cached):
        with open(cached) as f:
            return json.load(f)
    t = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    with open(cached + ".tmp", "w") as f:
        f.write(out)
    os.replace(cached + ".tmp", cached)
    print(f"  {model} b{batch} s{shape} L{layers or LAYERS} {method}: act "
          f"{j['activation_bytes'] / 2**20:.1f} MiB, peak {j['peak_bytes'] / 2**20:.1f} MiB "
          f"({time.time() - t:.0f} s)", file=sys.stderr, flush=True)
    return j


def per_layer(j1, j2, key_fn, n):
    """Linear in the number of layers: f(n) = f(1) + (n - 1) (f(2) - f(1))."""
    a, b = key_fn(j1), key_fn(j2)
    return a + (n - 1) * (b - a)


def extrapolate(j1, j2, batch, base_batch, n=LAYERS):
    k = batch / base_batch
    pb = lambda cats: (lambda j: sum(j["peak_breakdown"][c] for c in cats))
    act = k * per_layer(j1, j2, lambda j: j["activation_bytes"], n)
    peak = per_layer(j1, j2, pb(STATIC), n) + k * per_layer(j1, j2, pb(DYNAMIC), n)
    breakdown = {c: (1 if c in STATIC else k) * per_layer(j1, j2, pb([c]), n)
                 for c in STATIC + DYNAMIC}
    return int(act), int(peak), {c: int(v) for c, v in breakdown.items()}


def gpus_needed(j1, j2, base_batch, global_batch=128):
    for g in range(1, global_batch + 1):
        if global_batch % g:
            continue
        _, peak, _ = extrapolate(j1, j2, global_batch // g, base_batch)
        if peak <= GPU_BYTES:
            return g, peak
    return None, None


def main():
    quick = "--quick" in sys.argv
    rows, validation, headline = [], [], []
    base_batch = 8
    for model, spec in MODELS.items():
        r = spec["r"]
        for shape in spec["shapes"][:1] if quick else spec["shapes"]:
            for method in METHODS:
                j1 = measure(model, base_batch, shape, method, r, layers=1)
                j2 = measure(model, base_batch, shape, method, r, layers=2)
                for batch in BATCHES[:1] if quick else BATCHES:
                    act, peak, bd = extrapolate(j1, j2, batch, base_batch)
                    row = {"model": model, "batch": batch, "seq": shape, "method": method,
                           "freeze_ratio": 0.0 if method in ("baseline", "compress_only") else r,
                           "activation_bytes": act, "peak_bytes": peak, "measured": False,
                           "peak_breakdown": bd, "source": "per-layer extrapolation"}
                    methods = MEASURED.get((model, batch, shape), ())
                    if methods is None or method in methods:
                        j = measure(model, batch, shape, method, r)
                        validation.append({
                            "model": model, "batch": batch, "seq": shape, "method": method,
                            "activation_rel_error": act / j["activation_bytes"] - 1,
                            "peak_rel_error": peak / j["peak_bytes"] - 1})
                        row = {"model": model, "batch": batch, "seq": shape, "method": method,
                               "freeze_ratio": j["freeze_ratio"],
                               "activation_bytes": j["activation_bytes"],
                               "peak_bytes": j["peak_bytes"], "measured": True,
                               "weights_bytes": j["weights_bytes"], "grad_bytes": j["grad_bytes"],
                               "optimizer_bytes": j["optimizer_bytes"],
                               "peak_breakdown": j["peak_breakdown"],
                               "step_seconds": j["step_seconds"], "source": "slimfit memory"}
                    rows.append(row)
                if shape == spec["shapes"][-1] and method in ("baseline", "slimfit"):
                    g, peak = gpus_needed(j1, j2, base_batch)
                    headline.append({"model": model, "seq": shape, "global_batch": 128,
                                     "method": method, "gpus_32gib": g,
                                     "peak_bytes_per_gpu": peak})
    worst = max((max(abs(v["activation_rel_error"]), abs(v["peak_rel_error"]))
                 for v in validation), default=None)
    result = {"validation": validation, "max_abs_rel_error": worst,
              "headline_32gib_gpus": headline,
              "notes": "CPU fp32, one training step, exact live tensor bytes (counting "
                       "allocator). measured=false rows are per-layer extrapolations from "
                       "1- and 2-layer models at batch 8 (see benchmarks/memory.py)."}
    if quick:
        print(json.dumps({"rows": rows, **result}, indent=2))
        return
    with open(OUT, "w") as f:
        json.dump(rows, f, indent=2)
    with open(OUT_CHECK, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {OUT} and {OUT_CHECK}; extrapolation max |relative error| vs measured points: {worst:.4f}",
          file=sys.stderr)
    for h in headline:
        print(f"{h['model']} @ {h['seq']}, global batch 128, {h['method']}: "
              f"{h['gpus_32gib']} x 32 GiB GPU(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
