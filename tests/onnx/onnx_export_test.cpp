// ONNX export checked from outside: ONNX Runtime (npm's onnxruntime-node, installed by
// scripts/setup-onnxruntime.sh) runs the exported files through tests/onnx/ort_run.js, and its outputs
// are compared with the TorchScript model (float export) and the quant-sim (QDQ export).

#include "src/io/onnx/onnx_export.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "src/data/dataset.h"
#include "src/model/batch_norm_fold.h"
#include "src/model/layers.h"
#include "src/model/model.h"
#include "src/quant/quant_sim.h"
#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

constexpr const char* kTrainImages = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
constexpr const char* kTestImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
constexpr const char* kTestLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

std::shared_ptr<data::Dataset> Fmnist(const char* images, const char* labels, int samples) {
  data::IdxDataOptions options;
  options.images = images;
  if (labels) options.labels = labels;
  options.num_samples = samples;
  options.scale = 1.0 / 255.0;
  return data::LoadIdx("test", options);
}

/// ONNX Runtime's output for `input` (float32, any shape) on the model in `onnx_bytes`.
/// The output ort_run.js wrote to `path`, of the shape it printed (`{"shape":[…]}`).
torch::Tensor ReadOrtOutput(const std::string& path, const std::string& printed) {
  const std::string bytes = ReadTextFile(path);
  const auto begin = printed.find('['), end = printed.find(']');
  std::vector<std::int64_t> shape;
  std::stringstream text(printed.substr(begin + 1, end - begin - 1));
  for (std::string item; std::getline(text, item, ',');) shape.push_back(std::stoll(item));
  torch::Tensor output = torch::empty(shape, torch::kFloat32);
  EXPECT_EQ(static_cast<std::size_t>(output.nbytes()), bytes.size());
  std::memcpy(output.data_ptr(), bytes.data(), std::min<std::size_t>(bytes.size(), output.nbytes()));
  return output;
}

torch::Tensor RunOnnxRuntime(const std::string& onnx_bytes, const torch::Tensor& input) {
  TempDir dir;
  WriteTextFile(dir / "model.onnx", onnx_bytes);
  const torch::Tensor data = input.to(torch::kFloat32).contiguous();
  WriteTextFile(dir / "input.f32", std::string(static_cast<const char*>(data.data_ptr()), data.nbytes()));
  std::string dims;
  for (auto size : data.sizes()) dims += " " + std::to_string(size);
  const CommandResult result = RunCommand("NODE_PATH=" ADAFLOW_ORT_NODE_PATH " node " + SourcePath("tests/onnx/ort_run.js") +
                                          " " + (dir / "model.onnx") + " " + (dir / "input.f32") + " " +
                                          (dir / "output.f32") + dims);
  if (result.exit_code != 0) throw std::runtime_error("ONNX Runtime failed: " + result.output);
  return ReadOrtOutput(dir / "output.f32", result.output);
}

/// max |a − b| / max |b|
double RelativeError(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

onnx::ModelProto Parse(const std::string& bytes) {
  onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(bytes));
  return proto;
}

struct Prepared {
  std::shared_ptr<model::Model> model;
  model::LayerGraph layers;
};

Prepared Prepare(const std::string& path, const std::vector<std::int64_t>& input_shape) {
  Prepared out;
  out.model = model::FoldBatchNorm(*model::Model::Load(SourcePath(path), input_shape), input_shape);
  out.layers = model::DiscoverLayers(*out.model);
  return out;
}

TEST(OnnxExportTest, TheFloatModelGivesTheTorchScriptModelsOutputsInOnnxRuntime) {
  const Prepared example = Prepare("examples/models/resnet8_fmnist.pt", {1, 1, 28, 28});
  const io::OnnxExport exported = io::ExportOnnx(*example.model, example.layers, {1, 1, 28, 28}, nullptr, "resnet8");
  const onnx::ModelProto proto = Parse(exported.bytes);
  onnx::checker::check_model(proto);  // throws when the file is not valid ONNX
  EXPECT_EQ(proto.opset_import(0).version(), 13);
  // Every layer's weight is an initializer named by its module path.
  std::set<std::string> initializers;
  for (const auto& initializer : proto.graph().initializer()) initializers.insert(initializer.name());
  ASSERT_EQ(exported.weight_initializers.size(), example.layers.layers.size());
  for (const auto& layer : example.layers.layers) {
    EXPECT_EQ(exported.weight_initializers.at(layer.name), layer.name + ".weight");
    EXPECT_TRUE(initializers.count(layer.name + ".weight")) << layer.name;
  }
  const torch::Tensor input = Fmnist(kTestImages, nullptr, 250)->input();
  const torch::Tensor expected = example.model->Forward(input);
  const torch::Tensor got = RunOnnxRuntime(exported.bytes, input);
  ASSERT_EQ(got.sizes(), expected.sizes());
  std::cout << "float ONNX vs TorchScript, 250 samples: relative error " << RelativeError(got, expected) << "\n";
  EXPECT_LT(RelativeError(got, expected), 1e-4);
}

