#!/usr/bin/env python3
"""Projects data-parallel fine-tuning throughput to 8..256 GPUs, baseline against SlimFit.

    .venv-tools/bin/python benchmarks/scaling_model.py                  # defaults, see --help
    .venv-tools/bin/python benchmarks/scaling_model.py --measured M.json --output OUT.json

Standard library only (any Python >= 3.8; the repository's tool interpreter is
/work/main/.venv-tools/bin/python). Deterministic: the same inputs give the same file, byte
for byte. No timestamps are written.

Note [scaling model]
--------------------
Each step of data-parallel training is compute (forward, backward, AdamW on one rank, at the
per-rank batch) followed by the all-reduce of the gradients that exist this step, fused into
buckets of `bucket_mb` (src/comm/bucketer.cpp: one all-reduce per bucket), plus the
coordinator's few tiny control collectives (src/coord/coordinator.cpp: mask broadcast, a
min and a max all-reduce of the mask hash, the statistics all-reduce). The trainer all-reduces
after backward, so the default overlap is 0 (step = compute + comm); --overlap f hides up to
f of the backward pass (2/3 of compute) under communication.

All-reduce time, alpha-beta model (the "bus bandwidth" convention of nccl-tests): a ring
all-reduce of S bytes over p ranks moves 2 (p-1)/p * S bytes through each rank's link and
takes 2 (p-1) steps, each paying one hop latency:

    t(S, p) = base + 2 (p-1)/p * S / B_bus + sum of the 2 (p-1) hop latencies

Hierarchical topology (g = 8 GPUs per node on NVLink/NVSwitch, n = p/g nodes on InfiniBand,
one NIC per GPU):
  ring (default; NCCL's flat ring, whose own tuning model this follows): of the 2 (p-1)
      steps, 2 (n-1) cross the network (alpha_ib) and the rest stay on NVLink (alpha_nvlink).
      B_bus = NVLink per-direction bandwidth on one node; across nodes each of the rings'
      node exits uses its own NIC, so B_bus = min(NVLink, g * IB per GPU).
  hierarchical (2-D): intra-node reduce-scatter, inter-node ring all-reduce of S/g bytes
      per GPU over its own NIC (one ring per rail), intra-node all-gather:
      base + 2 (g-1)/g * S / B_nvlink + 2 (g-1) alpha_nvlink
           + 2 (n-1)/n * (S/g) / B_ib + 2 (n-1) alpha_ib
  tree: NCCL's double binary tree as its tuning model has it: latency
      base + 2 ((g-1) alpha_nvlink + ceil(log2 n) alpha_ib), time 2 S / B_bus.
  best: the fastest of the three per call (NCCL's tuner also picks an algorithm per call).
Every row records all four comm times whatever --algorithm says. The flat ring's latency grows
with 2 (p-1) hops, so from about 64 GPUs on it dominates a 25 MB bucket and the ring rows are
pessimistic there; the "best" column shows what a tree would give. Gradient buckets use NCCL's
Simple-protocol latencies, the tiny control collectives its LL-protocol ones.

Inputs (each with its source written into the row):
  - bytes all-reduced per step per method: --bytes, else the measured rows'
    comm_bytes_per_step for the same model, else computed from the model's parameter shapes:
    baseline = every parameter (fp32); slimfit = the trained units' share k/t of the unit bytes
    (ILS trains k = t - floor(r t) of t units each step) plus the always-trained biases and
    LayerNorm biases. A unit is a weight with more than one dimension or a LayerNorm weight
    (README, "What it does").
  - GPU compute seconds per step per method: --compute-seconds, else gpu_check.json
    (measured on one GPU), else an ASSUMED baseline step time (FLOP count / (MFU * FP32 peak),
    see --mfu, --peak-flops) times the CPU-measured ratio of each method to the baseline.
  - peak bytes per rank: --peak-bytes, else gpu_check.json, else memory.json /
    memory_methods.json at the same model, batch and sequence length, else null.

Validation: measured rows (measured: true, CPU MPI at world sizes 1, 2, 4) are kept as they
are. For every multi-rank measured point, comm time = step time - compute time, where compute
time is the row's compute_seconds if it has one, else the world-1 step time of the same model
and method scaled by the per-rank batch. A least-squares fit (non-negative) of
    comm = alpha * [calls * 2 (p-1)] + (1/B) * [2 (p-1)/p * S]
gives the CPU MPI latency and bandwidth those points imply; the script prints the model's
error at each point, in-sample, and, with two or more world sizes, fitted on the smallest and
predicting the others (out of sample). On an oversubscribed CPU (more ranks than cores) the
compute estimate is low, so the fitted values are effective ones, contention included.

Output: the output JSON (default benchmarks/results/scaling.json) is a list of rows
{"world_size", "method", "samples_per_second", "comm_bytes_per_step", "peak_bytes_per_rank",
 "measured", ...}. Rows with measured true are kept; earlier model rows (source "model") are
replaced; measured rows of --measured (when it is another file) are merged in, replacing rows
with the same (model, method, world_size).
"""
import argparse
import json
import math
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")

