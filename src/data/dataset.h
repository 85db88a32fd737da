#pragma once
// Data sets held in memory as one float tensor [N, ...] (already scaled and normalized) plus optional
// int64 labels [N]. Loaders check files and shapes and throw InputError naming the file.

#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/data/data_options.h"

namespace adaflow::data {

struct Batch {
  torch::Tensor inputs;  ///< [B, sample shape...] float32
  torch::Tensor labels;  ///< [B] int64, undefined when the data set has no labels
};

class Dataset {
 public:
  /// `name` names the data set in messages ("calibration").
  Dataset(std::string name, torch::Tensor inputs, torch::Tensor labels, std::int64_t batch_size);

  const std::string& name() const { return name_; }
  std::int64_t size() const { return inputs_.size(0); }
  std::int64_t batch_size() const { return batch_size_; }
  std::int64_t num_batches() const { return (size() + batch_size_ - 1) / batch_size_; }
  bool labelled() const { return labels_.defined(); }
  /// Shape of one sample, without the batch dimension.
  std::vector<std::int64_t> sample_shape() const;

  /// Batch `index` (the last one may be short). Thread-safe: returns views of the stored tensors.
  Batch GetBatch(std::int64_t index) const;
  /// Samples [start, start + count).
  Batch Slice(std::int64_t start, std::int64_t count) const;
  const torch::Tensor& inputs() const { return inputs_; }
  const torch::Tensor& labels() const { return labels_; }

  /// Throws InputError when one sample does not match the model's input (model.input_shape without
  /// its batch dimension).
  void CheckSampleShape(const std::vector<std::int64_t>& model_input_shape) const;

 private:
  std::string name_;
  torch::Tensor inputs_;
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

/// Normally distributed inputs from `seed`; no labels.
std::shared_ptr<Dataset> MakeRandom(const std::string& name, const RandomDataOptions& options, std::uint64_t seed);

/// Applies x·options.scale, then (x − mean[c]) / std[c] over channel axis 1 (one value applies to every
/// channel). Throws InputError when mean/std do not match the channel count.
torch::Tensor Normalize(torch::Tensor inputs, const SampleOptions& options, const std::string& name);

}  // namespace adaflow::data
