#!/usr/bin/env python3
"""Checks that `slimfit export` writes directories transformers loads and runs as slimfit does.

For each model: a short slimfit training run on synthetic data (checkpoint in a temporary
directory), then `slimfit export checkpoint=... --output DIR --logits PROBE.json`. The --logits
file holds a fixed probe batch (BERT: 4 x 32 tokens, rows 1..3 padded, token type 1 on the second
half; ViT: random pixels) and the logits slimfit's checkpoint model gives on it (see
src/cli/export_command.cpp). This script loads DIR with AutoModelForSequenceClassification (BERT)
or AutoModelForImageClassification (ViT), runs the same inputs and compares the logits: the
check passes when the largest absolute difference is at most --tol (1e-5). It also requires that
transformers loads every tensor (no missing or unexpected weights besides position_ids buffers),
that config.json's labels and problem_type are what transformers reads, and, where a vocabulary
was exported, that AutoTokenizer loads it.

Run it with the peer environment of benchmarks/peer_hf.sh (transformers 4.30.2 over Debian's
torch), after building build/slimfit:
    .venv-peer/bin/python tools/verify_hf_export.py            # bert-tiny, minilm, vit-tiny
    .venv-peer/bin/python tools/verify_hf_export.py --models bert-tiny --out /tmp/check.json
minilm needs .assets/minilm (scripts/setup.sh). Writes benchmarks/results/hf_export_check.json
and exits 1 when any model fails.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# slimfit train arguments per model: a few steps on synthetic data, so the weights are trained
# (the head included) rather than at their initialisation.
RUNS = {
    "bert-tiny": "model=bert-tiny data=synthetic:2000 steps=30 batch=8 seq_len=32",
    "minilm": "model=minilm pooling=cls data=synthetic:2000 steps=5 batch=8 seq_len=32",
    "vit-tiny": "model=vit-tiny data=synthetic:2000 steps=10 batch=8",
}


def tensor(entry, dtype):
    import torch
    return torch.tensor(entry["data"], dtype=dtype).view(entry["shape"])


def run(cmd):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def check(name, slimfit, work, tol):
    import torch
    import transformers
    from transformers import (AutoModelForImageClassification,
                              AutoModelForSequenceClassification, AutoTokenizer)

    ckpt, out, probe_path = (os.path.join(work, name + s) for s in (".h5", "", ".probe.json"))
    started = time.time()
    run([slimfit, "train", *RUNS[name].split(), "seed=1", "checkpoint=" + ckpt, "max_eval=64",
         "log_every=1000", "--summary", os.path.join(work, name + ".summary.json")])
    run([slimfit, "export", "checkpoint=" + ckpt, "--output", out, "--logits", probe_path])
    probe = json.load(open(probe_path))
    config = json.load(open(os.path.join(out, "config.json")))

    vit = probe["arch"] == "vit"
    auto = AutoModelForImageClassification if vit else AutoModelForSequenceClassification
    model, info = auto.from_pretrained(out, output_loading_info=True)
    model.eval()
    ignorable = lambda keys: [k for k in keys if not k.endswith("position_ids")]
    with torch.no_grad():
        # The control runs slightly different inputs (ViT: pixels + 0.01; BERT: the padding
        # attended to): its difference shows how far a wrong input or model would land.
        if vit:
            pixels = tensor(probe["pixel_values"], torch.float32)
            hf = model(pixel_values=pixels).logits
            control = model(pixel_values=pixels + 0.01).logits
        else:
            ids = tensor(probe["input_ids"], torch.long)
            types = tensor(probe["token_type_ids"], torch.long)
            mask = tensor(probe["attention_mask"], torch.long)
            hf = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
            control = model(input_ids=ids, attention_mask=torch.ones_like(mask),
                            token_type_ids=types).logits
    ours = tensor(probe["logits"], torch.float32)
    diff = (hf - ours).abs()
    row = {
        "model": name,
        "train": RUNS[name],
        "hf_class": type(model).__name__,
        "probe_batch": list(ours.shape[:1]) + (list(probe["pixel_values"]["shape"][1:]) if vit
                                               else probe["input_ids"]["shape"][1:]),
        "max_abs_diff": diff.max().item(),
        "max_abs_logit": ours.abs().max().item(),
        "control_max_abs_diff": (control - ours).abs().max().item(),
        "control": "pixels + 0.01" if vit else "attention_mask all ones (padding attended)",
        "argmax_agree": bool((hf.argmax(-1) == ours.argmax(-1)).all()),
        "missing_weights": ignorable(info["missing_keys"]),
        "unexpected_weights": ignorable(info["unexpected_keys"]),
        "missing_keys_transformers_reports": info["missing_keys"],
        "num_labels": model.config.num_labels,
        "problem_type": model.config.problem_type,
        "id2label": {str(k): v for k, v in model.config.id2label.items()},
        "architectures": config.get("architectures"),
        "files": sorted(os.listdir(out)),
    }
    if os.path.exists(os.path.join(out, "vocab.txt")):
        tok = AutoTokenizer.from_pretrained(out)
        row["tokenizer"] = {"class": type(tok).__name__,
                            "do_lower_case": getattr(tok, "do_lower_case", None),
                            "example": tok("Hello, World!")["input_ids"]}
    row["passed"] = (row["max_abs_diff"] <= tol and row["argmax_agree"]
                     and not row["missing_weights"] and not row["unexpected_weights"]
                     and model.config.num_labels == config["num_labels"]
                     and model.config.problem_type == config["problem_type"])
    row["seconds"] = round(time.time() - started, 1)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--slimfit", default=os.path.join(ROOT, "build", "slimfit"))
    p.add_argument("--models", default="bert-tiny,minilm,vit-tiny")
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                 "hf_export_check.json"))
    args = p.parse_args()

    import torch
    import transformers
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    rows = []
    with tempfile.TemporaryDirectory(prefix="slimfit_hf_export_") as work:
        for name in args.models.split(","):
            row = check(name, args.slimfit, work, args.tol)
            print(f"{name}: max |logit diff| {row['max_abs_diff']:.3g} "
                  f"(logits up to {row['max_abs_logit']:.3g}), "
                  f"{'PASS' if row['passed'] else 'FAIL'}", file=sys.stderr)
            rows.append(row)
    report = {
        "what": "slimfit export -> transformers from_pretrained: logits on the same probe batch "
                "against slimfit's checkpoint model (tools/verify_hf_export.py)",
        "tolerance_max_abs": args.tol,
        "note": "max_abs_diff 0 means bit-identical logits: slimfit and transformers run on the "
                "same libtorch (Debian's 1.13) and slimfit computes each op as Hugging Face's "
                "modules do, in the same order. The control row shows the check is sensitive. "
                "Weights come from a few training steps on synthetic data, so the logits are "
                "small; the weights are the trained ones, head included.",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": args.threads,
        "rows": rows,
        "passed": all(r["passed"] for r in rows),
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
