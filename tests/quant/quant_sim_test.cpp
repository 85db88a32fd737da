#include "src/quant/quant_sim.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <utility>
#include <torch/torch.h>

#include "common/error.h"
#include "src/model/batch_norm_fold.h"
#include "tests/support/test_support.h"

namespace adaflow::quant {
namespace {

using adaflow::testing::ErrorMessage;
using adaflow::testing::SourcePath;

std::shared_ptr<const model::Model> Load(const std::string& path) {
  return model::FoldBatchNorm(*model::Model::Load(SourcePath(path), {}));
}

std::vector<std::string> Names(const QuantSim& sim) {
  std::vector<std::string> names;
  for (const auto& quantizer : sim.quantizers()) names.push_back(quantizer.name);
  return names;
}

torch::Tensor FakeQuant(const torch::Tensor& x, const Encoding& enc) {
  return torch::fake_quantize_per_tensor_affine(x, enc.scale, -enc.offset, 0, enc.steps());
}

TEST(QuantSimTest, MatchesTheSameFakeQuantWrittenOutByHand) {
  // conv (Conv1d) -> sigmoid -> flatten -> head (Linear), W4A8, TF scheme.
  auto fp = Load("tests/models/conv1d_scripted.pt");
  const auto layers = model::DiscoverLayers(*fp);
  QuantSimConfig config;
  config.param.quant_scheme = Scheme::kTf;
  QuantSim sim(fp, layers, config);
  ASSERT_EQ(Names(sim), (std::vector<std::string>{"input", "conv", "conv.sigmoid", "head"}));

  torch::manual_seed(0);
  data::Dataset calibration("calibration", torch::randn({64, 2, 16}), torch::Tensor(), 16);
  sim.Calibrate(calibration, Scheme::kTf, 100.0, 0);
  ASSERT_TRUE(sim.calibrated());

  // Weights: 4-bit signed symmetric per tensor, Δ = max|w| / 7, offset −8, rounded half away from zero.
  auto weight_of = [&](const std::string& name) { return fp->Submodule(name).attr("weight").toTensor(); };
  auto bias_of = [&](const std::string& name) { return fp->Submodule(name).attr("bias").toTensor(); };
  auto hand_qdq = [](const torch::Tensor& w) {
    const double delta = w.abs().max().item<double>() / 7.0;
    const torch::Tensor scaled = w / delta;
    const torch::Tensor rounded = torch::sign(scaled) * torch::floor(scaled.abs() + 0.5);
    return rounded.clamp(-8, 7) * delta;
  };
  const torch::Tensor conv_w = hand_qdq(weight_of("conv")), head_w = hand_qdq(weight_of("head"));
  EXPECT_TRUE(torch::allclose(sim.weights_model()->Submodule("conv").attr("weight").toTensor(), conv_w, 0, 1e-7));
  EXPECT_TRUE(torch::allclose(sim.weights_model()->Submodule("head").attr("weight").toTensor(), head_w, 0, 1e-7));
  // Biases stay float.
  EXPECT_TRUE(torch::equal(sim.weights_model()->Submodule("conv").attr("bias").toTensor(), bias_of("conv")));

  // Activation encodings: TF min/max of each point over the calibration set, asymmetric 8-bit.
  const auto& q = sim.quantizers();
  const torch::Tensor all = calibration.input();
  EXPECT_EQ(q[0].encoding, EncodingFromMinMax(all.min().item<double>(), all.max().item<double>(), GridSpec{8, false}));

  const torch::Tensor x = torch::randn({5, 2, 16});
  torch::Tensor h = FakeQuant(x, q[0].encoding);
  h = FakeQuant(torch::conv1d(h, conv_w, bias_of("conv")), q[1].encoding);
  h = FakeQuant(torch::sigmoid(h), q[2].encoding);
  h = FakeQuant(torch::linear(h.flatten(1), head_w, bias_of("head")), q[3].encoding);
  EXPECT_TRUE(torch::allclose(sim.Forward(x), h, 0, 1e-6)) << sim.Forward(x) - h;
}

TEST(QuantSimTest, SupergroupsQuantizeOnlyTheirLastOutput) {
  auto fp = Load("tests/models/mixed_traced.pt");
  QuantSim sim(fp, model::DiscoverLayers(*fp), QuantSimConfig{});
  // stem+relu6, dw+relu and add+relu are supergroups (only the ReLU output is quantized); pw feeds
  // the add (Conv+Add is no supergroup), and fc1 is followed by GELU (no supergroup either), so both keep
  // their own output quantizer, as does the transposed conv; so does the mean over H, W (AIMET's preparer
  // makes a Mean module of it, typed ReduceMean: the default config's "Mean", ONNX's element-wise mean of
  // several tensors, is another op).
  EXPECT_EQ(Names(sim), (std::vector<std::string>{"input", "stem.relu6", "dw.relu", "pw", "relu_0", "up",
                                                  "mean_0", "fc1", "fc1.gelu", "fc2"}));
}

TEST(QuantSimTest, EachQuantizerNamesTheModuleAimetsTorchLayoutKeysItBy) {
  // torchvision's ResNet: nn.ReLU / nn.MaxPool2d / nn.AdaptiveAvgPool2d modules are keyed by their
  // paths; a block's ReLU module runs twice (its second call is the copy AIMET's model preparer makes,
  // module_relu_1); the model input is the input of the module that reads it; layers are their own modules.
  for (const char* path : {"tests/models/tv_resnet_scripted.pt", "tests/models/tv_resnet_traced.pt"}) {
    SCOPED_TRACE(path);
    auto fp = Load(path);
    QuantSim sim(fp, model::DiscoverLayers(*fp), QuantSimConfig{});
    std::map<std::string, std::pair<std::string, bool>> module_of;
    for (const auto& quantizer : sim.quantizers()) module_of[quantizer.name] = {quantizer.module, quantizer.module_input};
    using Key = std::pair<std::string, bool>;
    EXPECT_EQ(module_of.at("input"), Key("conv1", true));
    EXPECT_EQ(module_of.at("conv1.relu"), Key("relu", false));
    EXPECT_EQ(module_of.at("max_pool2d_0"), Key("maxpool", false));
    EXPECT_EQ(module_of.at("layer1.0.conv1.relu"), Key("layer1.0.relu", false));
    EXPECT_EQ(module_of.at("layer1.0.conv2"), Key("layer1.0.conv2", false));
    EXPECT_EQ(module_of.at("relu_0"), Key("layer1.0.module_relu_1", false));  // AIMET's copy for the second call
    EXPECT_EQ(module_of.at("adaptive_avg_pool2d_0"), Key("avgpool", false));
    EXPECT_EQ(module_of.at("fc"), Key("fc", false));
  }
  // Functional ops (F.relu6, F.relu, x + y) are the modules AIMET's model preparer makes of them,
  // module_<torch.fx node name> (the add before a ReLU is not quantized: an Add + Relu supergroup).
  auto mixed = Load("tests/models/mixed_traced.pt");
  QuantSim sim(mixed, model::DiscoverLayers(*mixed), QuantSimConfig{});
  std::vector<std::string> modules;
  for (const auto& quantizer : sim.quantizers()) modules.push_back(quantizer.module);
  EXPECT_EQ(modules, (std::vector<std::string>{"stem", "module_relu6", "module_relu", "pw", "module_relu_1", "up",
                                               "module_mean", "fc1", "module_gelu", "fc2"}));
}

TEST(QuantSimTest, TransformerOpsHaveTheModulesAimetsPreparerMakesAndTracedSizeArithmeticHasNone) {
  // The test ViT (tests/models/make_transformer_models.py), scripted and traced: the same quantizers on
  // the same modules: LayerNorm and GELU modules, the attention's q·scale, both matmuls and softmax as
  // the modules AIMET's preparer makes of them, cat and the residual adds. The traced model computes
  // `c // heads` on tensors (prim::NumToTensor and a 0-D integer tensor constant): integers, no quantizer.
  std::vector<std::vector<std::string>> modules;
  for (const char* path : {"tests/models/vit_tiny_scripted.pt", "tests/models/vit_tiny_traced.pt"}) {
    auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath(path), {1, 3, 16, 16}), {1, 3, 16, 16});
    QuantSim sim(fp, model::DiscoverLayers(*fp), QuantSimConfig{});
    modules.emplace_back();
    for (const auto& quantizer : sim.quantizers()) modules.back().push_back(quantizer.module);
  }
  EXPECT_EQ(modules[0], modules[1]);
  ASSERT_EQ(modules[0].size(), 32u);
  EXPECT_EQ(std::vector<std::string>(modules[0].begin(), modules[0].begin() + 4),
            (std::vector<std::string>{"patch_embed", "patch_embed", "module_cat", "module_add"}));  // input, conv, cat, + pos
  const std::vector<std::string> block0(modules[0].begin() + 4, modules[0].begin() + 18);
  EXPECT_EQ(block0, (std::vector<std::string>{"blocks.0.norm1", "blocks.0.attn.qkv", "blocks.0.attn.module_mul",
                                              "blocks.0.attn.module_matmul", "blocks.0.attn.module_softmax",
                                              "blocks.0.attn.module_matmul_1", "blocks.0.attn.proj",
                                              "blocks.0.module_add_1", "blocks.0.norm2", "blocks.0.mlp.fc1",
                                              "blocks.0.mlp.act", "blocks.0.mlp.fc2", "blocks.0.module_add_2",
                                              "blocks.1.norm1"}));
}

