#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the default example, configs/fmnist_resnet8_w4a8.yaml:
# the shipped ResNet-8 on Fashion-MNIST to 4-bit weights / 8-bit activations with AdaRound, evaluated
# against FP32 and round-to-nearest on the 10k test set, then exported (a couple of minutes on 2 cores).
# Extra arguments go to `adaflow run` (e.g. --fresh, --set stages.adaround.num_iterations=10000).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./build/adaflow run configs/fmnist_resnet8_w4a8.yaml "$@"
