#!/usr/bin/env python3
"""The peer adaflow is measured against: AdaRound as AIMET's PyTorch workflow runs it, in plain PyTorch.

Written from AIMET's published algorithm and defaults (Nagel et al., "Up or Down? Adaptive Rounding
for Post-Training Quantization", ICML 2020; AIMET 1.3x aimet_torch.v1 adaround: the rectified
sigmoid, the cosine-annealed regulariser, Adam with PyTorch's defaults, 32 random cached samples per
step, the activation after the layer in the loss, the squared error summed over dim 1, layers one
after another in module order, each layer's input taken from the model whose earlier layers are
already rounded, each layer's cached data collected by running the model until that layer).

The weight grids are read from an adaflow encodings file (`<name>_adaround.encodings`), so both sides
round onto exactly the same grids. The rounded model is written as TorchScript with those encodings,
so adaflow's quant-sim can evaluate the peer's result the same way it evaluates its own.

Usage (Debian's python3-torch):
  /usr/bin/python3 bench/peer/adaround_peer.py --arch resnet8 --model examples/models/resnet8_fmnist.pt \
      --encodings runs/x/x_adaround.encodings --iterations 2000 --threads 2 --out runs/peer/x
Prints one JSON line with the timings (`--whole` adds a quant-sim, calibration, evaluation and export
done in PyTorch, for the whole-run comparison; CNNs only). `--arch vit` (examples/models/vit.py): GELU
after fc1 is in the loss, and `--sim-encodings` gives the LayerNorm weights' grids, which AIMET's internal
quant-sim applies to x̂.
"""
import argparse
import copy
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples", "models"))

ZETA, GAMMA = 1.1, -0.1
BATCH_SIZE = 32
FMNIST = "/usr/share/datasets/fashion-mnist"
ACTIVATIONS = {F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.hardtanh: "hardtanh", F.gelu: "gelu",
               nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardtanh: "hardtanh", nn.GELU: "gelu"}


# --- model -----------------------------------------------------------------------------------------

def make_eager(arch):
    if arch == "resnet8":
        import train_resnet8_fmnist
        return train_resnet8_fmnist.ResNet8()
    if arch == "resnet20":
        import train_resnet20_fmnist
        return train_resnet20_fmnist.ResNet20()
    if arch == "vit":
        import train_vit_fmnist
        return train_vit_fmnist.make_model()
    import torchvision
    if arch == "resnet18":
        return torchvision.models.resnet18()
    if arch == "mobilenet_v2":
        return torchvision.models.mobilenet_v2()
    raise SystemExit(f"unknown --arch {arch}")


def load_folded(arch, path):
    """The eager model with the TorchScript file's weights and its BatchNorms folded by LibTorch's own
    pass (the same one adaflow's prepare stage runs), BatchNorm modules replaced by identities."""
    scripted = torch.jit.load(path).eval()
    folded = torch.jit._recursive.wrap_cpp_module(torch._C._jit_pass_fold_convbn(scripted._c))
    model = make_eager(arch).eval()
    model.load_state_dict(scripted.state_dict())
    params = dict(folded.named_parameters())
    params.update(dict(folded.named_buffers()))
    for name, module in list(model.named_modules()):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            module.weight = nn.Parameter(params[name + ".weight"].detach().clone())
            bias = params.get(name + ".bias")
            module.bias = nn.Parameter(bias.detach().clone()) if bias is not None else None
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, child_name, nn.Identity())
    return model, folded


def layer_activations_by_calls(model, example):
    """layer_activations for a model torch.fx cannot trace (the ViT's `n, t, c = x.shape`): the activation
    module whose call reads the layer's output tensor, from one forward pass with hooks on every module."""
    modules = dict(model.named_modules())
    produced, result, handles = {}, {}, []

    def hook(name):
        def record(module, inputs, output):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                produced[id(output)] = name
                result[name] = None
            elif inputs and id(inputs[0]) in produced and type(module) in ACTIVATIONS:
                result[produced[id(inputs[0])]] = ACTIVATIONS[type(module)]
        return record

    for name, module in modules.items():
        if not list(module.children()):
            handles.append(module.register_forward_hook(hook(name)))
    with torch.no_grad():
        model(example)
    for handle in handles:
        handle.remove()
    return result