TEST(QuantSimTest, OpsNoQuantizerCoversAreListedWithTheirReason) {
  // erf and sqrt hold float values no rule of adaflow quantizes: listed, never silently float. Data
  // movement (view, transpose), integer values (argmax) and quantized ops (mul, softmax) are not.
  torch::jit::Module module("LeftFloat");
  module.define(R"(
def forward(self, x):
    y = torch.erf(x).sqrt().view(x.size(0), -1).transpose(0, 1)
    k = y.argmax(dim=0)
    return torch.softmax(y * 2.0, dim=0) + k.unsqueeze(0).float()
)");
  const model::Model model(module, "left_float");
  const auto left = OpsLeftFloat(model);
  std::vector<std::string> ops;
  for (const auto& op : left) ops.push_back(op.op);
  EXPECT_EQ(ops, (std::vector<std::string>{"aten::erf", "aten::sqrt"}));
  ASSERT_FALSE(left.empty());
  EXPECT_NE(left[0].reason.find("no quantizer rule for aten::erf"), std::string::npos) << left[0].reason;
  for (const char* path : {"tests/models/vit_tiny_scripted.pt", "tests/models/vit_tiny_traced.pt",
                           "tests/models/encoder_tiny_traced.pt", "tests/models/tv_mobilenet_v2_scripted.pt"}) {
    const auto listed = OpsLeftFloat(*Load(path));
    EXPECT_TRUE(listed.empty()) << path << ": " << (listed.empty() ? "" : listed[0].op);
  }
}

