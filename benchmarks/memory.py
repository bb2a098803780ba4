#!/usr/bin/env python3
"""Memory per rank: bert-base and vit-b16, batch {8, 32, 128} x sequence {128, 384} (ViT: 224 and
384 px), for every method, from `slimfit memory --json` (one training step, the counting CPU
allocator: exact live bytes of every tensor).

What is measured and what is extrapolated:
- Full 12-layer models are measured where a step fits this 2-core, 24 GiB machine in reasonable
  time (MEASURED below). Those rows have "measured": true.
- Every other row is an extrapolation, "measured": false, in two steps:
  1. Layers. At each shape, the 1- and 2-layer models are measured at batch 8. Weights and
     optimizer state are exactly linear in the number of layers (one more layer = the 2-layer
     minus the 1-layer figure), and so are saved activations (exactly for the unfrozen methods;
     for the frozen ones the randomly frozen set differs with depth, so within about 20%). The
     peak is not: in a 1- or 2-layer model it falls in another phase of the step than in the
     full model, so it is not extrapolated in layers.
  2. Batch. Saved activations are proportional to the batch (every op is per sample). The peak
     is split by its breakdown, from the full model measured at batch 8: weights, optimizer
     state, weight gradients and the trained units' weight snapshots do not depend on the batch
     (`fixed`, beside weights + optimizer); what else is alive at the peak (activations, inputs,
     backward workspace such as decompressed tensors: `rest8`) grows with it. Where the full
     model was not measured at this shape, `fixed` and `rest8` (in proportion to activations)
     come from the other shape of the same model:
         activation(B) = B/8 * act8
         peak(B)       = weights + optimizer + fixed + B/8 * rest8
     unless the batch-8 peak fell in the optimizer step (compress_only: all gradients, no
     activations); then the end of forward, weights + optimizer + activation(B), is larger, and
     the row gives it as a lower bound ("peak_lower_bound": true).
  The layer step is checked against the full model at batch 8 and the batch step against the
  full model at batch 32; the relative errors are written to memory_validation.json.
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

# The freezing ratio of each model's headline task in the paper (arXiv 2305.18513): SQuAD 2.0 0.80,
# ImageNet 0.95.
MODELS = {"bert-base": {"shapes": [128, 384], "r": 0.8},
          "vit-b16": {"shapes": [224, 384], "r": 0.95}}
BATCHES = [8, 32, 128]
# Full-model points measured (every method unless the set names methods).
MEASURED = {("bert-base", 8, 128): None, ("bert-base", 32, 128): {"slimfit"},
            ("bert-base", 128, 128): {"baseline"},  # 15 GiB: the largest that fits 24 GiB here
            ("bert-base", 8, 384): {"baseline", "slimfit"},
            ("vit-b16", 8, 224): {"baseline", "slimfit"}, ("vit-b16", 8, 384): {"baseline", "slimfit"}}
CACHE = os.path.join(ROOT, "benchmarks", "results", "memory_runs")
METHODS = ["baseline", "freeze_only", "compress_only", "slimfit"]
SAME_OPS = {"freeze_only": "baseline", "compress_only": "slimfit", "baseline": "freeze_only",
            "slimfit": "compress_only"}
LAYERS = 12
GPU_BYTES = 32 * 2**30


def method_args(method, r):
    return {"baseline": ["--freeze-ratio", "0", "--no-compress"],
            "freeze_only": ["--freeze-ratio", str(r), "--no-compress"],
            "compress_only": ["--freeze-ratio", "0"],
            "slimfit": ["--freeze-ratio", str(r)]}[method]


def run_cached(cmd):
    """Runs `slimfit memory ... --json`; each measurement is kept under CACHE, named by its
    arguments, so an interrupted sweep resumes where it stopped."""
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
    print(f"  {' '.join(cmd[2:])}: act {j['activation_bytes'] / 2**20:.1f} MiB, peak "
          f"{j['peak_bytes'] / 2**20:.1f} MiB ({time.time() - t:.0f} s)", file=sys.stderr, flush=True)
    return j


def measure(model, batch, shape, method, r, layers=0):
    cmd = [BIN, "memory", "--model", model, "--batch", str(batch), "--json"]
    cmd += ["--image-size", str(shape)] if model.startswith("vit") else ["--seq", str(shape)]
    if layers:
        cmd += ["--layers", str(layers)]
    # The count rule: its random frozen set scales with the batch and the layers; the byte
    # budget (the default since issue 11) does not, see memory_budget.py.
    return run_cached(cmd + method_args(method, r) + ["--budget", "units"])


def per_layer(j1, j2, key_fn, n):
    """Linear in the number of layers: f(n) = f(1) + (n - 1) (f(2) - f(1))."""
    a, b = key_fn(j1), key_fn(j2)
    return a + (n - 1) * (b - a)


class Extrapolation:
    """The 12-layer step at any batch, from 1- and 2-layer runs at batch 8 (see the docstring)."""

    def __init__(self, j1, j2, base_batch, full8=None, ref=None):
        self.k0 = base_batch
        lin = lambda key: per_layer(j1, j2, lambda j: j[key], LAYERS)
        self.static = lin("weights_bytes") + lin("optimizer_bytes")
        # Saved activations at batch 8: the full model's own when measured, else per layer.
        self.act8 = full8["activation_bytes"] if full8 else lin("activation_bytes")
        self.act8_layers = lin("activation_bytes")
        # What the peak holds, from its breakdown: weights, optimizer state, weight gradients and
        # the trained units' weight snapshots (what the trainer keeps to score them) do not
        # depend on the batch (`fixed`, beside `static`); the activations alive at the peak,
        # inputs and backward's workspace grow with it (`rest8`).
        if full8:  # measured at batch 8
            at_peak = full8["peak_breakdown"]
            self.fixed = at_peak["gradients"] + at_peak.get("snapshots", 0)
            self.rest8 = (full8["peak_bytes"] - at_peak["weights"] - at_peak["optimizer"] -
                          self.fixed)
        elif ref:  # from the same method at the measured shape, in proportion to activations
            self.fixed = ref.fixed
            self.rest8 = ref.rest8 * self.act8 / ref.act8
        else:
            self.fixed, self.rest8 = None, None  # activations only
        self.source = ("full model at batch 8, scaled with batch" if full8 else
                       "per-layer extrapolation at batch 8, scaled with batch")

    def at(self, batch):
        k = batch / self.k0
        act = k * self.act8
        return int(act), int(max(self.static + self.fixed + k * self.rest8, self.static + act))

    def peak_is_lower_bound(self, batch):
        """True where the end of forward (every saved activation alive) sets the peak: the
        batch-8 peak fell in another phase (compress_only's: the optimizer step, when every
        gradient is alive and no activation), so the figure counts the activations and weights,
        not what else that phase holds."""
        k = batch / self.k0
        return self.static + k * self.act8 > self.static + self.fixed + k * self.rest8


def gpus_needed(ex, global_batch=128):
    for g in range(1, global_batch + 1):
        if global_batch % g:
            continue
        _, peak = ex.at(global_batch // g)
        if peak <= GPU_BYTES:
            return g, peak
    return None, None


def main():
    quick = "--quick" in sys.argv
    rows, validation, headline, refs = [], [], [], {}
    base_batch = 8
    for model, spec in MODELS.items():
        r = spec["r"]
        for shape in spec["shapes"][:1] if quick else spec["shapes"]:
            for method in ["baseline", "slimfit", "freeze_only", "compress_only"]:
                j1 = measure(model, base_batch, shape, method, r, layers=1)
                j2 = measure(model, base_batch, shape, method, r, layers=2)
                full8 = None
                methods = MEASURED.get((model, base_batch, shape), ())
                if methods is None or method in methods:
                    full8 = measure(model, base_batch, shape, method, r)
                    layered = Extrapolation(j1, j2, base_batch)
                    validation.append({
                        "model": model, "batch": base_batch, "seq": shape, "method": method,
                        "check": "per-layer extrapolation of saved activations (1, 2 -> 12 "
                                 "layers) against the full model",
                        "activation_rel_error":
                            layered.act8_layers / full8["activation_bytes"] - 1})
                # Without a full-model point for this method, the rest of the peak comes from
                # the same ops at the same freezing (freeze_only ~ baseline's stock ops,
                # compress_only ~ slimfit's SlimFit ops), in proportion to activations.
                ref = refs.get((model, method)) or refs.get((model, SAME_OPS[method]))
                ex = Extrapolation(j1, j2, base_batch, full8, ref)
                if full8:
                    refs[(model, method)] = ex
                for batch in BATCHES[:1] if quick else BATCHES:
                    act, peak = ex.at(batch)
                    row = {"model": model, "batch": batch, "seq": shape, "method": method,
                           "freeze_ratio": 0.0 if method in ("baseline", "compress_only") else r,
                           "activation_bytes": act, "peak_bytes": peak, "measured": False,
                           "weights_bytes": int(per_layer(j1, j2, lambda j: j["weights_bytes"],
                                                          LAYERS)),
                           "optimizer_bytes": int(per_layer(
                               j1, j2, lambda j: j["optimizer_bytes"], LAYERS)),
                           "peak_lower_bound": ex.peak_is_lower_bound(batch),
                           "source": ex.source}
                    methods = MEASURED.get((model, batch, shape), ())
                    if (methods is None or method in methods) and batch != base_batch:
                        j = measure(model, batch, shape, method, r)
                        validation.append({
                            "model": model, "batch": batch, "seq": shape, "method": method,
                            "check": "batch scaling from the batch-8 point against the full "
                                     "model measured at this batch",
                            "activation_rel_error": act / j["activation_bytes"] - 1,
                            "peak_rel_error": peak / j["peak_bytes"] - 1})
                    if batch == base_batch and full8:
                        j = full8
                    elif (methods is None or method in methods):
                        j = measure(model, batch, shape, method, r)
                    else:
                        j = None
                    if j:
                        row = {"model": model, "batch": batch, "seq": shape, "method": method,
                               "freeze_ratio": j["freeze_ratio"],
                               "activation_bytes": j["activation_bytes"],
                               "peak_bytes": j["peak_bytes"], "measured": True,
                               "weights_bytes": j["weights_bytes"], "grad_bytes": j["grad_bytes"],
                               "optimizer_bytes": j["optimizer_bytes"],
                               "peak_breakdown": j["peak_breakdown"],
                               "step_seconds": j["step_seconds"],
                               "peak_rss_bytes": j["peak_rss_bytes"], "threads": j["threads"],
                               "source": "slimfit memory"}
                    rows.append(row)
                if shape == spec["shapes"][-1] and method in ("baseline", "slimfit"):
                    g, peak = gpus_needed(ex)
                    headline.append({"model": model, "seq": shape, "global_batch": 128,
                                     "method": method, "gpus_32gib": g,
                                     "peak_bytes_per_gpu": peak})
    worst = max((max(abs(v["activation_rel_error"]), abs(v.get("peak_rel_error", 0)))
                 for v in validation), default=None)
    result = {"validation": validation, "max_abs_rel_error": worst,
              "headline_32gib_gpus": headline,
              "notes": "CPU fp32, one training step, exact live tensor bytes (counting "
                       "allocator). measured=false rows are per-layer extrapolations from "
                       "1- and 2-layer models at batch 8 (see benchmarks/memory.py)."}
    if quick:
        print(json.dumps({"rows": rows, **result}, indent=2))
        return
    rows.sort(key=lambda r: (r["model"], r["seq"], r["batch"], METHODS.index(r["method"])))
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
