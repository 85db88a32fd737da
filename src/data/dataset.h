#pragma once
// Data sets held in memory: one tensor [N, ...] per model input (float32 already scaled and normalized, or
// int64 token ids and masks) plus optional int64 labels [N] (classes) or [N, T] (one per token). Loaders
// check files, shapes and dtypes and throw InputError naming the data set, the array and the file.

#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/tensor_spec.h"
#include "src/data/data_options.h"

namespace adaflow::data {

struct Batch {
  std::vector<torch::Tensor> inputs;  ///< one [B, sample shape...] per model input
  torch::Tensor labels;               ///< [B] or [B, T] int64, undefined when the data set has no labels
};

class Dataset {
 public:
  /// `name` names the data set in messages ("calibration"). One input, called "input".
  Dataset(std::string name, torch::Tensor inputs, torch::Tensor labels, std::int64_t batch_size);
  /// Several inputs: `arrays` names where each came from in messages ("ids.npy"), one per input.
  Dataset(std::string name, std::vector<std::string> arrays, std::vector<torch::Tensor> inputs, torch::Tensor labels,
          std::int64_t batch_size);

  const std::string& name() const { return name_; }
  std::int64_t size() const { return inputs_[0].size(0); }
  std::size_t num_inputs() const { return inputs_.size(); }
  std::int64_t batch_size() const { return batch_size_; }
  std::int64_t num_batches() const { return (size() + batch_size_ - 1) / batch_size_; }
  bool labelled() const { return labels_.defined(); }
  /// Shape of one sample of input `index`, without the batch dimension.
  std::vector<std::int64_t> sample_shape(std::size_t index = 0) const;

  /// Batch `index` (the last one may be short). Thread-safe: returns views of the stored tensors.
  Batch GetBatch(std::int64_t index) const;
  /// Samples [start, start + count).
  Batch Slice(std::int64_t start, std::int64_t count) const;
  const std::vector<torch::Tensor>& inputs() const { return inputs_; }
  /// All samples of input `index`: [N, sample shape...].
  const torch::Tensor& input(std::size_t index = 0) const { return inputs_.at(index); }
  const torch::Tensor& labels() const { return labels_; }

  /// Throws InputError when one sample does not match the model's input (model.input_shape without
  /// its batch dimension).
  void CheckSampleShape(const std::vector<std::int64_t>& model_input_shape) const;
  /// Throws InputError naming the data set, the model input and the array when the data does not give
  /// one array per model input, of its sample shape (without the batch dimension) and dtype.
  void CheckInputs(const std::vector<TensorSpec>& model_inputs) const;

 private:
  std::string name_;
  std::vector<std::string> arrays_;
  std::vector<torch::Tensor> inputs_;
  torch::Tensor labels_;
  std::int64_t batch_size_;
};

/// MNIST-style IDX files: images (N×H×W or N×C×H×W unsigned bytes) and labels (N unsigned bytes).
std::shared_ptr<Dataset> LoadIdx(const std::string& name, const IdxDataOptions& options);

/// <root>/<class>/<image>: classes in sorted order are the labels; a num_samples subset takes evenly
/// spaced images so every class is represented.
std::shared_ptr<Dataset> LoadImageFolder(const std::string& name, const ImageFolderDataOptions& options);

/// An N × … dataset of numbers (converted to float) and optional N integer labels in an HDF5 file.
std::shared_ptr<Dataset> LoadHdf5(const std::string& name, const Hdf5DataOptions& options);
/// Several model inputs: one HDF5 dataset per input (options.inputs maps an input to its dataset; default:
/// the dataset of the input's name), converted to the input's dtype.
std::shared_ptr<Dataset> LoadHdf5(const std::string& name, const Hdf5DataOptions& options,
                                  const std::vector<TensorSpec>& model_inputs);

/// `type: npy` — one .npy file per array in a folder; each model input reads the array options.inputs
/// maps it to (default: the array of its own name), converted to its dtype (float arrays for an int64
/// input are a dtype mismatch), and labels from options.labels. `model_inputs` empty: one float array
/// called "input".
std::shared_ptr<Dataset> LoadNpy(const std::string& name, const NpyDataOptions& options,
                                 const std::vector<TensorSpec>& model_inputs);

/// One .npy array (NumPy format 1.0 to 3.0, little-endian bool, integer or float elements, C order).
/// Throws InputError naming the data set and the file.
torch::Tensor ReadNpy(const std::string& path, const std::string& data_set);

/// Normally distributed inputs from `seed`; no labels.
std::shared_ptr<Dataset> MakeRandom(const std::string& name, const RandomDataOptions& options, std::uint64_t seed);

/// Applies x·options.scale, then (x − mean[c]) / std[c] over channel axis 1 (one value applies to every
/// channel). Throws InputError when mean/std do not match the channel count.
torch::Tensor Normalize(torch::Tensor inputs, const SampleOptions& options, const std::string& name);

}  // namespace adaflow::data