TEST(QuantSimTest, ALayerCalledTwiceHasTwoQuantizersOfDifferentNamesAndModules) {
  torch::manual_seed(0);
  torch::jit::Module fc("torch.nn.modules.linear.Linear");  // a torch.nn leaf module, as torch.fx sees it
  fc.register_parameter("weight", torch::randn({4, 4}), false);
  fc.register_parameter("bias", torch::randn({4}), false);
  fc.define("def forward(self, x):\n    return torch.linear(x, self.weight, self.bias)\n");
  torch::jit::Module root("Twice");
  root.register_module("fc", fc);
  root.define("def forward(self, x):\n    return self.fc.forward(torch.sigmoid(self.fc.forward(x)))\n");
  auto model = std::make_shared<model::Model>(root, "twice");
  const auto layers = model::DiscoverLayers(*model);
  QuantSim sim(model, layers, QuantSimConfig{});
  std::vector<std::string> modules;
  for (const auto& quantizer : sim.quantizers()) modules.push_back(quantizer.module);
  // The model input is fc's input; the second call is AIMET's copy of fc (module_fc_1), F.sigmoid the
  // module made of it.
  EXPECT_EQ(Names(sim), (std::vector<std::string>{"input", "fc", "fc.sigmoid", "fc_1"}));
  EXPECT_EQ(modules, (std::vector<std::string>{"fc", "fc", "module_sigmoid", "module_fc_1"}));
  EXPECT_TRUE(sim.quantizers().front().module_input);
}