# ---------------------------------------------------------------------------------------------
# Published hardware figures (defaults). Bandwidths are per GPU and per direction, the unit of
# nccl-tests' busbw; latencies are NCCL's own model constants.
# ---------------------------------------------------------------------------------------------
GB = 1e9
CITATIONS = {
    "allreduce_formula": (
        "nccl-tests doc/PERFORMANCE.md (https://github.com/NVIDIA/nccl-tests/blob/master/doc/"
        "PERFORMANCE.md): allreduce t = (S/B) * 2(n-1)/n with B the per-rank (bus) bandwidth; "
        "busbw is a unidirectional bandwidth"),
    "nvlink": (
        "NVIDIA H100 Tensor Core GPU datasheet (https://www.nvidia.com/en-us/data-center/h100/): "
        "H100 SXM NVLink 900 GB/s per GPU, i.e. 18 NVLink-4 links x 50 GB/s bidirectional; "
        "same figure for H200 SXM ('18x 4th Gen NVLink, 900GB/s', MLPerf Inference v4.1 system "
        "description H200-SXM-141GBx8, https://github.com/mlcommons/inference_results_v4.1). "
        "Used as 450 GB/s per direction"),
    "infiniband": (
        "NVIDIA DGX BasePOD reference architecture, Core Components (https://docs.nvidia.com/"
        "dgx-basepod/reference-architecture-infrastructure-foundation-enterprise-ai/latest/"
        "core-components.html): DGX H100/H200 have 'four OSFP ports serving eight single-port "
        "NVIDIA ConnectX-7 VPI, up to 400 Gb/s InfiniBand' (one NDR NIC per GPU) and four "
        "NVSwitch chips. Used as 400 Gb/s = 50 GB/s per GPU per direction"),
    "latency": (
        "NCCL src/graph/tuning.cc (https://github.com/NVIDIA/nccl/blob/master/src/graph/"
        "tuning.cc): baseLat Ring/Simple 8.4 us per collective; hwLat Ring/Simple 3.4 us per "
        "step on NVLink and 14.0 us per step on the network (9.6 us in NCCL 2.8); ring "
        "all-reduce latency = baseLat + (2(p-1) - 2(nNodes-1)) * intraLat + 2(nNodes-1) * "
        "interLat. Simple is the protocol NCCL uses for MB-sized buckets"),
    "fp32_peak": (
        "NVIDIA H100 Tensor Core GPU datasheet: H100 SXM FP32 67 TFLOPS (H200 SXM the same); "
        "used only when no GPU step time is measured"),
}
DEFAULTS = {
    "gpus_per_node": 8,              # DGX/HGX H100 and H200: 8 GPUs on 4 NVSwitch chips
    "nvlink_GBps": 450.0,            # 900 GB/s bidirectional / 2
    "ib_GBps": 50.0,                 # 400 Gb/s NDR / 8 bits
    "alpha_nvlink_us": 3.4,          # NCCL hwLat[NVLINK][Ring][Simple]
    "alpha_ib_us": 14.0,             # NCCL hwLat[NET][Ring][Simple] (NCCL >= 2.19)
    "base_latency_us": 8.4,          # NCCL baseLat[Ring][Simple]
    "peak_flops": 67e12,             # H100/H200 SXM FP32 (libtorch's default fp32 matmuls)
}
ASSUMPTIONS = [
    "Link rates are peak figures (link_efficiency 1.0), so modelled communication is a lower "
    "bound; this favours the baseline, which communicates more",
    "No overlap of communication with backward unless --overlap is given: the trainer "
    "all-reduces after backward (src/train/trainer.cpp)",
    "One NIC per GPU, non-blocking fat tree between nodes; no SHARP/NVLS in-network reduction",
    "Per-rank batch and per-rank compute are constant in world size (weak scaling); "
    "samples_per_second = world_size * per_rank_batch / step_seconds",
    "Buckets are taken as equal in size: calls = ceil(bytes / bucket_bytes)",
    "Coordinator control traffic: --control-collectives small collectives per step, latency "
    "only, for every method",
]

METHOD_ORDER = ["baseline", "freeze_only", "compress_only", "slimfit"]
FREEZES = {"baseline": False, "compress_only": False, "freeze_only": True, "slimfit": True}


# ---------------------------------------------------------------------------------------------
# Parameter shapes of the built-in models (src/models/config.cpp), Hugging Face names.
# ---------------------------------------------------------------------------------------------
def bert_shapes(hidden, layers, inter, labels, vocab=30522, max_pos=512, types=2, pooler=True):
    s = [("embeddings.word_embeddings.weight", (vocab, hidden)),
         ("embeddings.position_embeddings.weight", (max_pos, hidden)),
         ("embeddings.token_type_embeddings.weight", (types, hidden)),
         ("embeddings.LayerNorm.weight", (hidden,)), ("embeddings.LayerNorm.bias", (hidden,))]
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for m in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            s += [(p + m + ".weight", (hidden, hidden)), (p + m + ".bias", (hidden,))]
        s += [(p + "attention.output.LayerNorm.weight", (hidden,)),
              (p + "attention.output.LayerNorm.bias", (hidden,)),
              (p + "intermediate.dense.weight", (inter, hidden)),
              (p + "intermediate.dense.bias", (inter,)),
              (p + "output.dense.weight", (hidden, inter)), (p + "output.dense.bias", (hidden,)),
              (p + "output.LayerNorm.weight", (hidden,)), (p + "output.LayerNorm.bias", (hidden,))]
    if pooler:
        s += [("pooler.dense.weight", (hidden, hidden)), ("pooler.dense.bias", (hidden,))]
    s += [("classifier.weight", (labels, hidden)), ("classifier.bias", (labels,))]
    return s


