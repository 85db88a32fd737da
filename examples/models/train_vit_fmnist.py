#!/usr/bin/env python3
"""Trains the transformer example: a small Vision Transformer (vit.py: 7x7 patches -> 16 tokens and a class
token, width 64, 4 blocks of 4 heads) on Fashion-MNIST, and saves it as TorchScript, scripted and traced, with
its FP32 accuracy on the 10k test set.

Run with Debian's python3-torch:  /usr/bin/python3 examples/models/train_vit_fmnist.py
Data, input scaling and seeding as train_resnet8_fmnist.py (pixels * 1/255, shape [N, 1, 28, 28]).
"""
import json
import os

import torch

from train_resnet8_fmnist import HERE, SEED, accuracy, seed, train
from vit import Vit

EPOCHS = 12


def make_model():
    return Vit(image=28, patch=7, dim=64, depth=4, heads=4, classes=10, channels=1)


def adamw_one_cycle(model, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)


def main():
    seed()
    model, test_x, test_y = train(make_model(), EPOCHS, adamw_one_cycle, {"label_smoothing": 0.1})
    paths = {"scripted": "vit_fmnist.pt", "traced": "vit_fmnist_traced.pt"}
    torch.jit.script(model).save(os.path.join(HERE, paths["scripted"]))
    torch.jit.trace(model, test_x[:1]).save(os.path.join(HERE, paths["traced"]))
    record = {"model": paths["scripted"], "data": "Fashion-MNIST t10k (10000 images), pixels * 1/255, shape [N, 1, 28, 28]",
              "seed": SEED, "epochs": EPOCHS, "torch": torch.__version__}
    for name, path in paths.items():
        top1, top5 = accuracy(torch.jit.load(os.path.join(HERE, path)), test_x, test_y)
        record[name] = {"top1": round(top1, 2), "top5": round(top5, 2)}
        print(f"{name}: top-1 {top1:.2f} top-5 {top5:.2f}")
    with open(os.path.join(HERE, "vit_fmnist.json"), "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
