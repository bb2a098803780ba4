#!/usr/bin/env bash
# Memory of one training step per method, side by side, from `slimfit memory --json`:
#   baseline (r=0, stock ops), freeze_only (r, stock ops), compress_only (r=0, SlimFit ops),
#   slimfit (r, SlimFit ops). Writes benchmarks/results/memory_methods.json and prints a table.
# Usage: benchmarks/memory_methods.sh [R=0.95]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=methods.sh
source "$root/benchmarks/methods.sh"
bin="${SLIMFIT_BIN:-$root/build/slimfit}"
r="${1:-0.95}"
out="$root/benchmarks/results/memory_methods.json"
mkdir -p "$(dirname "$out")"
rows=()
for spec in "bert-base 4 128" "vit-b16 2 128"; do  # ViT ignores --seq (224 px images)
  read -r model batch seq <<<"$spec"
  for method in baseline freeze_only compress_only slimfit; do
    args=$(memory_method_args "$method" "$r")
    json=$("$bin" memory --model "$model" --batch "$batch" --seq "$seq" $args --json)
    rows+=("{\"method\": \"$method\", \"result\": $json}")
    echo "$model $method: $(echo "$json" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("activations %.1f MiB, peak %.1f MiB, step %.2f s" % (j["activation_bytes"]/2**20, j["peak_bytes"]/2**20, j["step_seconds"]))')" >&2
  done
done
(IFS=,; echo "[${rows[*]}]") | python3 -m json.tool > "$out"
python3 - "$out" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
base = {}
print("| model | method | activations MiB | x less | peak MiB | x less | step s | x base |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for row in rows:
    r = row["result"]; m = row["method"]
    if m == "baseline": base[r["model"]] = r
    b = base[r["model"]]
    print("| %s | %s | %.1f | %.2f | %.1f | %.2f | %.2f | %.2f |" % (
        r["model"], m, r["activation_bytes"] / 2**20, b["activation_bytes"] / r["activation_bytes"],
        r["peak_bytes"] / 2**20, b["peak_bytes"] / r["peak_bytes"], r["step_seconds"],
        r["step_seconds"] / b["step_seconds"]))
PY
