#!/usr/bin/env python3
"""What optimizer offload keeps next to the weights, replayed from a run's metrics file.

With offload_optimizer=true a unit's AdamW moments stay on the device while it trains and while
it coasts (coast_steps after it last trained, note [optimizer offload]); everything else is
parked on the host. This replays the run's freeze masks (/steps/trainable_mask) for several
windows and prints the resident share of the optimizer state per step (mean and max, after the
first steps in which units have not trained yet), weighting units by their sizes from the
model's safetensors header. Non-unit parameters (biases) always train, so they always count;
so do tensors of the file that the model lacks (a pooler under mean pooling): a slight
over-count of what stays resident.
Window 0 is frozen_update=none: only trainable units are resident.

usage: tools/offload_residency.py METRICS.h5 MODEL.safetensors [--windows 0,4,8,16,44] [--skip 20]
needs h5py (pip install h5py).
"""
import argparse
import json
import struct

import h5py
import numpy as np


def shapes(safetensors_path):
    with open(safetensors_path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return {k: int(np.prod(v["shape"])) for k, v in header.items() if k != "__metadata__"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("metrics")
    ap.add_argument("safetensors")
    ap.add_argument("--windows", default="0,4,8,16,44")
    ap.add_argument("--skip", type=int, default=20)
    a = ap.parse_args()
    sizes = shapes(a.safetensors)
    with h5py.File(a.metrics, "r") as f:
        mask = f["/steps/trainable_mask"][:].astype(bool)
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["/units/names"][:]]

    def size(name):  # checkpoint names may lack the model prefix ("bert.")
        for key, numel in sizes.items():
            if name.endswith(key) or key.endswith(name):
                return numel
        print(f"note: {name} is not in {a.safetensors} (a fresh head); counted as 0 elements")
        return 0

    unit = np.array([size(n) for n in names])
    always = sum(sizes.values()) - unit.sum()  # biases etc.; a fresh head is not in the file
    total = always + unit.sum()
    out = {}
    for w in (int(x) for x in a.windows.split(",")):
        last = np.full(len(names), -1)
        share = []
        for s in range(mask.shape[0]):
            resident = mask[s] | ((last >= 0) & (s - last <= w) if w > 0 else False)
            share.append((unit[resident].sum() + always) / total)
            last[mask[s]] = s
        share = np.array(share[a.skip:])
        out[w] = {"mean": float(share.mean()), "max": float(share.max())}
        print(f"window {w:3d}: resident {100 * share.mean():5.1f}% mean, {100 * share.max():5.1f}% max")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
