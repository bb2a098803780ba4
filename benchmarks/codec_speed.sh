#!/usr/bin/env bash
# What the codecs cost on CPU: warm step time of three arms of `slimfit memory --time-steps N`
# for MiniLM (all-MiniLM-L6-v2, .assets/minilm) at batch 32, seq 128, in one run:
#   baseline     --freeze-ratio 0 --no-compress  (stock ops, every unit trains)
#   compress     --freeze-ratio 0                (every unit trains, activations compressed)
#   slimfit      --freeze-ratio 0.9              (SlimFit: frozen units + compressed activations)
# The arms are interleaved over rounds, in a rotated order, so load from other processes hits
# them alike. Each process times N warm steps after its measured one; an arm's figure is the
# median over all its warm steps (rounds x N), and its ratio is that median over the baseline's.
# Per-round medians and ratios are kept too. Writes benchmarks/results/codec_speed.json (every
# warm step, thread counts, the OpenMP wait policy, the machine's load) and prints a table.
#
# Usage: benchmarks/codec_speed.sh
# Env: CODEC_ROUNDS (3), CODEC_WARM (6 warm steps timed per process, after the measured one),
#      CODEC_THREADS (2: OMP_NUM_THREADS, which sets libtorch's intra-op threads and so the
#      codec loops' threads), CODEC_GOMP_SPINCOUNT (unset: slimfit's default, passive OpenMP
#      waiting, note [OpenMP wait policy] in src/cli/main.cpp; 300000 measures libgomp's own
#      spin-waiting default),
#      CODEC_BATCH (32), CODEC_SEQ (128), CODEC_OUT,
#      SLIMFIT_BIN (default: a private copy of build/slimfit, so a rebuild cannot change it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${CODEC_ROUNDS:-3}"
warm="${CODEC_WARM:-6}"
threads="${CODEC_THREADS:-2}"
batch="${CODEC_BATCH:-32}"
seq_len="${CODEC_SEQ:-128}"
out="${CODEC_OUT:-$root/benchmarks/results/codec_speed.json}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$out")"

bin="${SLIMFIT_BIN:-}"
if [[ -z "$bin" ]]; then
  bin="$work/slimfit"
  cp "$root/build/slimfit" "$bin"
fi
export OMP_NUM_THREADS="$threads"
unset OMP_WAIT_POLICY GOMP_SPINCOUNT
if [[ -n "${CODEC_GOMP_SPINCOUNT:-}" ]]; then export GOMP_SPINCOUNT="$CODEC_GOMP_SPINCOUNT"; fi
# The spin count the processes run under, as libgomp reports it (the last report: after
# slimfit's restart, if it restarts).
policy="GOMP_SPINCOUNT $(OMP_DISPLAY_ENV=verbose "$bin" memory --help 2>&1 |
  sed -n "s/.*GOMP_SPINCOUNT = '\(.*\)'.*/\1/p" | tail -1)"

arms=(baseline compress slimfit)
args_of() {
  case $1 in
    baseline) echo "--freeze-ratio 0 --no-compress" ;;
    compress) echo "--freeze-ratio 0" ;;
    slimfit) echo "--freeze-ratio 0.9" ;;
  esac
}

# The machine's state: cores, load average and the busiest other processes, before each run.
load_note() {
  echo "{\"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"time\": \"$(date -Is)\"}"
}
ps -eo pcpu,comm --sort=-pcpu | head -8 >"$work/ps-start.txt"

