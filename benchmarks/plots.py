#!/usr/bin/env python3
"""Draws the benchmark figures from the committed result JSONs, and prints README tables.

    .venv-tools/bin/python benchmarks/plots.py                        # every figure it has data for
    .venv-tools/bin/python benchmarks/plots.py --metrics RUN.metrics.h5   # plus freeze_heatmap.png
    .venv-tools/bin/python benchmarks/plots.py --readme-tables        # markdown tables to stdout
    .venv-tools/bin/python benchmarks/plots.py --results-dir /tmp/r --out-dir /tmp/f --only scaling

Needs matplotlib (and h5py for --metrics, through tools/plot_metrics.py); run it with
/work/main/.venv-tools/bin/python, which has both. Each figure is skipped, with a message,
when its input is missing.

Inputs (in --results-dir, default benchmarks/results) and outputs (in --out-dir, default the same):
  memory.json          rows {"model", "batch", "seq", "method", "activation_bytes", "peak_bytes",
                       "measured", optional weights_bytes, grad_bytes, optimizer_bytes,
                       peak_breakdown}                  -> memory_breakdown.png, memory_vs_batch.png
  memory_methods.json  benchmarks/memory_methods.sh: [{"method", "result": {slimfit memory --json}}]
                       (memory_breakdown.png when memory.json has no breakdown for a model)
  accuracy.json        {"task", "model", "n_runs", "methods": {m: {"accuracy_mean",
                       "accuracy_std"}}} or a list of them                   -> accuracy.png
  scaling.json         rows {"world_size", "method", "samples_per_second", "comm_bytes_per_step",
                       "peak_bytes_per_rank", "measured", ...} (benchmarks/scaling_model.py adds
                       the model rows)                                      -> scaling.png
  --metrics FILE.h5    a slimfit metrics file; drawn by tools/plot_metrics.py -> freeze_heatmap.png

Memory breakdown: when a row has peak_breakdown (what was alive at the peak; its parts sum to
peak_bytes exactly) the bar stacks those parts. Otherwise it stacks weights, gradients,
optimizer state and saved activations as measured separately; these are not all alive at the
same moment, so their sum can exceed the peak, which is then drawn as a black tick.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scaling_model import flatten  # noqa: E402  (one reader of memory_methods.json rows)
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
PLOT_METRICS = os.path.join(ROOT, "tools", "plot_metrics.py")

METHOD_ORDER = ["baseline", "freeze_only", "compress_only", "slimfit"]
METHOD_LABEL = {"baseline": "baseline", "freeze_only": "freezing only",
                "compress_only": "compression only", "slimfit": "SlimFit"}
METHOD_COLOR = {"baseline": "tab:gray", "freeze_only": "tab:blue",
                "compress_only": "tab:orange", "slimfit": "tab:green"}
PART_COLOR = {"weights": "#4c72b0", "gradients": "#dd8452", "optimizer": "#55a868",
              "activations": "#c44e52", "other": "#b0b0b0"}
GiB = 2.0 ** 30
MiB = 2.0 ** 20
FIGURES = ["memory_breakdown", "memory_vs_batch", "accuracy", "scaling", "freeze_heatmap"]


# ---------------------------------------------------------------------------------------------
# Loading.
# ---------------------------------------------------------------------------------------------
def load_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def method_key(m):
    return (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), str(m))


def label(m):
    return METHOD_LABEL.get(m, m)


def color(m):
    extra = ["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:red"]
    return METHOD_COLOR.get(m) or extra[zlib.crc32(str(m).encode()) % len(extra)]


def is_image_model(model):
    return "vit" in str(model).lower()


def input_text(r):
    """"seq 128" for text; "224 px" for images. memory.json keeps the ViT image size in "seq"
    (benchmarks/memory.py); memory_methods.sh ran ViT at its default 224 px whatever --seq said."""
    if not is_image_model(r.get("model")):
        return None if r.get("seq") is None else f"seq {r['seq']}"
    px = r.get("image_size") or (224 if r.get("_file") == "memory_methods.json" else r.get("seq"))
    return None if px is None else f"{px} px"


def shape_text(r):
    text = input_text(r)
    return f"batch {r.get('batch')}" + (f", {text}" if text else "")


def memory_rows(results_dir, name):
    """Flat memory rows of one file; rows with no "measured" key count as measured."""
    data = load_json(os.path.join(results_dir, name))
    if data is None:
        return None
    rows = data if isinstance(data, list) else [data]
    out = []
    for r in rows:
        r = dict(flatten(r))
        if "model" in r and "method" in r and r.get("peak_bytes") is not None:
            r.setdefault("measured", True)
            r["_file"] = name
            out.append(r)
    return out


def accuracy_tasks(results_dir):
    """accuracy.json first (the headline task), then every accuracy_*.json (other tasks and
    protocol variants: accuracy_fashion_mnist.json, accuracy_pooling_cls.json, ...)."""
    files = [os.path.join(results_dir, "accuracy.json")] + sorted(
        glob.glob(os.path.join(results_dir, "accuracy_*.json")))
    tasks = []
    for path in files:
        data = load_json(path)
        if data is None:
            continue
        for t in data if isinstance(data, list) else [data]:
            if isinstance(t, dict) and isinstance(t.get("methods"), dict):
                tasks.append(t)
    return tasks or None


def runs_text(t):
    n = sorted({v.get("n_runs", t.get("n_runs", "?")) for v in t["methods"].values()
                if isinstance(v, dict)}, key=str)
    return "-".join(str(x) for x in (n if len(n) < 2 else [n[0], n[-1]]))


def task_text(t):
    variant = f"\n{t['variant']}" if t.get("variant") else ""
    return f"{t.get('task', '?')}\n{t.get('model', '')}{variant}"


def scaling_rows(results_dir):
    data = load_json(os.path.join(results_dir, "scaling.json"))
    if data is None:
        return None
    return [r for r in data if isinstance(r, dict) and "world_size" in r and "method" in r]


def skip(name, why):
    print(f"{name}.png: skipped ({why})")


# ---------------------------------------------------------------------------------------------
# Memory breakdown.
# ---------------------------------------------------------------------------------------------
def breakdown(r):
    """(parts, exact): parts is [(name, bytes)], exact says they are what was alive at the peak."""
    pb = r.get("peak_breakdown")
    if isinstance(pb, dict):
        parts = [("weights", pb.get("weights", 0)), ("gradients", pb.get("gradients", 0)),
                 ("optimizer", pb.get("optimizer", 0)), ("activations", pb.get("activations", 0))]
        known = {"weights", "gradients", "optimizer", "activations"}
        parts.append(("other", sum(v for k, v in pb.items() if k not in known)))
        return parts, True
    parts = [("weights", r.get("weights_bytes")), ("gradients", r.get("grad_bytes")),
             ("optimizer", r.get("optimizer_bytes")), ("activations", r.get("activation_bytes"))]
    parts = [(k, v) for k, v in parts if v is not None]
    rest = r["peak_bytes"] - sum(v for _, v in parts)
    if rest > 0:
        parts.append(("other", rest))
    return parts, False


def has_breakdown(r):
    return isinstance(r.get("peak_breakdown"), dict) or r.get("weights_bytes") is not None


def pick_shape(rows, batch, seq):
    """The (batch, seq) to draw: the one asked for (measured or not), else the measured one
    with the most methods (ties: the largest batch, then sequence)."""
    shapes, measured = {}, {}
    for r in rows:
        key = (r.get("batch"), r.get("seq"))
        shapes.setdefault(key, set()).add(r["method"])
        measured[key] = measured.get(key, True) and bool(r.get("measured", True))
    if batch is not None:
        wanted = [s for s in shapes if s[0] == batch and (seq is None or s[1] == seq)]
        if wanted:
            return max(wanted, key=lambda s: (measured[s], len(shapes[s]), s[1] or 0))
    return max(shapes, key=lambda s: (measured[s], len(shapes[s]), s[0] or 0, s[1] or 0))


def select_breakdown_rows(mem, methods_file, batch, seq):
    """Per model: (rows, source) to draw, preferring memory.json rows with a breakdown."""
    models = sorted({r["model"] for r in (mem or []) + (methods_file or [])})
    chosen = {}
    for model in models:
        for source, rows in (("memory.json", [r for r in mem or [] if has_breakdown(r)]),
                             ("memory_methods.json", methods_file or []),
                             ("memory.json", mem or [])):
            rows = [r for r in rows if r["model"] == model]
            if rows:
                b, s = pick_shape(rows, batch, seq)
                picked = {}
                for r in rows:
                    if (r.get("batch"), r.get("seq")) == (b, s):
                        picked.setdefault(r["method"], r)
                chosen[model] = (sorted(picked.values(), key=lambda r: method_key(r["method"])),
                                 source, b, s)
                break
    return chosen


def plot_memory_breakdown(results_dir, out_dir, batch=None, seq=None):
    name = "memory_breakdown"
    mem = memory_rows(results_dir, "memory.json")
    mm = memory_rows(results_dir, "memory_methods.json")
    if not mem and not mm:
        return skip(name, f"neither memory.json nor memory_methods.json in {results_dir}")
    chosen = select_breakdown_rows(mem, mm, batch, seq)
    fig, axes = plt.subplots(1, len(chosen), figsize=(4.6 * len(chosen), 4.6), squeeze=False)
    any_over = False
    for ax, (model, (rows, source, b, s)) in zip(axes[0], chosen.items()):
        for i, r in enumerate(rows):
            parts, exact = breakdown(r)
            bottom = 0.0
            for part, v in parts:
                ax.bar(i, v / GiB, bottom=bottom, color=PART_COLOR[part], width=0.65,
                       edgecolor="white", linewidth=0.5)
                bottom += v / GiB
            peak = r["peak_bytes"] / GiB
            if not exact and bottom > peak * 1.001:  # the parts' sum overshoots the peak
                any_over = True
                ax.plot([i - 0.38, i + 0.38], [peak, peak], color="black", lw=2)
            ax.text(i, max(bottom, peak) * 1.01, f"{peak:.3g}", ha="center", va="bottom",
                    fontsize=8)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([label(r["method"]) for r in rows], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("GiB")
        extrapolated = any(not r.get("measured", True) for r in rows)
        ax.set_title(f"{model}, {shape_text(rows[0])}\n({source}"
                     + (", EXTRAPOLATED, not measured" if extrapolated else ", measured") + ")",
                     fontsize=9)
        ax.margins(y=0.12)
    handles = [Patch(color=PART_COLOR[k], label=k) for k in PART_COLOR]
    if any_over:
        handles.append(Line2D([], [], color="black", lw=2,
                              label="peak (the parts are not all alive at once)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Memory of one training step per method (numbers: peak GiB)", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save(fig, out_dir, name)


# ---------------------------------------------------------------------------------------------
# Memory against batch size.
# ---------------------------------------------------------------------------------------------
def plot_memory_vs_batch(results_dir, out_dir, limit_gib):
    name = "memory_vs_batch"
    mem = memory_rows(results_dir, "memory.json")
    if not mem:
        return skip(name, f"no memory.json in {results_dir}")
    groups = {}
    for r in mem:
        if r.get("batch") is None:
            continue
        groups.setdefault((r["model"], r.get("seq")), []).append(r)
    if not groups:
        return skip(name, "memory.json rows have no batch")
    keys = sorted(groups, key=lambda k: (str(k[0]), k[1] or 0))
    fig, axes = plt.subplots(len(keys), 2, figsize=(11, 3.8 * len(keys)), squeeze=False)
    any_extrapolated = False
    for (model, seq), row_axes in zip(keys, axes):
        rows = groups[(model, seq)]
        for col, (field, title) in enumerate((("peak_bytes", "peak"),
                                              ("activation_bytes", "saved activations"))):
            ax = row_axes[col]
            for m in sorted({r["method"] for r in rows}, key=method_key):
                pts = sorted(((r["batch"], r[field] / GiB, bool(r.get("measured", True)))
                              for r in rows if r["method"] == m and r.get(field) is not None))
                if not pts:
                    continue
                meas = [p for p in pts if p[2]]
                extra = [p for p in pts if not p[2]]
                any_extrapolated |= bool(extra)
                c = color(m)
                if meas:
                    ax.plot([p[0] for p in meas], [p[1] for p in meas], "-o", color=c, ms=5,
                            label=label(m))
                if extra:
                    # Dashed from the last measured point on, hollow markers.
                    line = ([meas[-1]] if meas else []) + extra
                    ax.plot([p[0] for p in line], [p[1] for p in line], "--", color=c,
                            label=None if meas else label(m))
                    ax.plot([p[0] for p in extra], [p[1] for p in extra], "o", ms=6,
                            markerfacecolor="white", markeredgecolor=c)
            ax.axhline(limit_gib, color="black", lw=1, ls=":")
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted({r["batch"] for r in rows}))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_yscale("log")
            ax.set_xlabel("batch")
            ax.set_ylabel("GiB")
            shape = input_text(rows[0])
            ax.set_title(f"{model}" + (f", {shape}" if shape else "") + f": {title}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="upper left")
    handles = [Line2D([], [], color="black", ls="-", marker="o", label="measured")]
    if any_extrapolated:
        handles.append(Line2D([], [], color="black", ls="--", marker="o", markerfacecolor="white",
                              label="extrapolation (not measured)"))
    handles.append(Line2D([], [], color="black", ls=":", label=f"{limit_gib:g} GB device"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Memory of one training step against batch size", fontsize=10)
    height = 3.8 * len(keys)
    fig.tight_layout(rect=(0, 0.35 / height, 1, 1 - 0.3 / height))
    return save(fig, out_dir, name)


# ---------------------------------------------------------------------------------------------
# Accuracy.
# ---------------------------------------------------------------------------------------------
def percent_scale(task):
    """accuracy.sh writes percent; a task whose means are all <= 1 holds fractions: x 100."""
    means = [v.get("accuracy_mean") for v in task["methods"].values()
             if isinstance(v, dict) and v.get("accuracy_mean") is not None]
    return 100.0 if means and max(means) <= 1.0 else 1.0


def plot_accuracy(results_dir, out_dir):
    name = "accuracy"
    tasks = accuracy_tasks(results_dir)
    if not tasks:
        return skip(name, f"no accuracy.json with methods in {results_dir}")
    methods = sorted({m for t in tasks for m in t["methods"]}, key=method_key)
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 + 1.6 * len(tasks) * len(methods) / 2), 4.4))
    for j, m in enumerate(methods):
        xs, ys, es = [], [], []
        for i, t in enumerate(tasks):
            v = t["methods"].get(m)
            if not isinstance(v, dict) or v.get("accuracy_mean") is None:
                continue
            scale = percent_scale(t)
            xs.append(i + (j - (len(methods) - 1) / 2) * width)
            ys.append(v["accuracy_mean"] * scale)
            es.append((v.get("accuracy_std") or 0.0) * scale)
        ax.bar(xs, ys, width, yerr=es, capsize=3, color=color(m), label=label(m))
        for x, y, e in zip(xs, ys, es):
            ax.text(x, y + e + 0.5, f"{y:.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(tasks)))
    ax.set_xticklabels([f"{task_text(t)}\n(runs per method: {runs_text(t)})" for t in tasks],
                       fontsize=7)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Accuracy per method: mean and sample std over runs", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save(fig, out_dir, name)


# ---------------------------------------------------------------------------------------------
# Scaling.
# ---------------------------------------------------------------------------------------------
def plot_scaling(results_dir, out_dir):
    name = "scaling"
    rows = scaling_rows(results_dir)
    if not rows:
        return skip(name, f"no scaling.json rows in {results_dir}")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
    markers = ["o", "s", "^", "D", "v"]
    models = sorted({str(r.get("model")) for r in rows})
    series = {}
    for r in rows:
        key = (bool(r.get("measured")), str(r.get("model")), r["method"])
        series.setdefault(key, []).append(r)
    for (measured, model, m), rs in sorted(series.items(),
                                           key=lambda kv: (not kv[0][0], kv[0][1],
                                                           method_key(kv[0][2]))):
        rs = sorted(rs, key=lambda r: r["world_size"])
        c = color(m)
        mk = markers[models.index(model) % len(markers)]
        where = "measured, CPU MPI" if measured else "model, GPU NCCL"
        lab = f"{label(m)} ({model}, {where})" if model != "None" else f"{label(m)} ({where})"
        w = [r["world_size"] for r in rs if r.get("samples_per_second")]
        s = [r["samples_per_second"] for r in rs if r.get("samples_per_second")]
        wb = [r["world_size"] for r in rs if r.get("comm_bytes_per_step")]
        b = [r["comm_bytes_per_step"] / 1e6 for r in rs if r.get("comm_bytes_per_step")]
        if measured:
            ax1.plot(w, s, mk, color=c, ms=7, label=lab)
            ax2.plot(wb, b, mk, color=c, ms=7, label=lab)
        else:
            ax1.plot(w, s, "-", marker=".", color=c, label=lab)
            ax2.plot(wb, b, "-", marker=".", color=c, label=lab)
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("world size (ranks)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in (ax1, ax2):
        ax.xaxis.set_major_formatter(ScalarFormatter())
    ax1.set_ylabel("samples / s")
    ax1.set_title("Throughput: markers measured, lines projected", fontsize=10)
    ax2.set_ylabel("MB all-reduced per step (per rank)")
    ax2.set_title("Gradient traffic per step (world 1 sends nothing)", fontsize=10)
    fig.tight_layout()
    return save(fig, out_dir, name)


# ---------------------------------------------------------------------------------------------
# Freeze heatmap: tools/plot_metrics.py draws it; this only renames its output.
# ---------------------------------------------------------------------------------------------
def plot_freeze_heatmap(metrics, out_dir):
    name = "freeze_heatmap"
    if not metrics:
        return skip(name, "no --metrics FILE.h5 given")
    if not os.path.exists(metrics):
        return skip(name, f"metrics file {metrics} not found")
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "run")
        done = subprocess.run([sys.executable, PLOT_METRICS, metrics, "--out", prefix],
                              capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            return skip(name, f"tools/plot_metrics.py failed: {last}")
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, name + ".png")
        shutil.move(prefix + ".heatmap.png", path)
    print(f"wrote {path}")
    return path


def save(fig, out_dir, name):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name + ".png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")
    return path


# ---------------------------------------------------------------------------------------------
# README tables.
# ---------------------------------------------------------------------------------------------
def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def memory_table(results_dir):
    mem = memory_rows(results_dir, "memory.json")
    source = "memory.json"
    if not mem:
        mem, source = memory_rows(results_dir, "memory_methods.json"), "memory_methods.json"
    if not mem:
        return None
    base = {}
    for r in mem:
        if r["method"] == "baseline":
            base[(r["model"], r.get("batch"), r.get("seq"))] = r
    out = []
    for r in sorted(mem, key=lambda r: (str(r["model"]), r.get("seq") or 0, r.get("batch") or 0,
                                        method_key(r["method"]))):
        b = base.get((r["model"], r.get("batch"), r.get("seq")))
        act = r.get("activation_bytes")

        def ratio(field):
            if not b or not r.get(field) or not b.get(field):
                return "n/a"
            return f"{b[field] / r[field]:.2f}"
        out.append([r["model"], r.get("batch"), input_text(r) or "n/a",
                    label(r["method"]), "n/a" if act is None else f"{act / MiB:.1f}",
                    ratio("activation_bytes"), f"{r['peak_bytes'] / MiB:.1f}", ratio("peak_bytes"),
                    "yes" if r.get("measured", True) else "no (extrapolated)"])
    return f"Memory ({source}):\n\n" + table(
        ["model", "batch", "input", "method", "saved activations MiB", "x less", "peak MiB",
         "x less", "measured"], out)


def accuracy_table(results_dir):
    tasks = accuracy_tasks(results_dir)
    if not tasks:
        return None
    out = []
    for t in tasks:
        scale = percent_scale(t)
        base = t["methods"].get("baseline", {}).get("accuracy_mean")
        for m in sorted(t["methods"], key=method_key):
            v = t["methods"][m]
            mean, std = v.get("accuracy_mean"), v.get("accuracy_std")
            delta = "" if base is None or mean is None or m == "baseline" else \
                f"{(mean - base) * scale:+.1f}"
            out.append([t.get("task", "?"), t.get("model", "?"), t.get("variant", ""), label(m),
                        "n/a" if mean is None else
                        f"{mean * scale:.1f} ± {(std or 0.0) * scale:.1f}" if std is not None
                        else f"{mean * scale:.1f}",
                        delta, v.get("n_runs", t.get("n_runs", "?"))])
    return "Accuracy (%; mean ± sample std over runs):\n\n" + table(
        ["task", "model", "protocol", "method", "accuracy", "vs baseline (points)", "runs"], out)


def scaling_table(results_dir):
    rows = scaling_rows(results_dir)
    if not rows:
        return None
    base = {(bool(r.get("measured")), str(r.get("model")), r["world_size"]): r
            for r in rows if r["method"] == "baseline"}
    out = []
    for r in sorted(rows, key=lambda r: (not r.get("measured"), str(r.get("model")),
                                         r["world_size"], method_key(r["method"]))):
        b = base.get((bool(r.get("measured")), str(r.get("model")), r["world_size"]))
        sps = r.get("samples_per_second")
        x = f"{sps / b['samples_per_second']:.2f}" if b and sps and b.get("samples_per_second") \
            else "n/a"
        peak = r.get("peak_bytes_per_rank")
        comm = r.get("comm_bytes_per_step")
        out.append([r["world_size"], r.get("model", "n/a"), label(r["method"]),
                    "n/a" if sps is None else f"{sps:,.1f}",
                    "n/a" if comm is None else f"{comm / 1e6:.2f}",
                    "n/a" if not peak else f"{peak / MiB:.0f}", x,
                    "measured (CPU MPI)" if r.get("measured") else
                    "model (NCCL alpha-beta, "
                    + str((r.get("cost_model") or {}).get("algorithm", "?")) + ")"])
    return "Scaling (samples/s; comm = bytes all-reduced per step by each rank):\n\n" + table(
        ["world", "model", "method", "samples/s", "comm MB/step", "peak MiB/rank",
         "x baseline", "source"], out)


def readme_tables(results_dir):
    for name, make in (("memory", memory_table), ("accuracy", accuracy_table),
                       ("scaling", scaling_table)):
        text = make(results_dir)
        print(text if text else f"({name}: no input in {results_dir})")
        print()


def main(argv=None):
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--results-dir", default=RESULTS, help="where the result JSONs are read")
    a.add_argument("--out-dir", default=None, help="where the PNGs go (default: --results-dir)")
    a.add_argument("--metrics", default=None, help="slimfit metrics HDF5 for freeze_heatmap.png")
    a.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(FIGURES)}")
    a.add_argument("--batch", type=int, default=None, help="batch for memory_breakdown.png")
    a.add_argument("--seq", type=int, default=None, help="sequence length for memory_breakdown.png")
    a.add_argument("--limit-gb", type=float, default=32.0,
                   help="device memory line in memory_vs_batch.png, in GiB (32 GB V100)")
    a.add_argument("--readme-tables", action="store_true",
                   help="print markdown tables (memory, accuracy, scaling) and draw nothing")
    args = a.parse_args(argv)
    if args.readme_tables:
        readme_tables(args.results_dir)
        return
    out = args.out_dir or args.results_dir
    wanted = FIGURES if not args.only else [x.strip() for x in args.only.split(",")]
    unknown = [w for w in wanted if w not in FIGURES]
    if unknown:
        a.error(f"--only: unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    if "memory_breakdown" in wanted:
        plot_memory_breakdown(args.results_dir, out, args.batch, args.seq)
    if "memory_vs_batch" in wanted:
        plot_memory_vs_batch(args.results_dir, out, args.limit_gb)
    if "accuracy" in wanted:
        plot_accuracy(args.results_dir, out)
    if "scaling" in wanted:
        plot_scaling(args.results_dir, out)
    if "freeze_heatmap" in wanted:
        plot_freeze_heatmap(args.metrics, out)


if __name__ == "__main__":
    main()