TEST(QuantSimTest, SupergroupsAreExactlyTheDefaultConfigsAndAConstantClampIsAClip) {
  // AIMET's default config fuses Conv+Relu, ConvTranspose+Relu, Conv+Clip, Add+Relu, Gemm+Relu and
  // nothing else. c8 is followed by clamp(0, 6) and c9 by clamp(-1, 1): Conv+Clip, so only the clamp's
  // output is quantized. Every other activation here is not a supergroup tail: conv and activation
  // outputs are both quantized.
  for (const char* path : {"tests/models/activations_scripted.pt", "tests/models/activations_traced.pt"}) {
    auto fp = Load(path);
    const QuantSim sim(fp, model::DiscoverLayers(*fp), QuantSimConfig{});
    const auto names = Names(sim);
    auto has = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) != names.end(); };
    EXPECT_FALSE(has("c8")) << path;
    EXPECT_TRUE(has("c8.relu6")) << path;
    EXPECT_FALSE(has("c9")) << path;
    EXPECT_TRUE(has("c9.hardtanh")) << path;
    for (const char* name : {"c0", "c0.leaky_relu", "c1", "c1.prelu", "c5", "c5.gelu", "c11", "c11.softmax", "head"})
      EXPECT_TRUE(has(name)) << path << ": " << name;
  }
}

TEST(QuantSimTest, FloatBitwidthsLeaveThatSideAlone) {
  auto fp = Load("tests/models/mixed_scripted.pt");
  const auto layers = model::DiscoverLayers(*fp);
  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({3, 3, 8, 8});
  QuantSimConfig float_everything;
  float_everything.output_bw = 32;
  float_everything.param_bw = 32;
  QuantSim identity(fp, layers, float_everything);
  EXPECT_TRUE(identity.quantizers().empty());
  EXPECT_TRUE(torch::allclose(identity.Forward(x), fp->Forward(x), 0, 1e-6));

  QuantSimConfig weights_only;  // W4, activations float
  weights_only.output_bw = 32;
  QuantSim w4(fp, layers, weights_only);
  EXPECT_TRUE(torch::allclose(w4.Forward(x), w4.weights_model()->Forward(x), 0, 1e-6));
  EXPECT_FALSE(torch::allclose(w4.Forward(x), fp->Forward(x), 0, 1e-3));
}

TEST(QuantSimTest, PerChannelUsesTheOutputChannelAxis) {
  auto fp = Load("tests/models/mixed_traced.pt");
  QuantSimConfig config;
  config.param.per_channel = true;
  QuantSim sim(fp, model::DiscoverLayers(*fp), config);
  EXPECT_EQ(sim.param_encodings().at("stem").channels.size(), 8u);
  EXPECT_EQ(sim.param_encodings().at("up").channels.size(), 4u);  // ConvTranspose2d [8, 4, 2, 2]: axis 1
  EXPECT_EQ(sim.param_encodings().at("up").axis, 1);
}

TEST(QuantSimTest, OverridesAndFrozenEncodingsAreChecked) {
  auto fp = Load("tests/models/mixed_traced.pt");
  const auto layers = model::DiscoverLayers(*fp);
  QuantSimConfig config;
  config.param_bw_override = {{"fc2", 8}};
  QuantSim sim(fp, layers, config);
  EXPECT_EQ(sim.param_encodings().at("fc2").channels[0].bitwidth, 8);
  EXPECT_EQ(sim.param_encodings().at("fc1").channels[0].bitwidth, 4);
  config.param_bw_override = {{"fc3", 8}};
  EXPECT_THROW(QuantSim(fp, layers, config), InputError);

  ParamEncodings frozen = sim.param_encodings();
  frozen["stem"].axis_is_channel = true;  // 1 encoding for 8 channels
  EXPECT_THROW(QuantSim(fp, layers, QuantSimConfig{}, frozen), InputError);
  ParamEncodings unknown{{"nope", sim.param_encodings().at("fc1")}};
  EXPECT_THROW(QuantSim(fp, layers, QuantSimConfig{}, unknown), InputError);
}

}  // namespace
}  // namespace adaflow::quant

