#!/usr/bin/env bash
# Runs a fixed set of configs (the example, ResNet-20, the test configs, and variants that take the
# sampled, fp-input, per-channel, positions_per_sample and low-memory paths) into DIR, then prints a hash
# of every result file: encodings, ONNX and TorchScript files, AdaRound's layer files, metrics. Timing
# fields and logs are left out, and activations.h5 (HDF5 stores modification times). Run it before and
# after a change that must not change results and diff the two listings.
#
# Usage: scripts/output-hashes.sh DIR   (from a built checkout; DIR must not exist; ~3 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/output-hashes.sh DIR}
[ ! -e "$out" ] || { echo "$out exists" >&2; exit 2; }
mkdir -p "$out"
adaflow=./build/adaflow
run() {
  local dir=$1; shift
  "$adaflow" run "$@" --run-dir "$out/$dir" > "$out/$dir.log" 2>&1 || { echo "$dir failed:" >&2; tail -5 "$out/$dir.log" >&2; exit 1; }
}
example=configs/fmnist_resnet8_w4a8.yaml
run example "$example"
# The reuse and rebuild configs read the example's files from its default run directory.
run reuse configs/fmnist_resnet8_reuse_adaround.yaml \
  --set "model.path=$out/example/model_adaround.pt" \
  --set "stages.quantsim.param_encodings=$out/example/fmnist_resnet8_w4a8_adaround.encodings"
run from_encodings configs/fmnist_resnet8_from_encodings.yaml \
  --set "model.path=$out/example/model_adaround.pt" \
  --set "stages.quantsim.param_encodings=$out/example/fmnist_resnet8_w4a8_torch.encodings" \
  --set "stages.quantsim.activation_encodings=$out/example/fmnist_resnet8_w4a8_torch.encodings"
run nearest configs/fmnist_resnet8_nearest.yaml
run resnet20 "$example" --set model.path=examples/models/resnet20_fmnist.pt
run adaround_small tests/configs/adaround_small.yaml
run export_small tests/configs/export_small.yaml
run weights_only tests/configs/weights_only.yaml
run fp_sampled_per_channel tests/configs/export_small.yaml --set stages.adaround.input_source=fp \
  --set stages.adaround.objective=sampled --set stages.adaround.per_channel=true
run positions_w3 tests/configs/export_small.yaml --set stages.adaround.positions_per_sample=8 \
  --set stages.adaround.default_param_bw=3
run low_memory "$example" --set stages.cache.memory_budget=2 --set stages.adaround.num_iterations=300 \
  --set stages.adaround.objective=sampled
/usr/bin/python3 - "$out" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
skip = {"log.txt", "manifest.json", "manifest.json.prev", "config.resolved.yaml", "report.md", "layer_mse.svg",
        "activations.h5"}
def clean(value):
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()
                if "seconds" not in k and not k.startswith("peak_rss") and k not in ("stages", "files")}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value
for folder, _, files in sorted(os.walk(root)):
    for name in sorted(files):
        if name in skip or name.endswith(".log") or name.endswith(".lock"):
            continue
        path = os.path.join(folder, name)
        data = open(path, "rb").read()
        if name.endswith(".json") and "encodings" not in name:
            data = json.dumps(clean(json.loads(data)), sort_keys=True).encode()
        print(hashlib.sha256(data).hexdigest()[:16], os.path.relpath(path, root))
PY