TEST(OnnxExportTest, TheQdqModelGivesTheQuantSimsAccuracyAndNamesEveryQuantizedTensor) {
  const Prepared example = Prepare("examples/models/resnet8_fmnist.pt", {1, 1, 28, 28});
  quant::QuantSimConfig config;
  config.param_bw_override = {{"fc", 8}};
  quant::QuantSim sim(example.model, example.layers, config);
  sim.Calibrate(*Fmnist(kTrainImages, nullptr, 512), quant::Scheme::kTfEnhanced, 100.0, 0);
  io::OnnxQuantization quantization{sim.param_encodings(), sim.quantizers(), /*qdq=*/true};
  const io::OnnxExport exported =
      io::ExportOnnx(*sim.weights_model(), example.layers, {1, 1, 28, 28}, &quantization, "resnet8_qdq");
  const onnx::ModelProto proto = Parse(exported.bytes);
  onnx::checker::check_model(proto);
  // One QuantizeLinear per activation quantizer, one DequantizeLinear more per quantized weight.
  int quantize = 0, dequantize = 0;
  std::set<std::string> tensors;
  for (const auto& node : proto.graph().node()) {
    quantize += node.op_type() == "QuantizeLinear";
    dequantize += node.op_type() == "DequantizeLinear";
    for (const auto& output : node.output()) tensors.insert(output);
  }
  EXPECT_EQ(quantize, static_cast<int>(sim.quantizers().size()));
  EXPECT_EQ(dequantize, static_cast<int>(sim.quantizers().size() + sim.param_encodings().size()));
  ASSERT_EQ(exported.activation_tensors.size(), sim.quantizers().size());
  for (const auto& [quantizer, tensor] : exported.activation_tensors)
    EXPECT_TRUE(tensor == "input" || tensors.count(tensor)) << quantizer << " -> " << tensor;
  // The names a quant-sim learns without converting anything are the export's.
  EXPECT_EQ(io::OnnxActivationTensorNames(*sim.weights_model(), sim.quantizers()), exported.activation_tensors);
  // 4-bit weights are int8 integers on their grid (symmetric: zero point 0).
  for (const auto& initializer : proto.graph().initializer()) {
    if (initializer.name() != "conv1.weight_quantized") continue;
    EXPECT_EQ(initializer.data_type(), onnx::TensorProto::INT8);
    for (char value : initializer.raw_data()) {
      EXPECT_GE(value, -8);
      EXPECT_LE(value, 7);
    }
  }

  const auto evaluation = Fmnist(kTestImages, kTestLabels, 1000);
  const torch::Tensor expected = sim.Forward(evaluation->inputs());
  const torch::Tensor got = RunOnnxRuntime(exported.bytes, evaluation->input());
  const auto top1 = [&](const torch::Tensor& logits) {
    return 100.0 * logits.argmax(1).eq(evaluation->labels()).sum().item<double>() / 1000.0;
  };
  EXPECT_NEAR(top1(got), top1(expected), 0.3) << "ONNX Runtime " << top1(got) << ", quant-sim " << top1(expected);
  const double agree = 100.0 * got.argmax(1).eq(expected.argmax(1)).sum().item<double>() / 1000.0;
  std::cout << "QDQ ONNX in ONNX Runtime top-1 " << top1(got) << ", quant-sim " << top1(expected) << ", same class on "
            << agree << " % of 1000 samples\n";
  EXPECT_GE(agree, 99.0);
}

TEST(OnnxExportTest, ScriptedAndTracedTestModelsConvert) {
  struct Case {
    const char* path;
    std::vector<std::int64_t> shape;
  };
  for (const Case& item : {Case{"tests/models/mixed_scripted.pt", {2, 3, 8, 8}}, Case{"tests/models/mixed_traced.pt", {2, 3, 8, 8}},
                           Case{"tests/models/conv1d_scripted.pt", {2, 2, 16}},
                           Case{"tests/models/branchy_scripted.pt", {2, 3, 16, 16}},
                           Case{"tests/models/branchy_traced.pt", {2, 3, 16, 16}},
                           // silu, hardswish, cat, permute with a negative dim, linear on 4-D, softmax,
                           // x.view(x.size(0), -1) (traced: through prim::NumToTensor and aten::Int)
                           Case{"tests/models/ops_scripted.pt", {2, 3, 4, 4}}, Case{"tests/models/ops_traced.pt", {2, 3, 4, 4}},
                           // folded layers that gained a bias, and the BatchNorms no fold took
                           Case{"tests/models/bn_fold_scripted.pt", {2, 3, 8, 8}},
                           Case{"tests/models/bn_fold_traced.pt", {2, 3, 8, 8}},
                           Case{"tests/models/bn_fold1d_traced.pt", {2, 2, 16}}}) {
    SCOPED_TRACE(item.path);
    const Prepared prepared = Prepare(item.path, item.shape);
    const io::OnnxExport exported = io::ExportOnnx(*prepared.model, prepared.layers, item.shape, nullptr, "test");
    torch::manual_seed(0);
    const torch::Tensor input = torch::randn(item.shape);
    const torch::Tensor expected = prepared.model->Forward(input);
    EXPECT_LT(RelativeError(RunOnnxRuntime(exported.bytes, input), expected), 1e-4);
  }
}