namespace adaflow::quant {
namespace {

QuantSimConfig WithConfigFile(const std::string& name) {
  QuantSimConfig config;
  config.rules = ReadQuantsimConfig(SourcePath("configs/quantsim/" + name));
  return config;
}

std::vector<std::string> Ops(const QuantSim& sim) {
  std::vector<std::string> ops;
  for (const auto& quantizer : sim.quantizers()) ops.push_back(quantizer.op);
  return ops;
}

bool Has(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

TEST(QuantSimConfigFileTest, TheHtpConfigLeavesMaxPoolFloatFixesSigmoidAndSoftmaxAndGroupsConvHardSwish) {
  auto resnet = Load("tests/models/tv_resnet_scripted.pt");
  const auto resnet_layers = model::DiscoverLayers(*resnet);
  EXPECT_TRUE(Has(Ops(QuantSim(resnet, resnet_layers, QuantSimConfig{})), "aten::max_pool2d"));
  EXPECT_FALSE(Has(Ops(QuantSim(resnet, resnet_layers, WithConfigFile("htp_quantsim_config_v73.json"))),
                   "aten::max_pool2d"));

  // conv (Conv1d) -> sigmoid: the sigmoid's grid is [0, 1] whatever the data says.
  auto conv1d = Load("tests/models/conv1d_scripted.pt");
  QuantSim htp(conv1d, model::DiscoverLayers(*conv1d), WithConfigFile("htp_quantsim_config_v73.json"));
  torch::manual_seed(3);
  htp.Calibrate(data::Dataset("calibration", 5.0 * torch::randn({32, 2, 16}), torch::Tensor(), 16),
                Scheme::kTfEnhanced, 100.0, 0);
  bool saw_sigmoid = false;
  for (const auto& quantizer : htp.quantizers()) {
    if (quantizer.op != "aten::sigmoid") {
      EXPECT_FALSE(quantizer.fixed_range.has_value()) << quantizer.name;
      continue;
    }
    saw_sigmoid = true;
    ASSERT_TRUE(quantizer.fixed_range.has_value());
    EXPECT_EQ(quantizer.encoding.offset, 0);
    EXPECT_DOUBLE_EQ(quantizer.encoding.min, 0.0);
    EXPECT_NEAR(quantizer.encoding.max, 1.0, 1e-6);
    EXPECT_NEAR(quantizer.encoding.scale, 1.0 / 255.0, 1e-9);
  }
  EXPECT_TRUE(saw_sigmoid);

  // Conv + HardSwish is an HTP supergroup, not a default one: only the hardswish output is quantized.
  auto activations = Load("tests/models/activations_scripted.pt");
  const auto activation_layers = model::DiscoverLayers(*activations);
  const auto by_default = Names(QuantSim(activations, activation_layers, QuantSimConfig{}));
  const auto by_htp = Names(QuantSim(activations, activation_layers, WithConfigFile("htp_quantsim_config_v73.json")));
  EXPECT_TRUE(Has(by_default, "c3"));
  EXPECT_FALSE(Has(by_htp, "c3"));
  EXPECT_TRUE(Has(by_htp, "c3.hardswish"));
  EXPECT_TRUE(Has(by_htp, "c2"));  // Conv + ELU is no supergroup in either
}

TEST(QuantSimConfigFileTest, ThePerChannelConfigKeepsLinearLayersPerTensor) {
  auto fp = Load("tests/models/mixed_traced.pt");
  const QuantSim sim(fp, model::DiscoverLayers(*fp), WithConfigFile("default_config_per_channel.json"));
  EXPECT_EQ(sim.param_encodings().at("stem").channels.size(), 8u);
  EXPECT_TRUE(sim.param_encodings().at("stem").axis_is_channel);
  EXPECT_EQ(sim.param_encodings().at("up").channels.size(), 4u);  // ConvTranspose2d: axis 1
  EXPECT_EQ(sim.param_encodings().at("up").axis, 1);
  for (const char* linear : {"fc1", "fc2"}) {
    EXPECT_EQ(sim.param_encodings().at(linear).channels.size(), 1u) << linear;
    EXPECT_FALSE(sim.param_encodings().at(linear).axis_is_channel) << linear;
  }
}

TEST(QuantSimConfigFileTest, IsInputQuantizedQuantizesAnOpsInputsAndWeightsTheConfigLeavesAloneStayFloat) {
  const std::string text = R"({"defaults": {"ops": {}, "params": {"is_quantized": "True", "is_symmetric": "True"}},
    "params": {}, "supergroups": [], "model_input": {}, "model_output": {},
    "op_type": {"Add": {"is_input_quantized": "True", "is_symmetric": "True"},
                "Gemm": {"params": {"weight": {"is_quantized": "False"}}}}})";
  QuantSimConfig config;
  config.rules = ParseQuantsimConfig(text, "inline.json");
  auto fp = Load("tests/models/mixed_scripted.pt");
  QuantSim sim(fp, model::DiscoverLayers(*fp), config);
  // mixed: relu(pw(y) + stem): the add's two inputs, and nothing else (no output is quantized).
  ASSERT_EQ(sim.quantizers().size(), 2u);
  for (const auto& quantizer : sim.quantizers()) {
    EXPECT_EQ(quantizer.op, "aten::add");
    EXPECT_TRUE(quantizer.module_input);
    EXPECT_TRUE(quantizer.grid.symmetric) << quantizer.name;  // the Add entry's is_symmetric
  }
  EXPECT_NE(sim.quantizers()[0].value.node, sim.quantizers()[1].value.node);
  // Linear layers' weights are left float by the Gemm entry; convolutions are quantized.
  EXPECT_EQ(sim.param_encodings().count("fc1"), 0u);
  EXPECT_EQ(sim.param_encodings().count("fc2"), 0u);
  EXPECT_EQ(sim.param_encodings().count("stem"), 1u);
  EXPECT_TRUE(torch::equal(sim.weights_model()->Submodule("fc1").attr("weight").toTensor(),
                           fp->Submodule("fc1").attr("weight").toTensor()));
}

/// norm_ops (tests/models/make_test_models.py), loaded with its input shape: a scripted model's branches on
/// a tensor's rank (F.interpolate, InstanceNorm) fold only when the shape is known.
std::shared_ptr<const model::Model> LoadNormOps(const std::string& form) {
  return model::FoldBatchNorm(*model::Model::Load(SourcePath("tests/models/norm_ops_" + form + ".pt"), {2, 3, 8, 8}));
}

torch::Tensor Param(const model::Model& model, const std::string& key) {
  const auto dot = key.rfind('.');
  return model.Submodule(key.substr(0, dot)).attr(key.substr(dot + 1)).toTensor();
}

TEST(QuantSimModuleParamsTest, EveryParameterButBiasesIsQuantizedOnTheGridTheDefaultConfigGives) {
  for (const char* form : {"scripted", "traced"}) {
    SCOPED_TRACE(form);
    auto fp = LoadNormOps(form);
    QuantSimConfig config;
    config.param.quant_scheme = Scheme::kTf;
    const QuantSim sim(fp, model::DiscoverLayers(*fp), config);
    std::vector<std::string> keys;
    for (const auto& [key, encoding] : sim.module_param_encodings()) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"emb.weight", "gn.weight", "inorm.weight", "ln.weight", "prelu.weight"}));
    // 4-bit signed symmetric per tensor on max |w| (the TF scheme): Δ = max|w| / 7, rounded half away from zero.
    for (const std::string& key : keys) {
      const torch::Tensor w = Param(*fp, key);
      const double delta = w.abs().max().item<double>() / 7.0;
      const torch::Tensor scaled = w / delta;
      const torch::Tensor expected = (torch::sign(scaled) * torch::floor(scaled.abs() + 0.5)).clamp(-8, 7) * delta;
      EXPECT_TRUE(torch::allclose(Param(*sim.weights_model(), key), expected, 0, 1e-6)) << key;
      EXPECT_FALSE(torch::equal(Param(*sim.weights_model(), key), w)) << key;
      EXPECT_EQ(sim.module_param_encodings().at(key).channels.at(0).bitwidth, 4) << key;
    }
    // Biases stay float (the default config's "params": {"bias": {"is_quantized": "False"}}), and the model
    // the quant-sim was given is left alone.
    for (const char* bias : {"gn.bias", "inorm.bias", "ln.bias"})
      EXPECT_TRUE(torch::equal(Param(*sim.weights_model(), bias), Param(*fp, bias))) << bias;
    EXPECT_FALSE(torch::equal(Param(*sim.weights_model(), "ln.weight"), Param(*fp, "ln.weight")));
    // The quant-sim's forward reads them: its output differs from one whose only quantized tensors are the layers'.
    QuantSimConfig weights_only = config;
    weights_only.output_bw = 32;
    const QuantSim sim_w(fp, model::DiscoverLayers(*fp), weights_only);
    const torch::Tensor x = torch::randn({2, 3, 8, 8}, torch::Generator(at::detail::createCPUGenerator(5)));
    const torch::Tensor with_params = sim_w.Forward(x);
    auto layers_only = fp->Clone();
    for (const auto& [layer, encoding] : sim_w.param_encodings())
      layers_only->Submodule(layer).setattr("weight", Param(*sim_w.weights_model(), layer + ".weight"));
    EXPECT_FALSE(torch::allclose(with_params, layers_only->Forward(x), 1e-4, 1e-5));
    for (const auto& [key, encoding] : sim_w.module_param_encodings()) {
      const auto dot = key.rfind('.');
      layers_only->Submodule(key.substr(0, dot)).setattr(key.substr(dot + 1), Param(*sim_w.weights_model(), key));
    }
    EXPECT_TRUE(torch::allclose(with_params, layers_only->Forward(x), 1e-6, 1e-6));
  }
}

