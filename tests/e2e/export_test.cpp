// The whole AIMET AdaRound workflow through the CLI, then its outputs checked from the outside: the
// run report, the exported TorchScript (re-loaded with torch::jit::load and evaluated), every exported
// weight against the encodings files, the AIMET key names and types, and reusing the
// `_adaround.encodings` in a second config.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>

#include "src/data/dataset.h"
#include "src/model/evaluation.h"
#include "src/model/model.h"
#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kConfig = "tests/configs/export_small.yaml";

/// One run of tests/configs/export_small.yaml shared by the tests of this file, in the build tree.
/// ctest computes it once (the ExportRun fixture, with --fresh) and runs these tests one at a time
/// (they share the directory); each test process then only resumes it, which computes nothing. Run
/// directly, a test binary newer than the run starts it over too.
class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string fresh;
    const fs::path manifest = run_dir() + "/manifest.json";
    if (!fs::exists(manifest) || fs::last_write_time(ADAFLOW_CLI) > fs::last_write_time(manifest)) fresh = " --fresh";
    result_ = new CommandResult(RunCli(std::string("run ") + kConfig + " --run-dir " + run_dir() + fresh));
  }
  static void TearDownTestSuite() { delete result_; }
  void SetUp() override { ASSERT_EQ(result_->exit_code, 0) << result_->output; }

  static std::string run_dir() { return ADAFLOW_TEST_RUNS "/export_small"; }
  static std::string file(const std::string& name) { return run_dir() + "/" + name; }
  static json ReadJson(const std::string& path) { return json::parse(ReadTextFile(path)); }

  /// The 2000 evaluation samples of the config.
  static std::shared_ptr<data::Dataset> EvaluationData() {
    data::IdxDataOptions options;
    options.images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    options.labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    options.num_samples = 2000;
    options.batch_size = 250;
    options.scale = 1.0 / 255.0;
    return data::LoadIdx("evaluation", options);
  }

  static CommandResult* result_;
};

CommandResult* ExportTest::result_ = nullptr;

/// Checks one encoding entry of the weight `values` (one channel): every value is scale·(q + offset)
/// for an integer q in [0, 2^bitwidth − 1], exactly in float32. Returns how many values it checked.
std::int64_t ExpectOnGrid(const float* values, std::int64_t count, double scale, std::int64_t offset, int bitwidth,
                          const std::string& what) {
  const std::int64_t top = (std::int64_t{1} << bitwidth) - 1;
  std::int64_t bad = 0;
  for (std::int64_t idx = 0; idx < count; ++idx) {
    const double q = std::round(values[idx] / scale) - static_cast<double>(offset);
    const bool ok = q >= 0 && q <= static_cast<double>(top) &&
                    static_cast<float>(scale * (q + static_cast<double>(offset))) == values[idx];
    bad += ok ? 0 : 1;
  }
  EXPECT_EQ(bad, 0) << what << ": values off the grid";
  return count;
}