TEST(OnnxExportTest, TorchvisionResNetAndMobileNetV2ScriptedAndTracedRunInOnnxRuntimeFloatAndQdq) {
  // torchvision's own ResNet (in-place ReLU module called twice per block, in-place residual add, max
  // pool) and MobileNetV2 (depthwise, ReLU6, inverted residuals, dropout), random weights: the float
  // file gives the TorchScript outputs; the QDQ file (W8A8; MobileNetV2 per channel) the quant-sim's.
  struct Case {
    const char* path;
    bool per_channel;
  };
  const std::vector<std::int64_t> shape{1, 3, 64, 64};
  for (const Case& item : {Case{"tests/models/tv_resnet_scripted.pt", false}, Case{"tests/models/tv_resnet_traced.pt", false},
                           Case{"tests/models/tv_mobilenet_v2_scripted.pt", true},
                           Case{"tests/models/tv_mobilenet_v2_traced.pt", true}}) {
    SCOPED_TRACE(item.path);
    const Prepared prepared = Prepare(item.path, shape);
    torch::manual_seed(0);
    const torch::Tensor calibration = torch::randn({64, 3, 64, 64});
    const torch::Tensor input = torch::randn({16, 3, 64, 64});

    const io::OnnxExport float_export = io::ExportOnnx(*prepared.model, prepared.layers, shape, nullptr, "float");
    onnx::checker::check_model(Parse(float_export.bytes));
    const double float_error = RelativeError(RunOnnxRuntime(float_export.bytes, input), prepared.model->Forward(input));
    EXPECT_LT(float_error, 1e-4);

    quant::QuantSimConfig config;
    config.param_bw = 8;
    config.param.per_channel = item.per_channel;
    quant::QuantSim sim(prepared.model, prepared.layers, config);
    sim.Calibrate(data::Dataset("calibration", calibration, torch::Tensor(), 32), quant::Scheme::kTfEnhanced, 100.0, 0);
    io::OnnxQuantization quantization{sim.param_encodings(), sim.quantizers(), /*qdq=*/true};
    const io::OnnxExport qdq_export = io::ExportOnnx(*sim.weights_model(), prepared.layers, shape, &quantization, "qdq");
    const onnx::ModelProto qdq_proto = Parse(qdq_export.bytes);
    onnx::checker::check_model(qdq_proto);
    EXPECT_EQ(io::OnnxActivationTensorNames(*sim.weights_model(), sim.quantizers()), qdq_export.activation_tensors);
    int per_channel_weights = 0;
    for (const auto& node : qdq_proto.graph().node())
      if (node.op_type() == "DequantizeLinear")
        for (const auto& attribute : node.attribute()) per_channel_weights += attribute.name() == "axis";
    EXPECT_EQ(per_channel_weights, item.per_channel ? static_cast<int>(prepared.layers.layers.size()) : 0);
    const torch::Tensor expected = sim.Forward(input);
    const torch::Tensor got = RunOnnxRuntime(qdq_export.bytes, input);
    const double qdq_error = RelativeError(got, expected);
    const double agree = 100.0 * got.argmax(1).eq(expected.argmax(1)).sum().item<double>() / input.size(0);
    std::cout << item.path << ": " << prepared.layers.layers.size() << " layers, " << sim.quantizers().size()
              << " activation quantizers; float ONNX relative error " << float_error << ", W8A8 QDQ vs quant-sim "
              << qdq_error << ", same class on " << agree << " %\n";
    EXPECT_LT(qdq_error, 0.02);
  }
}

TEST(OnnxExportTest, TransformerTestModelsRunInOnnxRuntimeFloatAndQdqAtABatchTheExportDidNotSee) {
  // tests/models/make_transformer_models.py: a timm-style ViT (flatten(2), transpose, a class token
  // expanded to the batch, cat, LayerNorm, qkv reshaped with sizes read from x.shape, unbind, @, softmax,
  // GELU, slice + select of the class token) and a BERT-style encoder (view/permute heads, torch.matmul,
  // division by √d, tanh-GELU, post-norm residuals, mean pooling; bmm and baddbmm over zeros sized
  // n·heads), scripted and traced (traced: size arithmetic on tensors). The files are made at batch 1;
  // ONNX Runtime runs them at batch 16, so every size that follows the batch must be computed there.
  struct Case {
    const char* path;
    std::vector<std::int64_t> shape;
  };
  for (const Case& item : {Case{"tests/models/vit_tiny_scripted.pt", {1, 3, 16, 16}},
                           Case{"tests/models/vit_tiny_traced.pt", {1, 3, 16, 16}},
                           Case{"tests/models/encoder_tiny_scripted.pt", {1, 12, 24}},
                           Case{"tests/models/encoder_tiny_traced.pt", {1, 12, 24}}}) {
    SCOPED_TRACE(item.path);
    const Prepared prepared = Prepare(item.path, item.shape);
    torch::manual_seed(0);
    std::vector<std::int64_t> batch = item.shape;
    batch[0] = 64;
    const torch::Tensor calibration = torch::randn(batch);
    batch[0] = 16;
    const torch::Tensor input = torch::randn(batch);

    const io::OnnxExport float_export = io::ExportOnnx(*prepared.model, prepared.layers, item.shape, nullptr, "float");
    onnx::checker::check_model(Parse(float_export.bytes));
    const double float_error = RelativeError(RunOnnxRuntime(float_export.bytes, input), prepared.model->Forward(input));
    EXPECT_LT(float_error, 1e-4);

    quant::QuantSimConfig config;
    config.param_bw = 8;
    quant::QuantSim sim(prepared.model, prepared.layers, config);
    sim.Calibrate(data::Dataset("calibration", calibration, torch::Tensor(), 32), quant::Scheme::kTfEnhanced, 100.0, 0);
    io::OnnxQuantization quantization{sim.param_encodings(), sim.quantizers(), /*qdq=*/true};
    const io::OnnxExport qdq_export = io::ExportOnnx(*sim.weights_model(), prepared.layers, item.shape, &quantization, "qdq");
    onnx::checker::check_model(Parse(qdq_export.bytes));
    // Every activation quantizer is a tensor of the file (matmul, softmax, LayerNorm, GELU outputs ...).
    EXPECT_EQ(qdq_export.activation_tensors.size(), sim.quantizers().size());
    const double qdq_error = RelativeError(RunOnnxRuntime(qdq_export.bytes, input), sim.Forward(input));
    std::cout << item.path << ": " << prepared.layers.layers.size() << " layers, " << sim.quantizers().size()
              << " activation quantizers; float ONNX relative error " << float_error << ", W8A8 QDQ vs quant-sim "
              << qdq_error << "\n";
    EXPECT_LT(qdq_error, 0.02);
  }
}

