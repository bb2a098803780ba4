"""The peer slimfit is compared with: PyTorch + Hugging Face transformers, full fine-tuning.

Loads the real all-MiniLM-L6-v2 checkpoint (config.json + model.safetensors) as
BertForSequenceClassification(num_labels=2), builds one batch of B random token-id sequences of
length L (fixed seed 0; attention mask all ones, token_type_ids zeros, random labels), and runs
the training step users write:

    out = model(input_ids, attention_mask, token_type_ids, labels)  # forward + cross-entropy
    out.loss.backward()
    optimizer.step()                                                # torch.optim.AdamW
    optimizer.zero_grad(set_to_none=True)

Time: wall time of that whole step (forward, loss, backward, AdamW step, zero_grad), the same
span slimfit's measure_step.cpp times (forward to the end of the optimizer step; zero_grad with
set_to_none only drops references). Steps 2..N are averaged; step 1 is warm-up (first calls into
oneDNN/OpenMP, lazy AdamW state) and is reported apart as first_step_seconds.

Memory: the peak of live CPU *tensor* bytes during one steady-state step (a step after the timed
ones, so AdamW state exists and gradients were freed by set_to_none), which is what slimfit's
counting CPU allocator measures (every live CPU tensor byte: weights + gradients + optimizer
state + inputs + activations + temporaries). How it is counted:
  * bytes alive when the step starts: the unique storages of the parameters, buffers, AdamW
    state tensors (exp_avg, exp_avg_sq, step) and the input batch (storage bytes, so views are
    not double-counted);
  * plus the running sum of the torch profiler's memory events (profile_memory=True): c10's CPU
    allocator reports every allocation (+bytes) and every free (-bytes) of a tensor storage made
    while the profiler is on. Integrating them in time order gives the live bytes that the step
    added at each moment; the peak of (start + running sum) is the step's peak.
The integration is checked in the JSON: the running sum must come back to ~0 at the end of the
step (everything the step allocated was freed; grads by zero_grad), the bytes added by the
forward pass are compared with an independent count of the unique storages autograd saved for
backward (saved_tensors_hooks), and the gradient bytes alive after backward with the parameters'
sizes. Not counted (as in slimfit): allocator slack, Python objects, library workspaces that do
not go through c10's CPU allocator (e.g. oneDNN scratch, BLAS packing buffers). RSS is reported
only as an extra (it includes the Python interpreter, the libraries and the checkpoint load).
"""

import argparse
import json
import os
import resource
import statistics
import time

import torch
import transformers
from torch.profiler import ProfilerActivity, profile, record_function
from transformers import BertForSequenceClassification


def storage_key(t):
    s = t.storage()
    return s.data_ptr(), s.nbytes()


