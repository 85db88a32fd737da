#!/usr/bin/env bash
# Every peer comparison of docs/PERFORMANCE.md: ResNet-8 (shipped) and ResNet-20, W4 and W3, one after
# another on an otherwise idle machine. Prints each table; the summaries land in runs/peer/*/summary.json.
# Usage: bench/peer/compare_all.sh [ITERATIONS, default 2000]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${ADAFLOW_SKIP_SETUP:-}" ] || ./scripts/setup-bench.sh > /dev/null
iterations=${1:-2000}
for model in resnet8 resnet20; do
  for bits in 4 3; do
    bench/peer/compare.sh "$model" "examples/models/${model}_fmnist.pt" "$bits" "$iterations"
    echo
  done
done