TEST(OnnxExportTest, FourBitWeightsStoredAsInt4GiveTheInt8FilesOutputsInOnnxRuntime) {
  // int4_weights: every weight of 4 bits or fewer (and its zero point) is an INT4 (signed grid) or UINT4
  // initializer, two values a byte; the file is opset 21 and its ReduceMean takes its axes as an input.
  // ONNX Runtime gives the int8 file's outputs. The example (signed per-tensor grids, fc at 8 bits stays
  // int8) and the mixed test model (asymmetric per-channel grids, a mean, a transposed conv; fc2 at 8 bits).
  struct Case {
    const char* path;
    std::vector<std::int64_t> shape;
    bool symmetric;
    const char* eight_bit;  ///< the layer kept at 8 bits
  };
  for (const Case& item : {Case{"examples/models/resnet8_fmnist.pt", {1, 1, 28, 28}, true, "fc"},
                           Case{"tests/models/mixed_scripted.pt", {2, 3, 8, 8}, false, "fc2"}}) {
    SCOPED_TRACE(item.path);
    const Prepared prepared = Prepare(item.path, item.shape);
    torch::manual_seed(0);
    std::vector<std::int64_t> batch = item.shape;
    batch[0] = 64;
    const torch::Tensor calibration = torch::rand(batch), input = torch::rand(batch);
    quant::QuantSimConfig config;
    config.param.symmetric = item.symmetric;
    config.param.per_channel = !item.symmetric;
    config.param_bw_override = {{item.eight_bit, 8}};
    quant::QuantSim sim(prepared.model, prepared.layers, config);
    sim.Calibrate(data::Dataset("calibration", calibration, torch::Tensor(), 32), quant::Scheme::kTfEnhanced, 100.0, 0);
    io::OnnxQuantization quantization{sim.param_encodings(), sim.quantizers(), /*qdq=*/true};
    const io::OnnxExport int8 = io::ExportOnnx(*sim.weights_model(), prepared.layers, item.shape, &quantization, "int8");
    quantization.int4_weights = true;
    const io::OnnxExport int4 = io::ExportOnnx(*sim.weights_model(), prepared.layers, item.shape, &quantization, "int4");

    const onnx::ModelProto proto = Parse(int4.bytes), reference = Parse(int8.bytes);
    EXPECT_EQ(proto.opset_import(0).version(), 21);
    EXPECT_EQ(proto.ir_version(), 10);
    std::map<std::string, const onnx::TensorProto*> wide;
    for (const auto& initializer : reference.graph().initializer()) wide[initializer.name()] = &initializer;
    int four_bit_weights = 0, eight_bit_weights = 0;
    for (const auto& [layer, encoding] : sim.param_encodings()) {
      const std::string name = layer + ".weight_quantized";
      const onnx::TensorProto* packed = nullptr;
      for (const auto& initializer : proto.graph().initializer())
        if (initializer.name() == name) packed = &initializer;
      ASSERT_NE(packed, nullptr) << name;
      const std::string& bytes = wide.at(name)->raw_data();
      if (encoding.channels.front().bitwidth > 4) {
        EXPECT_EQ(packed->raw_data(), bytes) << name;  // 8 bits: as in the int8 file
        ++eight_bit_weights;
        continue;
      }
      ++four_bit_weights;
      EXPECT_EQ(packed->data_type(), item.symmetric ? 22 : 21) << name;  // INT4, UINT4
      ASSERT_EQ(packed->raw_data().size(), (bytes.size() + 1) / 2) << name;
      for (std::size_t index = 0; index < bytes.size(); ++index) {
        const int nibble = (static_cast<unsigned char>(packed->raw_data()[index / 2]) >> (index % 2 ? 4 : 0)) & 0x0F;
        const int value = item.symmetric && nibble > 7 ? nibble - 16 : nibble;
        const int expected = item.symmetric ? static_cast<int>(bytes[index]) : static_cast<unsigned char>(bytes[index]);
        ASSERT_EQ(value, expected) << name << "[" << index << "]";
      }
    }
    EXPECT_GE(four_bit_weights, 3);
    EXPECT_EQ(eight_bit_weights, 1);
    for (const auto& node : proto.graph().node())
      if (node.op_type() == "ReduceMean") {
        EXPECT_EQ(node.input_size(), 2);
        EXPECT_EQ(node.attribute_size(), 1);  // keepdims
      }

    const torch::Tensor got = RunOnnxRuntime(int4.bytes, input), expected = RunOnnxRuntime(int8.bytes, input);
    const double difference = (got - expected).abs().max().item<double>();
    std::cout << item.path << ": " << four_bit_weights << " weights in INT4/UINT4, file " << int4.bytes.size()
              << " bytes (int8: " << int8.bytes.size() << "); ONNX Runtime outputs differ by at most " << difference
              << "; vs quant-sim " << RelativeError(got, sim.Forward(input)) << " relative\n";
    EXPECT_EQ(difference, 0.0);
    EXPECT_LT(int4.bytes.size(), int8.bytes.size());
  }
}

