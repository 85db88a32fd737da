#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

enum class ExportFormat { kTorchScript, kAimet061, kAimet100, kOnnx, kOnnxQdq };

/// `type: export` — the quantized model (weights on their grid) and its encodings.
/// Help, default and range of each field: GetSchema() (`adaflow describe export`), declared once.
struct ExportOptions {
  std::vector<ExportFormat> formats = {ExportFormat::kTorchScript, ExportFormat::kAimet061};
  bool evaluate = true;
};

class ExportStage : public Stage {
 public:
  using Options = ExportOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit ExportStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  StageOutputs Restore(const StageInputs& inputs, StageContext& ctx) override;
  /// The evaluation set when the exported model is evaluated.
  std::optional<std::vector<std::string>> DataSets() const override {
    return options_.evaluate ? std::vector<std::string>{"evaluation"} : std::vector<std::string>{};
  }

 private:
  Options options_;
};

void RegisterExportStage(StageRegistry& registry);

}  // namespace adaflow
