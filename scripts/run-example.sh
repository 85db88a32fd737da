#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the default example: the shipped ResNet-8 on
# Fashion-MNIST, quantized to 4-bit weights / 8-bit activations and evaluated on the 10k test set.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The nearest-rounding baseline runs end to end; the AdaRound pipeline's stages are declared and
# planned (its config is checked and its plan printed) until its optimizer lands.
./build/adaflow run configs/fmnist_resnet8_nearest.yaml "$@"
./build/adaflow run configs/fmnist_resnet8_w4a8.yaml --dry-run
