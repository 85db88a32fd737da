#pragma once
// Encodings of weight tensors (per tensor or per output channel) and quantize-dequantize of tensors.

#include <torch/script.h>

#include <vector>

#include "src/quant/encoding.h"

namespace adaflow::quant {

/// The encodings of one weight tensor: one entry per tensor, or one per channel along `axis`.
struct TensorEncoding {
  std::vector<Encoding> channels;  ///< one entry, or one per channel
  int axis = 0;                    ///< channel axis (0, or 1 for transposed convolutions)
  bool axis_is_channel = false;    ///< per channel (even when there is a single channel)
};

/// ComputeTensorEncoding with the options' scheme, grid and per-channel choice; `axis`: the layer's
/// output-channel axis.
TensorEncoding ComputeWeightEncoding(const torch::Tensor& weight, const WeightGridOptions& options, int bitwidth,
                                     int axis);

/// Encodings of `weight` as AIMET computes param encodings: `scheme` over the whole tensor, or over
/// each slice along `axis`.
TensorEncoding ComputeTensorEncoding(const torch::Tensor& weight, Scheme scheme, const GridSpec& grid, bool per_channel,
                                     int axis);

/// Quantize-dequantize with AIMET's rounding (half away from zero); returns a new float tensor.
torch::Tensor QuantizeDequantize(const torch::Tensor& tensor, const TensorEncoding& encoding);

/// The integer grid indices q (as int64) of `tensor`.
torch::Tensor QuantizeToIndices(const torch::Tensor& tensor, const TensorEncoding& encoding);

}  // namespace adaflow::quant