TEST_F(ExportTest, RunPrintsTheAccuracyTableAndWritesTheReport) {
  const std::string& out = result_->output;
  const json report = ReadJson(file("report.json"));
  EXPECT_EQ(report.at("name"), "export_small");
  const auto& accuracy = report.at("accuracy");
  for (const char* variant : {"fp", "nearest", "adaround", "exported"}) {
    ASSERT_TRUE(accuracy.contains(variant)) << variant;
    EXPECT_EQ(accuracy.at(variant).at("samples").get<int>(), 2000);
    const double top1 = accuracy.at(variant).at("top1").get<double>();
    EXPECT_GT(top1, 80.0) << variant;
    char printed[32];
    std::snprintf(printed, sizeof printed, "%8.2f", top1);
    EXPECT_NE(out.find(printed), std::string::npos) << "console table lacks " << variant << " " << printed;
  }
  EXPECT_EQ(accuracy.at("fp").at("param_bw"), 32);
  EXPECT_EQ(accuracy.at("nearest").at("param_bw"), 4);
  EXPECT_EQ(accuracy.at("nearest").at("output_bw"), 8);
  EXPECT_EQ(accuracy.at("exported").at("param_bw"), 4);
  EXPECT_EQ(accuracy.at("exported").at("output_bw"), 32);
  // AdaRound recovers most of what round-to-nearest loses (FP 92.95, nearest 90.40, AdaRound 92.60 here).
  EXPECT_GT(accuracy.at("adaround").at("top1").get<double>(), accuracy.at("nearest").at("top1").get<double>() + 1.0);
  EXPECT_NE(out.find("round-to-nearest W4A8"), std::string::npos) << out;
  EXPECT_NE(out.find("report: " + file("report.md")), std::string::npos) << out;

  const auto& layers = report.at("layers");
  ASSERT_EQ(layers.size(), 10u);
  for (const auto& layer : layers) {
    EXPECT_TRUE(layer.at("shape").is_array());
    EXPECT_EQ(layer.at("bitwidth").get<int>(), layer.at("name") == "fc" ? 8 : 4);
    EXPECT_EQ(layer.at("num_iterations").get<int>(), 300);
    EXPECT_TRUE(layer.at("objective") == "gram" || layer.at("objective") == "sampled");
    EXPECT_LT(layer.at("mse_adaround").get<double>(), layer.at("mse_nearest").get<double>()) << layer.dump();
    EXPECT_GT(layer.at("seconds").get<double>(), 0.0);
  }
  const auto& stages = report.at("stages");
  // The config's eight stages, then the two the planner derives for evaluate's nearest baseline.
  ASSERT_EQ(stages.size(), 10u);
  EXPECT_EQ(stages[8].at("id"), "evaluate.nearest_sim");
  EXPECT_EQ(stages[9].at("id"), "evaluate.nearest_calibrate");
  for (const auto& stage : stages) {
    // "ran" when this process computed it, "restored" when it resumed the run the fixture computed.
    EXPECT_TRUE(stage.at("outcome") == "ran" || stage.at("outcome") == "restored") << stage.dump();
    EXPECT_GT(stage.at("seconds").get<double>(), 0.0) << stage.dump();
  }

  const std::string md = ReadTextFile(file("report.md"));
  EXPECT_NE(md.find("![Per-layer output MSE, round-to-nearest vs AdaRound](layer_mse.svg)"), std::string::npos);
  EXPECT_NE(md.find("| layers.2.shortcut.0 | 64×32×1×1 | 4 |"), std::string::npos) << md;
  EXPECT_NE(md.find("name: export_small"), std::string::npos) << "the resolved config is in the report";
  const std::string svg = ReadTextFile(file("layer_mse.svg"));
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  const std::regex bar("<rect x=\"[0-9.]+\" y=\"[0-9.]+\" width=\"[0-9.]+\" height=\"[0-9.]+\" fill=\"#[0-9a-f]+\"><title>");
  EXPECT_EQ(std::distance(std::sregex_iterator(svg.begin(), svg.end(), bar), std::sregex_iterator()), 20);

  // A rerun computes nothing and rewrites the same numbers.
  const CommandResult again = RunCli(std::string("run ") + kConfig + " --run-dir " + run_dir());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("0 of 10 stages to run"), std::string::npos) << again.output;
  const json rerun = ReadJson(file("report.json"));
  EXPECT_EQ(rerun.at("accuracy"), accuracy);
  EXPECT_EQ(rerun.at("layers"), layers);
  EXPECT_TRUE(rerun.at("stages")[3].at("skipped").get<bool>());
  EXPECT_DOUBLE_EQ(rerun.at("stages")[3].at("seconds").get<double>(), stages[3].at("seconds").get<double>());
}