def vit_shapes(hidden, layers, inter, labels, image, patch, channels=3):
    tokens = (image // patch) ** 2 + 1
    s = [("embeddings.cls_token", (1, 1, hidden)),
         ("embeddings.position_embeddings", (1, tokens, hidden)),
         ("embeddings.patch_embeddings.projection.weight", (hidden, channels, patch, patch)),
         ("embeddings.patch_embeddings.projection.bias", (hidden,))]
    for i in range(layers):
        p = f"encoder.layer.{i}."
        s += [(p + "layernorm_before.weight", (hidden,)), (p + "layernorm_before.bias", (hidden,))]
        for m in ("attention.attention.query", "attention.attention.key",
                  "attention.attention.value", "attention.output.dense"):
            s += [(p + m + ".weight", (hidden, hidden)), (p + m + ".bias", (hidden,))]
        s += [(p + "layernorm_after.weight", (hidden,)), (p + "layernorm_after.bias", (hidden,)),
              (p + "intermediate.dense.weight", (inter, hidden)),
              (p + "intermediate.dense.bias", (inter,)),
              (p + "output.dense.weight", (hidden, inter)), (p + "output.dense.bias", (hidden,))]
    s += [("layernorm.weight", (hidden,)), ("layernorm.bias", (hidden,)),
          ("classifier.weight", (labels, hidden)), ("classifier.bias", (labels,))]
    return s


MODELS = {  # name -> (shapes, layers, hidden, tokens per example or None for text)
    "bert-base": (bert_shapes(768, 12, 3072, 2), 12, 768, None),
    "bert-tiny": (bert_shapes(128, 2, 512, 2), 2, 128, None),
    "minilm": (bert_shapes(384, 6, 1536, 2), 6, 384, None),  # all-MiniLM-L6-v2
    "vit-b16": (vit_shapes(768, 12, 3072, 1000, 224, 16), 12, 768, 197),
    "vit-tiny": (vit_shapes(128, 2, 512, 10, 32, 4), 2, 128, 65),
}


IMAGE_PX = {"vit-b16": 224, "vit-tiny": 32}


def is_unit(name, shape):
    return len(shape) > 1 or ("LayerNorm.weight" in name or name.endswith("layernorm.weight")
                              or name.endswith("layernorm_before.weight")
                              or name.endswith("layernorm_after.weight"))


def model_sizes(model):
    """Parameter bytes (fp32) of a built-in model: total, units, non-units, unit count, and the
    parameters that take part in matrix products (everything but the embedding tables)."""
    shapes = MODELS[model][0]
    total = units = n_units = matmul = 0
    for name, shape in shapes:
        numel = math.prod(shape)
        total += numel
        if is_unit(name, shape):
            units += numel
            n_units += 1
        if len(shape) == 2 and "embeddings" not in name:
            matmul += numel
    return {"total_bytes": 4 * total, "unit_bytes": 4 * units, "bias_bytes": 4 * (total - units),
            "units": n_units, "matmul_params": matmul}


def analytic_comm_bytes(model, method, freeze_ratio):
    z = model_sizes(model)
    if not FREEZES.get(method, False):
        return z["total_bytes"]
    t = z["units"]
    k = t - math.floor(freeze_ratio * t)
    return int(round(k / t * z["unit_bytes"] + z["bias_bytes"]))


def step_flops(model, batch, seq):
    """Training FLOPs of one step: 6 * matmul params * tokens (forward 2, backward 4) plus the
    attention products (QK^T and PV: 4 b L^2 h forward, 3x with backward) per layer."""
    _, layers, hidden, tokens = MODELS[model]
    length = tokens or seq
    n = model_sizes(model)["matmul_params"]
    return 6.0 * n * batch * length + 12.0 * layers * batch * length * length * hidden


# ---------------------------------------------------------------------------------------------
# The communication model.
# ---------------------------------------------------------------------------------------------
# NCCL's latency constants (us) other than the Ring/Simple ones that the CLI sets, from the same
# tuning.cc tables (newest values): Tree/Simple per step NVLink 4.0, network 14.0, base 8.4;
# LL (the protocol NCCL uses for tiny messages such as the control collectives): base Ring 6.6,
# Tree 6.8; per step Ring NVLink 0.6, network 2.7; Tree NVLink 0.6, network 5.0.
NCCL_LATENCY_US = {
    ("tree", "simple"): {"base": 8.4, "nvlink": 4.0, "net": 14.0},
    ("ring", "ll"): {"base": 6.6, "nvlink": 0.6, "net": 2.7},
    ("tree", "ll"): {"base": 6.8, "nvlink": 0.6, "net": 5.0},
}
ALGORITHMS = ("ring", "hierarchical", "tree")


class Hardware:
    """All-reduce times on g GPUs per node (NVLink) and n nodes (InfiniBand), note
    [scaling model]. protocol "simple" is for gradient buckets, "ll" for tiny messages."""

    def __init__(self, a):
        self.g = a.gpus_per_node
        self.nvlink = a.nvlink_GBps * GB * a.link_efficiency
        self.ib = a.ib_GBps * GB * a.link_efficiency
        self.lat = dict(NCCL_LATENCY_US)
        self.lat[("ring", "simple")] = {"base": a.base_latency_us, "nvlink": a.alpha_nvlink_us,
                                        "net": a.alpha_ib_us}
        self.lat = {k: {kk: vv * 1e-6 for kk, vv in v.items()} for k, v in self.lat.items()}

    def nodes(self, p):
        return max(1, math.ceil(p / self.g))

    def bus(self, p):
        """Bottleneck per-rank bandwidth of a flat ring or tree: NVLink on one node; across
        nodes the node's NICs together (each GPU's ring exit uses its own NIC)."""
        n = self.nodes(p)
        return self.nvlink if n == 1 else min(self.nvlink, min(p, self.g) * self.ib)

    def ring(self, nbytes, p, proto="simple"):
        if p <= 1:
            return 0.0
        lat, n = self.lat[("ring", proto)], self.nodes(p)
        inter = 0 if n == 1 else 2 * (n - 1)
        hops = lat["base"] + (2 * (p - 1) - inter) * lat["nvlink"] + inter * lat["net"]
        return hops + 2.0 * (p - 1) / p * nbytes / self.bus(p)

    def hierarchical(self, nbytes, p, proto="simple"):
        if p <= 1:
            return 0.0
        lat, g, n = self.lat[("ring", proto)], min(p, self.g), self.nodes(p)
        t = lat["base"] + 2.0 * (g - 1) / g * nbytes / self.nvlink + 2 * (g - 1) * lat["nvlink"]
        if n > 1:
            t += 2.0 * (n - 1) / n * (nbytes / g) / self.ib + 2 * (n - 1) * lat["net"]
        return t

    def tree(self, nbytes, p, proto="simple"):
        """NCCL's (double binary) tree: chain inside the node, tree across nodes; latency as
        tuning.cc models it, algorithm bandwidth half the bus bandwidth (its ratio 0.5)."""
        if p <= 1:
            return 0.0
        lat, g, n = self.lat[("tree", proto)], min(p, self.g), self.nodes(p)
        hops = lat["base"] + 2 * ((g - 1) * lat["nvlink"] + math.ceil(math.log2(n)) * lat["net"])
        return hops + 2.0 * nbytes / self.bus(p)

    def allreduce(self, nbytes, p, algorithm, proto="simple"):
        if algorithm == "best":
            return min(getattr(self, a)(nbytes, p, proto) for a in ALGORITHMS)
        return getattr(self, algorithm)(nbytes, p, proto)


def bucket_calls(nbytes, bucket_bytes):
    return 0 if nbytes <= 0 else max(1, math.ceil(nbytes / bucket_bytes))


def step_comm_seconds(hw, nbytes, p, algorithm, bucket_bytes, control, control_bytes):
    calls = bucket_calls(nbytes, bucket_bytes)
    t = calls * hw.allreduce(nbytes / calls, p, algorithm) if calls else 0.0
    return t + control * hw.allreduce(control_bytes, p, algorithm, "ll")


# ---------------------------------------------------------------------------------------------
# Reading inputs.
# ---------------------------------------------------------------------------------------------
def load_json(path):
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def first(d, *keys):
    for k in keys:
        if isinstance(d, dict) and d.get(k) is not None:
            return d[k]
    return None


def flatten(row):
    """memory_methods.json nests the measurement under "result"; lift it beside "method"."""
    if isinstance(row, dict) and isinstance(row.get("result"), dict):
        out = dict(row["result"])
        out.update({k: v for k, v in row.items() if k != "result"})
        return out
    return row


def rows_of(obj):
    """A list of flat row dicts from a list, a single row, or {"methods": {name: {...}}}."""
    if obj is None:
        return []
    if isinstance(obj, list):
        out = []
        for x in obj:
            out += rows_of(x)
        return out
    if not isinstance(obj, dict):
        return []
    if isinstance(obj.get("methods"), dict):
        shared = {k: v for k, v in obj.items() if k != "methods"}
        out = []
        for m, v in obj["methods"].items():
            r = dict(shared)
            r.update(flatten(v) if isinstance(v, dict) else {"value": v})
            r["method"] = m
            out.append(r)
        return out
    if "method" in obj:
        return [flatten(obj)]
    if isinstance(obj.get("rows"), list):
        return rows_of(obj["rows"])
    return []


def parse_kv(text, cast=float):
    out = {}
    for item in (text or "").split(","):
        if item.strip():
            k, _, v = item.partition("=")
            out[k.strip()] = cast(v)
    return out


def row_step_seconds(r):
    s = first(r, "step_seconds", "mean_step_seconds")
    if s is None and r.get("samples_per_second") and first(r, "global_batch", "batch"):
        s = first(r, "global_batch", "batch") / r["samples_per_second"]
    return s


def row_global_batch(r):
    b = first(r, "global_batch", "batch")
    if b is None and r.get("per_rank_batch") is not None:
        b = r["per_rank_batch"] * r.get("world_size", 1)
    if b is None and r.get("samples_per_second") and first(r, "step_seconds", "mean_step_seconds"):
        b = r["samples_per_second"] * first(r, "step_seconds", "mean_step_seconds")
    return b


def row_per_rank_batch(r):
    if r.get("per_rank_batch") is not None:
        return r["per_rank_batch"]
    b = row_global_batch(r)
    return None if b is None else b / max(1, r.get("world_size", 1))


# ---------------------------------------------------------------------------------------------
# Validation against the measured CPU MPI points.
# ---------------------------------------------------------------------------------------------
def fit_nonneg(points):
    """Least squares comm = a * x1 + c * x2 with a, c >= 0 (a = latency per step, c = 1/B)."""
    def solve(use_a, use_c):
        if use_a and use_c:
            s11 = sum(p["x1"] ** 2 for p in points)
            s22 = sum(p["x2"] ** 2 for p in points)
            s12 = sum(p["x1"] * p["x2"] for p in points)
            b1 = sum(p["x1"] * p["comm"] for p in points)
            b2 = sum(p["x2"] * p["comm"] for p in points)
            det = s11 * s22 - s12 * s12
            if abs(det) <= 1e-30 * max(1.0, s11 * s22):
                return None
            return (b1 * s22 - b2 * s12) / det, (s11 * b2 - s12 * b1) / det
        key = "x1" if use_a else "x2"
        den = sum(p[key] ** 2 for p in points)
        v = sum(p[key] * p["comm"] for p in points) / den if den > 0 else 0.0
        return (v, 0.0) if use_a else (0.0, v)

    best = None
    for use in ((True, True), (True, False), (False, True)):
        sol = solve(*use)
        if sol is None or sol[0] < 0 or sol[1] < 0:
            continue
        res = sum((sol[0] * p["x1"] + sol[1] * p["x2"] - p["comm"]) ** 2 for p in points)
        if best is None or res < best[2] - 1e-18:
            best = (sol[0], sol[1], res)
    return best or (0.0, 0.0, float("inf"))


def validation_points(measured, bucket_bytes_default, control):
    """Multi-rank measured points with their compute and comm time, or reasons they lack one."""
    by_key = {}
    for r in measured:
        by_key[(r.get("model"), r["method"], r["world_size"])] = r
    points, skipped = [], []
    for (model, method, p), r in sorted(by_key.items(), key=lambda kv: str(kv[0])):
        if p <= 1:
            continue
        step = row_step_seconds(r)
        gb = row_global_batch(r)
        nbytes = r.get("comm_bytes_per_step")
        if step is None or gb is None or nbytes is None:
            skipped.append(f"{model} {method} p={p}: needs step time, batch and bytes")
            continue
        compute = r.get("compute_seconds")
        if compute is None:
            one = by_key.get((model, method, 1))
            if one is None or row_step_seconds(one) is None or row_per_rank_batch(one) is None:
                skipped.append(f"{model} {method} p={p}: no world-1 row to take compute from")
                continue
            compute = row_step_seconds(one) * row_per_rank_batch(r) / row_per_rank_batch(one)
        comm = r.get("comm_seconds", step - compute)
        bucket = r["bucket_mb"] * 1024 * 1024 if r.get("bucket_mb") else bucket_bytes_default
        calls = bucket_calls(nbytes, bucket) + control
        points.append({"model": model, "method": method, "p": p, "bytes": nbytes, "step": step,
                       "compute": compute, "comm": comm, "global_batch": gb,
                       "sps": r.get("samples_per_second", gb / step),
                       "x1": calls * 2 * (p - 1), "x2": 2.0 * (p - 1) / p * nbytes})
    return points, skipped


def fit_report(points, fit_on=None):
    train = [q for q in points if fit_on is None or q["p"] == fit_on]
    a, c, _ = fit_nonneg(train)
    errs = []
    for q in points:
        pred_comm = a * q["x1"] + c * q["x2"]
        pred_sps = q["global_batch"] / (q["compute"] + pred_comm)
        errs.append({"model": q["model"], "method": q["method"], "world_size": q["p"],
                     "compute_seconds": q["compute"], "measured_comm_seconds": q["comm"],
                     "model_comm_seconds": pred_comm,
                     "measured_samples_per_second": q["sps"],
                     "model_samples_per_second": pred_sps,
                     "relative_error": pred_sps / q["sps"] - 1.0,
                     "in_fit": fit_on is None or q["p"] == fit_on})
    return {"latency_us_per_step": a * 1e6,
            "bandwidth_GBps": (1.0 / c / GB) if c > 0 else None,
            "fitted_on_world_sizes": sorted({q["p"] for q in train}),
            "points": errs}


def validate(measured, args, bucket_bytes):
    points, skipped = validation_points(measured, bucket_bytes, args.control_collectives)
    for s in skipped:
        print(f"validation: skipped {s}")
    if not points:
        print("validation: no multi-rank measured point with step time, batch and bytes; "
              "the model is not validated")
        return None
    if any(q["comm"] < 0 for q in points):
        print("validation: WARNING some measured points take less time than their compute "
              "estimate (negative comm time): step-time noise exceeds the communication signal, "
              "so the fitted latency and bandwidth are poorly determined")
    out = {"in_sample": fit_report(points)}
    worlds = sorted({q["p"] for q in points})
    if len(worlds) > 1:
        out["out_of_sample"] = fit_report(points, fit_on=worlds[0])
    for name, rep in out.items():
        bw = rep["bandwidth_GBps"]
        print(f"\nCPU MPI fit ({name.replace('_', ' ')}, fitted on world sizes "
              f"{rep['fitted_on_world_sizes']}): latency {rep['latency_us_per_step']:.1f} us per "
              f"ring step, bandwidth " + (f"{bw:.3f} GB/s" if bw else "unbounded (no bytes term)"))
        print("  model method world | compute s | comm s measured | comm s model "
              "| samples/s measured | samples/s model | error")
        for e in rep["points"]:
            print(f"  {e['model']} {e['method']} {e['world_size']}{'' if e['in_fit'] else ' *'} | "
                  f"{e['compute_seconds']:.4f} | {e['measured_comm_seconds']:.4f} | "
                  f"{e['model_comm_seconds']:.4f} | {e['measured_samples_per_second']:.3f} | "
                  f"{e['model_samples_per_second']:.3f} | {100 * e['relative_error']:+.1f}%")
    if "out_of_sample" in out:
        print("  (* = predicted, not used in the fit)")
    return out


# ---------------------------------------------------------------------------------------------
# Projection inputs.
# ---------------------------------------------------------------------------------------------
def memory_rows(results_dir):
    rows = []
    for name in ("memory.json", "memory_methods.json"):
        for r in rows_of(load_json(os.path.join(results_dir, name))):
            r = dict(r)
            r["_file"] = name
            rows.append(r)
    return rows


def cpu_step_ratio(model, methods, measured, mem_rows):
    """Step time of each method over the baseline's, measured on CPU; the first source that has
    every method wins: world-1 measured rows of this model, memory rows of this model, world-1
    measured rows of any one model."""
    def ratios(rows, source):
        """From one (file, batch, seq) group holding every method; the largest batch wins."""
        groups = {}
        for r in rows:
            s = row_step_seconds(r)
            if s and r.get("method") in methods and r.get("measured", True):
                key = (str(r.get("_file")), r.get("batch") or 0, r.get("seq") or 0)
                groups.setdefault(key, {}).setdefault(r["method"], s)
        full = [k for k, t in groups.items() if all(m in t for m in methods)]
        if not full:
            return None
        k = max(full, key=lambda k: (k[1], k[2], k[0]))
        t = groups[k]
        where = f"{source}" + (f", batch {k[1]}" if k[1] else "") + (f", seq {k[2]}" if k[2] else "")
        return {m: t[m] / t["baseline"] for m in methods}, where

    ones = [r for r in measured if r.get("world_size") == 1]
    candidates = [([r for r in ones if r.get("model") == model], "measured world-1 rows"),
                  ([r for r in mem_rows if r.get("model") == model], "memory benchmark rows")]
    for other in sorted({str(r.get("model")) for r in ones}):
        candidates.append(([r for r in ones if str(r.get("model")) == other],
                           f"measured world-1 rows of {other}"))
    for rows, source in candidates:
        got = ratios(rows, f"CPU step-time ratio from {source}")
        if got:
            return got
    return {m: 1.0 for m in methods}, "no CPU measurement: every method assumed as fast as baseline"


def gpu_rows(path, model):
    rows = [r for r in rows_of(load_json(path)) if r.get("world_size", 1) == 1]
    mine = [r for r in rows if r.get("model") in (None, model)]
    return mine


def resolve_inputs(args, measured, mem_rows):
    model, methods = args.model, args.methods
    inputs = {m: {} for m in methods}

    # Freeze ratio: CLI, else that of this model's measured multi-rank rows, of its memory rows
    # (benchmarks/memory.py uses the paper's r per model), of any measured rows, else 0.95.
    r = args.freeze_ratio
    if r is None:
        def ratios_of(rows):
            return [x["freeze_ratio"] for x in rows
                    if FREEZES.get(x.get("method")) and x.get("freeze_ratio")]
        found = (ratios_of([x for x in measured if x.get("model") == model])
                 or ratios_of([x for x in mem_rows if x.get("model") == model])
                 or ratios_of(measured) or [0.95])
        r = found[0]

    # Bytes per step.
    cli_bytes = parse_kv(args.bytes, lambda v: int(float(v)))
    for m in methods:
        seen = [x["comm_bytes_per_step"] for x in measured
                if x.get("method") == m and x.get("model") == model
                and x.get("world_size", 1) > 1 and x.get("comm_bytes_per_step")]
        if m in cli_bytes:
            inputs[m]["bytes"], inputs[m]["bytes_source"] = cli_bytes[m], "--bytes"
        elif seen:
            inputs[m]["bytes"] = statistics.median(seen)
            inputs[m]["bytes_source"] = "measured comm_bytes_per_step (median over world sizes)"
        else:
            inputs[m]["bytes"] = analytic_comm_bytes(model, m, r)
            inputs[m]["bytes_source"] = (
                f"parameter shapes of {model}, freeze_ratio {r}" if FREEZES.get(m)
                else f"parameter shapes of {model}: every gradient")

    # Compute seconds and per-rank batch.
    gpu = gpu_rows(args.gpu_check, model)
    batch, seq = args.per_rank_batch, args.seq
    if batch is None:
        gb = [x.get("batch") for x in gpu if x.get("batch")]
        batch = gb[0] if gb else 32
    cli_compute = parse_kv(args.compute_seconds)
    gpu_t = {}
    for x in gpu:
        s = first(x, "compute_seconds", "step_seconds", "mean_step_seconds")
        if s and x.get("method") in methods and x.get("batch") in (None, batch):
            gpu_t.setdefault(x["method"], s)
    ratio, ratio_source = cpu_step_ratio(model, methods, measured, mem_rows)
    if args.assumed_baseline_step_s is not None:
        assumed = args.assumed_baseline_step_s
        assumed_source = "--assumed-baseline-step-s"
    else:
        flops = step_flops(model, batch, seq)
        assumed = flops / (args.mfu * args.peak_flops)
        assumed_source = (f"ASSUMED: {flops / 1e12:.2f} TFLOP per step (6 x matmul params x tokens "
                          f"+ attention) / ({args.mfu} MFU x {args.peak_flops / 1e12:g} TFLOPS "
                          f"FP32 peak)")
    base_gpu = gpu_t.get("baseline")
    for m in methods:
        if m in cli_compute:
            inputs[m]["compute"], inputs[m]["compute_source"] = cli_compute[m], "--compute-seconds"
        elif m in gpu_t:
            inputs[m]["compute"] = gpu_t[m]
            inputs[m]["compute_source"] = (
                f"measured on one GPU ({os.path.basename(args.gpu_check)})")
        elif base_gpu is not None:
            inputs[m]["compute"] = base_gpu * ratio[m]
            inputs[m]["compute_source"] = f"GPU baseline x {ratio[m]:.3f} ({ratio_source})"
        else:
            inputs[m]["compute"] = assumed * ratio[m]
            inputs[m]["compute_source"] = f"{assumed_source}; x {ratio[m]:.3f} ({ratio_source})"

    # Peak bytes per rank.
    cli_peak = parse_kv(args.peak_bytes, lambda v: int(float(v)))
    for m in methods:
        peak, src = None, "not measured at this model, batch and sequence length"
        if m in cli_peak:
            peak, src = cli_peak[m], "--peak-bytes"
        else:
            for x in gpu:
                if x.get("method") == m and x.get("peak_bytes") and x.get("batch") in (None, batch):
                    peak, src = x["peak_bytes"], "measured on one GPU"
                    break
            if peak is None:
                # Text: same sequence length. Images: memory.json keeps the image size in "seq"
                # (benchmarks/memory.py); memory_methods.sh ran ViT at its default size.
                px = IMAGE_PX.get(model)
                match = [x for x in mem_rows
                         if x.get("model") == model and x.get("method") == m
                         and x.get("batch") == batch and x.get("peak_bytes")
                         and (x.get("seq") == (px or seq)
                              or (px and x["_file"] == "memory_methods.json"))]
                match.sort(key=lambda x: not x.get("measured", True))  # measured first
                if match:
                    x = match[0]
                    peak = x["peak_bytes"]
                    src = f"{x['_file']} (CPU allocator, same tensors" + (
                        ")" if x.get("measured", True) else "; extrapolated, not measured)")
        inputs[m]["peak"], inputs[m]["peak_source"] = peak, src
    return inputs, batch, r


# ---------------------------------------------------------------------------------------------
# Projection and output.
# ---------------------------------------------------------------------------------------------
def project(args, inputs, batch, freeze_ratio, validation):
    hw = Hardware(args)
    bucket = args.bucket_mb * 1024 * 1024
    cost_model = {
        "algorithm": args.algorithm, "gpus_per_node": args.gpus_per_node,
        "nvlink_GBps_per_direction": args.nvlink_GBps,
        "ib_GBps_per_gpu_per_direction": args.ib_GBps,
        "alpha_nvlink_us": args.alpha_nvlink_us, "alpha_ib_us": args.alpha_ib_us,
        "base_latency_us": args.base_latency_us, "link_efficiency": args.link_efficiency,
        "bucket_mb": args.bucket_mb, "control_collectives": args.control_collectives,
        "control_bytes": args.control_bytes, "overlap": args.overlap,
        "backward_share_of_compute": 2.0 / 3.0, "citations": CITATIONS,
        "assumptions": ASSUMPTIONS, "cpu_mpi_validation": validation,
    }
    rows = []
    for p in args.worlds:
        base_sps = None
        for m in args.methods:
            x = inputs[m]
            comm = {alg: step_comm_seconds(hw, x["bytes"], p, alg, bucket, args.control_collectives,
                                           args.control_bytes)
                    for alg in ALGORITHMS + ("best",)}
            c = comm[args.algorithm]
            hidden = args.overlap * min(c, 2.0 / 3.0 * x["compute"])
            step = x["compute"] + c - hidden
            sps = p * batch / step
            row = {
                "world_size": p, "method": m, "samples_per_second": sps,
                "comm_bytes_per_step": x["bytes"], "peak_bytes_per_rank": x["peak"],
                "measured": False, "source": "model", "model": args.model,
                "per_rank_batch": batch, "global_batch": p * batch,
                "seq": None if MODELS[args.model][3] else args.seq,
                "freeze_ratio": freeze_ratio if FREEZES.get(m) else 0.0,
                "nodes": hw.nodes(p), "step_seconds": step, "compute_seconds": x["compute"],
                "comm_seconds": c, "comm_seconds_ring": comm["ring"],
                "comm_seconds_hierarchical": comm["hierarchical"],
                "comm_seconds_tree": comm["tree"],
                "comm_seconds_best": comm["best"],
                "allreduce_calls": bucket_calls(x["bytes"], bucket),
                "scaling_efficiency": x["compute"] / step,
                "compute_source": x["compute_source"], "bytes_source": x["bytes_source"],
                "peak_source": x["peak_source"], "cost_model": cost_model,
            }
            if m == "baseline":
                base_sps = sps
            elif base_sps:
                row["speedup_vs_baseline"] = sps / base_sps
            rows.append(row)
    return rows


def row_key(r):
    return (str(r.get("model")), str(r.get("method")), int(r.get("world_size", 0)))


def merge(existing, measured_extra, projected):
    kept = [r for r in existing if r.get("source") != "model"]
    index = {row_key(r): i for i, r in enumerate(kept) if r.get("measured")}
    for r in measured_extra:
        if row_key(r) in index:
            kept[index[row_key(r)]] = r
        else:
            index[row_key(r)] = len(kept)
            kept.append(r)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}

    def sort_key(r):
        return (not r.get("measured", False), str(r.get("model")),
                order.get(r.get("method"), 99), str(r.get("method")), r.get("world_size", 0))
    return sorted(kept, key=sort_key) + projected


