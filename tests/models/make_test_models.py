#!/usr/bin/env python3
"""Makes the small TorchScript models the tests load (seeded; a few KB each).

Run with Debian's python3-torch:  /usr/bin/python3 tests/models/make_test_models.py

mixed_{scripted,traced}.pt — input [2, 3, 8, 8]:
    stem (Conv2d 3->8, BN, ReLU6) -> dw (depthwise Conv2d 8, groups 8, BN, ReLU) -> pw (Conv2d 1x1 8->8, BN)
    + stem output (residual add) -> ReLU -> up (ConvTranspose2d 8->4, stride 2) -> mean over H, W
    -> fc1 (Linear 4->6, GELU) -> fc2 (Linear 6->3)
conv1d_scripted.pt — input [2, 2, 16]: conv (Conv1d 2->4, k 3) -> sigmoid -> flatten -> head (Linear 56->2)
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.dw_bn = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 8, 1)
        self.pw_bn = nn.BatchNorm2d(8)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.fc1 = nn.Linear(4, 6)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x):
        stem = F.relu6(self.stem_bn(self.stem(x)))
        y = F.relu(self.dw_bn(self.dw(stem)))
        y = F.relu(self.pw_bn(self.pw(y)) + stem)
        y = self.up(y).mean(dim=(2, 3))
        return self.fc2(F.gelu(self.fc1(y)))


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3)
        self.head = nn.Linear(56, 2)

    def forward(self, x):
        return self.head(torch.sigmoid(self.conv(x)).flatten(1))


def randomize_bn(module):
    # Non-trivial statistics, so folding them is a real test.
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


def main():
    torch.manual_seed(0)
    mixed = Mixed()
    randomize_bn(mixed)
    mixed.eval()
    example = torch.randn(2, 3, 8, 8)
    torch.jit.script(mixed).save(os.path.join(HERE, "mixed_scripted.pt"))
    torch.jit.trace(mixed, example).save(os.path.join(HERE, "mixed_traced.pt"))
    net1d = Conv1dNet().eval()
    torch.jit.script(net1d).save(os.path.join(HERE, "conv1d_scripted.pt"))
    with open(os.path.join(HERE, "not_a_model.pt"), "w") as f:
        f.write("this is a text file, not a TorchScript archive\n")


if __name__ == "__main__":
    main()
