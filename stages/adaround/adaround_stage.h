#pragma once

#include "pipeline/stage_registry.h"
#include "src/adaround/engine.h"

namespace adaflow {

/// `type: adaround` — learns the rounding of every weight, layer by layer (AIMET's apply_adaround).
/// Its options are the engine's, as they are (adaround::EngineOptions; AIMET's names and defaults).
/// Help, default and range of each field: `adaflow describe adaround`, declared once in the stage.
using AdaroundOptions = adaround::EngineOptions;

void RegisterAdaroundStage(StageRegistry& registry);

}  // namespace adaflow
