#!/usr/bin/env bash
# Writes the seed corpus of the fuzz targets whose inputs the repository does not hold already (the
# spec target reads configs/ and tests/configs/ as they are): fuzz/corpus/encodings and
# fuzz/corpus/manifest from a run of tests/configs/export_small.yaml, fuzz/corpus/idx from the first
# samples of Fashion-MNIST, fuzz/corpus/npy from tests/data/token_lm and a float array. Needs a built adaflow (scripts/setup.sh). Usage: fuzz/make_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
run="$(mktemp -d)"
trap 'rm -rf "$run"' EXIT
./build/adaflow run tests/configs/export_small.yaml --run-dir "$run/export_small" >/dev/null

mkdir -p fuzz/corpus/encodings fuzz/corpus/manifest fuzz/corpus/idx fuzz/corpus/npy
/usr/bin/python3 - <<'PY'
import numpy as np
np.save("fuzz/corpus/npy/int64.npy", np.load("tests/data/token_lm/input_ids.npy")[:8])
np.save("fuzz/corpus/npy/float32.npy", np.arange(24, dtype="<f4").reshape(4, 6))
np.save("fuzz/corpus/npy/uint8_3d.npy", np.arange(36, dtype="u1").reshape(3, 3, 4))
PY
cp "$run/export_small/export_small.encodings" fuzz/corpus/encodings/v0.6.1.encodings
cp "$run/export_small/export_small_v1.0.0.encodings" fuzz/corpus/encodings/v1.0.0.encodings
cp "$run/export_small/export_small_adaround.encodings" fuzz/corpus/encodings/adaround.encodings
cp "$run/export_small/manifest.json" fuzz/corpus/manifest/export_small.json

# An IDX input is <images length, 4 bytes little-endian><images file><labels file> (see idx_fuzzer.cpp).
/usr/bin/python3 - <<'PY'
import gzip, struct
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    images = f.read(16 + 3 * 28 * 28)[16:]
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
    labels = f.read(8 + 3)[8:]
idx3 = struct.pack(">BBBBIII", 0, 0, 8, 3, 3, 28, 28) + images
idx1 = struct.pack(">BBBBI", 0, 0, 8, 1, 3) + labels
idx4 = struct.pack(">BBBBIIII", 0, 0, 8, 4, 2, 1, 4, 4) + bytes(range(32))
def write(name, image_file, label_file=b""):
    with open("fuzz/corpus/idx/" + name, "wb") as f:
        f.write(struct.pack("<I", len(image_file)) + image_file + label_file)
write("plain_labelled.bin", idx3, idx1)
write("gzip_labelled.bin", gzip.compress(idx3, mtime=0), gzip.compress(idx1, mtime=0))
write("unlabelled.bin", idx3)
write("four_dims.bin", idx4, struct.pack(">BBBBI", 0, 0, 8, 1, 2) + b"\x01\x02")
PY
ls -l fuzz/corpus/*