TEST(OnnxExportTest, AWeightReadTwiceIsOneInitializerAndAnInPlaceOpReachesLaterReads) {
  // One weight used by two convolutions, and a ReLU applied in place without reassigning its result.
  torch::manual_seed(0);
  torch::jit::Module module("Shared");
  module.register_parameter("w", torch::randn({4, 4, 3, 3}) * 0.3, false);
  module.register_parameter("b", torch::randn({4}) * 0.1, false);
  module.define(R"(
def forward(self, x):
    y = torch.conv2d(x, self.w, self.b, [1, 1], [1, 1], [1, 1], 1)
    y.relu_()
    z = torch.conv2d(y, self.w, self.b, [1, 1], [1, 1], [1, 1], 1)
    return z.flatten(1)
)");
  const model::Model shared(module, "shared");
  const io::OnnxExport exported = io::ExportOnnx(shared, model::LayerGraph{}, {2, 4, 6, 6}, nullptr, "shared");
  const onnx::ModelProto proto = Parse(exported.bytes);
  int weights = 0;
  for (const auto& initializer : proto.graph().initializer()) weights += initializer.name() == "w";
  EXPECT_EQ(weights, 1);
  const torch::Tensor input = torch::randn({2, 4, 6, 6});
  EXPECT_LT(RelativeError(RunOnnxRuntime(exported.bytes, input), shared.Forward(input)), 1e-4);
}

TEST(OnnxExportTest, AddmmWithATransposedWeightIsAGemm) {
  // How older exporters wrote a linear layer: addmm(bias, x, weight.t()), with beta and alpha.
  torch::manual_seed(0);
  torch::jit::Module module("Addmm");
  module.register_parameter("w", torch::randn({5, 12}), false);
  module.register_parameter("b", torch::randn({5}), false);
  module.define(R"(
def forward(self, x):
    return torch.addmm(self.b, x.flatten(1), self.w.t(), beta=0.5, alpha=2.0)
)");
  const model::Model addmm(module, "addmm");
  const io::OnnxExport exported = io::ExportOnnx(addmm, model::LayerGraph{}, {2, 3, 4}, nullptr, "addmm");
  const torch::Tensor input = torch::randn({4, 3, 4});
  const torch::Tensor expected = addmm.Forward(input);
  EXPECT_TRUE(torch::allclose(expected, 0.5 * module.attr("b").toTensor() +
                                            2.0 * input.flatten(1).matmul(module.attr("w").toTensor().t())));
  EXPECT_LT(RelativeError(RunOnnxRuntime(exported.bytes, input), expected), 1e-4);
}

TEST(OnnxExportTest, IntOfATensorIsAClearErrorNotAChangedResult) {
  // int(self.k) truncates 2.5 to 2 in TorchScript; passing the tensor through would multiply by 2.5.
  torch::jit::Module module("IntOfTensor");
  module.register_buffer("k", torch::tensor(2.5));
  module.define("def forward(self, x):\n    return x * int(self.k)\n");
  const model::Model truncating(module, "int_of_tensor");
  try {
    io::ExportOnnx(truncating, model::LayerGraph{}, {2, 3}, nullptr, "int_of_tensor");
    FAIL() << "the export did not fail";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("a number computed from a tensor at run time"), std::string::npos)
        << error.what();
  }
}

TEST(OnnxExportTest, AnOpWithoutConversionIsABadInputErrorNamingItAndItsNode) {
  // The activations test model calls one activation per conv, some of which ONNX export lacks.
  const Prepared prepared = Prepare("tests/models/activations_scripted.pt", {2, 4, 6, 6});
  try {
    io::ExportOnnx(*prepared.model, prepared.layers, {2, 4, 6, 6}, nullptr, "activations");
    FAIL() << "the export did not fail";
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("has no ONNX conversion in adaflow"), std::string::npos) << message;
    EXPECT_NE(message.find("TorchScript node"), std::string::npos) << message;
  }
}

/// The run of tests/configs/export_small.yaml that the ExportRun ctest fixture computes (formats include
/// onnx and onnx_qdq); resumed here, which computes nothing when it is complete.
std::string RunFile(const std::string& name) { return std::string(ADAFLOW_TEST_RUNS "/export_small/") + name; }

TEST(OnnxRunTest, TheExportedFilesRunInOnnxRuntimeAndTheEncodingsNameTheirTensors) {
  const CommandResult run =
      RunCli(std::string("run tests/configs/export_small.yaml --run-dir ") + ADAFLOW_TEST_RUNS "/export_small");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string float_bytes = ReadTextFile(RunFile("export_small.onnx"));
  const std::string qdq_bytes = ReadTextFile(RunFile("export_small_qdq.onnx"));
  const onnx::ModelProto float_proto = Parse(float_bytes), qdq_proto = Parse(qdq_bytes);
  onnx::checker::check_model(float_proto);
  onnx::checker::check_model(qdq_proto);
  auto names = [](const onnx::ModelProto& proto, bool initializers_too) {
    std::set<std::string> tensors;
    for (const auto& input : proto.graph().input()) tensors.insert(input.name());
    for (const auto& node : proto.graph().node())
      for (const auto& output : node.output()) tensors.insert(output);
    if (initializers_too)
      for (const auto& initializer : proto.graph().initializer()) tensors.insert(initializer.name());
    return tensors;
  };
  std::set<std::string> initializers;
  for (const auto& initializer : float_proto.graph().initializer()) initializers.insert(initializer.name());
  const std::set<std::string> float_tensors = names(float_proto, false), qdq_tensors = names(qdq_proto, true);

  // Both encodings files key activations by tensors of both ONNX files, parameters by initializers of
  // the float file (in the QDQ file, the DequantizeLinear output of that name).
  const auto encodings = nlohmann::json::parse(ReadTextFile(RunFile("export_small.encodings")));
  ASSERT_EQ(encodings.at("activation_encodings").size(), 15u);
  for (const auto& [name, entry] : encodings.at("activation_encodings").items()) {
    EXPECT_TRUE(float_tensors.count(name)) << name;
    EXPECT_TRUE(qdq_tensors.count(name)) << name;
  }
  ASSERT_EQ(encodings.at("param_encodings").size(), 10u);
  for (const auto& [name, entry] : encodings.at("param_encodings").items()) {
    EXPECT_TRUE(initializers.count(name)) << name;
    EXPECT_TRUE(qdq_tensors.count(name)) << name;
  }
  const auto v1 = nlohmann::json::parse(ReadTextFile(RunFile("export_small_v1.0.0.encodings")));
  for (const auto& entry : v1.at("activation_encodings")) EXPECT_TRUE(float_tensors.count(entry.at("name"))) << entry;
  for (const auto& entry : v1.at("param_encodings")) EXPECT_TRUE(initializers.count(entry.at("name"))) << entry;

  // The float file gives the exported TorchScript model's outputs; the QDQ file the quant-sim's accuracy.
  const auto evaluation = Fmnist(kTestImages, kTestLabels, 2000);
  const auto torchscript = model::Model::Load(RunFile("model_adaround.pt"), {1, 1, 28, 28});
  const torch::Tensor expected = torchscript->Forward(evaluation->inputs());
  const double error = RelativeError(RunOnnxRuntime(float_bytes, evaluation->input()), expected);
  EXPECT_LT(error, 1e-4);
  const torch::Tensor qdq = RunOnnxRuntime(qdq_bytes, evaluation->input());
  const double top1 = 100.0 * qdq.argmax(1).eq(evaluation->labels()).sum().item<double>() / 2000.0;
  const auto report = nlohmann::json::parse(ReadTextFile(RunFile("report.json")));
  const double reported = report.at("accuracy").at("adaround").at("top1").get<double>();
  std::cout << "export_small: float ONNX vs model_adaround.pt relative error " << error << "; QDQ ONNX top-1 " << top1
            << " (ONNX Runtime), quant-sim AdaRound row " << reported << "\n";
  EXPECT_NEAR(top1, reported, 0.3);
}

