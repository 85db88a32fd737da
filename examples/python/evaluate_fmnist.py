"""Evaluate a TorchScript model that adaflow exported, with PyTorch alone, on the Fashion-MNIST test set.

    /usr/bin/python3 examples/python/evaluate_fmnist.py runs/fmnist_resnet8_w4a8/model_adaround.pt

Needs Debian's python3-torch and dataset-fashion-mnist. Prints top-1/top-5 in percent, which match the
"exported model" row of the run's report: the file is a plain float model whose weights sit on their
quantization grid, so no adaflow code is needed to run it.
"""
import gzip
import sys

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist/"


def read_idx(path):
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    model = torch.jit.load(sys.argv[1])
    model.eval()
    images = read_idx(DATA + "t10k-images-idx3-ubyte.gz").astype(np.float32) * np.float32(1.0 / 255.0)
    labels = torch.from_numpy(read_idx(DATA + "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    inputs = torch.from_numpy(images).unsqueeze(1)
    with torch.no_grad():
        logits = torch.cat([model(inputs[i:i + 250]) for i in range(0, len(inputs), 250)])
    top1 = (logits.argmax(1) == labels).float().mean().item() * 100
    top5 = (logits.topk(5, 1).indices == labels[:, None]).any(1).float().mean().item() * 100
    print(f"{sys.argv[1]}: top-1 {top1:.2f}  top-5 {top5:.2f}  ({len(labels)} samples)")


if __name__ == "__main__":
    main()