TEST_F(ExportTest, ExportedTorchScriptReloadedGivesTheReportedWeightsOnlyAccuracy) {
  torch::jit::Module module = torch::jit::load(file("model_adaround.pt"));
  module.eval();
  torch::NoGradGuard no_grad;
  // No fake-quant anywhere: it is a plain float model whose weights happen to be on their grids.
  const std::string graph = module.get_method("forward").graph()->toString();
  EXPECT_EQ(graph.find("fake_quantize"), std::string::npos);
  const auto data = EvaluationData();
  const model::EvalResult result = model::Evaluate(
      [&](const model::Inputs& x) { return module.forward({x[0]}).toTensor(); }, *data, nullptr);
  const json exported = ReadJson(file("report.json")).at("accuracy").at("exported");
  EXPECT_EQ(result.samples, 2000);
  EXPECT_DOUBLE_EQ(result.top1, exported.at("top1").get<double>());
  EXPECT_DOUBLE_EQ(result.top5, exported.at("top5").get<double>());
  std::printf("torch::jit::load(model_adaround.pt): top-1 %.2f, report states %.2f\n", result.top1,
              exported.at("top1").get<double>());
}

TEST_F(ExportTest, EveryExportedWeightIsOnTheGridOfTheEncodingsFiles) {
  torch::jit::Module module = torch::jit::load(file("model_adaround.pt"));
  std::map<std::string, torch::Tensor> weights;
  for (const auto& param : module.named_parameters()) weights[param.name] = param.value.detach().contiguous();

  // 0.6.1 files: the full encodings and AdaRound's, one entry per tensor (per-tensor grids).
  for (const std::string name : {"export_small.encodings", "export_small_adaround.encodings"}) {
    std::int64_t checked = 0;
    const json params = ReadJson(file(name)).at("param_encodings");
    ASSERT_EQ(params.size(), 10u) << name;
    for (const auto& [key, entries] : params.items()) {
      ASSERT_TRUE(weights.count(key)) << key;
      const torch::Tensor& w = weights[key];
      ASSERT_EQ(entries.size(), 1u);
      const auto& enc = entries[0];
      checked += ExpectOnGrid(w.data_ptr<float>(), w.numel(), enc.at("scale").get<double>(),
                              enc.at("offset").get<std::int64_t>(), enc.at("bitwidth").get<int>(), name + " " + key);
    }
    EXPECT_EQ(checked, 77072) << "every weight of the ResNet-8";
  }
  // 1.0.0: arrays of scale/offset.
  std::int64_t checked = 0;
  const json v1 = ReadJson(file("export_small_v1.0.0.encodings"));
  for (const auto& entry : v1.at("param_encodings")) {
    const torch::Tensor& w = weights.at(entry.at("name").get<std::string>());
    checked += ExpectOnGrid(w.data_ptr<float>(), w.numel(), entry.at("scale")[0].get<double>(),
                            entry.at("offset")[0].get<std::int64_t>(), entry.at("bw").get<int>(),
                            entry.at("name").get<std::string>());
  }
  EXPECT_EQ(checked, 77072);
}

