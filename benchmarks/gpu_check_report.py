"""Gathers what the stages of benchmarks/gpu_check.sh left in its work folder into the one JSON
it writes: each stage's status and time, the CUDA test cases, the measurements and the accuracy
smoke. A stage that failed or never ran leaves its part out and names why in "stages".

Usage: python3 benchmarks/gpu_check_report.py WORK DRY BATCH SEQ > gpu_check.json
"passed" is true when every stage passed and, on a GPU, the CUDA cases ran with none failed or
skipped (a skip there means no GPU was seen).
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET


def load(path):
    with open(path) as f:
        return json.load(f)


def ctest_cases(path):
    """Counts of ctest's JUnit file: passed, failed and skipped, with the names of the last two."""
    cases = ET.parse(path).getroot().iter("testcase")
    out = {"passed": 0, "failed": [], "skipped": []}
    for case in cases:
        name = case.get("name")
        if case.find("failure") is not None or case.get("status") == "fail":
            out["failed"].append(name)
        elif case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
            out["skipped"].append(name)
        else:
            out["passed"] += 1
    return out


def measurement_rows(work, batch, seq):
    rows = []
    for model in ["bert-base", "vit-b16"]:
        for method in ["baseline", "slimfit"]:
            path = f"{work}/memory-{model}-{method}.json"
            if not os.path.exists(path):
                continue
            j = load(path)
            rows.append({"framework": "slimfit", "mode": "single-gpu (slimfit memory)",
                         "model": model, "method": method, "batch": j["batch"], "seq": j["seq"],
                         "peak_bytes": j["peak_bytes"], "activation_bytes": j["activation_bytes"],
                         "step_seconds": j["step_seconds"], "timed_steps": j.get("timed_steps")})
    for method in ["baseline", "slimfit", "slimfit_offload"]:
        path = f"{work}/nccl-{method}.json"
        if not os.path.exists(path):
            continue
        j = load(path)
        rows.append({"framework": "slimfit", "mode": "nccl backend, 1 rank (slimfit train)",
                     "model": "bert-base", "method": method, "batch": batch, "seq": seq,
                     "peak_bytes": j["peak_bytes"], "step_seconds": j["mean_step_seconds"],
                     "comm_bytes_per_step": j["comm_bytes_per_step"], "steps": j["steps"],
                     "optimizer_bytes": j["optimizer_bytes"],
                     "optimizer_device_bytes": j["optimizer_device_bytes"],
                     "offload_bytes_per_step": j["offload_bytes_per_step"]})
    if os.path.exists(f"{work}/peer.json"):
        rows += load(f"{work}/peer.json")
    return rows


def accuracy(work):
    arms = {}
    for arm in ["baseline", "slimfit"]:
        path = f"{work}/accuracy-{arm}.json"
        if os.path.exists(path):
            j = load(path)
            arms[arm] = {"final_accuracy": j["final_accuracy"], "steps": j["steps"],
                         "peak_bytes": j["peak_bytes"],
                         "mean_step_seconds": j["mean_step_seconds"]}
    if len(arms) == 2:
        arms["slimfit_minus_baseline"] = (arms["slimfit"]["final_accuracy"]
                                          - arms["baseline"]["final_accuracy"])
    return arms


def main():
    work, dry, batch, seq = sys.argv[1], sys.argv[2] == "true", int(sys.argv[3]), int(sys.argv[4])
    stages = []
    if os.path.exists(f"{work}/stages.jsonl"):
        stages = [json.loads(line) for line in open(f"{work}/stages.jsonl") if line.strip()]
    report = {"dry_run": dry, "stages": stages}
    passed = bool(stages) and all(s["status"] == "ok" for s in stages)
    if not dry:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True)
        report["gpu"] = smi.stdout.strip()
        if os.path.exists(f"{work}/ctest.xml"):
            cases = ctest_cases(f"{work}/ctest.xml")
            report["cuda_cases"] = cases
            passed = passed and cases["passed"] > 0 and not cases["failed"] and not cases["skipped"]
        else:
            passed = False
        report["measured"] = True
        report["rows"] = measurement_rows(work, batch, seq)
        report["accuracy_smoke"] = accuracy(work)
        report["notes"] = ("peak_bytes: CUDA caching allocator allocated bytes (slimfit) and "
                           "torch.cuda.max_memory_allocated (peer); step_seconds: mean of warm "
                           "steps (the NCCL rows: mean over all steps, the first included); "
                           "accuracy_smoke: bert-tiny on synthetic-pairs, see gpu_check.sh")
    report["passed"] = passed
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