def layer_activations(model, example=None):
    """AIMET's act_func: the op right after each conv/linear, when it is an activation."""
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except torch.fx.proxy.TraceError:
        return layer_activations_by_calls(model, example)
    modules = dict(model.named_modules())
    result = {}
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], (nn.Conv2d, nn.Linear)):
            continue
        user = next(iter(node.users), None)
        while user is not None and user.op == "call_module" and isinstance(modules[user.target], nn.Identity):
            user = next(iter(user.users), None)
        kind = None
        if user is not None and user.op == "call_function":
            kind = ACTIVATIONS.get(user.target)
            if kind == "hardtanh":
                kind = "relu6"
        elif user is not None and user.op == "call_module":
            kind = ACTIVATIONS.get(type(modules[user.target]))
        result[node.target] = kind
    return result


def apply_activation(kind, x):
    if kind == "relu":
        return F.relu(x)
    if kind == "relu6":
        return F.hardtanh(x, 0.0, 6.0)
    if kind == "gelu":
        return F.gelu(x)
    return x


# --- data ------------------------------------------------------------------------------------------

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fmnist(split, count=None):
    images = read_idx(f"{FMNIST}/{split}-images-idx3-ubyte.gz")
    labels = read_idx(f"{FMNIST}/{split}-labels-idx1-ubyte.gz").astype(np.int64)
    if count:
        images, labels = images[:count], labels[:count]
    x = torch.from_numpy(images.astype(np.float32) * np.float32(1.0 / 255.0)).unsqueeze(1)
    return x, torch.from_numpy(labels)


# --- encodings -------------------------------------------------------------------------------------

def read_grids(path, suffix=".weight"):
    """{layer: (scale tensor, offset tensor, bitwidth)} from an AIMET 0.6.1 param_encodings file
    (`suffix=""`: every parameter by its own name)."""
    grids = {}
    for key, entries in json.load(open(path))["param_encodings"].items():
        layer = key[:-len(suffix)] if suffix else key
        grids[layer] = (torch.tensor([e["scale"] for e in entries], dtype=torch.float32),
                        torch.tensor([float(e["offset"]) for e in entries], dtype=torch.float32),
                        entries[0]["bitwidth"])
    return grids


def broadcast(values, weight):
    return values.reshape([-1] + [1] * (weight.dim() - 1)) if values.numel() > 1 else values.reshape([])


def nearest(weight, grid):
    scale, offset, bits = grid
    delta, off = broadcast(scale, weight), broadcast(offset, weight)
    q = torch.clamp(torch.sign(weight / delta) * torch.floor((weight / delta).abs() + 0.5) - off, 0, 2 ** bits - 1)
    return (q + off) * delta


# --- AdaRound (AIMET's loop) -----------------------------------------------------------------------

class Stop(Exception):
    pass


def capture(model, module, batches, want_input):
    """Runs `model` on each batch until `module` and returns its inputs or outputs (AIMET's
    ActivationSampler stops the forward pass at the module the same way)."""
    values = []

    def hook(_, inputs, output):
        values.append((inputs[0] if want_input else output).detach().clone())
        raise Stop()

    handle = module.register_forward_hook(hook)
    with torch.no_grad():
        for batch in batches:
            try:
                model(batch)
            except Stop:
                pass
    handle.remove()
    return torch.cat(values)


def layer_output(module, x, weight):
    if isinstance(module, nn.Conv2d):
        return F.conv2d(x, weight, module.bias, module.stride, module.padding, module.dilation, module.groups)
    return F.linear(x, weight, module.bias)


def beta_at(iteration, iterations, beta_range=(20.0, 2.0), warm_start=0.2):
    warm_end = warm_start * iterations
    rel = (iteration - warm_end) / (iterations - warm_end)
    return beta_range[1] + 0.5 * (beta_range[0] - beta_range[1]) * (1 + np.cos(rel * np.pi))


