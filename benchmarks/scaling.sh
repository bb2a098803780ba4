#!/usr/bin/env bash
# Speed and scaling on CPU ranks (MPI backend): step time, samples/s, gradient bytes all-reduced
# per step and peak bytes per rank, per method, at 1, 2 and 4 ranks (weak scaling: a fixed batch
# per rank). Then benchmarks/scaling_model.py projects 8..256 GPUs with a ring all-reduce cost
# model and checks the model against these measured points.
# Writes benchmarks/results/scaling_measured.json and benchmarks/results/scaling.json.
# Knobs (environment): SCALE_MODEL (bert-tiny), SCALE_RANKS ("1 2 4"), SCALE_BATCH (per rank, 8),
#   SCALE_SEQ (128), SCALE_STEPS (20), SCALE_R (0.9).
# This machine has 2 cores: 4 ranks are oversubscribed (one thread each), so their step times
# include contention; comm bytes are exact whatever the load.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=methods.sh
source "$root/benchmarks/methods.sh"
bin="${SLIMFIT_BIN:-$root/build/slimfit}"
model="${SCALE_MODEL:-bert-tiny}" ranks="${SCALE_RANKS:-1 2 4}" per_rank="${SCALE_BATCH:-8}"
seq="${SCALE_SEQ:-128}" steps="${SCALE_STEPS:-20}" r="${SCALE_R:-0.9}"
work="$root/benchmarks/results/scaling_runs"
mkdir -p "$work"
for np in $ranks; do
  for method in baseline freeze_only compress_only slimfit; do
    args=$(train_method_args "$method" "$r")
    out="$work/$model-$method-np$np.json"
    [ -f "$out" ] && continue  # already measured: delete scaling_runs/ to measure again
    # shellcheck disable=SC2086
    mpirun --allow-run-as-root --oversubscribe -np "$np" -x OMP_NUM_THREADS=1 \
      "$bin" train "model=$model" data=synthetic:4000 "steps=$steps" "batch=$((per_rank * np))" \
      "seq_len=$seq" warmup_steps=2 dropout=0 seed=0 max_eval=64 log_every=100 $args \
      --summary "$out" > "$work/$model-$method-np$np.log" 2>&1
    echo "np $np $method: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.3f s/step, %.0f comm bytes/step" % (j["mean_step_seconds"], j["comm_bytes_per_step"]))' "$out")"
  done
done

python3 - "$work" "$model" "$per_rank" "$seq" "$ranks" > "$root/benchmarks/results/scaling_measured.json" <<'PY'
import json, sys
work, model, per_rank, seq, ranks = sys.argv[1:6]
rows = []
for np in ranks.split():
    for m in ["baseline", "freeze_only", "compress_only", "slimfit"]:
        j = json.load(open(f"{work}/{model}-{m}-np{np}.json"))
        rows.append({"world_size": j["world_size"], "method": m, "model": model,
                     "batch": int(per_rank) * int(np), "per_rank_batch": int(per_rank),
                     "seq": int(seq),
                     "samples_per_second": int(per_rank) * int(np) / j["mean_step_seconds"],
                     "mean_step_seconds": j["mean_step_seconds"],
                     "comm_seconds": j.get("mean_comm_seconds", 0.0),
                     "coord_seconds": j.get("mean_coord_seconds", 0.0),
                     "compute_seconds": j["mean_step_seconds"] - j.get("mean_comm_seconds", 0.0),
                     "comm_bytes_per_step": j["comm_bytes_per_step"],
                     "peak_bytes_per_rank": j["peak_bytes"],
                     "trainable_fraction": j["trainable_fraction"],
                     "measured": True, "source": "CPU ranks, MPI backend (2-core machine)"})
print(json.dumps(rows, indent=2))
PY
py="$root/.venv-tools/bin/python"
[ -x "$py" ] || py=python3
"$py" "$root/benchmarks/scaling_model.py" --model bert-base --measured "$root/benchmarks/results/scaling_measured.json" \
  --output "$root/benchmarks/results/scaling.json"
