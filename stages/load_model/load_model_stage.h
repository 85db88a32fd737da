#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

/// `type: load_model` — loads the TorchScript model named by the top-level `model:` section.
struct LoadModelOptions {};

void RegisterLoadModelStage(StageRegistry& registry);

}  // namespace adaflow
