#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the default example pipeline:
# the shipped ResNet-8 on Fashion-MNIST, W4A8 with AdaRound.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The model stages are declared and planned; this version checks the config and prints the plan.
./build/adaflow run configs/fmnist_resnet8_w4a8.yaml --dry-run "$@"