def print_table(rows, algorithm):
    print(f"\nprojection (GPU, NCCL alpha-beta model, {algorithm} all-reduce):")
    print("| world | nodes | method | compute ms | comm ms | step ms | samples/s | efficiency "
          "| comm MB/step | x baseline | comm ms, best algorithm |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['world_size']} | {r['nodes']} | {r['method']} | "
              f"{1e3 * r['compute_seconds']:.1f} | {1e3 * r['comm_seconds']:.2f} | "
              f"{1e3 * r['step_seconds']:.1f} | {r['samples_per_second']:.0f} | "
              f"{100 * r['scaling_efficiency']:.0f}% | {r['comm_bytes_per_step'] / 1e6:.1f} | "
              f"{r.get('speedup_vs_baseline', 1.0):.2f} | {1e3 * r['comm_seconds_best']:.2f} |")


def parse_args(argv):
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a.add_argument("--output", default=os.path.join(RESULTS, "scaling.json"),
                   help="scaling JSON to merge the projection into")
    a.add_argument("--measured", default=None,
                   help="JSON with the measured CPU MPI rows (default: the --output file itself)")
    a.add_argument("--results-dir", default=RESULTS,
                   help="where memory.json and memory_methods.json are read from")
    a.add_argument("--gpu-check", default=None,
                   help="one-GPU step times per method (default: RESULTS/gpu_check.json)")
    a.add_argument("--model", default="bert-base", choices=sorted(MODELS))
    a.add_argument("--methods", default="baseline,slimfit",
                   help="comma-separated; freeze_only and compress_only are accepted")
    a.add_argument("--worlds", default="8,16,32,64,128,256")
    a.add_argument("--per-rank-batch", type=int, default=None,
                   help="examples per GPU per step (default: gpu_check's batch, else 32)")
    a.add_argument("--seq", type=int, default=128, help="sequence length (text models)")
    a.add_argument("--freeze-ratio", type=float, default=None,
                   help="r for the analytic SlimFit bytes (default: from the measured or memory "
                        "rows, else 0.95)")
    a.add_argument("--bytes", default=None, help="bytes all-reduced per step: method=N,...")
    a.add_argument("--compute-seconds", default=None,
                   help="GPU compute seconds per step (no communication): method=S,...")
    a.add_argument("--peak-bytes", default=None, help="peak bytes per rank: method=N,...")
    a.add_argument("--assumed-baseline-step-s", type=float, default=None,
                   help="assumed one-GPU baseline step when nothing is measured (default: FLOPs)")
    a.add_argument("--mfu", type=float, default=0.35,
                   help="assumed fraction of FP32 peak reached by the baseline step")
    a.add_argument("--peak-flops", type=float, default=DEFAULTS["peak_flops"])
    a.add_argument("--algorithm", default="ring", choices=list(ALGORITHMS) + ["best"],
                   help="all-reduce algorithm whose time the rows use (all are recorded)")
    a.add_argument("--gpus-per-node", type=int, default=DEFAULTS["gpus_per_node"])
    a.add_argument("--nvlink-GBps", type=float, default=DEFAULTS["nvlink_GBps"],
                   help="NVLink bandwidth per GPU per direction")
    a.add_argument("--ib-GBps", type=float, default=DEFAULTS["ib_GBps"],
                   help="InfiniBand bandwidth per GPU (NIC) per direction")
    a.add_argument("--alpha-nvlink-us", type=float, default=DEFAULTS["alpha_nvlink_us"])
    a.add_argument("--alpha-ib-us", type=float, default=DEFAULTS["alpha_ib_us"])
    a.add_argument("--base-latency-us", type=float, default=DEFAULTS["base_latency_us"])
    a.add_argument("--link-efficiency", type=float, default=1.0,
                   help="achieved fraction of the link rates (1.0 = published peak)")
    a.add_argument("--bucket-mb", type=float, default=25.0, help="trainer's bucket_mb")
    a.add_argument("--control-collectives", type=int, default=4,
                   help="small coordinator collectives per step")
    a.add_argument("--control-bytes", type=int, default=2448,
                   help="bytes of each control collective (102 units x 3 doubles)")
    a.add_argument("--overlap", type=float, default=0.0,
                   help="fraction of the backward pass (2/3 of compute) hidden under comm")
    a.add_argument("--dry-run", action="store_true", help="print, write nothing")
    args = a.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.worlds = [int(w) for w in args.worlds.split(",") if w.strip()]
    if args.gpu_check is None:
        args.gpu_check = os.path.join(args.results_dir, "gpu_check.json")
    if not 0.0 <= args.overlap <= 1.0:
        a.error(f"--overlap must be in [0, 1], got {args.overlap}")
    if "baseline" not in args.methods:
        a.error("--methods must include baseline (speed-ups and ratios are relative to it)")
    for w in args.worlds:
        if w > args.gpus_per_node and w % args.gpus_per_node:
            a.error(f"world size {w} is not a multiple of --gpus-per-node {args.gpus_per_node}")
    return args


