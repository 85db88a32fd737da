#pragma once
// A TorchScript model: loading with clear errors, forward, deep copies, and the inlined forward graph
// that layer discovery, activation capture and quant-sim work on (DESIGN §5).

#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/tensor_spec.h"

namespace adaflow::model {

/// The tensors of one forward call, one per model input, in the forward's argument order.
using Inputs = std::vector<torch::Tensor>;

/// One float32 input called "input" of `shape` (model.input_shape); none when `shape` is empty.
std::vector<TensorSpec> SingleInput(const std::vector<std::int64_t>& shape);

class Model {
 public:
  Model(torch::jit::Module module, std::string source);

  /// Loads `path` and puts it in eval mode. When `input_shape` is not empty, runs one forward pass on
  /// zeros of that shape. Throws InputError naming the file: missing, not TorchScript, no forward, or
  /// a forward that rejects the shape or does not return a tensor.
  static std::shared_ptr<Model> Load(const std::string& path, const std::vector<std::int64_t>& input_shape);
  /// Load with several named inputs (model.inputs): the forward must take as many, and when its
  /// argument names are the declared names, in the same order. Runs one forward pass on ExampleInputs.
  static std::shared_ptr<Model> LoadWithInputs(const std::string& path, const std::vector<TensorSpec>& inputs);

  const torch::jit::Module& module() const { return module_; }
  torch::jit::Module& module() { return module_; }
  const std::string& source() const { return source_; }

  /// A deep copy (parameters and buffers copied): writing weights into it leaves this one alone.
  std::shared_ptr<Model> Clone() const;

  /// Runs forward without autograd. Thread-safe for concurrent calls.
  torch::Tensor Forward(const Inputs& inputs) const;
  torch::Tensor Forward(const torch::Tensor& input) const { return Forward(Inputs{input}); }

  /// A fresh copy of the forward graph with every submodule call inlined and constant branches
  /// folded. Its first input is the module itself; weights are prim::GetAttr nodes read at run time.
  /// When the input shapes are known (Load with them, or SetInputs), branches on a tensor's rank
  /// (`x.dim() == 4`: scripted F.interpolate, InstanceNorm, MultiheadAttention) are folded too.
  std::shared_ptr<torch::jit::Graph> InlinedGraph() const;

  /// The inputs forward was checked with ({} = unknown): a model's tensors then have known ranks.
  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  /// The first input's shape ({} = unknown).
  std::vector<std::int64_t> input_shape() const { return inputs_.empty() ? std::vector<std::int64_t>{} : inputs_[0].shape; }
  void SetInputs(std::vector<TensorSpec> inputs);

  /// The submodule at a dotted path ("layers.0.conv1"; "" is the model itself).
  torch::jit::Module Submodule(const std::string& path) const;

 private:
  torch::jit::Module module_;
  std::string source_;
  std::vector<TensorSpec> inputs_;
  /// InlinedGraph's result, made once (folding ranks runs the model); copied for each caller.
  mutable std::shared_ptr<torch::jit::Graph> inlined_;
  mutable std::mutex inlined_mutex_;
};

/// The submodule of `root` at a dotted path ("" is root itself), or nullopt.
std::optional<torch::jit::Module> FindSubmodule(const torch::jit::Module& root, const std::string& path);

/// Number of aten::batch_norm nodes in the inlined forward graph.
int CountBatchNorms(const Model& model);

/// `input` in the memory layout the model's convolutions run fastest with: channels-last for 4-D
/// tensors (oneDNN's NHWC kernels; no reorder per convolution), unchanged otherwise.
torch::Tensor ForCompute(const torch::Tensor& input);

/// Zeros of each input's shape and dtype (the batch dimension set to `batch` when > 0): the example input
/// that shape probes and checks run on.
Inputs ExampleInputs(const std::vector<TensorSpec>& inputs, std::int64_t batch = 0);

/// Whether one of `inputs` is integral (token ids, masks): no activation grid, no float conversion.
bool IsIntegerInput(const std::vector<TensorSpec>& inputs, std::size_t index);

/// "[1, 1, 28, 28]"
std::string ShapeString(const std::vector<std::int64_t>& shape);

}  // namespace adaflow::model
