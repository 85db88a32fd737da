// The run report's plot and text, from hand-made layer results.

#include "stages/report/run_report.h"

#include "stages/report/comparison.h"

#include "common/error.h"
#include "stages/metrics_json.h"
#include "tests/support/test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>

namespace adaflow {
namespace {

/// Heights of the bars (rects with a <title>) in plot order.
std::vector<double> BarHeights(const std::string& svg) {
  const std::regex bar("<rect x=\"[0-9.]+\" y=\"[0-9.]+\" width=\"[0-9.]+\" height=\"([0-9.e+-]+)\" fill=\"#[0-9a-f]+\"><title>");
  std::vector<double> heights;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), bar); it != std::sregex_iterator(); ++it)
    heights.push_back(std::stod((*it)[1]));
  return heights;
}

TEST(LayerMsePlotTest, BarsAreLogScaledOverWholeDecades) {
  std::vector<adaround::LayerReport> layers(2);
  layers[0].name = "conv<1>";
  layers[0].mse_nearest = 0.1;
  layers[0].mse_adaround = 0.01;
  layers[1].name = "fc";
  layers[1].mse_nearest = 1.0;
  layers[1].mse_adaround = 0.5;
  const std::string svg = LayerMsePlotSvg(layers);
  EXPECT_NE(svg.find("conv&lt;1&gt;"), std::string::npos) << "names are escaped";
  EXPECT_EQ(svg.find("conv<1>"), std::string::npos);
  // Axis 1e-2 .. 1e0: 0.01 sits on the axis (height 0), each decade is half of the 260-pixel plot.
  const std::vector<double> heights = BarHeights(svg);
  ASSERT_EQ(heights.size(), 4u);
  EXPECT_NEAR(heights[0], 130.0, 1e-3);                          // 0.1
  EXPECT_NEAR(heights[1], 0.0, 1e-3);                            // 0.01
  EXPECT_NEAR(heights[2], 260.0, 1e-3);                          // 1.0
  EXPECT_NEAR(heights[3], 260.0 + 130.0 * std::log10(0.5), 1e-2);  // 0.5
  EXPECT_NE(svg.find(">1e-2<"), std::string::npos);
  EXPECT_NE(svg.find(">1e0<"), std::string::npos);
}

TEST(LayerMsePlotTest, EmptyAndZeroValuesStillMakeAValidPlot) {
  EXPECT_EQ(BarHeights(LayerMsePlotSvg({})).size(), 0u);
  std::vector<adaround::LayerReport> layers(1);
  layers[0].name = "exact";
  const std::vector<double> heights = BarHeights(LayerMsePlotSvg(layers));
  ASSERT_EQ(heights.size(), 2u);
  for (double height : heights) EXPECT_TRUE(std::isfinite(height));
}

TEST(MetricsJsonTest, InfiniteSqnrSurvivesTheRoundTrip) {
  MetricsArtifact metrics;
  metrics.param_bw = 4;
  metrics.output_bw = 8;
  model::EvalResult identical;
  identical.labelled = false;
  identical.samples = 100;
  identical.sqnr_db = std::numeric_limits<double>::infinity();
  identical.cosine = 1.0;
  identical.metrics = {model::Metric::kSqnr, model::Metric::kCosine};
  model::EvalResult quantized = identical;
  quantized.sqnr_db = 16.36325596949723;
  quantized.cosine = 0.99096;
  metrics.variants = {{"fp", identical}, {"adaround", quantized}};
  testing::TempDir dir;
  testing::WriteTextFile(dir / "metrics.json", MetricsToJson(metrics));
  MetricsArtifact read;
  MetricsFromJsonFile(dir / "metrics.json", read);
  ASSERT_EQ(read.variants.size(), 2u);
  EXPECT_FALSE(read.variants[0].second.labelled);
  EXPECT_TRUE(std::isinf(read.variants[0].second.sqnr_db));
  EXPECT_EQ(read.variants[1].second.sqnr_db, 16.36325596949723);
  EXPECT_EQ(read.variants[1].second.cosine, 0.99096);
  EXPECT_EQ(read.param_bw, 4);
  EXPECT_EQ(read.output_bw, 8);
}

