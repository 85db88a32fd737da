#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks, then configures and builds adaflow (Release).
# Idempotent: packages already installed and an up-to-date build are skipped.
# Callers may set ADAFLOW_EXTRA_PACKAGES (more Debian packages), ADAFLOW_BUILD_DIR (default build),
# ADAFLOW_CMAKE_ARGS (more configure arguments) and ADAFLOW_SETUP_NO_BUILD=1 (packages only).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  g++ make cmake pkg-config
  libtorch-dev libopenblas0-pthread
  libtbb-dev libyaml-cpp-dev libhdf5-dev libspdlog-dev libgtest-dev
  libcli11-dev nlohmann-json3-dev zlib1g-dev libstb-dev libonnx-dev
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist
)
# Callers add packages of their own (scripts/setup-bench.sh: the benchmarks' Python side).
read -r -a extra <<< "${ADAFLOW_EXTRA_PACKAGES:-}"
PACKAGES+=("${extra[@]}")

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

[ "${ADAFLOW_SETUP_NO_BUILD:-0}" = 1 ] && exit 0
BUILD_DIR=${ADAFLOW_BUILD_DIR:-build}
read -r -a cmake_args <<< "${ADAFLOW_CMAKE_ARGS:-}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}"
cmake --build "$BUILD_DIR" -j "$(nproc)"
