#pragma once
// Assembling a data set of several model inputs from named arrays (the hdf5 and npy types).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/data/dataset.h"

namespace adaflow::data {

/// One array as read from its file, and where it came from for messages ("data/ids.npy", "f.h5:ids").
struct ArrayRead {
  torch::Tensor values;  ///< [rows, ...] of the file's element type
  std::string where;
};
/// Reads the array of a name; throws InputError naming the file when there is none.
using ArrayReader = std::function<ArrayRead(const std::string& array)>;

/// Each model input reads the array `mapping` gives it (default: the array of its name; no model inputs:
/// one float array "input"), its first num_samples rows; an int64 input needs integers (floats are a
/// dtype mismatch), a float input is converted and normalized; `labels` (may be empty) must be integers
/// with a row per sample. Then the sample shapes are checked against `model_inputs`. InputError names the
/// data set, the input and the array.
std::shared_ptr<Dataset> AssembleInputs(const std::string& name, const SampleOptions& options,
                                        const std::map<std::string, std::string>& mapping, const std::string& labels,
                                        const std::vector<TensorSpec>& model_inputs, const ArrayReader& read);

}  // namespace adaflow::data
