#pragma once
// One named model input as the config declares it (`model.inputs`): its shape, batch first, and its element
// type. Plain data, shared by the config layer, the data sets and the model (no Torch here).

#include <cstdint>
#include <string>
#include <vector>

namespace adaflow {

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;  ///< batch first; empty = not known
  std::string dtype = "float32";    ///< one of kTensorDtypes
  bool integer() const { return dtype != "float32"; }
  bool operator==(const TensorSpec& other) const {
    return name == other.name && shape == other.shape && dtype == other.dtype;
  }
  bool operator!=(const TensorSpec& other) const { return !(*this == other); }
};

/// The element types a model input may have: float32 (images, features, additive masks), int64 (token ids,
/// positions, 0/1 attention masks).
inline const std::vector<std::string>& TensorDtypes() {
  static const std::vector<std::string> dtypes = {"float32", "int64"};
  return dtypes;
}

}  // namespace adaflow
