#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the default example: the shipped ResNet-8 on
# Fashion-MNIST, 4-bit weights / 8-bit activations with AdaRound, evaluated against FP32 and
# round-to-nearest on the 10k test set (a couple of minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./build/adaflow run configs/fmnist_resnet8_adaround.yaml "$@"
# The full AIMET workflow adds the export stage, which is declared and planned but cannot run yet.
./build/adaflow validate configs/fmnist_resnet8_w4a8.yaml
