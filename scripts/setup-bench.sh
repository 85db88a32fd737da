#!/usr/bin/env bash
# What the benchmarks under bench/ need on top of scripts/setup.sh: Debian's PyTorch and torchvision for
# the peer loop (bench/peer/) and the ImageNet-shape models (bench/imagenet/); then the build.
set -euo pipefail
cd "$(dirname "$0")/.."
ADAFLOW_EXTRA_PACKAGES="python3 python3-torch python3-torchvision ${ADAFLOW_EXTRA_PACKAGES:-}" ./scripts/setup.sh
