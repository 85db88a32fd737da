#!/usr/bin/env bash
# What each speed knob costs in accuracy on the shipped Fashion-MNIST ResNet-8 (full 10k test set), W4 and
# W3 per-tensor weights, 8-bit activations, input_source quant: the objective (auto, AIMET's sampled loss,
# gram for every layer) at 10000 iterations, auto at 2000, auto at 2000 with a float16 activation
# cache, and the sampled loss at 2000 with all output positions and with 16 random positions per sample. Then the seed spread of the default example (W4, 2000 iterations, seeds 0-2): how much
# AdaRound's top-1 moves when only the random sample order changes (a different machine's arithmetic
# moves it in the same way).
# Usage: bench/adaround_knobs.sh   (runs under runs/bench_knobs/; ~30 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
ADAFLOW=${ADAFLOW:-./build/adaflow}
out=runs/bench_knobs
[ -n "${KEEP:-}" ] || rm -rf "$out"   # KEEP=1: finished runs are restored, not redone
mkdir -p "$out"
top1() {  # metrics.json → "fp nearest adaround"
  /usr/bin/env python3 -c 'import json, sys
m = {v["name"]: v["top1"] for v in json.load(open(sys.argv[1]))["variants"]}
print("%.2f %.2f" % (m["nearest"], m["adaround"]))' "$1"
}
stage_seconds() { awk '$1 == "adaround" && $2 == "ran" {print $3}' "$1"; }
printf '%-4s %-11s %7s %-8s %8s %9s %10s\n' bits objective iters cache nearest adaround "adaround s"
# SETTINGS="bits:objective:iterations:cache[:positions] ..." runs a subset (positions: positions_per_sample).
settings=${SETTINGS:-"4:auto:10000:float32 4:sampled:10000:float32 4:gram:10000:float32 4:auto:2000:float32
  4:auto:2000:float16 3:auto:10000:float32 3:sampled:10000:float32 3:gram:10000:float32 3:auto:2000:float32
  3:auto:2000:float16 4:sampled:2000:float32 4:sampled:2000:float32:16 3:sampled:2000:float32
  3:sampled:2000:float32:16"}
for setting in $settings; do
  IFS=: read -r bits objective iterations dtype positions <<< "$setting"
  positions=${positions:-0}
  dir="$out/w${bits}_${objective}_${iterations}_${dtype}"
  [ "$positions" = 0 ] || dir="${dir}_p$positions"
  "$ADAFLOW" run bench/configs/adaround_eval.yaml --run-dir "$dir" \
    --set stages.adaround.default_param_bw=$bits --set stages.quantsim.default_param_bw=$bits \
    --set stages.adaround.objective=$objective --set stages.adaround.num_iterations=$iterations \
    --set stages.adaround.positions_per_sample=$positions \
    --set stages.cache.dtype=$dtype > "$dir.log" 2>&1 || { tail -5 "$dir.log"; exit 1; }
  read -r nearest adaround < <(top1 "$dir/metrics.json")
  label=$objective
  [ "$positions" = 0 ] || label="$objective/p$positions"
  printf 'W%-3s %-11s %7s %-8s %8s %9s %10s\n' "$bits" "$label" "$iterations" "$dtype" "$nearest" \
    "$adaround" "$(stage_seconds "$dir.log")"
done
echo
printf '%-5s %9s\n' seed adaround
for seed in 0 1 2; do
  dir="$out/example_seed$seed"
  "$ADAFLOW" run configs/fmnist_resnet8_w4a8.yaml --run-dir "$dir" --set seed=$seed > "$dir.log" 2>&1 \
    || { tail -5 "$dir.log"; exit 1; }
  read -r nearest adaround < <(top1 "$dir/metrics.json")
  printf '%-5s %9s\n' "$seed" "$adaround"
done
