#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

/// `type: prepare` — folds batch norm and discovers the quantizable layers and their DAG.
/// Help, default and range of each field: GetSchema() (`adaflow describe prepare`), declared once.
struct PrepareOptions {
  bool fold_batchnorm = true;
};

class PrepareStage : public Stage {
 public:
  using Options = PrepareOptions;
  static const Schema<Options>& GetSchema();
  static std::unique_ptr<Stage> Make(const Options& options, const PipelineSpec& spec);
  explicit PrepareStage(Options options) : options_(std::move(options)) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override;
  std::optional<std::vector<std::string>> DataSets() const override { return std::vector<std::string>{}; }

 private:
  Options options_;
};

void RegisterPrepareStage(StageRegistry& registry);

}  // namespace adaflow