for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < ${#arms[@]}; k++)); do
    arm="${arms[$(((k + r) % ${#arms[@]}))]}"
    load_note >"$work/load-$arm-$r.json"
    # shellcheck disable=SC2046
    "$bin" memory --model minilm --batch "$batch" --seq "$seq_len" $(args_of "$arm") \
      --time-steps "$warm" --json >"$work/$arm-$r.json"
    echo "codec_speed: round $r $arm: $(python3 -c 'import json,statistics,sys; j=json.load(open(sys.argv[1])); print("warm steps %s s (median %.2f), peak %.1f MiB" % (" ".join("%.2f" % x for x in j["warm_step_seconds"]), statistics.median(j["warm_step_seconds"]), j["peak_bytes"]/2**20))' "$work/$arm-$r.json")" >&2
  done
done
ps -eo pcpu,comm --sort=-pcpu | head -8 >"$work/ps-end.txt"

python3 - "$work" "$out" "$rounds" "$warm" "$threads" "$batch" "$seq_len" "$(nproc)" \
  "$(git -C "$root" rev-parse --short HEAD)" "$policy" <<'PY'
import json, statistics, sys
work, out = sys.argv[1], sys.argv[2]
rounds, warm, threads, batch, seq, cores = map(int, sys.argv[3:9])
commit, policy = sys.argv[9], sys.argv[10]
arms = {"baseline": "--freeze-ratio 0 --no-compress", "compress": "--freeze-ratio 0",
        "slimfit": "--freeze-ratio 0.9"}
runs = {a: [json.load(open(f"{work}/{a}-{r}.json")) for r in range(rounds)] for a in arms}
loads = {a: [json.load(open(f"{work}/load-{a}-{r}.json")) for r in range(rounds)] for a in arms}
med = statistics.median
base_all = [x for j in runs["baseline"] for x in j["warm_step_seconds"]]
base_round = [med(j["warm_step_seconds"]) for j in runs["baseline"]]
rows = []
for a, flags in arms.items():
    steps = [j["warm_step_seconds"] for j in runs[a]]
    every = [x for s in steps for x in s]
    per_round = [med(s) for s in steps]
    rows.append({
        "arm": a,
        "flags": flags,
        "warm_step_seconds": steps,
        "warm_step_seconds_median": med(every),
        "warm_step_seconds_min": min(every),
        "warm_step_seconds_max": max(every),
        "ratio_to_baseline_median": med(every) / med(base_all),
        "round_medians": per_round,
        "ratio_to_baseline_per_round": [x / b for x, b in zip(per_round, base_round)],
        "first_step_seconds_runs": [j["first_step_seconds"] for j in runs[a]],
        "peak_bytes": runs[a][0]["peak_bytes"],
        "units_frozen": runs[a][0]["units_frozen"],
        "units_total": runs[a][0]["units_total"],
        "loadavg_before_each_run": [l["loadavg"] for l in loads[a]],
    })
report = {
    "what": "warm step time of `slimfit memory --time-steps N` (each of N warm steps after the "
            "measured one: forward, loss, backward, AdamW step), three arms interleaved; an arm's "
            "figure is the median over all its warm steps",
    "model": "minilm (all-MiniLM-L6-v2, .assets/minilm)",
    "batch": batch,
    "seq": seq,
    "warm_steps_per_process": warm,
    "rounds": rounds,
    "threads": {"OMP_NUM_THREADS": threads,
                "intra_op": threads,
                "codec_loops": "at::get_num_threads() = OMP_NUM_THREADS"},
    "openmp_waiting": policy,
    "machine": {"cores": cores,
                "busiest_processes_at_start": open(f"{work}/ps-start.txt").read().splitlines(),
                "busiest_processes_at_end": open(f"{work}/ps-end.txt").read().splitlines()},
    "commit": commit,
    "command": "benchmarks/codec_speed.sh",
    "rows": rows,
}
la = [float(l["loadavg"].split()[0]) for a in arms for l in loads[a]]
report["load_note"] = (f"1-minute load average before the runs: {min(la):.1f} to {max(la):.1f} "
                       f"on {cores} cores (other processes listed under machine); the arms are "
                       "interleaved so that load hits them alike, but single rounds stay noisy")
json.dump(report, open(out, "w"), indent=2)
open(out, "a").write("\n")
print(f"| arm | warm step s (median of {rounds} x {warm}) | min - max | ratio to baseline | "
      "per-round ratios |")
print("| --- | --- | --- | --- | --- |")
for r in rows:
    print(f"| {r['arm']} | {r['warm_step_seconds_median']:.3f} | "
          f"{r['warm_step_seconds_min']:.2f} - {r['warm_step_seconds_max']:.2f} | "
          f"{r['ratio_to_baseline_median']:.3f} | "
          f"{', '.join('%.3f' % x for x in r['ratio_to_baseline_per_round'])} |")
print(f"threads {threads}, cores {cores}, {policy}; wrote {out}")
PY
