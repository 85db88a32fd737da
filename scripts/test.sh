#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh; scripts/setup-onnxruntime.sh: ONNX Runtime for the ONNX export
# tests) and runs the test suite.
#
#   scripts/test.sh             the Release build (build/): every test
#   scripts/test.sh --sanitize  an AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/):
#                               every test but the reliability corpora (label `reliability`, ~12 min of
#                               runs of the CLI that the sanitized suite covers piece by piece already)
#                               and the mpirun runs (label `mpi`: Open MPI's own libraries are not built
#                               for ASan; the remote-lane path runs sanitized in process,
#                               ResNetEngineTest.BlocksRunThroughRemoteLanes…)
#
# In the sanitized build any report (memory error, undefined behaviour) ends the process that made it,
# so the test fails. Leaks are not checked: LibTorch and oneTBB keep process-lifetime allocations.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--sanitize" ]; then
  export ADAFLOW_BUILD_DIR=${ADAFLOW_BUILD_DIR:-build-asan}
  ADAFLOW_CMAKE_ARGS="-DADAFLOW_SANITIZE=ON -DADAFLOW_BUILD_BENCH=OFF ${ADAFLOW_CMAKE_ARGS:-}" ./scripts/setup.sh
  ./scripts/setup-onnxruntime.sh "$ADAFLOW_BUILD_DIR"
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --test-dir "$ADAFLOW_BUILD_DIR" --output-on-failure -j "$(nproc)" -LE 'reliability|mpi'
elif [ -n "${1:-}" ]; then
  echo "usage: scripts/test.sh [--sanitize]" >&2
  exit 2
else
  ./scripts/setup.sh
  ./scripts/setup-onnxruntime.sh "${ADAFLOW_BUILD_DIR:-build}"
  ctest --test-dir "${ADAFLOW_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
fi