TEST(MetricsTest, PerTokenAccuracyAndPerplexitySkipTheIgnoredLabels) {
  // Every token's logits are log(0.7, 0.1, 0.1, 0.1): a label 0 is predicted (p 0.7), a label 1 is not (p 0.1).
  // 3 sequences of 4 tokens; labels 0 on 5 tokens, 1 on 5, -100 (padding) on 2: accuracy 50 %, perplexity
  // exp(−(5·ln 0.7 + 5·ln 0.1) / 10) = 1 / √0.07.
  const torch::Tensor ids = torch::zeros({3, 4}, torch::kInt64);
  const torch::Tensor labels = torch::tensor({0, 1, 0, -100, 1, 1, 0, 0, 1, -100, 0, 1}, torch::kInt64).view({3, 4});
  const data::Dataset data("evaluation", {"input_ids"}, {ids}, labels, 2);
  const model::ForwardFn forward = [](const model::Inputs& in) {
    return torch::tensor({0.7, 0.1, 0.1, 0.1}).log().to(torch::kFloat32).expand({in[0].size(0), 4, 4});
  };
  const model::EvalResult result =
      model::Evaluate(forward, data, nullptr, 0, {model::Metric::kTokenAccuracy, model::Metric::kPerplexity});
  EXPECT_NEAR(result.token_accuracy, 50.0, 1e-12);
  EXPECT_NEAR(result.perplexity, 1.0 / std::sqrt(0.07), 1e-5);
  EXPECT_EQ(model::FormatResult(result), "token  50.00  perplexity 3.7796  (3 samples)");
  // Labels the output does not fit are named.
  const data::Dataset flat("evaluation", {"input_ids"}, {ids}, torch::zeros({3}, torch::kInt64), 2);
  try {
    model::Evaluate(forward, flat, nullptr, 0, {model::Metric::kPerplexity});
    ADD_FAILURE() << "labels of the wrong shape accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("data set 'evaluation' has labels of shape [3]"), std::string::npos) << error.what();
  }
}

TEST(MetricsTest, ChosenMetricsAreComputedWrittenInTheirOrderAndTabled) {
  // out = 0.5·x against the reference x: SQNR 10·log10(4), cosine 1, MSE mean(x²)/4; labels are argmax x,
  // which 0.5·x keeps: top-1 100 %.
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({40, 6});
  const data::Dataset data("evaluation", x, x.argmax(1), 8);
  const model::ForwardFn half = [](const model::Inputs& in) { return in[0] * 0.5; };
  const model::ForwardFn identity = [](const model::Inputs& in) { return in[0]; };
  const std::vector<model::Metric> chosen = {model::Metric::kMse, model::Metric::kTop1, model::Metric::kSqnr};
  const model::EvalResult result = model::Evaluate(half, data, &identity, 0, chosen);
  EXPECT_EQ(result.metrics, chosen);
  EXPECT_NEAR(result.sqnr_db, 10.0 * std::log10(4.0), 1e-9);
  EXPECT_NEAR(result.mse, x.pow(2).mean().item<double>() / 4.0, 1e-7);
  EXPECT_DOUBLE_EQ(result.top1, 100.0);
  EXPECT_EQ(model::FormatResult(result), "MSE " + [&] {
    char text[32];
    std::snprintf(text, sizeof text, "%.4g", result.mse);
    return std::string(text);
  }() + "  top-1 100.00  SQNR    6.02 dB  (40 samples)");
  // Without a list: the data's defaults; top-k on data without labels is an error naming the data set.
  EXPECT_EQ(model::Evaluate(half, data, &identity).metrics,
            (std::vector<model::Metric>{model::Metric::kTop1, model::Metric::kTop5}));
  const data::Dataset unlabelled("random", x, torch::Tensor(), 8);
  const std::string error = testing::ErrorMessage<InputError>(
      [&] { model::Evaluate(half, unlabelled, &identity, 0, {model::Metric::kTop5}); });
  EXPECT_NE(error.find("data set 'random' has none"), std::string::npos) << error;

  // metrics.json keeps them in their order; read back, the same.
  MetricsArtifact metrics;
  metrics.variants = {{"adaround", result}};
  testing::TempDir dir;
  testing::WriteTextFile(dir / "metrics.json", MetricsToJson(metrics));
  const auto json = nlohmann::ordered_json::parse(testing::ReadTextFile(dir / "metrics.json"));
  std::vector<std::string> keys;
  for (auto it = json["variants"][0].begin(); it != json["variants"][0].end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"name", "mse", "top1", "sqnr_db", "samples"}));
  MetricsArtifact read;
  MetricsFromJsonFile(dir / "metrics.json", read);
  EXPECT_EQ(read.variants.at(0).second.metrics, chosen);
  EXPECT_EQ(read.variants.at(0).second.mse, result.mse);
}