TEST_F(ExportTest, EncodingsFilesHaveTheAimetKeyNamesAndValueTypes) {
  auto expect_061_entry = [](const json& entry, const std::string& where) {
    ASSERT_TRUE(entry.is_object()) << where;
    std::vector<std::string> keys;
    for (const auto& [key, value] : entry.items()) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"bitwidth", "dtype", "is_symmetric", "max", "min", "offset", "scale"}))
        << where;
    EXPECT_TRUE(entry.at("bitwidth").is_number_integer()) << where;
    EXPECT_EQ(entry.at("dtype"), "int") << where;
    EXPECT_TRUE(entry.at("is_symmetric") == "True" || entry.at("is_symmetric") == "False") << where;
    EXPECT_TRUE(entry.at("max").is_number() && entry.at("min").is_number() && entry.at("scale").is_number()) << where;
    EXPECT_TRUE(entry.at("offset").is_number_integer()) << where;
    EXPECT_LE(entry.at("offset").get<std::int64_t>(), 0) << where;
  };

  const json full = ReadJson(file("export_small.encodings"));
  std::vector<std::string> top;
  for (const auto& [key, value] : full.items()) top.push_back(key);
  EXPECT_EQ(top, (std::vector<std::string>{"activation_encodings", "excluded_layers", "param_encodings",
                                           "quantizer_args", "version"}));
  EXPECT_EQ(full.at("version"), "0.6.1");
  EXPECT_TRUE(full.at("excluded_layers").is_array());
  EXPECT_EQ(full.at("excluded_layers").size(), 0u);
  const auto& args = full.at("quantizer_args");
  EXPECT_EQ(args.at("activation_bitwidth"), 8);
  EXPECT_EQ(args.at("param_bitwidth"), 4);
  EXPECT_EQ(args.at("dtype"), "int");
  EXPECT_EQ(args.at("is_symmetric"), true);
  EXPECT_EQ(args.at("per_channel_quantization"), false);
  EXPECT_EQ(args.at("quant_scheme"), "post_training_tf_enhanced");
  ASSERT_EQ(full.at("activation_encodings").size(), 15u);  // input + 14 op outputs of the ResNet-8
  for (const auto& [name, entries] : full.at("activation_encodings").items()) {
    ASSERT_EQ(entries.size(), 1u) << name;
    expect_061_entry(entries[0], "activation " + name);
    EXPECT_EQ(entries[0].at("bitwidth"), 8);
    EXPECT_EQ(entries[0].at("is_symmetric"), "False");
  }
  for (const auto& [name, entries] : full.at("param_encodings").items()) {
    EXPECT_EQ(name.substr(name.size() - 7), ".weight");
    for (const auto& entry : entries) {
      expect_061_entry(entry, "param " + name);
      EXPECT_EQ(entry.at("is_symmetric"), "True");
      EXPECT_EQ(entry.at("bitwidth"), name == "fc.weight" ? 8 : 4);
    }
  }

  const json adaround = ReadJson(file("export_small_adaround.encodings"));
  EXPECT_EQ(adaround.size(), 1u) << "param_encodings only, as apply_adaround writes it";
  EXPECT_EQ(adaround.at("param_encodings"), full.at("param_encodings"));

  const json v1 = ReadJson(file("export_small_v1.0.0.encodings"));
  EXPECT_EQ(v1.at("version"), "1.0.0");
  EXPECT_TRUE(v1.at("activation_encodings").is_array());
  EXPECT_EQ(v1.at("activation_encodings").size(), 15u);
  ASSERT_EQ(v1.at("param_encodings").size(), 10u);
  for (const auto& list : {v1.at("activation_encodings"), v1.at("param_encodings")}) {
    for (const auto& entry : list) {
      std::vector<std::string> keys;
      for (const auto& [key, value] : entry.items()) keys.push_back(key);
      EXPECT_EQ(keys, (std::vector<std::string>{"bw", "dtype", "enc_type", "is_sym", "name", "offset", "scale"}));  // sorted
      EXPECT_EQ(entry.at("dtype"), "INT");
      EXPECT_EQ(entry.at("enc_type"), "PER_TENSOR");
      EXPECT_TRUE(entry.at("bw").is_number_integer());
      EXPECT_TRUE(entry.at("is_sym").is_boolean());
      ASSERT_TRUE(entry.at("scale").is_array() && entry.at("offset").is_array());
      EXPECT_EQ(entry.at("scale").size(), 1u);
      EXPECT_TRUE(entry.at("offset")[0].is_number_integer());
    }
  }
  // The same numbers as the 0.6.1 file.
  for (const auto& entry : v1.at("param_encodings")) {
    const auto& old = full.at("param_encodings").at(entry.at("name").get<std::string>())[0];
    EXPECT_EQ(entry.at("scale")[0].get<double>(), old.at("scale").get<double>());
    EXPECT_EQ(entry.at("offset")[0].get<std::int64_t>(), old.at("offset").get<std::int64_t>());
  }
}