def adaround_layer(module, grid, inputs, targets, activation, iterations, generator, reg_param=0.01, warm_start=0.2):
    scale, offset, bits = grid
    weight = module.weight.detach()
    delta, off = broadcast(scale, weight), broadcast(offset, weight)
    floor = torch.floor(weight / delta)
    rest = weight / delta - floor
    alpha = nn.Parameter(-torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1))
    optimizer = torch.optim.Adam([alpha])
    targets = apply_activation(activation, targets)

    def rounded(soft):
        h = torch.clamp(torch.sigmoid(alpha) * (ZETA - GAMMA) + GAMMA, 0, 1) if soft else (alpha >= 0).float()
        return (torch.clamp(floor + h - off, 0, 2 ** bits - 1) + off) * delta

    for iteration in range(iterations):
        indices = torch.randperm(inputs.size(0), generator=generator)[:BATCH_SIZE]
        optimizer.zero_grad()
        out = apply_activation(activation, layer_output(module, inputs[indices], rounded(True)))
        loss = (torch.norm(out - targets[indices], p="fro", dim=1) ** 2).mean()
        if iteration >= iterations * warm_start:
            h = torch.clamp(torch.sigmoid(alpha) * (ZETA - GAMMA) + GAMMA, 0, 1)
            beta = beta_at(iteration, iterations)
            loss = loss + reg_param * torch.add(1, -(torch.add(2 * h, -1).abs()).pow(beta)).sum()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return rounded(False)


def adaround_model(model, grids, batches, iterations, input_source, seed, steps_only=None, other_grids=None):
    """AIMET's apply_adaround: every quantizable layer in module order. Returns the rounded model and
    per-layer seconds. `steps_only`: run that many steps per layer and report seconds per step.
    `other_grids`: parameters other than layer weights (LayerNorm weights) that AIMET's internal quant-sim
    quantizes, so x̂ passes through them rounded to nearest."""
    activations = layer_activations(model, batches[0][:1])
    quant = copy.deepcopy(model)
    for name, module in quant.named_modules():
        if name in grids:
            module.weight.data = nearest(module.weight.detach(), grids[name])
    quant_params = dict(quant.named_parameters())
    for name, grid in (other_grids or {}).items():
        if name in quant_params and name[:-len(".weight")] not in grids:
            quant_params[name].data = nearest(quant_params[name].detach(), grid)
    orig_modules, quant_modules = dict(model.named_modules()), dict(quant.named_modules())
    generator = torch.Generator().manual_seed(seed)
    timings = []
    for name, module in model.named_modules():
        if name not in grids:
            continue
        start = time.time()
        source = quant if input_source == "quant" else model
        inputs = capture(source, (quant_modules if input_source == "quant" else orig_modules)[name], batches, True)
        targets = capture(model, module, batches, False)
        captured = time.time()
        steps = steps_only or iterations
        weight = adaround_layer(module, grids[name], inputs, targets, activations.get(name), steps, generator)
        quant_modules[name].weight.data = weight
        done = time.time()
        timings.append({"layer": name, "activation": activations.get(name) or "none",
                        "capture_s": captured - start, "optimize_s": done - captured,
                        "step_s": (done - captured) / steps})
        print(f"peer: {name}: {done - start:.1f} s ({timings[-1]['step_s'] * 1e3:.2f} ms/step)", file=sys.stderr,
              flush=True)
    return quant, timings


# --- quant-sim, calibration and evaluation (for the whole-run comparison) -------------------------

