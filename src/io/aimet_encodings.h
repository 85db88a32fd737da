#pragma once
// AIMET encodings files (JSON). Version 0.6.1: per entry bitwidth, dtype "int", is_symmetric as the
// strings "True"/"False", min, max, offset (int), scale; one entry per channel when per channel.

#include <map>
#include <string>
#include <vector>

#include "src/model/layers.h"
#include "src/quant/tensor_quant.h"

namespace adaflow::io {

/// `{"param_encodings": {"<layer>.weight": [...]}}`, as AIMET's apply_adaround writes it.
std::string ParamEncodingsJson(const std::map<std::string, quant::TensorEncoding>& params);

/// The weight encodings of an AIMET encodings file (either form: `<name>.encodings` or
/// `<name>_adaround.encodings`), by layer name, one entry per channel. Scale and offset are
/// authoritative: min and max are recomputed from them (AIMET does the same when it loads a file).
/// Throws InputError naming the file and the entry when it is not such a file.
std::map<std::string, std::vector<quant::Encoding>> ReadParamEncodings(const std::string& path);

/// The same, checked against a model's layers (every name must be a quantizable layer) and shaped as
/// quant-sim's frozen encodings (the channel axis from the layer).
std::map<std::string, quant::TensorEncoding> ReadParamEncodings(const std::string& path,
                                                                const model::LayerGraph& layers);

}  // namespace adaflow::io
