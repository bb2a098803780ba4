"""The peer that benchmarks/gpu_check.sh measures beside slimfit: PyTorch + Hugging Face
transformers, full fine-tuning of the same models, batch and shapes (BertForSequenceClassification,
ViTForImageClassification, random weights), on one GPU.

Usage: python3 benchmarks/gpu_peer.py BATCH SEQ STEPS > peer.json
Prints one JSON list of rows: peak_bytes is torch.cuda.max_memory_allocated over STEPS warm steps
(after one warm-up step), step_seconds their mean.
"""
import json
import sys
import time

import torch
from transformers import (BertConfig, BertForSequenceClassification, ViTConfig,
                          ViTForImageClassification)


def measure(name, batch, seq, steps):
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
    row = {"framework": "hf-transformers", "model": name, "method": "full_finetune",
           "batch": batch, "seq": seq if name == "bert-base" else 224,
           "peak_bytes": torch.cuda.max_memory_allocated(),
           "step_seconds": (time.perf_counter() - t) / steps}
    del model, opt, inputs, labels
    torch.cuda.empty_cache()
    return row


def main():
    batch, seq, steps = map(int, sys.argv[1:4])
    torch.manual_seed(0)
    print(json.dumps([measure(name, batch, seq, steps) for name in ["bert-base", "vit-b16"]]))


if __name__ == "__main__":
    main()