TEST(QuantSimModuleParamsTest, TheHtpAndPerChannelConfigsDecideTheirGridsByOpType) {
  auto fp = LoadNormOps("scripted");
  const auto layers = model::DiscoverLayers(*fp);
  // HTP v73: per channel by default, but not for GroupNormalization / LayerNormalization / InstanceNormalization
  // / Gather; GroupNormalization's bias quantized; LayerNormalization's weight asymmetric.
  const QuantSim htp(fp, layers, WithConfigFile("htp_quantsim_config_v73.json"));
  const auto& params = htp.module_param_encodings();
  for (const char* key : {"gn.weight", "gn.bias", "inorm.weight", "ln.weight", "emb.weight"}) {
    ASSERT_TRUE(params.count(key)) << key;
    EXPECT_FALSE(params.at(key).axis_is_channel) << key;
  }
  EXPECT_EQ(params.count("ln.bias"), 0u);
  EXPECT_EQ(params.at("prelu.weight").channels.size(), 8u);  // PRelu: the default, per channel (one per slope)
  EXPECT_FALSE(params.at("ln.weight").channels[0].symmetric);
  EXPECT_TRUE(params.at("gn.weight").channels[0].symmetric);
  // AIMET's per-channel config: LayerNorm per tensor, the others per channel along axis 0.
  const QuantSim per_channel(fp, layers, WithConfigFile("default_config_per_channel.json"));
  EXPECT_EQ(per_channel.module_param_encodings().at("ln.weight").channels.size(), 1u);
  EXPECT_EQ(per_channel.module_param_encodings().at("gn.weight").channels.size(), 8u);
  EXPECT_EQ(per_channel.module_param_encodings().at("emb.weight").channels.size(), 8u);  // one grid per row
}

