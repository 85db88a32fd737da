#pragma once

namespace adaflow {

class StageRegistry;

/// Adds every built-in stage type and data type to `registry`. The one list of stages.
void RegisterBuiltinStages(StageRegistry& registry);

}  // namespace adaflow
