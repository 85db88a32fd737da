#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

/// `type: prepare` — splits attention projections, folds batch norm and discovers the quantizable layers and their DAG.
/// Help, default and range of each field: GetSchema() (`adaflow describe prepare`), declared once.
struct PrepareOptions {
  bool fold_batchnorm = true;
  bool fold_forward = true;
  bool quantizable_attention = true;
};

void RegisterPrepareStage(StageRegistry& registry);

}  // namespace adaflow
