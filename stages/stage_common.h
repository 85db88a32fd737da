#pragma once
// Helpers shared by the built-in stages.

#include <string>

#include "common/error.h"
#include "pipeline/pipeline_spec.h"

namespace adaflow {

/// AIMET's bitwidth rule: 2..16 bits, or 32 for "leave as float".
inline void CheckBitwidth(int bits, const std::string& key) {
  if (bits != 32 && (bits < 2 || bits > 16))
    throw InputError("'" + key + "' must be in [2, 16] or 32 (float), got " + std::to_string(bits));
}

/// Stages that read the model need the top-level `model:` section.
inline void RequireModel(const PipelineSpec& spec, const std::string& type) {
  if (!spec.has_model) throw InputError("stage type '" + type + "' needs the top-level 'model:' section (path, input_shape)");
}

/// Stages that read a data set need it under `data:`.
inline void RequireData(const PipelineSpec& spec, const std::string& name, const std::string& type) {
  if (!spec.FindData(name))
    throw InputError("stage type '" + type + "' needs 'data: " + name + ":' in the config");
}

}  // namespace adaflow