/// A sweep row: top-1 of AdaRound and of nearest, its time and size.
ComparisonRow Row(const std::string& label, double top1, double seconds, double bits) {
  ComparisonRow row;
  row.label = label;
  row.settings = {{"bw", label}};
  row.accuracy["nearest"] = {{"top1", top1 - 10}, {"samples", 100}};
  row.accuracy["adaround"] = {{"top1", top1}, {"samples", 100}};
  row.adaround_seconds = seconds;
  row.weight_bits = bits;
  row.status = "done";
  return row;
}

TEST(ComparisonTest, TheParetoFrontKeepsTheRowsNoOtherBeatsInBothAxes) {
  Comparison comparison;
  comparison.columns = {"bw"};
  comparison.rows = {Row("a", 80, 10, 4000), Row("b", 90, 30, 8000), Row("c", 85, 20, 9000),
                     Row("d", 70, 5, 2000),  Row("e", 90, 40, 8000)};
  comparison.rows.push_back(Row("f", 99, -1, -1));  // no AdaRound stage finished: on neither front
  // By bits: c (9000 bits, 85) loses to b (8000, 90); e ties b's bits and accuracy, so neither beats the other.
  EXPECT_EQ(ParetoFront(comparison, false), (std::vector<std::size_t>{3, 0, 1, 4}));
  // By seconds: e (40 s, 90) loses to b (30 s, 90).
  EXPECT_EQ(ParetoFront(comparison, true), (std::vector<std::size_t>{3, 0, 2, 1}));

  // A metric where lower is better turns the front over.
  for (auto& row : comparison.rows) {
    const double top1 = row.accuracy["adaround"]["top1"];
    row.accuracy["adaround"] = {{"mse", 100 - top1}};
    row.accuracy.erase("nearest");
  }
  EXPECT_EQ(ParetoFront(comparison, false), (std::vector<std::size_t>{3, 0, 1, 4}));

  const std::string svg = ComparisonPlotSvg(comparison, "sweep");
  const auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto at = svg.find(what); at != std::string::npos; at = svg.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<circle"), 10u) << "the five rows with a time and size, in each panel";
}

TEST(ComparisonTest, WeightBitsAndTheTablesShowEachRow) {
  const nlohmann::ordered_json layers = nlohmann::ordered_json::parse(
      R"([{"shape": [16, 8, 3, 3], "bitwidth": 4}, {"shape": [10, 16], "bitwidth": 8}])");
  EXPECT_EQ(WeightBits(layers), 16.0 * 8 * 9 * 4 + 160.0 * 8);

  Comparison comparison;
  comparison.columns = {"bw"};
  comparison.rows = {Row("w2", 71.25, 12.5, 2000), Row("w4", 90.5, 20, 4000)};
  comparison.rows[0].status = "failed in evaluate: out of memory";
  const std::string text = ComparisonText(comparison);
  EXPECT_NE(text.find("61.25"), std::string::npos) << text;
  EXPECT_NE(text.find("90.50"), std::string::npos) << text;
  EXPECT_NE(text.find("failed in evaluate: out of memory"), std::string::npos) << text;
  const std::string markdown = ComparisonMarkdown(comparison);
  EXPECT_NE(markdown.find("| `w4` | `w4` |"), std::string::npos) << markdown;
}

}  // namespace
}  // namespace adaflow