TEST(OnnxRunTest, EachEncodingsFileWithTheExportedModelReproducesTheQuantSim) {
  // AIMET-format files alone: the exported TorchScript model (weights on their grids) and one encodings
  // file (tensor-keyed 0.6.1 or 1.0.0, or module-keyed) as both param_encodings and activation_encodings
  // of a quant_sim; evaluated on the same 2000 samples, it gives the AdaRound row of the run.
  const CommandResult run =
      RunCli(std::string("run tests/configs/export_small.yaml --run-dir ") + ADAFLOW_TEST_RUNS "/export_small");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto report = nlohmann::json::parse(ReadTextFile(RunFile("report.json")));
  const double reported = report.at("accuracy").at("adaround").at("top1").get<double>();

  // The module-keyed file: every activation under a module of AIMET's prepared model (one of the model's,
  // or one the preparer makes of a functional), every parameter under its path.
  const auto torch_json = nlohmann::json::parse(ReadTextFile(RunFile("export_small_torch.encodings")));
  const auto model = model::Model::Load(RunFile("model_adaround.pt"), {1, 1, 28, 28});
  int activations = 0, modules = 0;
  for (const auto& [module, sides] : torch_json.at("activation_encodings").items()) {
    activations += static_cast<int>(sides.size());
    try {
      model->Submodule(module);
      ++modules;
    } catch (const std::out_of_range&) {
      // A functional AIMET's model preparer makes a module of: "module_<fx name>" in its scope's module.
      const auto dot = module.rfind('.');
      const std::string leaf = dot == std::string::npos ? module : module.substr(dot + 1);
      EXPECT_TRUE(leaf.rfind("module_relu", 0) == 0 || leaf == "module_adaptive_avg_pool2d") << module;
      if (dot != std::string::npos) {
        EXPECT_NO_THROW(model->Submodule(module.substr(0, dot))) << module;
      }
    }
  }
  EXPECT_EQ(activations, 15);
  EXPECT_EQ(modules, 7);  // conv1 (input), the three conv2, the two shortcut convs, fc
  EXPECT_TRUE(torch_json.at("activation_encodings").at("conv1").contains("input"));
  EXPECT_EQ(torch_json.at("param_encodings").size(), 10u);

  for (const char* file : {"export_small.encodings", "export_small_v1.0.0.encodings", "export_small_torch.encodings"}) {
    SCOPED_TRACE(file);
    TempDir dir;
    const std::string encodings = RunFile(file);
    WriteTextFile(dir / "reproduce.yaml",
                  "name: reproduce\nseed: 0\nthreads: 2\n"
                  "model: {path: " + RunFile("model_adaround.pt") + ", input_shape: [1, 1, 28, 28]}\n"
                  "data:\n  evaluation: {type: idx, images: " + std::string(kTestImages) + ", labels: " + kTestLabels +
                  ", num_samples: 2000, batch_size: 250, scale: 0.00392156862745098}\n"
                  "stages:\n  - {id: load, type: load_model}\n  - {id: prepare, type: prepare}\n"
                  "  - {id: quantsim, type: quant_sim, default_output_bw: 8, default_param_bw: 4, param_encodings: " +
                      encodings + ", activation_encodings: " + encodings +
                      "}\n  - {id: evaluate, type: evaluate, compare: [adaround]}\n");
    const CommandResult reproduced =
        RunCli("run " + (dir / "reproduce.yaml") + " --run-dir " + (dir / "run"));
    ASSERT_EQ(reproduced.exit_code, 0) << reproduced.output;
    const auto again = nlohmann::json::parse(ReadTextFile(dir / "run/report.json"));
    const double top1 = again.at("accuracy").at("adaround").at("top1").get<double>();
    std::cout << file << " + model_adaround.pt: top-1 " << top1 << " (the run's AdaRound row " << reported << ")\n";
    EXPECT_EQ(top1, reported);
  }
}

}  // namespace
}  // namespace adaflow::testing