def live_start_bytes(model, optimizer, batch):
    """Unique storage bytes of everything alive when a step starts."""
    seen = {}
    tensors = list(model.parameters()) + list(model.buffers()) + list(batch.values())
    for state in optimizer.state.values():
        tensors += [v for v in state.values() if torch.is_tensor(v)]
    for t in tensors:
        if t.device.type == "cpu" and t.numel() > 0:
            ptr, nbytes = storage_key(t)
            seen[ptr] = nbytes
    return sum(seen.values()), set(seen)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)  # slimfit's AdamWOptions defaults
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    assert args.steps >= 2, "--steps must be >= 2 (the first step is warm-up)"

    torch.set_num_threads(args.threads)
    assert torch.get_num_threads() == args.threads, torch.get_num_threads()
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(args.model, num_labels=2)
    model.train()  # dropout on, as in the checkpoint's config (0.1), as slimfit's memory run
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(1, cfg.vocab_size, (args.batch, args.seq), generator=g),
        "token_type_ids": torch.zeros(args.batch, args.seq, dtype=torch.long),
        "attention_mask": torch.ones(args.batch, args.seq, dtype=torch.long),
        "labels": torch.randint(0, 2, (args.batch,), generator=g),
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, eps=1e-8,
                                  weight_decay=args.weight_decay)

    def step():
        with record_function("peer_forward"):
            loss = model(**batch).loss
        with record_function("peer_backward"):
            loss.backward()
        with record_function("peer_optimizer"):
            optimizer.step()
        with record_function("peer_zero_grad"):
            optimizer.zero_grad(set_to_none=True)
        return loss.item()

    times, losses = [], []
    for i in range(args.steps):
        t0 = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t0)
        print(f"peer_hf.py: step {i + 1}/{args.steps}: {times[-1]:.2f} s, loss {losses[-1]:.4f}",
              flush=True)

    # --- one more step, profiled for memory -------------------------------------------------
    start_bytes, start_ptrs = live_start_bytes(model, optimizer, batch)
    params = [p for p in model.parameters() if p.requires_grad]
    saved = {}  # storage ptr -> bytes, of tensors autograd saved for backward

    def pack(t):
        if t.device.type == "cpu" and t.numel() > 0:
            ptr, nbytes = storage_key(t)
            if ptr not in start_ptrs:
                saved[ptr] = nbytes
        return t  # keep no extra reference: the saved tensor's lifetime is unchanged

    grad_bytes_after_backward = None

    def counted_step():
        nonlocal grad_bytes_after_backward
        with record_function("peer_forward"):
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                loss = model(**batch).loss
        with record_function("peer_backward"):
            loss.backward()
        grad_bytes_after_backward = sum(p.grad.numel() * p.grad.element_size()
                                        for p in params if p.grad is not None)
        with record_function("peer_optimizer"):
            optimizer.step()
        with record_function("peer_zero_grad"):
            optimizer.zero_grad(set_to_none=True)
        del loss

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        counted_step()
    raw = prof.profiler.kineto_results.events()
    cpu = torch._C._autograd.DeviceType.CPU
    mem = [e for e in raw if e.name() == "[memory]" and e.device_type() == cpu]
    threads = sorted({e.start_thread_id() for e in mem})
    # Stable sort by timestamp keeps the recording order of events within one microsecond.
    mem_sorted = sorted(enumerate(mem), key=lambda ie: (ie[1].start_us(), ie[0]))
    phases = {}
    for e in raw:
        if e.name() in ("peer_forward", "peer_backward", "peer_optimizer", "peer_zero_grad"):
            phases[e.name()] = (e.start_us(), e.start_us() + e.duration_us())
    running = peak = 0
    peak_us = None
    at_phase_end = {}
    alloc_events = free_events = 0
    for _, e in mem_sorted:
        running += e.nbytes()
        alloc_events += e.nbytes() > 0
        free_events += e.nbytes() < 0
        if running > peak:
            peak, peak_us = running, e.start_us()
        for name, (_, end) in phases.items():
            if e.start_us() <= end:
                at_phase_end[name] = running
    peak_phase = next((n for n, (s, e) in phases.items() if peak_us is not None and s <= peak_us <= e),
                      "between phases")
    forward_added = at_phase_end.get("peer_forward", 0)
    saved_bytes = sum(saved.values())
    weights_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    optimizer_bytes = sum(v.numel() * v.element_size() for s in optimizer.state.values()
                          for v in s.values() if torch.is_tensor(v))
    input_bytes = sum(t.numel() * t.element_size() for t in batch.values())
    measured = times[1:]
    row = {
        "framework": "hf-transformers",
        "method": "full_finetune",
        "peak_bytes": start_bytes + peak,
        "step_seconds": statistics.mean(measured),
        "step_seconds_runs": measured,
        "step_seconds_kind": f"mean of steps 2..{args.steps} in one process (step 1 is warm-up)",
        "first_step_seconds": times[0],
        "weights_bytes": weights_bytes,
        "grad_bytes": grad_bytes_after_backward,
        "optimizer_bytes": optimizer_bytes,
        "input_bytes": input_bytes,
        "activation_bytes": forward_added,
        "start_bytes": start_bytes,
        "peak_phase": peak_phase.replace("peer_", ""),
        "memory_source": "torch.profiler profile_memory=True: live tensor bytes at step start + "
                         "running sum of CPU allocator alloc/free events, on step "
                         f"{args.steps + 1}",
        "checks": {
            "saved_for_backward_bytes": saved_bytes,
            "forward_added_minus_saved_bytes": forward_added - saved_bytes,
            "param_bytes_requiring_grad": sum(p.numel() * p.element_size() for p in params),
            "net_bytes_at_end_of_step": running,
            "memory_events": len(mem),
            "alloc_events": alloc_events,
            "free_events": free_events,
            "threads_with_memory_events": len(threads),
        },
        "losses": losses,
        "rss_extra": {
            "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "rss_now_bytes": rss_bytes(),
            "note": "whole process (interpreter, libraries, checkpoint load); not comparable",
        },
    }
    report = {
        "row": row,
        "peer": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": torch.get_num_threads(),
            "optimizer": f"torch.optim.AdamW(lr={args.lr}, eps=1e-8, weight_decay="
                         f"{args.weight_decay}), foreach default (off on CPU in torch 1.13)",
            "batch_source": "torch.randint token ids in [1, vocab), seed 0; labels random; "
                            "attention_mask ones; token_type_ids zeros",
        },
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    mib = lambda b: b / 2**20
    print(f"peer_hf.py: peak {mib(row['peak_bytes']):.1f} MiB (start {mib(start_bytes):.1f} + "
          f"{mib(peak):.1f} during {row['peak_phase']}), forward added {mib(forward_added):.1f} MiB "
          f"(saved for backward {mib(saved_bytes):.1f}), grads {mib(grad_bytes_after_backward):.1f} "
          f"MiB, net at end {running} B; step {row['step_seconds']:.2f} s "
          f"(first {times[0]:.2f} s)", flush=True)


if __name__ == "__main__":
    main()
