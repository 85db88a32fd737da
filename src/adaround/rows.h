#pragma once
// The samples of one cached tensor (a layer's input or target), held in RAM or read from the HDF5
// activation cache on demand. Both give the same values, so the optimizer's result does not depend
// on which one a layer uses.

#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "src/io/activation_cache.h"

namespace adaflow::adaround {

class Rows {
 public:
  Rows() = default;
  /// In RAM. Implicit, so a tensor can stand where rows are expected.
  Rows(torch::Tensor tensor) : tensor_(std::move(tensor)) {}  // NOLINT(google-explicit-constructor)
  /// Streamed from `/layers/<layer>/<name>` of `store`.
  Rows(std::shared_ptr<const io::ActivationCache> store, std::string layer, std::string name);

  bool defined() const { return tensor_.defined() || store_ != nullptr; }
  bool streamed() const { return store_ != nullptr; }
  std::int64_t size() const;
  std::int64_t numel() const;
  /// [samples, …]
  std::vector<std::int64_t> shape() const { return store_ ? shape_ : tensor_.sizes().vec(); }
  /// Samples [start, start + count).
  torch::Tensor Slice(std::int64_t start, std::int64_t count) const;
  /// The samples at `indices`, in that order.
  torch::Tensor Gather(const torch::Tensor& indices) const;
  /// Everything (reads the whole dataset when streamed).
  torch::Tensor All() const;

 private:
  torch::Tensor tensor_;
  std::shared_ptr<const io::ActivationCache> store_;
  std::string layer_, name_;
  std::vector<std::int64_t> shape_;
};

}  // namespace adaflow::adaround