namespace adaflow::testing {
namespace {

TEST(TransformerRunTest, VitAndEncoderRunEndToEndAndTheirFilesReproduceTheRun) {
  // tests/configs/{vit_tiny,encoder_tiny,sdpa}.yaml through the CLI: AdaRound beats round-to-nearest on the
  // chosen metrics; the float ONNX file gives the exported TorchScript model's outputs in ONNX Runtime; the
  // QDQ file scores like the run's AdaRound row; the module-keyed encodings file read back into a quant-sim
  // of the exported model rebuilds every grid (each quantizer's scale, offset and bitwidth).
  struct Case {
    const char* config;
    const char* name;
    const char* model;
    std::vector<std::int64_t> shape;
  };
  for (const Case& item : {Case{"tests/configs/vit_tiny.yaml", "vit_tiny", "tests/models/vit_tiny_scripted.pt", {1, 3, 16, 16}},
                           Case{"tests/configs/encoder_tiny.yaml", "encoder_tiny", "tests/models/encoder_tiny_traced.pt",
                                {1, 12, 24}},
                           Case{"tests/configs/sdpa.yaml", "sdpa", "tests/models/sdpa_scripted.pt", {1, 12, 24}}}) {
    SCOPED_TRACE(item.config);
    TempDir dir;
    const std::filesystem::path run_dir = dir / "run";
    const CommandResult run = RunCli(std::string("run ") + item.config + " --run-dir " + run_dir.string());
    auto file = [&](const std::string& suffix) { return (run_dir / (std::string(item.name) + suffix)).string(); };
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const auto report = nlohmann::json::parse(ReadTextFile((run_dir / "report.json").string()));
    const auto& accuracy = report.at("accuracy");
    const double nearest = accuracy.at("nearest").at("sqnr_db").get<double>();
    const double adaround = accuracy.at("adaround").at("sqnr_db").get<double>();
    EXPECT_GT(adaround, nearest + 0.5);
    EXPECT_LT(accuracy.at("adaround").at("mse").get<double>(), accuracy.at("nearest").at("mse").get<double>());

    const auto fp = model::Model::Load(SourcePath(item.model), item.shape);
    const auto exported = model::Model::Load((run_dir / "model_adaround.pt").string(), item.shape);
    torch::manual_seed(0);
    std::vector<std::int64_t> batch = item.shape;
    batch[0] = 256;
    const torch::Tensor input = torch::randn(batch);
    const torch::Tensor float_onnx = RunOnnxRuntime(ReadTextFile(file(".onnx")), input);
    EXPECT_LT(RelativeError(float_onnx, exported->Forward(input)), 1e-4);
    const torch::Tensor reference = fp->Forward(input);
    const torch::Tensor qdq = RunOnnxRuntime(ReadTextFile(file("_qdq.onnx")), input);
    const double qdq_sqnr = 10.0 * std::log10(reference.pow(2).sum().item<double>() / (qdq - reference).pow(2).sum().item<double>());
    std::cout << item.name << ": SQNR nearest " << nearest << " dB, AdaRound " << adaround << " dB; QDQ ONNX file "
              << qdq_sqnr << " dB on other random inputs\n";
    EXPECT_NEAR(qdq_sqnr, adaround, 1.0);

    const std::string encodings = file("_torch.encodings");
    std::string input_shape = "[1", shape = "[";
    for (std::size_t dim = 1; dim < item.shape.size(); ++dim) {
      input_shape += ", " + std::to_string(item.shape[dim]);
      shape += (dim > 1 ? ", " : "") + std::to_string(item.shape[dim]);
    }
    input_shape += "]", shape += "]";
    WriteTextFile(dir / "reproduce.yaml",
                  "name: reproduce\nseed: 0\nthreads: 2\n"
                  "model: {path: " + (run_dir / "model_adaround.pt").string() + ", input_shape: " + input_shape + "}\n"
                  "data:\n  evaluation: {type: random, shape: " + shape + ", num_samples: 256, batch_size: 64}\n"
                  "stages:\n  - {id: load, type: load_model}\n  - {id: prepare, type: prepare}\n"
                  "  - {id: quantsim, type: quant_sim, default_output_bw: 8, default_param_bw: 4, param_encodings: " +
                      encodings + ", activation_encodings: " + encodings +
                      "}\n  - {id: export, type: export, formats: [onnx, aimet_0.6.1]}\n");
    const CommandResult reproduced = RunCli("run " + (dir / "reproduce.yaml") + " --run-dir " + (dir / "again"));
    ASSERT_EQ(reproduced.exit_code, 0) << reproduced.output;
    const auto original = nlohmann::json::parse(ReadTextFile(file(".encodings")));
    const auto again = nlohmann::json::parse(ReadTextFile(dir / "again/reproduce.encodings"));
    for (const char* kind : {"activation_encodings", "param_encodings"}) {
      ASSERT_EQ(again.at(kind).size(), original.at(kind).size()) << kind;
      for (const auto& [name, entries] : original.at(kind).items()) {
        ASSERT_TRUE(again.at(kind).contains(name)) << name;
        const auto& other = again.at(kind).at(name);
        ASSERT_EQ(other.size(), entries.size()) << name;
        for (std::size_t index = 0; index < entries.size(); ++index) {
          EXPECT_EQ(other[index].at("scale"), entries[index].at("scale")) << name;
          EXPECT_EQ(other[index].at("offset"), entries[index].at("offset")) << name;
          EXPECT_EQ(other[index].at("bitwidth"), entries[index].at("bitwidth")) << name;
        }
      }
    }
  }
}

}  // namespace
}  // namespace adaflow::testing

