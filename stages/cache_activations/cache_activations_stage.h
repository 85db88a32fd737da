#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"
#include "src/io/activation_cache.h"

namespace adaflow {

/// `type: cache_activations` — FP input and target of every quantizable layer, in activations.h5.
/// Help, default and range of each field: GetSchema() (`adaflow describe cache_activations`), declared once.
struct CacheActivationsOptions {
  int memory_budget = 2048;
  io::StoreDtype dtype = io::StoreDtype::kFloat32;
};

void RegisterCacheActivationsStage(StageRegistry& registry);

}  // namespace adaflow
