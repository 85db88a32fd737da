#!/usr/bin/env python3
"""Trains the example model: a small ResNet (8 weight layers deep) on Fashion-MNIST, and saves it
as TorchScript, scripted and traced, with its FP32 accuracy on the 10k test set.

Run with Debian's python3-torch:  /usr/bin/python3 examples/models/train_resnet8_fmnist.py
Data: Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
Inputs are raw pixels times 1/255 (the example config's `scale`), shape [N, 1, 28, 28].
Everything is seeded; on the same torch build the result is reproducible.
"""
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
EPOCHS = 4
BATCH = 128


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    images = read_idx(f"{DATA}/{split}-images-idx3-ubyte.gz").astype(np.float32) * (1.0 / 255.0)
    labels = read_idx(f"{DATA}/{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """The CIFAR-style ResNet of He et al. 2016 (sec. 4.2): a 16-channel stem, three stages of `depth` basic
    blocks at 16, 32 and 64 channels (the first block of the later two halves the resolution), global
    average pooling and the classifier: 6 * depth + 2 layers."""

    def __init__(self, depth, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for index in range(depth):
                blocks.append(BasicBlock(cin, cout, stride if index == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


class ResNet8(CifarResNet):
    def __init__(self, num_classes=10):
        super().__init__(1, num_classes)


def accuracy(model, images, labels):
    model.eval()
    top1 = top5 = 0
    with torch.no_grad():
        for start in range(0, len(images), 500):
            logits = model(images[start:start + 500])
            target = labels[start:start + 500]
            best5 = logits.topk(5, dim=1).indices
            top1 += (best5[:, 0] == target).sum().item()
            top5 += (best5 == target[:, None]).any(dim=1).sum().item()
    return 100.0 * top1 / len(images), 100.0 * top5 / len(images)


def sgd_one_cycle(model, steps):
    """The ResNets' optimizer: SGD with Nesterov momentum under a one-cycle schedule peaking at 0.1."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps)


def train(model, epochs=EPOCHS, optimizer=sgd_one_cycle, loss_options=None):
    """Trains `model` (made right after seed()) on Fashion-MNIST; returns it in eval mode with the test set.
    `optimizer(model, steps)` gives the optimizer and its per-step schedule; `loss_options` go to
    F.cross_entropy."""
    torch.set_num_threads(os.cpu_count() or 1)
    train_x, train_y = load("train")
    test_x, test_y = load("t10k")
    steps = epochs * ((len(train_x) + BATCH - 1) // BATCH)
    opt, sched = optimizer(model, steps)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        start = time.time()
        order = torch.randperm(len(train_x), generator=generator)
        for first in range(0, len(train_x), BATCH):
            idx = order[first:first + BATCH]
            x = train_x[idx]
            # Light augmentation: random horizontal flip.
            flip = torch.rand(len(idx), generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            loss = F.cross_entropy(model(x), train_y[idx], **(loss_options or {}))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        top1, top5 = accuracy(model, test_x, test_y)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f} test top-1 {top1:.2f} top-5 {top5:.2f} "
              f"({time.time() - start:.0f} s)", flush=True)
    model.eval()
    return model, test_x, test_y


def seed():
    torch.manual_seed(SEED)
    np.random.seed(SEED)


def main():
    seed()
    model, test_x, test_y = train(ResNet8())
    scripted = torch.jit.script(model)
    traced = torch.jit.trace(model, test_x[:1])
    scripted.save(os.path.join(HERE, "resnet8_fmnist.pt"))
    traced.save(os.path.join(HERE, "resnet8_fmnist_traced.pt"))
    record = {"model": "resnet8_fmnist.pt", "traced": "resnet8_fmnist_traced.pt",
              "data": "Fashion-MNIST t10k (10000 images), pixels * 1/255, shape [N, 1, 28, 28]",
              "seed": SEED, "epochs": EPOCHS, "torch": torch.__version__}
    for name, module in (("scripted", torch.jit.load(os.path.join(HERE, "resnet8_fmnist.pt"))),
                         ("traced", torch.jit.load(os.path.join(HERE, "resnet8_fmnist_traced.pt")))):
        top1, top5 = accuracy(module, test_x, test_y)
        record[name] = {"top1": round(top1, 2), "top5": round(top5, 2)}
        print(f"{name}: top-1 {top1:.2f} top-5 {top5:.2f}")
    with open(os.path.join(HERE, "resnet8_fmnist.json"), "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
