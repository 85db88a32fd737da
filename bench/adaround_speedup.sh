#!/usr/bin/env bash
# Layer-parallel AdaRound: wall time of the adaround stage in fp mode (every layer independent) on the
# example model with a thread budget of 1 and of 2, and the speed-up. Same machine, same run.
# Usage: bench/adaround_speedup.sh [iterations, default 2000]
set -euo pipefail
cd "$(dirname "$0")/.."
ADAFLOW=${ADAFLOW:-./build/adaflow}
iterations=${1:-2000}
out=runs/bench_speedup
rm -rf "$out"
declare -A seconds
for threads in 1 2; do
  "$ADAFLOW" run bench/configs/adaround_eval.yaml --run-dir "$out/t$threads" --threads "$threads" \
    --set stages.adaround.input_source=fp --set stages.adaround.num_iterations="$iterations" \
    --set 'stages.evaluate.compare=[fp]' > "$out.t$threads.log" 2>&1
  # The run's closing table: "<stage id> <outcome> <seconds>".
  seconds[$threads]=$(awk '$1 == "adaround" && $2 == "ran" {print $3}' "$out.t$threads.log")
done
cmp -s "$out/t1/adaround_eval_adaround.encodings" "$out/t2/adaround_eval_adaround.encodings" \
  && same="identical" || same="DIFFERENT"
awk -v a="${seconds[1]}" -v b="${seconds[2]}" -v it="$iterations" -v same="$same" 'BEGIN {
  printf "adaround stage, fp mode, %d iterations per layer\n", it
  printf "1 thread : %8.1f s\n2 threads: %8.1f s\nspeed-up : %8.2fx (encodings %s)\n", a, b, a / b, same }'