def tf_enhanced(hist, edges, bits=8):
    """TF-enhanced asymmetric search over a histogram (cost: quantization MSE + 3 x saturation MSE)."""
    mids = (edges[:-1] + edges[1:]) / 2
    pdf = hist / max(hist.sum(), 1)
    nz = np.nonzero(pdf)[0]
    low, high = min(edges[nz[0]], 0.0), max(edges[nz[-1]], 0.0)
    high = max(high, low + 0.01)
    steps = 2 ** bits - 1
    delta0 = (high - low) / steps
    best = (np.inf, delta0, np.round(low / delta0))
    for f in np.arange(1, 18) / 16.0:
        for offset in np.trunc(-steps + steps / 20.0 * np.arange(21)):
            delta = f * delta0
            lo, hi = max(delta * offset, low), min(delta * (offset + steps), high)
            if hi <= lo:
                continue
            delta = (hi - lo) / steps
            offset = np.round(lo / delta)
            q = np.clip(np.round(mids / delta - offset), 0, steps)
            deq = (q + offset) * delta
            mn, mx = delta * offset, delta * (offset + steps)
            sat = np.where(mids < mn, (mids - mn) ** 2, 0) + np.where(mids > mx, (mids - mx) ** 2, 0)
            cost = np.sum(pdf * (3 * sat + np.where((mids >= mn) & (mids <= mx), (mids - deq) ** 2, 0)))
            if cost < best[0]:
                best = (cost, delta, offset)
    return best[1], best[2]


_CURRENT_SIM = []


def fake_quant(x, index):
    return _CURRENT_SIM[-1].quantize(x, index)


class QuantSim(nn.Module):
    """Fake-quant on the model input and after every quantized op (fx graph), as AIMET's default config."""

    def __init__(self, model):
        super().__init__()
        self.gm = torch.fx.symbolic_trace(model)
        self.points = []
        modules = dict(self.gm.named_modules())
        graph = self.gm.graph
        for node in list(graph.nodes):
            if node.op == "call_module" and isinstance(modules[node.target], nn.Identity):
                node.replace_all_uses_with(node.args[0])
                graph.erase_node(node)
        for node in list(graph.nodes):
            quantize = node.op == "placeholder"
            if node.op == "call_module":
                quantize = not isinstance(modules[node.target], nn.Identity)
            elif node.op == "call_function":
                quantize = node.target in (F.relu, torch.relu, F.relu6, F.adaptive_avg_pool2d, torch.add)
            elif node.op == "call_method":
                quantize = False
            if node.op == "call_function" and node.target.__name__ == "add":
                quantize = True
            if not quantize:
                continue
            users = list(node.users)
            # Supergroups: conv/linear/add followed by ReLU quantize only the ReLU's output.
            if len(users) == 1 and users[0].op == "call_function" and users[0].target in (F.relu, torch.relu):
                continue
            index = len(self.points)
            with graph.inserting_after(node):
                fq = graph.call_function(fake_quant, (node, index))
            node.replace_all_uses_with(fq)
            fq.args = (node, index)
            self.points.append(None)
        self.gm.recompile()
        self.encodings = [None] * len(self.points)
        self.observing = False
        self.hists = [None] * len(self.points)

    def quantize(self, x, index):
        sim = self
        if sim.observing:
            values = x.detach().reshape(-1)
            if sim.hists[index] is None:
                lo, hi = values.min().item(), values.max().item()
                center = (lo + hi) / 2
                lo, hi = center - 3 * (center - lo) - 1e-9, center + 3 * (hi - center) + 1e-9
                sim.hists[index] = [np.zeros(512), np.linspace(lo, hi, 513), 0]
            hist, edges, batches = sim.hists[index]
            counts = torch.histc(values, 512, float(edges[0]), float(edges[-1])).double().numpy()
            sim.hists[index][0] = (hist * batches + counts / values.numel()) / (batches + 1)
            sim.hists[index][2] += 1
            return x
        delta, offset = sim.encodings[index]
        return torch.fake_quantize_per_tensor_affine(x, float(delta), int(-offset), 0, 255)

    def calibrate(self, batches):
        _CURRENT_SIM.append(self)
        self.observing = True
        with torch.no_grad():
            for batch in batches:
                self.gm(batch)
        self.observing = False
        _CURRENT_SIM.pop()
        self.encodings = [tf_enhanced(h[0], h[1]) for h in self.hists]

    def forward(self, x):
        _CURRENT_SIM.append(self)
        try:
            return self.gm(x)
        finally:
            _CURRENT_SIM.pop()


