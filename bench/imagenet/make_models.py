#!/usr/bin/env python3
"""Builds the ImageNet-shape benchmark models: torchvision's ResNet-18 and MobileNetV2 architectures
with random weights (seeded) and randomized BatchNorm statistics, scripted (TorchScript).

Usage (Debian's python3-torchvision): /usr/bin/python3 bench/imagenet/make_models.py OUT_DIR
Writes OUT_DIR/resnet18.pt and OUT_DIR/mobilenet_v2.pt (input [N, 3, 224, 224]). Accuracy on real data
is meaningless for these: they measure speed, memory and disk at ImageNet shapes.
"""
import os
import sys

import torch
import torch.nn as nn
import torchvision


def randomize_batchnorm(model):
    # Non-trivial statistics, so BatchNorm folding changes the weights as it would on a trained model.
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=generator) * 0.2 - 0.1)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/imagenet_models"
    os.makedirs(out, exist_ok=True)
    for name, make in (("resnet18", torchvision.models.resnet18), ("mobilenet_v2", torchvision.models.mobilenet_v2)):
        torch.manual_seed(0)
        model = make()
        randomize_batchnorm(model)
        model.eval()
        path = os.path.join(out, f"{name}.pt")
        torch.jit.script(model).save(path)
        print(path)


if __name__ == "__main__":
    with torch.no_grad():
        main()
