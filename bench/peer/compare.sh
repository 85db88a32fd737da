#!/usr/bin/env bash
# adaflow against the AIMET-faithful PyTorch loop (bench/peer/adaround_peer.py) on one model: same
# model, calibration data (1024 Fashion-MNIST images), weight grids, bitwidth, iterations and threads.
# Prints both AdaRound times, both whole-run times, both AdaRound accuracies (each evaluated by the same
# quant-sim: adaflow's, W<bits>A8, on the 10k test set) and the ratios.
#
# Usage: bench/peer/compare.sh ARCH MODEL [BITS] [ITERATIONS] [extra adaflow --set arguments...]
#   ARCH: resnet8 | resnet20 | vit (the classes of examples/models/train_*.py)
#   e.g. bench/peer/compare.sh resnet8 examples/models/resnet8_fmnist.pt 4 2000
#        bench/peer/compare.sh vit examples/models/vit_fmnist.pt 4 2000 --set 'stages.adaround.param_bw_override={head: 8}'
# The peer's own quant-sim, calibration and evaluation (its whole run) cover CNNs only: for vit the
# whole-run line is left out.
# Needs Debian's python3-torch (scripts/setup-bench.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
ADAFLOW=${ADAFLOW:-./build/adaflow}
PYTHON=${PYTHON:-/usr/bin/python3}
arch=$1 model=$2 bits=${3:-4} iterations=${4:-2000}
shift $(( $# < 4 ? $# : 4 ))
threads=${THREADS:-2}
out=runs/peer/${arch}_w${bits}_i${iterations}
rm -rf "$out"
mkdir -p "$out"
sets=(--set "model.path=$model" --set "stages.adaround.default_param_bw=$bits"
      --set "stages.quantsim.default_param_bw=$bits" --set "stages.adaround.num_iterations=$iterations")

start=$(date +%s%N)
"$ADAFLOW" run bench/configs/peer_adaflow.yaml --run-dir "$out/adaflow" --threads "$threads" "${sets[@]}" "$@" \
  > "$out/adaflow.log" 2>&1 || { tail -5 "$out/adaflow.log"; exit 1; }
adaflow_wall=$(( ($(date +%s%N) - start) / 1000000 ))  # ms

"$PYTHON" bench/peer/adaround_peer.py --arch "$arch" --model "$model" --iterations "$iterations" \
  --threads "$threads" --encodings "$out/adaflow/peer_adaflow_adaround.encodings" --out "$out/peer" --whole \
  --sim-encodings "$out/adaflow/peer_adaflow.encodings" \
  > "$out/peer.json" 2> "$out/peer.log" || { tail -5 "$out/peer.log"; exit 1; }

"$ADAFLOW" run bench/configs/peer_evaluate.yaml --run-dir "$out/peer_evaluate" --threads "$threads" \
  --set "model.path=$out/peer/model_adaround.pt" --set "stages.quantsim.default_param_bw=$bits" \
  --set "stages.quantsim.param_encodings=$out/peer/peer_adaround.encodings" > "$out/peer_evaluate.log" 2>&1 \
  || { tail -5 "$out/peer_evaluate.log"; exit 1; }

"$PYTHON" - "$out" "$adaflow_wall" "$arch" "$bits" "$iterations" "$threads" <<'PY'
import json, sys
out, adaflow_wall, arch, bits, iterations, threads = sys.argv[1:]
adaflow_wall = float(adaflow_wall) / 1000.0
report = json.load(open(f"{out}/adaflow/report.json"))
stage = {s["id"]: s["seconds"] for s in report["stages"]}
peer = json.loads(open(f"{out}/peer.json").read().strip().splitlines()[-1])
peer_eval = json.load(open(f"{out}/peer_evaluate/report.json"))
ours = report["accuracy"]["adaround"]["top1"]
theirs = peer_eval["accuracy"]["adaround"]["top1"]
print(f"{arch}, W{bits}A8, {iterations} iterations, {threads} threads, 1024 calibration images")
print(f"{'':28s} {'adaflow':>10s} {'peer':>10s} {'ratio':>8s}")
print(f"{'AdaRound (s)':28s} {stage['adaround']:10.1f} {peer['adaround_s']:10.1f} {peer['adaround_s'] / stage['adaround']:7.1f}x")
if "evaluate_s" in peer:
    print(f"{'whole run (s)':28s} {float(adaflow_wall):10.1f} {peer['wall_s']:10.1f} {peer['wall_s'] / float(adaflow_wall):7.1f}x")
print(f"{'AdaRound top-1 (%)':28s} {ours:10.2f} {theirs:10.2f} {ours - theirs:+8.2f}")
print(f"{'nearest top-1 (%)':28s} {report['accuracy']['nearest']['top1']:10.2f}")
json.dump({"arch": arch, "param_bw": int(bits), "num_iterations": int(iterations), "threads": int(threads),
           "adaflow_adaround_s": stage["adaround"], "peer_adaround_s": peer["adaround_s"],
           "adaflow_wall_s": float(adaflow_wall), "peer_wall_s": peer["wall_s"],
           "adaflow_top1": ours, "peer_top1": theirs, "nearest_top1": report["accuracy"]["nearest"]["top1"],
           "peer_capture_s": peer["capture_s"], "peer_optimize_s": peer["optimize_s"]},
          open(f"{out}/summary.json", "w"), indent=1)
PY