TEST(QuantSimModuleParamsTest, AnUnfoldedBatchNormsWeightIsQuantizedAndFrozenEncodingsAreChecked) {
  // bn_fold: bn_c, bn_d, tok_bn and up_g_bn stay after folding; their weights are quantized, their
  // running statistics (buffers, not parameters) are not.
  auto fp = model::FoldBatchNorm(*model::Model::Load(SourcePath("tests/models/bn_fold_scripted.pt"), {2, 3, 8, 8}));
  const auto layers = model::DiscoverLayers(*fp);
  const QuantSim sim(fp, layers, QuantSimConfig{});
  std::vector<std::string> keys;
  for (const auto& [key, encoding] : sim.module_param_encodings()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"bn_c.weight", "bn_d.weight", "tok_bn.weight", "up_g_bn.weight"}));
  // Frozen encodings for another module's parameter are used as given; a wrong channel count or an
  // unknown key is an error naming it.
  ParamEncodings frozen{{"bn_c.weight", sim.module_param_encodings().at("bn_c.weight")}};
  frozen.at("bn_c.weight").channels[0].scale *= 2.0;
  frozen.at("bn_c.weight").channels[0].min *= 2.0;
  frozen.at("bn_c.weight").channels[0].max *= 2.0;
  const QuantSim thawed(fp, layers, QuantSimConfig{}, frozen);
  EXPECT_DOUBLE_EQ(thawed.module_param_encodings().at("bn_c.weight").channels[0].scale,
                   frozen.at("bn_c.weight").channels[0].scale);
  EXPECT_TRUE(torch::equal(Param(*thawed.weights_model(), "bn_c.weight"),
                           QuantizeDequantize(Param(*fp, "bn_c.weight"), frozen.at("bn_c.weight"))));
  ParamEncodings wrong = frozen;
  wrong.at("bn_c.weight").axis_is_channel = true;
  wrong.at("bn_c.weight").channels.resize(3, wrong.at("bn_c.weight").channels[0]);
  const std::string channels = ErrorMessage<InputError>([&] { QuantSim(fp, layers, QuantSimConfig{}, wrong); });
  EXPECT_NE(channels.find("'bn_c.weight' have 3 channels; the parameter has 8"), std::string::npos) << channels;
  const ParamEncodings buffer{{"bn_c.running_mean", frozen.at("bn_c.weight")}};
  const std::string unknown = ErrorMessage<InputError>([&] { QuantSim(fp, layers, QuantSimConfig{}, buffer); });
  EXPECT_NE(unknown.find("'bn_c.running_mean', which is neither a quantizable layer nor a parameter"), std::string::npos)
      << unknown;
  // A parameter left float by name.
  QuantSimConfig left;
  left.float_params = {"bn_d.weight"};
  EXPECT_EQ(QuantSim(fp, layers, left).module_param_encodings().count("bn_d.weight"), 0u);
}

