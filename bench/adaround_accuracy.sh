#!/usr/bin/env bash
# AdaRound vs nearest rounding vs FP32 on the shipped Fashion-MNIST ResNet-8 (full 10k test set):
# W4 and W3 per-tensor weights, 8-bit activations, input_source quant (AIMET) and fp.
# Usage: bench/adaround_accuracy.sh [extra --set arguments...]   (runs under runs/bench_accuracy/)
set -euo pipefail
cd "$(dirname "$0")/.."
ADAFLOW=${ADAFLOW:-./build/adaflow}
out=runs/bench_accuracy
mkdir -p "$out"
printf '%-4s %-6s %8s %8s %9s %8s %9s\n' bits source fp nearest adaround margin seconds
for bits in 4 3; do
  for source in quant fp; do
    dir="$out/w${bits}_${source}"
    start=$(date +%s)
    "$ADAFLOW" run bench/configs/adaround_eval.yaml --run-dir "$dir" \
      --set stages.adaround.default_param_bw=$bits --set stages.quantsim.default_param_bw=$bits \
      --set stages.adaround.input_source=$source "$@" > "$dir.log" 2>&1 || { tail -5 "$dir.log"; exit 1; }
    seconds=$(( $(date +%s) - start ))
    /usr/bin/env python3 - "$dir/metrics.json" "$bits" "$source" "$seconds" <<'PY'
import json, sys
m = {v["name"]: v["top1"] for v in json.load(open(sys.argv[1]))["variants"]}
print(f'W{sys.argv[2]:<3} {sys.argv[3]:<6} {m["fp"]:8.2f} {m["nearest"]:8.2f} {m["adaround"]:9.2f} '
      f'{m["adaround"] - m["nearest"]:+8.2f} {sys.argv[4]:>9}')
PY
  done
done
