#!/usr/bin/env python3
"""Memory per rank at batch 128 with the final settings of issue 11: SlimFit with frozen units
coasting (--frozen-update coast) and the byte budget (--budget mean), the full 12-layer models
measured directly by `slimfit memory` (one steady-state step, the counting CPU allocator), for
bert-base at seq 128 (freeze_ratio 0.8) and vit-b16 at 224 px (0.95), with several seeds (the
budget's first mask is a random fill, so its bytes vary with the seed). The count rule
(--budget units) is measured beside it at the same batch and seeds.

The byte budget is batch-dependent (at small batch the word-embedding gradient dominates it), so
batch-8 points cannot be scaled to batch 128 as benchmarks/memory.py does for the count rule:
these points are measured at batch 128. The unfrozen baseline at batch 128 is the committed row
of memory.json (freezing rules do not change it): measured for bert-base (then its peak RSS
gives an RSS ratio beside the ledger's), extrapolated and validated for vit-b16, whose 18 GiB
baseline does not fit beside the rest of this 24 GiB machine.

Usage: python3 benchmarks/memory_budget.py [SEEDS [BUDGETS [MODELS]]]
  (defaults: 2 seeds, budgets mean,units, models bert-base,vit-b16)
Writes benchmarks/results/memory_budget.json; each measurement is cached under
benchmarks/results/memory_runs/ like memory.py's, so an interrupted run resumes.
"""
import json
import os
import statistics
import sys

import memory  # benchmarks/memory.py: run_cached, BIN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = memory.BIN
RESULTS = os.path.join(ROOT, "benchmarks", "results")
POINTS = [("bert-base", ["--seq", "128"], 128, 0.8), ("vit-b16", ["--image-size", "224"], 224, 0.95)]
BATCH = 128


def measure(model, shape_args, r, budget, seed):
    return memory.run_cached([BIN, "memory", "--model", model, "--batch", str(BATCH), *shape_args,
                              "--freeze-ratio", str(r), "--budget", budget, "--frozen-update",
                              "coast", "--seed", str(seed), "--json"])


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    budgets = sys.argv[2].split(",") if len(sys.argv) > 2 else ["mean", "units"]
    models = sys.argv[3].split(",") if len(sys.argv) > 3 else [p[0] for p in POINTS]
    with open(os.path.join(RESULTS, "memory.json")) as f:
        committed = json.load(f)
    rows = committed["rows"] if isinstance(committed, dict) else committed
    out = []
    previous = {}  # rows of other budgets or models from an earlier call are kept
    path = os.path.join(RESULTS, "memory_budget.json")
    if os.path.exists(path):
        with open(path) as f:
            previous = {(x["model"], x["budget"]): x for x in json.load(f)["rows"]}
    for model, shape_args, shape, r in POINTS:
        if model not in models:
            continue
        base = next(x for x in rows if x["model"] == model and x["batch"] == BATCH and
                    x["seq"] == shape and x["method"] == "baseline")
        for budget in budgets:
            runs = [measure(model, shape_args, r, budget, s) for s in range(seeds)]
            act = [j["activation_bytes"] for j in runs]
            peak = [j["peak_bytes"] for j in runs]
            rss = [j["peak_rss_bytes"] for j in runs]
            out.append({
                "model": model, "batch": BATCH, "seq": shape, "freeze_ratio": r,
                "budget": budget, "frozen_update": "coast", "seeds": seeds,
                "units_trained": [j["units_total"] - j["units_frozen"] for j in runs],
                "units_total": runs[0]["units_total"],
                "activation_bytes": act, "peak_bytes": peak, "peak_rss_bytes": rss,
                "baseline_activation_bytes": base["activation_bytes"],
                "baseline_peak_bytes": base["peak_bytes"],
                "baseline_measured": base["measured"],
                "activation_ratio_min": base["activation_bytes"] / max(act),
                "activation_ratio_mean": base["activation_bytes"] / statistics.mean(act),
                "peak_ratio_min": base["peak_bytes"] / max(peak),
                "peak_ratio_mean": base["peak_bytes"] / statistics.mean(peak)})
            if "peak_rss_bytes" in base:  # a measured baseline: the ratio the OS sees, too
                out[-1]["baseline_peak_rss_bytes"] = base["peak_rss_bytes"]
                out[-1]["peak_rss_ratio_min"] = base["peak_rss_bytes"] / max(rss)
    for row in out:
        previous[(row["model"], row["budget"])] = row
    out = list(previous.values())
    result = {"protocol": f"slimfit memory at batch {BATCH}, full 12-layer models, CPU fp32 bytes "
                          "from the counting allocator; SlimFit with --frozen-update coast and "
                          "--budget mean (final), worst, or units (the count rule); seeds "
                          "0..seeds-1 per row; baseline = the committed memory.json row",
              "rows": out}
    with open(os.path.join(RESULTS, "memory_budget.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