namespace adaflow::testing {
namespace {

/// ONNX Runtime on a model of several inputs (each float32 or int64), through tests/onnx/ort_run.js --named.
torch::Tensor RunOnnxRuntimeNamed(const std::string& onnx_bytes,
                                  const std::vector<std::pair<std::string, torch::Tensor>>& inputs) {
  TempDir dir;
  WriteTextFile(dir / "model.onnx", onnx_bytes);
  std::string args;
  for (const auto& [name, tensor] : inputs) {
    const torch::Tensor data = tensor.contiguous();
    const std::string file = dir / (name + ".bin");
    WriteTextFile(file, std::string(static_cast<const char*>(data.data_ptr()), data.nbytes()));
    std::string dims;
    for (auto size : data.sizes()) dims += (dims.empty() ? "" : ",") + std::to_string(size);
    args += " " + name + " " + (data.is_floating_point() ? "float32" : "int64") + " " + file + " " + dims;
  }
  const CommandResult result = RunCommand("NODE_PATH=" ADAFLOW_ORT_NODE_PATH " node " + SourcePath("tests/onnx/ort_run.js") +
                                          " --named " + (dir / "model.onnx") + " " + (dir / "output.f32") + args);
  if (result.exit_code != 0) throw std::runtime_error("ONNX Runtime failed: " + result.output);
  return ReadOrtOutput(dir / "output.f32", result.output);
}

/// Runs a token model's config (token ids and an attention mask from tests/data/token_lm, a folder of .npy
/// arrays) through the CLI. The FP row's per-token accuracy and perplexity are PyTorch's (`reference`);
/// AdaRound beats round-to-nearest; the float ONNX file (int64 inputs input_ids and attention_mask) gives
/// the exported model's logits in ONNX Runtime, and the QDQ file scores like the run's AdaRound row.
void RunTokenModel(const std::string& config, const std::string& name, const std::string& model_path,
                   const std::string& reference_path) {
  TempDir dir;
  const std::filesystem::path run_dir = dir / "run";
  const CommandResult run = RunCli("run " + config + " --run-dir " + run_dir.string() + " --set model.path=" + model_path);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto report = nlohmann::json::parse(ReadTextFile((run_dir / "report.json").string()));
  const auto& accuracy = report.at("accuracy");
  std::ifstream file(SourcePath(reference_path));
  const nlohmann::json reference = nlohmann::json::parse(file);
  EXPECT_NEAR(accuracy.at("fp").at("token_accuracy").get<double>(), reference.at("token_accuracy").get<double>(), 1e-6);
  EXPECT_NEAR(accuracy.at("fp").at("perplexity").get<double>() / reference.at("perplexity").get<double>(), 1.0, 1e-5);
  const double nearest = accuracy.at("nearest").at("sqnr_db").get<double>();
  const double adaround = accuracy.at("adaround").at("sqnr_db").get<double>();
  std::cout << name << ": SQNR nearest " << nearest << " dB, AdaRound " << adaround << " dB; perplexity fp "
            << accuracy.at("fp").at("perplexity") << ", nearest " << accuracy.at("nearest").at("perplexity")
            << ", AdaRound " << accuracy.at("adaround").at("perplexity") << "\n";
  EXPECT_GT(adaround, nearest + 0.5);

  const std::vector<TensorSpec> inputs = {{"input_ids", {1, 12}, "int64"}, {"attention_mask", {1, 12}, "int64"}};
  data::NpyDataOptions options;
  options.folder = SourcePath("tests/data/token_lm");
  const auto data = data::LoadNpy("evaluation", options, inputs);
  const std::vector<std::pair<std::string, torch::Tensor>> feeds = {{"input_ids", data->input(0)},
                                                                    {"attention_mask", data->input(1)}};
  const auto exported = model::Model::LoadWithInputs((run_dir / "model_adaround.pt").string(), inputs);
  const torch::Tensor float_onnx = RunOnnxRuntimeNamed(ReadTextFile(run_dir / (name + ".onnx")), feeds);
  EXPECT_LT(RelativeError(float_onnx, exported->Forward(data->inputs())), 1e-4);
  const torch::Tensor fp = model::Model::LoadWithInputs(SourcePath(model_path), inputs)->Forward(data->inputs());
  const torch::Tensor qdq = RunOnnxRuntimeNamed(ReadTextFile(run_dir / (name + "_qdq.onnx")), feeds);
  const double qdq_sqnr = 10.0 * std::log10(fp.pow(2).sum().item<double>() / (qdq - fp).pow(2).sum().item<double>());
  std::cout << name << ": QDQ ONNX file " << qdq_sqnr << " dB\n";
  EXPECT_NEAR(qdq_sqnr, adaround, 0.5);
}

TEST(MultiInputRunTest, TokenModelRunsEndToEndFromNpyArraysAndItsOnnxFilesTakeBothInputs) {
  RunTokenModel("tests/configs/token_lm.yaml", "token_lm", "tests/models/token_lm_traced.pt",
                "tests/data/token_lm/reference.json");
}

TEST(MultiInputRunTest, MultiheadAttentionModelRunsEndToEndWithItsProjectionsSplit) {
  // nn.MultiheadAttention scripted, traced, and traced without gradients (the fused op): prepare splits
  // in_proj into linear_Q/K/V, which AdaRound learns; each form's ONNX files run in ONNX Runtime.
  for (const char* form : {"scripted", "traced", "traced_nograd"}) {
    SCOPED_TRACE(form);
    RunTokenModel("tests/configs/mha_lm.yaml", "mha_lm", std::string("tests/models/mha_lm_") + form + ".pt",
                  "tests/data/mha_lm_reference.json");
  }
}

}  // namespace
}  // namespace adaflow::testing