/// A second config in the AIMET style: the AdaRound-rounded model plus its `_adaround.encodings`
/// frozen into the quant-sim (set_and_freeze_param_encodings), then calibrate and evaluate.
std::string ReuseConfig(const std::string& model, const std::string& encodings) {
  return "name: reuse\nseed: 0\nthreads: 2\nmodel: {path: " + model + ", input_shape: [1, 1, 28, 28]}\n" +
         "data:\n"
         "  calibration: {type: idx, images: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz,\n"
         "                num_samples: 256, batch_size: 32, scale: 0.00392156862745098}\n"
         "  evaluation:  {type: idx, images: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,\n"
         "                labels: /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz,\n"
         "                num_samples: 2000, batch_size: 250, scale: 0.00392156862745098}\n"
         "stages:\n"
         "  - {id: load,      type: load_model}\n"
         "  - {id: prepare,   type: prepare}\n"
         "  - {id: quantsim,  type: quant_sim, default_output_bw: 8, default_param_bw: 4, param_encodings: " +
         encodings + "}\n" +
         "  - {id: calibrate, type: calibrate}\n"
         "  - {id: evaluate,  type: evaluate, compare: [adaround]}\n";
}

TEST_F(ExportTest, ReusingTheAdaroundEncodingsInASecondConfigGivesTheSameAccuracy) {
  TempDir dir;
  WriteTextFile(dir / "reuse.yaml", ReuseConfig(file("model_adaround.pt"), file("export_small_adaround.encodings")));
  const CommandResult reuse = RunCli("run " + (dir / "reuse.yaml") + " --run-dir " + (dir / "run"));
  ASSERT_EQ(reuse.exit_code, 0) << reuse.output;
  EXPECT_NE(reuse.output.find("froze the param encodings of 10 layers"), std::string::npos) << reuse.output;
  const json first = ReadJson(file("report.json")).at("accuracy").at("adaround");
  const json second = ReadJson(dir / "run/report.json").at("accuracy").at("adaround");
  EXPECT_DOUBLE_EQ(second.at("top1").get<double>(), first.at("top1").get<double>());
  EXPECT_DOUBLE_EQ(second.at("top5").get<double>(), first.at("top5").get<double>());
  std::printf("first run's AdaRound quant-sim: top-1 %.2f; second config with its _adaround.encodings: %.2f\n",
              first.at("top1").get<double>(), second.at("top1").get<double>());
  // The activation ranges are the same too: the quant-sim is the same.
  const json calibrated_first = ReadJson(file("activation_encodings.json"));
  const json calibrated_second = ReadJson(dir / "run/activation_encodings.json");
  EXPECT_EQ(calibrated_first, calibrated_second);
}

TEST_F(ExportTest, MalformedOrMismatchedEncodingsAreRejectedWithExitTwo) {
  TempDir dir;
  const json good = ReadJson(file("export_small_adaround.encodings"));
  struct Case {
    std::string name;
    std::string text;
    std::string message;
  };
  json three_channels = good;
  three_channels["param_encodings"]["conv1.weight"] = json::array({good["param_encodings"]["conv1.weight"][0],
                                                                   good["param_encodings"]["conv1.weight"][0],
                                                                   good["param_encodings"]["conv1.weight"][0]});
  json unknown = good;
  unknown["param_encodings"]["layers.9.conv1.weight"] = good["param_encodings"]["conv1.weight"];
  json no_scale = good;
  no_scale["param_encodings"]["fc.weight"][0].erase("scale");
  const std::vector<Case> cases = {
      {"truncated", good.dump().substr(0, 200), "is not valid JSON"},
      {"channels", three_channels.dump(), "entry 'conv1.weight' has 3 per-channel encodings; layer 'conv1' has 16"},
      {"unknown", unknown.dump(), "entry 'layers.9.conv1.weight' names no parameter of model"},
      {"no_scale", no_scale.dump(), "entry 'fc.weight' lacks a field"},
  };
  // A finished run first: a bad file later must leave its results alone.
  WriteTextFile(dir / "good.encodings", good.dump());
  WriteTextFile(dir / "reuse.yaml", ReuseConfig(file("model_adaround.pt"), dir / "good.encodings"));
  ASSERT_EQ(RunCli("run " + (dir / "reuse.yaml") + " --run-dir " + (dir / "run")).exit_code, 0);
  const std::string metrics = ReadTextFile(dir / "run/metrics.json");
  for (const auto& c : cases) {
    WriteTextFile(dir / (c.name + ".encodings"), c.text);
    WriteTextFile(dir / "bad.yaml", ReuseConfig(file("model_adaround.pt"), dir / (c.name + ".encodings")));
    const CommandResult result = RunCli("run " + (dir / "bad.yaml") + " --run-dir " + (dir / "run"));
    EXPECT_EQ(result.exit_code, 2) << c.name << "\n" << result.output;
    EXPECT_NE(result.output.find(c.message), std::string::npos) << c.name << "\n" << result.output;
    EXPECT_NE(result.output.find(dir / (c.name + ".encodings")), std::string::npos) << "names the file";
    EXPECT_EQ(ReadTextFile(dir / "run/metrics.json"), metrics) << c.name;
  }
}

