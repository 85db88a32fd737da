#!/usr/bin/env python3
"""Trains the transformer example: a small Vision Transformer (vit.py: 7x7 patches -> 16 tokens and a class
token, width 64, 4 blocks of 4 heads) on Fashion-MNIST, and saves it as TorchScript, scripted and traced, with
its FP32 accuracy on the 10k test set.

Run with Debian's python3-torch:  /usr/bin/python3 examples/models/train_vit_fmnist.py
Data, input scaling and seeding as train_resnet8_fmnist.py (pixels * 1/255, shape [N, 1, 28, 28]).
"""
import json
import os
import time

import torch
import torch.nn.functional as F

from train_resnet8_fmnist import HERE, SEED, accuracy, load, seed
from vit import Vit

EPOCHS = 12
BATCH = 128


def make_model():
    return Vit(image=28, patch=7, dim=64, depth=4, heads=4, classes=10, channels=1)


def train(model):
    torch.set_num_threads(os.cpu_count() or 1)
    train_x, train_y = load("train")
    test_x, test_y = load("t10k")
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    steps = EPOCHS * ((len(train_x) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        start = time.time()
        order = torch.randperm(len(train_x), generator=generator)
        for first in range(0, len(train_x), BATCH):
            idx = order[first:first + BATCH]
            x = train_x[idx]
            flip = torch.rand(len(idx), generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            loss = F.cross_entropy(model(x), train_y[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        top1, top5 = accuracy(model, test_x, test_y)
        print(f"epoch {epoch + 1}/{EPOCHS}: loss {loss.item():.4f} test top-1 {top1:.2f} top-5 {top5:.2f} "
              f"({time.time() - start:.0f} s)", flush=True)
    model.eval()
    return model, test_x, test_y


def main():
    seed()
    model, test_x, test_y = train(make_model())
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
