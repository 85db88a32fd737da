#!/usr/bin/env bash
# Builds the fuzz targets with clang, libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer (in
# build-fuzz/) and runs each for SECONDS, as many side by side as there are cores.
#
#   scripts/fuzz.sh [SECONDS per target, default 300] [TARGET ...]   targets: spec encodings manifest idx npy
#
# Each target starts from its seed corpus (fuzz/corpus/<target>/; the spec target from configs/,
# tests/configs/ and bench/configs/) plus what earlier runs found (build-fuzz/corpus/<target>/, kept).
# A finding (crash, sanitizer report, escaping exception, timeout, memory blow-up) is written to
# build-fuzz/findings/<target>/ and makes the script exit 1: copy the file into
# fuzz/regressions/<target>/ (the test suite replays it, FuzzReplay.<target>) and fix the bug.
# Every run is appended to build-fuzz/fuzz_runs.tsv (date, target, seconds, executions, findings).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(spec encodings manifest idx npy)

ADAFLOW_EXTRA_PACKAGES="clang libclang-rt-14-dev ${ADAFLOW_EXTRA_PACKAGES:-}" ADAFLOW_SETUP_NO_BUILD=1 ./scripts/setup.sh
out=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DADAFLOW_FUZZ=ON \
  -DADAFLOW_BUILD_TESTS=OFF >/dev/null
cmake --build "$out" -j "$(nproc)" --target "${targets[@]/%/_fuzzer}"

seeds() {
  case "$1" in
    spec) echo configs tests/configs bench/configs ;;
    *) echo "fuzz/corpus/$1" ;;
  esac
  [ -d "fuzz/regressions/$1" ] && echo "fuzz/regressions/$1"
  return 0
}

run_one() {
  local target=$1
  mkdir -p "$out/corpus/$target" "$out/findings/$target"
  local started ran
  started=$(date +%s)
  # detect_leaks=0: LibTorch's and oneTBB's process-lifetime allocations are not adaflow's leaks.
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
    "$out/fuzz/${target}_fuzzer" "$out/corpus/$target" $(seeds "$target") \
      -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$out/findings/$target/" >"$out/$target.log" 2>&1 || true
  ran=$(($(date +%s) - started))  # shorter than asked when it stopped at a finding
  local execs findings
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$target.log" | tail -1)
  findings=$(find "$out/findings/$target" -type f -newer "$out/$target.started" | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$ran" "${execs:-0}" "$findings" >>"$out/fuzz_runs.tsv"
  echo "fuzz: $target: ${execs:-0} executions in $ran s, $findings finding(s) (log: $out/$target.log)"
}

touch "$out/started"
for target in "${targets[@]}"; do
  touch "$out/$target.started"
  run_one "$target" &
  while (($(jobs -r | wc -l) >= $(nproc))); do wait -n; done
done
wait

total=$(find "$out/findings" -type f -newer "$out/started" 2>/dev/null | wc -l)
awk -F'\t' '{s[$2]+=$3; e[$2]+=$4} END {for (t in s) printf "fuzz: %s so far: %.2f h, %d executions\n", t, s[t]/3600, e[t]}' \
  "$out/fuzz_runs.tsv" | sort
if ((total)); then
  echo "fuzz: $total new finding(s) under $out/findings/: copy each into fuzz/regressions/<target>/ and fix it" >&2
  exit 1
fi