TEST_F(ExportTest, ReportIsWrittenFromTheFirstStageWithResultsAndShowsAFailure) {
  TempDir dir;
  // A directory where the exported model should go makes export fail after everything else finished.
  fs::create_directories(dir / "run/model_adaround.pt");
  const std::string args = std::string("run ") + kConfig + " --run-dir " + (dir / "run") +
                           " --set stages.adaround.num_iterations=30";
  const CommandResult failed = RunCli(args);
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  EXPECT_NE(failed.output.find("stage 'export'"), std::string::npos) << failed.output;
  EXPECT_NE(failed.output.find("report of what finished: " + (dir / "run/report.md")), std::string::npos)
      << failed.output;
  json report = ReadJson(dir / "run/report.json");
  EXPECT_TRUE(report.at("accuracy").contains("adaround"));
  EXPECT_FALSE(report.at("accuracy").contains("exported"));
  EXPECT_EQ(report.at("layers").size(), 10u);
  EXPECT_EQ(report.at("stages")[7].at("outcome"), "failed");
  EXPECT_FALSE(fs::exists(dir / "run/model_adaround.pt.partial"));

  fs::remove(dir / "run/model_adaround.pt");
  const CommandResult resumed = RunCli(args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("1 of 10 stages to run"), std::string::npos) << resumed.output;
  report = ReadJson(dir / "run/report.json");
  EXPECT_TRUE(report.at("accuracy").contains("exported"));
  EXPECT_EQ(report.at("stages")[7].at("outcome"), "ran");
}

TEST_F(ExportTest, PyTorchLoadsTheExportedModel) {
  if (RunCommand("/usr/bin/python3 -c 'import torch' 2>/dev/null").exit_code != 0)
    GTEST_SKIP() << "no PyTorch at /usr/bin/python3 (Debian's python3-torch); nothing at run time needs it";
  torch::jit::Module module = torch::jit::load(file("model_adaround.pt"));
  module.eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor input = torch::linspace(0, 1, 2 * 28 * 28).reshape({2, 1, 28, 28});
  const double expected = module.forward({input}).toTensor().sum().item<double>();
  const CommandResult python = RunCommand(
      "/usr/bin/python3 -c \"import torch; m = torch.jit.load('" + file("model_adaround.pt") +
      "'); m.eval(); x = torch.linspace(0, 1, 2 * 28 * 28).reshape(2, 1, 28, 28); print('sum=%.9g' % m(x).sum().item())\"");
  ASSERT_EQ(python.exit_code, 0) << python.output;
  const auto at = python.output.find("sum=");
  ASSERT_NE(at, std::string::npos) << python.output;
  EXPECT_NEAR(std::stod(python.output.substr(at + 4)), expected, 1e-4 * std::max(1.0, std::abs(expected)));
}

}  // namespace
}  // namespace adaflow::testing
