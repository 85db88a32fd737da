#!/usr/bin/env bash
# AdaRound over MPI ranks against one process on the same cores (docs/PERFORMANCE.md, docs/SCALE_OUT.md):
# the adaround stage of one config run three ways on one machine, from the same activation cache:
#   1x1  one process, --threads 1
#   1x2  one process, --threads 2
#   2x1  mpirun -np 2, --threads 1 per rank (rank 0 runs the pipeline, x̂, chunks and blocks; rank 1
#        chunks and blocks)
# The first run computes everything; the others are hard-linked copies of its run directory with the
# adaround stage (and what follows it) forgotten, so they recompute AdaRound on the same cache. Prints per
# way: the adaround stage's seconds, CPU use (the run's cpu % of its own threads; for 2x1 rank 0's only),
# peak RSS (VmHWM of rank 0), the speed-up over 1x1, the MPI traffic lines (in all, and per kind of task),
# and whether the encodings are byte-identical to 1x2's.
#
# Usage: bench/mpi_scaling.sh [example|resnet18] [ITERATIONS, default 500]
#   example:  configs/fmnist_resnet8_w4a8.yaml (the shipped example, 1024 samples)
#   resnet18: bench/configs/imagenet.yaml, torchvision ResNet-18 at 224x224 (random weights), 256 samples
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${ADAFLOW_SKIP_SETUP:-}" ] || ./scripts/setup-bench.sh > /dev/null
ADAFLOW=${ADAFLOW:-./build/adaflow}
PYTHON=${PYTHON:-/usr/bin/python3}
which=${1:-example} iterations=${2:-500}
case "$which" in
  example) config=configs/fmnist_resnet8_w4a8.yaml sets=() ;;
  resnet18)
    [ -f runs/imagenet/models/resnet18.pt ] || "$PYTHON" bench/imagenet/make_models.py runs/imagenet/models > /dev/null
    config=bench/configs/imagenet.yaml
    sets=(--set data.calibration.num_samples=256 --set data.evaluation.num_samples=64) ;;
  *) echo "usage: $0 [example|resnet18] [ITERATIONS]" >&2; exit 2 ;;
esac
sets+=(--set "stages.adaround.num_iterations=$iterations")
out=runs/bench_mpi/$which
rm -rf "$out"
mkdir -p "$out"
mpirun=(mpirun -np 2 --oversubscribe)
[ "$(id -u)" -ne 0 ] || mpirun+=(--allow-run-as-root)

# A copy of the first run that has to compute AdaRound again (and the stages after it).
forget_adaround() {
  cp -al "$out/1x2" "$out/$1"
  "$PYTHON" - "$out/$1/manifest.json" <<'PY'
import json, sys
path = sys.argv[1]
manifest = json.load(open(path))
keep = ("load", "prepare", "cache")
manifest["nodes"] = {k: v for k, v in manifest["nodes"].items() if k.split("/")[0] in keep}
open(path + ".tmp", "w").write(json.dumps(manifest))
PY
  mv "$out/$1/manifest.json.tmp" "$out/$1/manifest.json"
  rm -f "$out/$1/manifest.json.prev"
}

"$ADAFLOW" run "$config" --run-dir "$out/1x2" --threads 2 "${sets[@]}" > "$out/1x2.log" 2>&1
forget_adaround 1x1
"$ADAFLOW" run "$config" --run-dir "$out/1x1" --threads 1 "${sets[@]}" > "$out/1x1.log" 2>&1
forget_adaround 2x1
"${mpirun[@]}" "$ADAFLOW" run "$config" --run-dir "$out/2x1" --threads 1 "${sets[@]}" > "$out/2x1.log" 2>&1

"$PYTHON" - "$out" "$which" "$iterations" <<'PY'
import glob, json, os, re, sys
out, which, iterations = sys.argv[1:]
rows = {}
for way in ("1x1", "1x2", "2x1"):
    report = json.load(open(f"{out}/{way}/report.json"))
    stage = next(s for s in report["stages"] if s["id"] == "adaround")
    threads = {"1x1": 1, "1x2": 2, "2x1": 1}[way]
    log = open(f"{out}/{way}.log").read()
    mpi = re.findall(r"MPI: (?:\d+ remote tasks|adaround\.).*", log)
    enc = glob.glob(f"{out}/{way}/*_adaround.encodings")[0]
    rows[way] = (stage["seconds"], stage.get("cpu_seconds", 0) / max(stage["seconds"], 1e-9) / threads * 100,
                 stage.get("peak_rss_mib", 0), open(enc, "rb").read(), "\n".join(mpi))
base = rows["1x1"][0]
print(f"{which}: adaround stage, {iterations} iterations per layer, this machine ({os.cpu_count()} cores)")
print(f"{'way':<5} {'seconds':>8} {'cpu %':>6} {'peak RSS':>9} {'speed-up':>9}  encodings = 1x2")
for way, (seconds, cpu, rss, enc, _) in rows.items():
    print(f"{way:<5} {seconds:8.1f} {cpu:6.0f} {rss:6.0f} MiB {base / seconds:8.2f}x  {enc == rows['1x2'][3]}")
print(rows["2x1"][4])
PY
