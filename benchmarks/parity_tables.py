#!/usr/bin/env python3
"""Prints the README's accuracy-parity tables (issue 11) from the committed result JSONs:
the protocols of benchmarks/accuracy_parity.sh and the lever runs of accuracy_levers.sh.
Usage: python3 benchmarks/parity_tables.py   (a missing result file prints a note instead)."""
import json
import os

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def load(name):
    path = os.path.join(RESULTS, name)
    if not os.path.exists(path):
        print(f"\n({name}: not run yet)\n")
        return None
    with open(path) as f:
        return json.load(f)


def protocol_table(result, unit, baseline_from=None):
    """baseline_from: another protocol result whose baseline (same runs) is the reference."""
    if not result:
        return
    methods = dict(result["methods"])
    if "baseline" not in methods and baseline_from:
        methods = {"baseline": baseline_from["methods"]["baseline"], **methods}
    base = methods.get("baseline")
    print(f"| method | lr | accuracy % (mean) | std | per {unit} | vs baseline | units trained per step | peak MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, m in methods.items():
        gap = "" if name == "baseline" or not base else f"{m['accuracy_mean'] - base['accuracy_mean']:+.2f}"
        std = "n/a" if m["accuracy_std"] is None else f"{m['accuracy_std']:.2f}"
        runs = ", ".join(f"{a:.2f}" for a in m["accuracies"])
        print(f"| {name} | {m.get('lr', '')} | {m['accuracy_mean']:.2f} | {std} | {runs} | {gap} | "
              f"{100 * m['trainable_fraction']:.0f}% | {m['peak_bytes'] / 2**20:.0f} |")
    print(f"\n{result['protocol']}\n")


def run_as_arm(path):
    """A run summary in the lever JSON's arm form (for protocol runs with a lever's settings)."""
    with open(os.path.join(RESULTS, path)) as f:
        s = json.load(f)
    c = s["config"]
    return {"accuracy": s["final_accuracy"], "lr": float(c["lr"]), "peak_bytes": s["peak_bytes"],
            "trainable_fraction": s["trainable_fraction"],
            "keys": {k: c[k] for k in ["freeze_ratio", "frozen_update", "score", "staleness",
                                       "exploration", "budget"] if k in c}}


def lever_table(result, baseline_arm, same_runs=None):
    """same_runs: arm name -> a protocol run (under results/) with exactly that arm's settings."""
    if not result:
        return
    arms = dict(result["arms"])
    for name, path in (same_runs or {}).items():
        if name not in arms and os.path.exists(os.path.join(RESULTS, path)):
            arms[name + " (protocol run)"] = run_as_arm(path)
    if baseline_arm not in arms and baseline_arm + " (protocol run)" in arms:
        baseline_arm += " (protocol run)"
    base = arms.get(baseline_arm)
    print("| arm | budget | frozen units | score | lr | accuracy % | vs " + baseline_arm +
          " | units trained per step | peak MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, a in sorted(arms.items(), key=lambda kv: (kv[0].split("-")[0], kv[1]["accuracy"])):
        k = a["keys"]
        frozen = k.get("frozen_update", "none (before coasting)") if float(k["freeze_ratio"]) > 0 else "-"
        extra = [f"{key}={float(k[key]):g}" for key in ("staleness", "exploration")
                 if k.get(key) is not None and float(k[key]) != 0]
        gap = "" if not base or name == baseline_arm else f"{a['accuracy'] - base['accuracy']:+.2f}"
        budget = {"bytes": "worst"}.get(k.get("budget", "units"), k.get("budget", "units"))
        print(f"| {name}{' (' + ', '.join(extra) + ')' if extra else ''} | "
              f"{budget if float(k['freeze_ratio']) > 0 else '-'} | {frozen} | "
              f"{k.get('score', 'relative')} | {a['lr']:g} | {a['accuracy']:.2f} | {gap} | "
              f"{100 * a['trainable_fraction']:.0f}% | {a['peak_bytes'] / 2**20:.0f} |")
    print(f"\n{result['protocol']}\n")


print("## Rotten Tomatoes, 1 epoch, 3 folds (accuracy_1epoch_parity.json)\n")
protocol_table(load("accuracy_1epoch_parity.json"), "fold")
print("## Fashion-MNIST 5-9, vit-tiny, 1 epoch, 3 seeds (accuracy_fashion_mnist_s469-parity.json)\n")
fmnist = load("accuracy_fashion_mnist_s469-parity.json")
protocol_table(fmnist, "seed")
print("## Fashion-MNIST, lr 1e-3 (the baseline on seed 0 only) "
      "(accuracy_fashion_mnist_s469-lr1e-3.json)\n")
protocol_table(load("accuracy_fashion_mnist_s469-lr1e-3.json"), "seed")
print("## Fashion-MNIST, SlimFit with budget=worst, against the parity baseline "
      "(accuracy_fashion_mnist_s469-worst.json)\n")
protocol_table(load("accuracy_fashion_mnist_s469-worst.json"), "seed", fmnist)
confirm = load("accuracy_fashion_mnist_s469-confirm-worst.json")
print("## Fashion-MNIST, fresh seeds 3-5: SlimFit with budget=worst "
      "(accuracy_fashion_mnist_s469-confirm-worst.json)\n")
protocol_table(confirm, "seed")
print("## Fashion-MNIST, fresh seeds 3-5: SlimFit with budget=mean "
      "(accuracy_fashion_mnist_s469-confirm-mean.json)\n")
protocol_table(load("accuracy_fashion_mnist_s469-confirm-mean.json"), "seed", confirm)
worst = load("accuracy_fashion_mnist_s469-worst.json")
if fmnist and worst and confirm:
    base = fmnist["methods"]["baseline"]["accuracies"] + confirm["methods"]["baseline"]["accuracies"]
    arms = {"mean": fmnist["methods"]["slimfit"]["accuracies"],
            "worst": worst["methods"]["slimfit"]["accuracies"] +
                     confirm["methods"]["slimfit"]["accuracies"]}
    mean_confirm = load("accuracy_fashion_mnist_s469-confirm-mean.json")
    if mean_confirm:
        arms["mean"] = arms["mean"] + mean_confirm["methods"]["slimfit"]["accuracies"]
    print("## Fashion-MNIST, all 6 seeds (0-5)\n")
    print("| method | accuracy % (mean of 6) | vs baseline |\n| --- | --- | --- |")
    print(f"| baseline | {sum(base) / len(base):.2f} | |")
    for name, acc in arms.items():
        print(f"| SlimFit, budget={name} | {sum(acc) / len(acc):.2f} | "
              f"{sum(acc) / len(acc) - sum(base) / len(base):+.2f} |")
    print()
print("## Rotten Tomatoes, 3 epochs, 3 folds (accuracy_3epoch_parity.json)\n")
protocol_table(load("accuracy_3epoch_parity.json"), "fold")
print("## Levers, 120 steps, fold 0 (accuracy_levers_s120.json)\n")
lever_table(load("accuracy_levers_s120.json"), "baseline-lr2e-4")
print("## Levers, 1 epoch (267 steps), fold 0 (accuracy_levers_s267.json)\n")
lever_table(load("accuracy_levers_s267.json"), "baseline-lr2e-4", {
    "baseline-lr2e-4": "accuracy_runs/rt-mean-s267-parity-baseline-fold0.json",
    "slimfit-mean-lr2e-4": "accuracy_runs/rt-mean-s267-parity-slimfit-fold0.json",
    "slimfit-none-lr1e-4": "accuracy_runs/rt-mean-s267-slimfit-fold0.json"})