def quantized_weights(model, grids):
    result = copy.deepcopy(model)
    for name, module in result.named_modules():
        if name in grids:
            module.weight.data = nearest(module.weight.detach(), grids[name])
    return result


def top1(model, images, labels, batch=250):
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch):
            correct += (model(images[start:start + batch]).argmax(1) == labels[start:start + batch]).sum().item()
    return 100.0 * correct / len(images)


# --- main ------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", required=True, choices=["resnet8", "resnet20", "resnet18", "mobilenet_v2", "vit"])
    parser.add_argument("--model", required=True, help="the TorchScript file adaflow loads")
    parser.add_argument("--encodings", required=True, help="adaflow's <name>_adaround.encodings: the weight grids")
    parser.add_argument("--sim-encodings", help="the quant-sim's 0.6.1 encodings: grids of other parameters (LayerNorm)")
    parser.add_argument("--iterations", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--input-source", choices=["quant", "fp"], default="quant")
    parser.add_argument("--num-samples", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--random-shape", type=int, nargs="*", help="random N(0,1) data of this sample shape")
    parser.add_argument("--steps", type=int, help="time this many steps per layer only (extrapolation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--whole", action="store_true", help="also quant-sim, calibrate, evaluate and export")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    wall = time.time()

    model, folded = load_folded(args.arch, args.model)
    if args.random_shape:
        data = torch.randn([args.num_samples] + args.random_shape, generator=torch.Generator().manual_seed(args.seed))
    else:
        data, _ = fmnist("train", args.num_samples)
    batches = list(torch.split(data, args.batch_size))
    with torch.no_grad():
        difference = (model(batches[0]) - folded(batches[0])).abs().max().item()
    grids = read_grids(args.encodings)
    loaded = time.time()

    other_grids = read_grids(args.sim_encodings, suffix="") if args.sim_encodings else None
    rounded, timings = adaround_model(model, grids, batches, args.iterations, args.input_source, args.seed,
                                      args.steps, other_grids)
    adaround_s = time.time() - loaded
    result = {"arch": args.arch, "threads": args.threads, "num_iterations": args.iterations,
              "input_source": args.input_source, "layers": len(timings), "fold_difference": difference,
              "load_s": loaded - wall, "adaround_s": adaround_s,
              "capture_s": sum(t["capture_s"] for t in timings),
              "optimize_s": sum(t["optimize_s"] for t in timings), "per_layer": timings}
    if args.steps:
        result["adaround_extrapolated_s"] = result["capture_s"] + sum(t["step_s"] for t in timings) * args.iterations

    # The rounded model as TorchScript (the scripted file with the rounded weights) and its grids, for
    # adaflow's quant-sim to evaluate.
    out_model = torch.jit.load(args.model)
    out_model = torch.jit._recursive.wrap_cpp_module(torch._C._jit_pass_fold_convbn(out_model._c))
    rounded_params = dict(rounded.named_modules())
    for name, module in out_model.named_modules():
        if name in grids:
            module.weight = rounded_params[name].weight.detach().clone()
    out_model.save(os.path.join(args.out, "model_adaround.pt"))
    with open(args.encodings) as f:
        grid_file = f.read()
    with open(os.path.join(args.out, "peer_adaround.encodings"), "w") as f:
        f.write(grid_file)

    if args.whole and not args.random_shape and args.arch != "vit":
        start = time.time()
        test_x, test_y = fmnist("t10k")
        accuracy = {"fp": top1(model, test_x, test_y)}
        for variant, weights in (("nearest", quantized_weights(model, grids)), ("adaround", rounded)):
            sim = QuantSim(weights)
            sim.calibrate(batches)
            accuracy[variant] = top1(sim, test_x, test_y)
        torch.jit.trace(rounded, batches[0]).save(os.path.join(args.out, "exported.pt"))
        result["evaluate_s"] = time.time() - start
        result["peer_quant_sim_top1"] = accuracy
    result["wall_s"] = time.time() - wall
    print(json.dumps(result))


if __name__ == "__main__":
    main()
