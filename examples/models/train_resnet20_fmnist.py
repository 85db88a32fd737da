#!/usr/bin/env python3
"""Trains the deeper benchmark model: a ResNet-20 (CIFAR-style, 22 weight layers: a stem, 18 block
convolutions, 2 projection shortcuts and the classifier) on Fashion-MNIST, and saves it as
TorchScript (scripted) with its FP32 accuracy on the 10k test set.

Run with Debian's python3-torch:  /usr/bin/python3 examples/models/train_resnet20_fmnist.py
Same data, preprocessing, optimizer and seed as train_resnet8_fmnist.py (whose blocks it reuses).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_resnet8_fmnist as base  # noqa: E402


class ResNet20(base.CifarResNet):
    def __init__(self, num_classes=10):
        super().__init__(3, num_classes)


def main():
    base.seed()
    model, test_x, test_y = base.train(ResNet20())
    scripted = torch.jit.script(model)
    path = os.path.join(base.HERE, "resnet20_fmnist.pt")
    scripted.save(path)
    top1, top5 = base.accuracy(torch.jit.load(path), test_x, test_y)
    print(f"scripted: top-1 {top1:.2f} top-5 {top5:.2f}")
    record = {"model": "resnet20_fmnist.pt",
              "data": "Fashion-MNIST t10k (10000 images), pixels * 1/255, shape [N, 1, 28, 28]",
              "seed": base.SEED, "epochs": base.EPOCHS, "torch": torch.__version__,
              "scripted": {"top1": round(top1, 2), "top5": round(top5, 2)}}
    with open(os.path.join(base.HERE, "resnet20_fmnist.json"), "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
