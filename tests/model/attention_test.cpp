#include "src/model/attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

#include "common/error.h"
#include "src/data/dataset.h"
#include "src/model/batch_norm_fold.h"
#include "src/model/evaluation.h"
#include "src/model/layers.h"
#include "src/quant/quant_sim.h"
#include "src/quant/quantsim_config.h"
#include "tests/support/test_support.h"

namespace adaflow::model {
namespace {

using adaflow::testing::SourcePath;

double MaxRelative(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

TEST(MultiheadAttentionTest, EachTorchScriptFormBecomesLinearLayersAndKeepsPyTorchsOutputs) {
  // tests/models/make_transformer_models.py: mha_lm (layer 0 batch-first with a key padding mask, layer 1
  // sequence-first with the padding mask and a causal boolean mask) scripted, traced, and traced without
  // gradients (layer 0 then the fused op); the eager model's logits on tests/data/token_lm's first 2
  // sequences and its per-token accuracy and perplexity over all 96.
  std::ifstream file(SourcePath("tests/data/mha_lm_reference.json"));
  const nlohmann::json reference = nlohmann::json::parse(file);
  const std::vector<TensorSpec> inputs = {{"input_ids", {1, 12}, "int64"}, {"attention_mask", {1, 12}, "int64"}};
  data::NpyDataOptions options;
  options.folder = SourcePath("tests/data/token_lm");
  options.batch_size = 48;
  const auto data = data::LoadNpy("evaluation", options, inputs);
  const torch::Tensor expected = torch::tensor(reference.at("output").get<std::vector<float>>()).reshape({2, 12, 40});
  const std::map<std::string, std::vector<std::string>> forms = {
      {"tests/models/mha_lm_scripted.pt", {"scripted", "scripted"}},
      {"tests/models/mha_lm_traced.pt", {"traced", "traced"}},
      {"tests/models/mha_lm_traced_nograd.pt", {"traced, fused", "traced"}}};
  for (const auto& [path, form] : forms) {
    SCOPED_TRACE(path);
    const auto loaded = Model::LoadWithInputs(SourcePath(path), inputs);
    std::vector<AttentionRewrite> rewrites;
    const auto prepared = FoldBatchNorm(*MakeAttentionQuantizable(loaded, &rewrites));
    ASSERT_EQ(rewrites.size(), 2u);
    for (std::size_t index = 0; index < 2; ++index) {
      EXPECT_EQ(rewrites[index].module, "layers." + std::to_string(index) + ".attn");
      EXPECT_EQ(rewrites[index].form, form[index]);
    }
    EXPECT_FALSE(loaded->Submodule("layers.0.attn").hasattr("linear_Q")) << "the loaded model was changed";
    EXPECT_LT(MaxRelative(prepared->Forward(data->Slice(0, 2).inputs), expected), 1e-5);
    const ForwardFn forward = [&](const Inputs& x) { return prepared->Forward(x); };
    const EvalResult result = Evaluate(forward, *data, nullptr, 0, {Metric::kTokenAccuracy, Metric::kPerplexity});
    EXPECT_NEAR(result.token_accuracy, reference.at("token_accuracy").get<double>(), 1e-9);
    EXPECT_NEAR(result.perplexity / reference.at("perplexity").get<double>(), 1.0, 1e-5);

    // Each projection is a Linear layer whose weight and bias are the packed ones' rows (Q, K, V).
    const LayerGraph graph = DiscoverLayers(*prepared);
    ASSERT_EQ(graph.layers.size(), 13u) << graph.Describe();
    const torch::jit::Module packed = loaded->Submodule("layers.1.attn");
    const char* parts[] = {"linear_Q", "linear_K", "linear_V"};
    for (std::int64_t part = 0; part < 3; ++part) {
      const std::string name = std::string("layers.1.attn.") + parts[part];
      ASSERT_NE(graph.Find(name), nullptr) << graph.Describe();
      const torch::jit::Module linear = prepared->Submodule(name);
      EXPECT_TRUE(linear.attr("weight").toTensor().equal(
          packed.attr("in_proj_weight").toTensor().slice(0, 24 * part, 24 * (part + 1))));
      EXPECT_TRUE(linear.attr("bias").toTensor().equal(
          packed.attr("in_proj_bias").toTensor().slice(0, 24 * part, 24 * (part + 1))));
    }
    EXPECT_EQ(graph.Find("layers.1.attn.out_proj")->upstream.size(), 5u) << graph.Describe();

    // Quantizers as AIMET's QuantizableMultiheadAttention has them: each projection, the scaled query,
    // both matmuls and the softmax; none on the scores filled with -inf, which inspect lists with the reason.
    const auto quantizers = quant::FindActivationQuantizers(*prepared, graph, quant::DefaultQuantsimConfig(), 8);
    std::map<std::string, int> by_op;
    for (const auto& quantizer : quantizers) ++by_op[quantizer.op];
    EXPECT_EQ(by_op["aten::linear"], 13);
    EXPECT_EQ(by_op["aten::softmax"], 2);
    EXPECT_EQ(by_op["aten::div"], 2);
    EXPECT_EQ(by_op["aten::matmul"] + by_op["aten::bmm"], 4);
    EXPECT_EQ(by_op["aten::masked_fill"], 0);
    EXPECT_EQ(by_op["aten::sum"], 0) << "the averaged attention weights nobody reads";
    const auto left = quant::OpsLeftFloat(*prepared);
    EXPECT_GE(left.size(), 2u);
    for (const auto& op : left) {
      EXPECT_EQ(op.op, "aten::masked_fill");
      EXPECT_NE(op.reason.find("fills -inf"), std::string::npos) << op.reason;
    }
  }
}

TEST(MultiheadAttentionTest, AnUnsupportedOptionIsAnInputErrorNamingTheModule) {
  const auto loaded = Model::Load(SourcePath("tests/models/mha_bias_kv_scripted.pt"), {1, 5, 8});
  try {
    MakeAttentionQuantizable(loaded);
    ADD_FAILURE() << "add_bias_kv accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("MultiheadAttention 'attn' has add_bias_kv=True"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace adaflow::model

namespace adaflow::model {
namespace {

TEST(ScaledDotProductAttentionTest, APyTorch2ModelLoadsAndItsCallsBecomeQuantizableOps) {
  // tests/models/make_transformer_models.py: sdpa_{scripted,traced}.pt call torch.scaled_dot_product_attention
  // (is_causal in block 0; a boolean mask and scale 0.25 in block 1), as PyTorch 2 saves it; the reference
  // output is PyTorch's documented math on a seeded input.
  std::ifstream file(adaflow::testing::SourcePath("tests/data/sdpa_outputs.json"));
  const nlohmann::json reference = nlohmann::json::parse(file);
  const torch::Tensor input = torch::tensor(reference.at("input").get<std::vector<float>>()).reshape({2, 12, 24});
  const torch::Tensor expected = torch::tensor(reference.at("output").get<std::vector<float>>()).reshape({2, 4});
  for (const char* path : {"tests/models/sdpa_scripted.pt", "tests/models/sdpa_traced.pt"}) {
    SCOPED_TRACE(path);
    const auto loaded = Model::Load(adaflow::testing::SourcePath(path), {1, 12, 24});
    EXPECT_LT(MaxRelative(loaded->Forward(input), expected), 1e-5);
    std::vector<AttentionRewrite> rewrites;
    const auto prepared = MakeAttentionQuantizable(loaded, &rewrites);
    ASSERT_EQ(rewrites.size(), std::string(path).find("scripted") != std::string::npos ? 1u : 2u)
        << "scripted: one class for both blocks; traced: one per block";
    for (const auto& rewrite : rewrites) EXPECT_EQ(rewrite.form, "scaled_dot_product_attention");
    EXPECT_LT(MaxRelative(prepared->Forward(input), expected), 1e-5);
    const auto graph = prepared->InlinedGraph();
    for (const auto* node : graph->nodes())
      EXPECT_NE(node->kind(), c10::Symbol::aten("scaled_dot_product_attention"));
    const LayerGraph layers = DiscoverLayers(*prepared);
    ASSERT_EQ(layers.layers.size(), 5u) << layers.Describe();
    const auto quantizers = quant::FindActivationQuantizers(*prepared, layers, quant::DefaultQuantsimConfig(), 8);
    std::map<std::string, int> by_op;
    for (const auto& quantizer : quantizers) ++by_op[quantizer.op];
    EXPECT_EQ(by_op["aten::matmul"], 4);
    EXPECT_EQ(by_op["aten::softmax"], 2);
    EXPECT_EQ(by_op["aten::mul"], 2) << "the scaling";
    for (const auto& op : quant::OpsLeftFloat(*prepared)) EXPECT_EQ(op.op, "aten::masked_fill") << op.reason;
  }
  // Dropout has no place in inference: the op says so.
  const torch::Tensor q = torch::randn({1, 2, 3, 4});
  EXPECT_THROW(ScaledDotProductAttention(q, q, q, c10::nullopt, 0.1, false, c10::nullopt), std::runtime_error);
}

}  // namespace
}  // namespace adaflow::model