TEST(QuantSimActivationsTest, OpsAnAimetPreparedModelQuantizesHaveOutputQuantizersKeyedByItsModules) {
  // GroupNorm, InstanceNorm, PReLU, tensor–scalar * and +, F.interpolate, pow, mean, rsqrt, LayerNorm, exp:
  // each output is quantized, keyed by the module AIMET's preparer makes of it (tests/data/
  // aimet_module_names.json lists them). The Embedding's output is not (the default config: Gather
  // is_output_quantized False), nor are integer values (argmax, % 8).
  const std::vector<std::string> modules = {
      "conv", "gn", "inorm", "prelu", "module_mul", "module_add", "module_interpolate", "conv2", "module_pow_1",
      "module_mean", "module_add_1", "module_rsqrt", "module_mul_1", "module_mean_1", "ln", "module_mul_2",
      "module_exp", "module_add_2", "fc"};
  for (const char* form : {"scripted", "traced"}) {
    SCOPED_TRACE(form);
    auto fp = LoadNormOps(form);
    const QuantSim sim(fp, model::DiscoverLayers(*fp), QuantSimConfig{});
    std::vector<std::string> outputs;
    for (const auto& quantizer : sim.quantizers())
      if (!quantizer.module_input) outputs.push_back(quantizer.module);
    EXPECT_EQ(outputs, modules);
    EXPECT_EQ(sim.quantizers().front().module, "conv");  // the model input: conv's input
    EXPECT_TRUE(sim.quantizers().front().module_input);
    // Calibrated and run: finite outputs within the fp model's reach.
    QuantSim calibrated(fp, model::DiscoverLayers(*fp), QuantSimConfig{});
    torch::manual_seed(11);
    const torch::Tensor x = torch::randn({16, 3, 8, 8});
    calibrated.Calibrate(data::Dataset("calibration", x, torch::Tensor(), 8), Scheme::kTfEnhanced, 100.0, 0);
    const torch::Tensor fp_out = fp->Forward(x), q_out = calibrated.Forward(x);
    EXPECT_TRUE(torch::isfinite(q_out).all().item<bool>());
    EXPECT_LT((q_out - fp_out).norm().item<double>(), 0.25 * fp_out.norm().item<double>());
  }
}

}  // namespace
}  // namespace adaflow::quant
