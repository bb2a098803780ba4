#!/usr/bin/env python3
"""Draws a slimfit metrics file (note [metrics file] in src/train/trainer.cpp) to PNG:
the freeze heatmap (units x steps, dark = trained), the loss curve, and the evaluation history
(/eval/step and /eval/<metric>, written when the run evaluated) with the best point marked.

    python3 tools/plot_metrics.py run.metrics.h5 [--out PREFIX]

Needs h5py and matplotlib (pip install h5py matplotlib); slimfit itself does not.
"""
import argparse

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", help="HDF5 metrics file written by slimfit train metrics=...")
    parser.add_argument("--out", help="output prefix (default: the metrics path without .h5)")
    args = parser.parse_args()
    prefix = args.out or args.metrics.removesuffix(".h5")
    with h5py.File(args.metrics, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["/units/names"][()]]
        mask = f["/steps/trainable_mask"][()]  # (steps, units)
        loss = f["/steps/loss"][()]
        lr = f["/steps/lr"][()]
        evals = {}
        if "/eval/step" in f:
            evals = {name: f["/eval/" + name][()] for name in f["/eval"] if name != "examples"}

    steps, units = mask.shape
    fig, ax = plt.subplots(figsize=(min(16, 4 + steps / 25), max(4, units / 8)))
    ax.imshow(mask.T, aspect="auto", cmap="Greys", interpolation="nearest")
    ax.set_xlabel("step")
    ax.set_ylabel("unit")
    step = max(1, units // 40)
    ax.set_yticks(range(0, units, step))
    ax.set_yticklabels([names[i] for i in range(0, units, step)], fontsize=6)
    ax.set_title(f"trained units per step (dark): {int(mask.sum(1).mean())} of {units}")
    fig.tight_layout()
    fig.savefig(prefix + ".heatmap.png", dpi=120)

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(loss, label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(lr, color="tab:orange", alpha=0.5, label="learning rate")
    ax2.set_ylabel("learning rate")
    fig.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(prefix + ".loss.png", dpi=120)
    written = [prefix + ".heatmap.png", prefix + ".loss.png"]
    if evals:
        eval_steps = evals.pop("step")
        fig, axes = plt.subplots(1, len(evals), figsize=(4 * len(evals), 3.5), squeeze=False)
        for ax, (name, values) in zip(axes[0], sorted(evals.items())):
            best = values.argmin() if name in ("loss", "mse") else values.argmax()
            ax.plot(eval_steps, values, marker="o")
            ax.plot(eval_steps[best], values[best], marker="*", markersize=14, color="tab:red")
            ax.set_title(f"{name} (best {values[best]:.4g} at step {eval_steps[best]})", fontsize=9)
            ax.set_xlabel("step")
        fig.tight_layout()
        fig.savefig(prefix + ".eval.png", dpi=120)
        written.append(prefix + ".eval.png")
    print("wrote " + ", ".join(written))


if __name__ == "__main__":
    main()
