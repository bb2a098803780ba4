#!/usr/bin/env python3
"""Golden fixtures for tests/unit/test_models.cpp, computed with Hugging Face transformers.

Writes under tests/fixtures/ (all safetensors, so the C++ reader loads them):
  bert_small/{config.json, model.safetensors, io.safetensors}
  vit_small/{config.json, model.safetensors, io.safetensors}
  minilm_io.safetensors   (inputs and BertModel outputs; the 90 MB weights stay in .assets/minilm)

io.safetensors holds the inputs, logits, loss and "grad.<param name>" for every parameter after
cross_entropy(logits, labels).backward(), in train mode with every dropout probability 0.
Its metadata lists the parameter names in HF named_parameters() order and their count.

Random weights use HF's initialisation with a large initializer_range (0.2, so attention is far
from uniform) plus N(0, 0.1) noise on every 1-D tensor (biases and LayerNorm), so a swapped or
ignored bias/LayerNorm parameter changes the outputs.

Run: .venv-tools/bin/python tools/make_fixtures.py   (torch 1.13, transformers 4.30.2)
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import (BertConfig, BertForSequenceClassification, BertModel, BertTokenizer,
                          ViTConfig, ViTForImageClassification)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures")


def perturb_1d(model, gen):
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)


def save_model_fixture(name, model, config, inputs, labels):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    config.to_json_file(os.path.join(d, "config.json"))
    params = dict(model.named_parameters())
    save_file({k: v.detach().contiguous() for k, v in params.items()},
              os.path.join(d, "model.safetensors"), metadata={"format": "pt"})

    model.train()  # every dropout probability is 0, so train == eval numerically
    model.zero_grad()
    logits = model(**inputs).logits
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    io = {k: v.contiguous() for k, v in inputs.items()}
    io["labels"] = labels
    io["logits"] = logits.detach().contiguous()
    io["loss"] = loss.detach().reshape(1)
    for k, p in params.items():
        io["grad." + k] = p.grad.detach().contiguous()
    meta = {
        "parameter_names": ",".join(params.keys()),
        "num_parameters": str(sum(p.numel() for p in params.values())),
    }
    save_file(io, os.path.join(d, "io.safetensors"), metadata=meta)
    print(f"{name}: {len(params)} tensors, {meta['num_parameters']} parameters, "
          f"loss {loss.item():.6f}")


def bert_small():
    torch.manual_seed(1234)
    config = BertConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=256,
                        max_position_embeddings=64, type_vocab_size=2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        initializer_range=0.2, num_labels=3)
    model = BertForSequenceClassification(config)
    gen = torch.Generator().manual_seed(99)
    perturb_1d(model, gen)
    B, L = 3, 12
    input_ids = torch.randint(1, 256, (B, L), generator=gen)
    attention_mask = torch.ones(B, L, dtype=torch.long)
    attention_mask[1, 9:] = 0  # padding
    attention_mask[2, 5:] = 0
    input_ids[attention_mask == 0] = 0
    token_type_ids = torch.zeros(B, L, dtype=torch.long)
    token_type_ids[:, 6:] = 1
    labels = torch.tensor([0, 2, 1])
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask,
              "token_type_ids": token_type_ids}
    save_model_fixture("bert_small", model, config, inputs, labels)


def vit_small():
    torch.manual_seed(4321)
    config = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=64,
                       num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                       initializer_range=0.2, num_labels=10)
    model = ViTForImageClassification(config)
    gen = torch.Generator().manual_seed(77)
    perturb_1d(model, gen)
    pixel_values = torch.randn(3, 3, 32, 32, generator=gen)
    labels = torch.tensor([3, 9, 0])
    save_model_fixture("vit_small", model, config, {"pixel_values": pixel_values}, labels)


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Memory-efficient fine-tuning freezes most layers.",
    "Hello world!",
    "SlimFit compresses saved activations to fit larger batches on one GPU.",
]


def minilm():
    d = os.path.join(ROOT, ".assets", "minilm")
    if not os.path.exists(os.path.join(d, "model.safetensors")):
        print("minilm: .assets/minilm missing (run scripts/setup.sh); skipped", file=sys.stderr)
        return
    tok = BertTokenizer(os.path.join(d, "vocab.txt"), do_lower_case=True)
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    model = BertModel.from_pretrained(d)
    model.eval()
    with torch.no_grad():
        out = model(**enc)
    io = {k: v.contiguous() for k, v in enc.items()}
    io["last_hidden_state"] = out.last_hidden_state.contiguous()
    io["pooler_output"] = out.pooler_output.contiguous()
    meta = {"sentences": json.dumps(SENTENCES)}
    save_file(io, os.path.join(OUT, "minilm_io.safetensors"), metadata=meta)
    print(f"minilm: input {tuple(enc['input_ids'].shape)}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    bert_small()
    vit_small()
    minilm()
