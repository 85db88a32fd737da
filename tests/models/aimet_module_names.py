"""The module names AIMET's model preparer would give the example and test models, as test data for
adaflow's `_torch.encodings` keys (tests/data/aimet_module_names.json).

AIMET's `prepare_model` (aimet_torch/model_preparer.py, AIMET 1.3x) traces a model with torch.fx, recording
for every node the module whose forward it is in (its scope), then:
  - makes a module of each functional call it knows (F.relu, x + y, torch.cat, F.adaptive_avg_pool2d, ...),
    named "module_<fx node name>" and placed under that scope module ("layers.0.module_relu_1");
  - makes a copy of a module called a second time, named "module_<child>_<n>" under the module's parent, n
    the number torch.fx appended to the call's node name ("layer1.0.module_relu_1").
This script does the same with Debian's torch.fx (torch 1.13): the tracing, node names and scopes are
torch.fx's own; the naming rule and the list of functionals AIMET converts are written from AIMET's
documented behaviour. AIMET itself is not needed.

Run with Debian's python3-torch:  /usr/bin/python3 tests/models/aimet_module_names.py
"""
import json
import os
import re
import sys

import torch
import torch.fx
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "examples", "models"))
import make_test_models  # noqa: E402
import train_resnet8_fmnist  # noqa: E402

# The functionals AIMET's model preparer turns into modules (functional_with_stateful_api,
# functional_with_special_handling and functional_with_stateless_api of model_preparer.py), by the name
# torch.fx gives their nodes. ('hardwish' is how AIMET 1.3x spells hardswish: F.hardswish stays functional.)
CONVERTED = {
    "relu", "relu6", "hardtanh", "hardwish", "elu", "selu", "celu", "leaky_relu", "prelu", "rrelu", "glu", "gelu",
    "logsigmoid", "hardshrink", "tanhshrink", "softsign", "softplus", "softmin", "softmax", "softshrink",
    "log_softmax", "tanh", "sigmoid", "hardsigmoid", "silu", "cat", "conv2d", "_pad", "pad", "sum", "add",
    "subtract", "sub", "mul", "div", "truediv", "floordiv", "matmul", "exp", "interpolate", "max_pool2d",
    "max_pool2d_with_indices", "adaptive_avg_pool2d", "avg_pool2d", "norm", "batch_norm", "group_norm", "mean",
    "pow", "where", "addmm", "bmm", "baddbmm", "cumsum", "masked_fill", "square", "rsqrt",
}


def functional_name(node_name):
    """The functional a node name stands for, split at its '_<digit>' suffixes as AIMET does."""
    for piece in re.split(r"_\d", node_name):
        if piece in CONVERTED:
            return piece
    return None


class ScopeTracer(torch.fx.Tracer):
    """torch.fx's tracer, recording the module each node is created in (AIMET's Scope)."""

    def __init__(self):
        super().__init__()
        self.scope = ""
        self.scope_of = {}

    def call_module(self, m, forward, args, kwargs):
        outer = self.scope
        self.scope = self.path_of_module(m)
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.scope = outer

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        self.scope_of[node.name] = self.scope
        return node


def prepared_names(model):
    """(every module name of the prepared model, {fx node name: the module AIMET makes of it})."""
    tracer = ScopeTracer()
    graph = tracer.trace(model)
    names = [name for name, _ in model.named_modules() if name]
    made = {}
    called = set()
    for node in graph.nodes:
        scope = tracer.scope_of.get(node.name, "")
        if node.op in ("call_function", "call_method") and functional_name(node.name):
            made[node.name] = (scope + "." if scope else "") + "module_" + node.name
        elif node.op == "call_module":
            if node.target in called:
                parent, _, child = node.target.rpartition(".")
                suffix = node.name.rsplit("_", 1)[1]
                made[node.name] = (parent + "." if parent else "") + "module_" + child + "_" + suffix
            called.add(node.target)
    return sorted(set(names) | set(made.values())), made


def main():
    torch.manual_seed(0)
    models = {
        "examples/models/resnet8_fmnist.pt": train_resnet8_fmnist.ResNet8(),
        "examples/models/resnet20_fmnist.pt": train_resnet8_fmnist.CifarResNet(3),
        "tests/models/mixed_scripted.pt": make_test_models.Mixed(),
        "tests/models/activations_scripted.pt": make_test_models.Activations(),
        "tests/models/branchy_scripted.pt": make_test_models.Branchy(),
        "tests/models/ops_scripted.pt": make_test_models.Ops(),
        "tests/models/norm_ops_scripted.pt": make_test_models.NormOps(),
        "tests/models/tv_resnet_scripted.pt": make_test_models.torchvision_resnet(),
        "tests/models/tv_mobilenet_v2_scripted.pt": torchvision.models.MobileNetV2(10, width_mult=0.25),
    }
    out = {}
    for path, model in models.items():
        modules, made = prepared_names(model.eval())
        out[path] = {"modules": modules, "made": made}
    target = os.path.join(ROOT, "tests", "data", "aimet_module_names.json")
    with open(target, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    counts = ", ".join("%s: %d made" % (path, len(entry["made"])) for path, entry in out.items())
    print("wrote %s: %s" % (target, counts))


if __name__ == "__main__":
    main()
