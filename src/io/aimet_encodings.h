#pragma once
// AIMET encodings files (JSON). Version 0.6.1: per entry bitwidth, dtype "int", is_symmetric as the
// strings "True"/"False", min, max, offset (int), scale; one entry per channel when per channel.

#include <map>
#include <string>

#include "src/quant/tensor_quant.h"

namespace adaflow::io {

/// `{"param_encodings": {"<layer>.weight": [...]}}`, as AIMET's apply_adaround writes it.
std::string ParamEncodingsJson(const std::map<std::string, quant::TensorEncoding>& params);

}  // namespace adaflow::io
