#!/usr/bin/env bash
# What the benchmarks under bench/ need on top of scripts/setup.sh: Debian's PyTorch and torchvision for
# the peer loop (bench/peer/) and the ImageNet-shape models (bench/imagenet/), and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(python3 python3-torch python3-torchvision)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup-bench: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
./scripts/setup.sh
