#!/usr/bin/env python3
"""Makes the small TorchScript models the tests load (seeded; a few KB each).

Run with Debian's python3-torch:  /usr/bin/python3 tests/models/make_test_models.py

mixed_{scripted,traced}.pt — input [2, 3, 8, 8]:
    stem (Conv2d 3->8, BN, ReLU6) -> dw (depthwise Conv2d 8, groups 8, BN, ReLU) -> pw (Conv2d 1x1 8->8, BN)
    + stem output (residual add) -> ReLU -> up (ConvTranspose2d 8->4, stride 2) -> mean over H, W
    -> fc1 (Linear 4->6, GELU) -> fc2 (Linear 6->3)
conv1d_scripted.pt — input [2, 2, 16]: conv (Conv1d 2->4, k 3) -> sigmoid -> flatten -> head (Linear 56->2)
activations_{scripted,traced}.pt — input [2, 4, 6, 6]: c0..c11 (Conv2d 4->4, 3x3), each followed by
    one activation (leaky_relu 0.2, PReLU, elu 0.7, hardswish, hardsigmoid, tanh-GELU, softplus(2, 10),
    mish, clamp(0, 6), clamp(-1, 1), selu, softmax over channels), then head (Linear 4->5) on the
    [batch, 36, 4] tokens
branchy_{scripted,traced}.pt — input [2, 3, 16, 16]: a MobileNetV2-style net whose blocks end in
    `return x + y if self.use_res else y` (stem, three inverted-residual blocks, fc)
data_dependent_scripted.pt — input [2, 3, 8, 8]: a layer inside `if y.mean() > 0:` (not supported)
tv_resnet_{scripted,traced}.pt — input [2, 3, 64, 64]: torchvision's ResNet class and BasicBlock (one
    block per stage) at a quarter of its widths (16, 32, 64, 128): conv 7x7/2, BN, in-place ReLU, max pool,
    blocks whose one ReLU module runs twice and whose residual add is in place, adaptive average pool,
    torch.flatten, fc (128 -> 10)
tv_mobilenet_v2_{scripted,traced}.pt — input [2, 3, 64, 64]: torchvision's MobileNetV2 at width 0.25
    (depthwise convs, ReLU6, inverted residual adds, dropout, adaptive average pool, flatten, 10 classes)
ops_{scripted,traced}.pt — input [2, 3, 4, 4]: the ops the other models leave out of the ONNX export:
    cat of a SiLU and a hardswish branch, permute with a negative dim, a Linear on [N, 4, 4, 8] with
    softmax over its last dim, and `x.view(x.size(0), -1)` (traced: shape arithmetic on tensors) -> head
bn_fold_{scripted,traced}.pt — input [2, 3, 8, 8]: every case of AIMET's fold_all_batch_norms rules:
    pre_bn -> conv_a (1x1, padding 0: forward fold); conv_b (no bias) -> bn_b (backward); bn_c -> conv_c
    (padding 1: bn_c stays); conv_d -> bn_d + conv_d's output (read twice: bn_d stays); up (ConvTranspose2d)
    -> up_bn (backward); up_dw (depthwise ConvTranspose2d) -> up_dw_bn (backward); up_g (ConvTranspose2d,
    groups 2) -> up_g_bn (stays); mean -> tok (Linear on [N, 2, 2]) -> tok_bn (BatchNorm1d over the 2
    tokens, not tok's features: stays); fc1 (no bias) -> fc1_bn (backward); fc2_bn -> fc2 (forward)
bn_fold1d_scripted.pt, bn_fold1d_traced.pt — input [2, 2, 16]: conv (Conv1d) -> bn1 (backward), ReLU,
    bn2 -> conv2 (Conv1d 1x1: forward), flatten, head (Linear)
norm_ops_{scripted,traced}.pt — input [2, 3, 8, 8]: parameters of modules that are not conv/linear and the
    ops whose outputs an AIMET-prepared model quantizes besides conv/linear/activations: conv -> gn
    (GroupNorm 2 groups) -> inorm (InstanceNorm2d, affine) -> prelu (PReLU, 8 slopes) -> * 0.5 -> + 3 ->
    F.interpolate x2 (nearest) -> conv2 (1x1) -> RMS norm (pow, mean, + eps, rsqrt, *) -> mean over H, W ->
    ln (LayerNorm 8) -> * -0.5 -> exp -> + emb (Embedding 8x8 of the input's argmax % 8) -> fc (Linear 8->5)
{nan,inf,zero}_weight_scripted.pt — input [1, 1, 28, 28] (the Fashion-MNIST configs' data): conv1 (Conv2d
    1->4, ReLU) -> conv2 (Conv2d 4->4, ReLU) -> mean over H, W -> fc (Linear 4->10), with a NaN in conv2's
    weight, an Inf in conv1's, or conv2's weight all zero (the corrupt-input corpus, tests/corrupt/)
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import MobileNetV2
from torchvision.models.resnet import BasicBlock, ResNet

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


class Activations(nn.Module):
    def __init__(self):
        super().__init__()
        for idx in range(12):
            setattr(self, f"c{idx}", nn.Conv2d(4, 4, 3, padding=1))
        self.prelu = nn.PReLU(4)
        self.head = nn.Linear(4, 5)

    def forward(self, x):
        x = F.leaky_relu(self.c0(x), 0.2)
        x = self.prelu(self.c1(x))
        x = F.elu(self.c2(x), alpha=0.7)
        x = F.hardswish(self.c3(x))
        x = F.hardsigmoid(self.c4(x))
        x = F.gelu(self.c5(x), approximate="tanh")
        x = F.softplus(self.c6(x), beta=2.0, threshold=10.0)
        x = F.mish(self.c7(x))
        x = torch.clamp(self.c8(x), 0.0, 6.0)  # ReLU6 as converted models write it
        x = torch.clamp(self.c9(x), -1.0, 1.0)
        x = F.selu(self.c10(x))
        x = F.softmax(self.c11(x), dim=1)
        return self.head(x.flatten(2).transpose(1, 2))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.expand = nn.Sequential(nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6())
        self.dw = nn.Sequential(nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                                nn.BatchNorm2d(hidden), nn.ReLU6())
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.use_res else y


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.blocks = nn.Sequential(InvertedResidual(8, 8, 1, 2), InvertedResidual(8, 16, 2, 2),
                                    InvertedResidual(16, 16, 1, 2))
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.c = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        y = self.a(x)
        if bool(y.mean() > 0):
            y = self.b(y)
        return self.c(y)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


class Ops(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.tokens = nn.Linear(8, 8)
        self.head = nn.Linear(128, 5)

    def forward(self, x):
        y = torch.cat([F.silu(self.a(x)), F.hardswish(self.b(x))], dim=1)
        t = F.softmax(self.tokens(y.permute(0, 2, -1, 1)), dim=-1)
        t = t.permute(0, 3, 1, 2).contiguous()
        return self.head(t.view(t.size(0), -1))


class NormOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gn = nn.GroupNorm(2, 8)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.prelu = nn.PReLU(8)
        self.conv2 = nn.Conv2d(8, 8, 1)
        self.ln = nn.LayerNorm(8)
        self.emb = nn.Embedding(8, 8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = self.gn(self.conv(x))
        y = self.prelu(self.inorm(y)) * 0.5 + 3
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = self.conv2(y)
        y = y * torch.rsqrt(y.pow(2).mean(dim=1, keepdim=True) + 1e-5)
        t = self.ln(y.mean(dim=(2, 3)))
        e = self.emb(x.flatten(1).argmax(dim=1) % 8)
        return self.fc(torch.exp(t * -0.5) + e)


def randomize_affine(module):
    """Weights and biases of the normalization, PReLU and Embedding modules away from their initial 1 / 0 / 0.25."""
    for m in module.modules():
        if isinstance(m, (nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
        elif isinstance(m, nn.PReLU):
            m.weight.data.uniform_(0.05, 0.4)


def torchvision_resnet():
    """torchvision's ResNet (its forward and BasicBlock) with widths 16, 32, 64, 128 instead of 64 .. 512."""
    model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10)
    model.inplanes = 16
    model.conv1 = nn.Conv2d(3, 16, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(16)
    model.layer1 = model._make_layer(BasicBlock, 16, 1)
    model.layer2 = model._make_layer(BasicBlock, 32, 1, stride=2)
    model.layer3 = model._make_layer(BasicBlock, 64, 1, stride=2)
    model.layer4 = model._make_layer(BasicBlock, 128, 1, stride=2)
    model.fc = nn.Linear(128, 10)
    return model


class BnFold(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre_bn = nn.BatchNorm2d(3)
        self.conv_a = nn.Conv2d(3, 8, 1)
        self.conv_b = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(8)
        self.bn_c = nn.BatchNorm2d(8)
        self.conv_c = nn.Conv2d(8, 8, 3, padding=1)
        self.conv_d = nn.Conv2d(8, 8, 1)
        self.bn_d = nn.BatchNorm2d(8)
        self.up = nn.ConvTranspose2d(8, 6, 2, stride=2)
        self.up_bn = nn.BatchNorm2d(6)
        self.up_dw = nn.ConvTranspose2d(6, 6, 3, padding=1, groups=6)
        self.up_dw_bn = nn.BatchNorm2d(6)
        self.up_g = nn.ConvTranspose2d(6, 4, 3, padding=1, groups=2)
        self.up_g_bn = nn.BatchNorm2d(4)
        self.tok = nn.Linear(2, 2)
        self.tok_bn = nn.BatchNorm1d(2)
        self.fc1 = nn.Linear(4, 16, bias=False)
        self.fc1_bn = nn.BatchNorm1d(16)
        self.fc2_bn = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        y = self.conv_a(self.pre_bn(x))
        y = F.relu(self.bn_b(self.conv_b(y)))
        y = self.conv_c(self.bn_c(y))
        z = self.conv_d(y)
        y = self.bn_d(z) + z
        y = F.relu(self.up_bn(self.up(y)))
        y = F.relu(self.up_dw_bn(self.up_dw(y)))
        y = self.up_g_bn(self.up_g(y)).mean(dim=(2, 3))
        y = self.tok_bn(self.tok(y.view(-1, 2, 2))).flatten(1)
        y = F.relu(self.fc1_bn(self.fc1(y)))
        return self.fc2(self.fc2_bn(y))


class BnFold1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3)
        self.bn1 = nn.BatchNorm1d(4)
        self.bn2 = nn.BatchNorm1d(4)
        self.conv2 = nn.Conv1d(4, 4, 1)
        self.head = nn.Linear(56, 2)

    def forward(self, x):
        y = self.conv2(self.bn2(F.relu(self.bn1(self.conv(x)))))
        return self.head(torch.flatten(y, 1))


def randomize_all_bn(module):
    """randomize_bn for BatchNorm1d and BatchNorm2d alike."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


def randomize_bn(module):
    # Non-trivial statistics, so folding them is a real test.
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


def save_scripted_and_traced(model, example, stem):
    """<stem>_scripted.pt and <stem>_traced.pt (traced on `example`)."""
    torch.jit.script(model).save(os.path.join(HERE, f"{stem}_scripted.pt"))
    torch.jit.trace(model, example).save(os.path.join(HERE, f"{stem}_traced.pt"))


def main():
    # The random draws keep their order (module initialisation, BatchNorm statistics, examples).
    torch.manual_seed(0)
    mixed = Mixed()
    randomize_bn(mixed)
    save_scripted_and_traced(mixed.eval(), torch.randn(2, 3, 8, 8), "mixed")
    net1d = Conv1dNet().eval()
    torch.jit.script(net1d).save(os.path.join(HERE, "conv1d_scripted.pt"))
    save_scripted_and_traced(Activations().eval(), torch.randn(2, 4, 6, 6), "activations")
    branchy = Branchy()
    randomize_bn(branchy)
    save_scripted_and_traced(branchy.eval(), torch.randn(2, 3, 16, 16), "branchy")
    torch.jit.script(DataDependent().eval()).save(os.path.join(HERE, "data_dependent_scripted.pt"))
    with open(os.path.join(HERE, "not_a_model.pt"), "w") as f:
        f.write("this is a text file, not a TorchScript archive\n")
    for name, damage in (("nan", lambda m: m.conv2.weight.data.__setitem__((1, 2, 0, 1), float("nan"))),
                         ("inf", lambda m: m.conv1.weight.data.__setitem__((3, 0, 2, 2), float("inf"))),
                         ("zero", lambda m: m.conv2.weight.data.zero_())):
        small = Small().eval()
        damage(small)
        torch.jit.script(small).save(os.path.join(HERE, f"{name}_weight_scripted.pt"))
    for stem, model in (("tv_resnet", torchvision_resnet()), ("tv_mobilenet_v2", MobileNetV2(10, width_mult=0.25))):
        randomize_bn(model)
        save_scripted_and_traced(model.eval(), torch.randn(2, 3, 64, 64), stem)
    save_scripted_and_traced(Ops().eval(), torch.randn(2, 3, 4, 4), "ops")
    bn_fold = BnFold()
    randomize_all_bn(bn_fold)
    save_scripted_and_traced(bn_fold.eval(), torch.randn(2, 3, 8, 8), "bn_fold")
    bn_fold1d = BnFold1d()
    randomize_all_bn(bn_fold1d)
    save_scripted_and_traced(bn_fold1d.eval(), torch.randn(2, 2, 16), "bn_fold1d")
    norm_ops = NormOps()
    randomize_affine(norm_ops)
    save_scripted_and_traced(norm_ops.eval(), torch.randn(2, 3, 8, 8), "norm_ops")


if __name__ == "__main__":
    main()
