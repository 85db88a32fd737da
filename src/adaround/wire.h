#pragma once
// Tensors and layer descriptions as bytes, for the work the engine hands to other processes
// (remote_block.h, remote_prepare.h). A tensor keeps its dtype, sizes and strides, so the receiver
// computes on the same layout and gets the same bytes.

#include <torch/script.h>

#include "common/bytes.h"
#include "src/model/layers.h"

namespace adaflow::adaround {

/// dtype, sizes, strides and the bytes the strides span (an undefined tensor too). std::logic_error for
/// a negative stride.
void PutTensor(ByteWriter& out, const torch::Tensor& tensor);
torch::Tensor GetTensor(ByteReader& in);

/// A layer's op: its hyper-parameters and activation (no graph positions).
void PutLayer(ByteWriter& out, const model::Layer& layer);
model::Layer GetLayer(ByteReader& in);

}  // namespace adaflow::adaround
