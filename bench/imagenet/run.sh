#!/usr/bin/env bash
# adaflow at ImageNet shapes: the full default pipeline (bench/configs/imagenet.yaml: 1024 random 224x224
# calibration samples, W4A8, quant input) on a torchvision architecture with random weights, 2 threads.
# Every phase is measured at N1 iterations per layer; the AdaRound stage at 10000 and 15000 iterations is
# extrapolated from it: with N2 > N1, AdaRound runs again at N2 in the same run directory (the cache is
# reused) and the stage time is taken as linear through the two; without N2, each layer's optimizer
# thread-seconds per iteration (its measured steps, block setup included) are added for the missing
# iterations, spread over the threads. Prints the dry-run estimate, each stage's time, CPU use and peak RSS
# (VmHWM), the disk taken, a per-layer table with the optimizer's GFLOP/s against a one-thread sgemm measured
# in the same run by the same LibTorch/OpenBLAS (build/bench/block_bench sgemm, best of five rounds);
# writes runs/imagenet/<model>_<objective>_<dtype>/summary.json.
#
# Usage: bench/imagenet/run.sh [resnet18|mobilenet_v2] [N1, default 20] [N2, default none] [extra --set ...]
#   OBJECTIVE=gram|sampled|auto (default auto), DTYPE=float32|float16 (default float32), THREADS (default 2),
#   POSITIONS (stages.adaround.positions_per_sample, default 0: all output positions)
#   SUMMARY_ONLY=1 prints the summary of the runs already made.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${ADAFLOW_SKIP_SETUP:-}" ] || ./scripts/setup-bench.sh > /dev/null
ADAFLOW=${ADAFLOW:-./build/adaflow}
PYTHON=${PYTHON:-/usr/bin/python3}
model=${1:-resnet18} n1=${2:-20} n2=${3:-0}
shift $(( $# < 3 ? $# : 3 ))
objective=${OBJECTIVE:-auto} dtype=${DTYPE:-float32} threads=${THREADS:-2} positions=${POSITIONS:-0}
out=runs/imagenet/${model}_${objective}_${dtype}
[ "$positions" = 0 ] || out="${out}_p$positions"
if [ -z "${SUMMARY_ONLY:-}" ]; then
  [ -f "runs/imagenet/models/$model.pt" ] || "$PYTHON" bench/imagenet/make_models.py runs/imagenet/models > /dev/null
  rm -rf "$out"
  mkdir -p "$out"
  sets=(--set "model.path=runs/imagenet/models/$model.pt" --set "stages.adaround.objective=$objective"
        --set "stages.cache.dtype=$dtype" --set "stages.adaround.positions_per_sample=$positions" "$@")
  "$ADAFLOW" run bench/configs/imagenet.yaml --run-dir "$out/run" --threads "$threads" "${sets[@]}" \
    --set "stages.adaround.num_iterations=$n1" --dry-run > "$out/dry_run.txt" 2>&1
  runs=("$n1")
  [ "$n2" -gt "$n1" ] && runs+=("$n2")
  for n in "${runs[@]}"; do
    "$ADAFLOW" run bench/configs/imagenet.yaml --run-dir "$out/run" --threads "$threads" "${sets[@]}" \
      --set "stages.adaround.num_iterations=$n" > "$out/run_$n.log" 2>&1 || { tail -5 "$out/run_$n.log"; exit 1; }
    cp "$out/run/report.json" "$out/report_$n.json"
  done
  du -sb "$out/run/activations.h5" | cut -f1 > "$out/cache_bytes"
  "$(dirname "$ADAFLOW")/bench/block_bench" sgemm > "$out/sgemm_gflops"
fi

"$PYTHON" - "$out" "$model" "$objective" "$dtype" "$n1" "$n2" "$threads" "$positions" <<'PY'
import json, sys
out, model, objective, dtype, n1, n2, threads, positions = sys.argv[1:]
n1, n2, threads = int(n1), int(n2), int(threads)
two = n2 > n1
if not two: n2 = n1
r1, r2 = (json.load(open(f"{out}/report_{n}.json")) for n in (n1, n2))
s1 = {s["id"]: s for s in r1["stages"]}
s2 = {s["id"]: s for s in r2["stages"]}
def at(a, b, n, per_iteration=0.0):
    # two runs: linear through (n1, a) and (n2, b); one run: a + the missing iterations' cost
    return a + (b - a) * (n - n1) / (n2 - n1) if two else a + per_iteration * (n - n1)
print(open(f"{out}/dry_run.txt").read().strip())
print(f"\n{model}, objective {objective}" + (f", {positions} output positions per sample" if positions != "0" else "") +
      f", cache {dtype}, W4A8, 1024 calibration samples 224x224, {threads} threads")
print(f"{'stage':12s} {'seconds':>9s} {'cpu':>5s} {'peak RSS':>10s}")
fixed = 0.0
for sid in ("load", "prepare", "cache", "adaround", "quantsim", "calibrate", "evaluate", "export"):
    s = s1[sid] if sid != "adaround" else s2[sid]
    cpu = s.get("cpu_seconds", 0) / (s["seconds"] * threads) if s["seconds"] > 0.5 else float("nan")
    label = sid if sid != "adaround" else f"adaround@{n2}"
    print(f"{label:12s} {s['seconds']:9.1f} {100 * cpu:4.0f}% {s.get('peak_rss_mib', 0):7.0f} MiB")
    if sid != "adaround": fixed += s["seconds"]
a1, a2 = s1["adaround"]["seconds"], s2["adaround"]["seconds"]
# thread-seconds of optimizer steps per iteration, all layers (one run: block setup included)
l1 = {l["name"]: l for l in r1["layers"]}
def per_iter(l):
    a = l1[l["name"]]
    return (l["seconds_optimize"] - a["seconds_optimize"]) / (n2 - n1) if two else l["seconds_optimize"] / n1
stage_per_iteration = sum(per_iter(l) for l in r2["layers"]) / threads
peak = max(s.get("peak_rss_mib", 0) for s in r1["stages"] + r2["stages"])
cache_gib = int(open(f"{out}/cache_bytes").read()) / 2**30
print(f"adaround@{n1}: {a1:.1f} s; optimizer steps per iteration (all layers, over {threads} threads): "
      f"{stage_per_iteration:.3f} s" + (f"; stage per iteration {(a2 - a1) / (n2 - n1):.3f} s" if two else ""))
summary = {"model": model, "objective": objective, "dtype": dtype, "threads": threads, "n1": n1, "n2": n2,
           "stages_s": {k: v["seconds"] for k, v in s1.items()}, "adaround_s": {n1: a1, n2: a2},
           "adaround_cpu": s2["adaround"].get("cpu_seconds", 0) / (a2 * threads),
           "peak_rss_mib": peak, "cache_gib": cache_gib, "layers": []}
for n in (10000, 15000):
    stage = at(a1, a2, n, stage_per_iteration)
    summary[f"adaround_{n}_s"] = stage
    summary[f"whole_{n}_s"] = stage + fixed
    print(f"at {n} iterations: adaround {stage / 3600:.2f} h, whole pipeline {(stage + fixed) / 3600:.2f} h")
print(f"peak RSS {peak:.0f} MiB, cache {cache_gib:.2f} GiB")
sgemm = float(open(f"{out}/sgemm_gflops").read())
summary["sgemm_gflops_1thread"] = sgemm
print(f"\nsgemm (1024x1024, 1 thread, same run): {sgemm:.1f} GFLOP/s")
print(f"{'layer':26s} {'weight':>16s} {'objective':>9s} {'prepare':>8s} {'ms/iter':>8s} {'GFLOP/s':>8s} "
      f"{'of sgemm':>8s} {'finish':>7s} {'@10000':>8s}")
steps = total = 0.0
for l in r2["layers"]:
    a = l1[l["name"]]
    layer_iter = per_iter(l)  # thread-seconds
    gflops = 2 * l.get("step_macs", 0) / layer_iter / 1e9 if layer_iter > 0 else float("nan")
    at10k = l["seconds_prepare"] + layer_iter * 10000 + l["seconds_finish"]  # thread-seconds
    shape = "x".join(str(x) for x in l["shape"])
    steps += l["seconds_optimize"]
    total += l["seconds_prepare"] + l["seconds_optimize"] + l["seconds_finish"]
    print(f"{l['name']:26s} {shape:>16s} {l['objective']:>9s} {l['seconds_prepare']:8.1f} {1000 * layer_iter:8.2f} "
          f"{gflops:8.1f} {100 * gflops / sgemm:7.0f}% {l['seconds_finish']:7.1f} {at10k:8.0f}")
    summary["layers"].append({"name": l["name"], "shape": l["shape"], "objective": l["objective"],
                              "prepare_s": l["seconds_prepare"], "per_iteration_s": layer_iter,
                              "gflops_per_thread": gflops, "finish_s": l["seconds_finish"], "at_10000_s": at10k})
stage_thread_s = a2 * threads
summary["optimizer_share"] = steps / stage_thread_s
print("(prepare, ms/iter, finish, @10000: thread-seconds, timed on each thread that works on the layer;"
      " @10000: the layer's thread-seconds at 10000 iterations; GFLOP/s per thread)")
summary["optimizer_share_at_10000"] = (steps / n2 * 10000) / (steps / n2 * 10000 + stage_thread_s - steps)
print(f"optimizer steps: {100 * summary['optimizer_share_at_10000']:.0f}% of the stage's thread-seconds at 10000 "
      "iterations (extrapolated); ", end="")
print(f"{100 * steps / stage_thread_s:.0f}% of the stage's thread-seconds at {n2} iterations "
      f"(layers' phases: {100 * total / stage_thread_s:.0f}%)")
for variant, acc in r2["accuracy"].items():
    if acc.get("sqnr_db") is not None:
        print(f"{variant:9s} SQNR {acc['sqnr_db']:.2f} dB, cosine {acc['cosine']:.4f} (vs FP)")
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
PY