def main(argv=None):
    args = parse_args(argv)
    existing = load_json(args.output) or []
    if not isinstance(existing, list):
        sys.exit(f"{args.output}: expected a JSON list of rows, got {type(existing).__name__}")
    measured_path = args.measured or args.output
    measured_all = rows_of(load_json(measured_path)) if measured_path != args.output else existing
    if args.measured and not os.path.exists(args.measured):
        sys.exit(f"--measured {args.measured}: no such file")
    measured = [r for r in measured_all if r.get("measured") and "world_size" in r
                and "method" in r]
    print(f"{len(measured)} measured rows from {measured_path}")

    validation = validate(measured, args, args.bucket_mb * 1024 * 1024)
    inputs, batch, freeze_ratio = resolve_inputs(args, measured, memory_rows(args.results_dir))
    print(f"\ninputs for {args.model}, per-rank batch {batch}:")
    for m in args.methods:
        x = inputs[m]
        print(f"  {m}: {x['bytes'] / 1e6:.2f} MB/step ({x['bytes_source']}); compute "
              f"{1e3 * x['compute']:.1f} ms ({x['compute_source']}); peak "
              + (f"{x['peak'] / 2**20:.0f} MiB" if x["peak"] else "n/a") + f" ({x['peak_source']})")
    projected = project(args, inputs, batch, freeze_ratio, validation)
    print_table(projected, args.algorithm)
    rows = merge(existing, measured if measured_path != args.output else [], projected)
    if args.dry_run:
        print(f"\n--dry-run: {args.output} not written ({len(rows)} rows)")
        return
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rows, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.output)
    print(f"\nwrote {args.output}: {sum(1 for r in rows if r.get('measured'))} measured rows, "
          f"{len(projected)} model rows")


if __name__ == "__main__":
    main()
