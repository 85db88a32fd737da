#!/bin/bash
# Installs ONNX Runtime for the tests that run the exported ONNX files: npm's onnxruntime-node (a CPU
# build of ONNX Runtime with a Node binding), into BUILD_DIR/onnxruntime-node. --ignore-scripts skips
# its install script, which only fetches GPU binaries. Node and npm come from Debian when missing.
#   scripts/setup-onnxruntime.sh [BUILD_DIR]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
VERSION=1.30.0
DEST="$BUILD_DIR/onnxruntime-node"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends nodejs npm
fi
if [ -f "$DEST/node_modules/onnxruntime-node/package.json" ] &&
   grep -q "\"version\": \"$VERSION\"" "$DEST/node_modules/onnxruntime-node/package.json"; then
  exit 0
fi
mkdir -p "$DEST"
npm install --ignore-scripts --no-audit --no-fund --prefix "$DEST" "onnxruntime-node@$VERSION" > "$DEST/npm.log" 2>&1 ||
  { cat "$DEST/npm.log"; echo "npm could not install onnxruntime-node@$VERSION" >&2; exit 1; }
echo "onnxruntime-node $VERSION in $DEST"
