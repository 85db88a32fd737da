#include "src/quant/tensor_quant.h"

#include <stdexcept>

namespace adaflow::quant {
namespace {

/// The tensor with `axis` first, contiguous: each channel is then one run of memory.
torch::Tensor Channels(const torch::Tensor& tensor, int axis) {
  return axis == 0 ? tensor.contiguous() : tensor.transpose(0, axis).contiguous();
}

/// Inverse of Channels.
torch::Tensor Uncover(const torch::Tensor& channels, int axis) {
  return axis == 0 ? channels : channels.transpose(0, axis).contiguous();
}

}  // namespace

TensorEncoding ComputeWeightEncoding(const torch::Tensor& weight, const WeightGridOptions& options, int bitwidth,
                                     int axis) {
  return ComputeTensorEncoding(weight, options.quant_scheme, options.Grid(bitwidth), options.per_channel, axis);
}

TensorEncoding ComputeTensorEncoding(const torch::Tensor& weight, Scheme scheme, const GridSpec& grid, bool per_channel,
                                     int axis) {
  const torch::Tensor values = weight.detach().to(torch::kFloat32).contiguous();
  TensorEncoding result;
  result.axis = axis;
  result.axis_is_channel = per_channel;
  if (!per_channel) {
    result.channels.push_back(ComputeEncoding(values.data_ptr<float>(), static_cast<std::size_t>(values.numel()),
                                              scheme, grid));
    return result;
  }
  const torch::Tensor channels = Channels(values, axis);
  const std::int64_t count = channels.size(0);
  const std::int64_t inner = channels.numel() / count;
  for (std::int64_t channel = 0; channel < count; ++channel)
    result.channels.push_back(ComputeEncoding(channels.data_ptr<float>() + channel * inner,
                                              static_cast<std::size_t>(inner), scheme, grid));
  return result;
}

torch::Tensor QuantizeDequantize(const torch::Tensor& tensor, const TensorEncoding& encoding) {
  const torch::Tensor values = tensor.detach().to(torch::kFloat32).contiguous();
  if (!encoding.axis_is_channel) {
    torch::Tensor out = torch::empty_like(values);
    QuantizeDequantize(values.data_ptr<float>(), out.data_ptr<float>(), static_cast<std::size_t>(values.numel()),
                       encoding.channels.at(0));
    return out;
  }
  torch::Tensor channels = Channels(values, encoding.axis);
  if (channels.size(0) != static_cast<std::int64_t>(encoding.channels.size()))
    throw std::invalid_argument("per-channel encoding count does not match the tensor");
  torch::Tensor out = torch::empty_like(channels);
  const std::int64_t inner = channels.numel() / channels.size(0);
  for (std::int64_t channel = 0; channel < channels.size(0); ++channel)
    QuantizeDequantize(channels.data_ptr<float>() + channel * inner, out.data_ptr<float>() + channel * inner,
                       static_cast<std::size_t>(inner), encoding.channels[static_cast<std::size_t>(channel)]);
  return Uncover(out, encoding.axis);
}

torch::Tensor QuantizeToIndices(const torch::Tensor& tensor, const TensorEncoding& encoding) {
  const torch::Tensor values = tensor.detach().to(torch::kFloat32).contiguous();
  const torch::Tensor channels = encoding.axis_is_channel ? Channels(values, encoding.axis) : values.view({1, -1});
  torch::Tensor out = torch::empty(channels.sizes(), torch::kInt64);
  const std::int64_t inner = channels.numel() / channels.size(0);
  for (std::int64_t channel = 0; channel < channels.size(0); ++channel) {
    const Encoding& enc = encoding.channels.at(static_cast<std::size_t>(channel));
    const float* in = channels.data_ptr<float>() + channel * inner;
    std::int64_t* q = out.data_ptr<std::int64_t>() + channel * inner;
    for (std::int64_t idx = 0; idx < inner; ++idx) q[idx] = Quantize(in[idx], enc);
  }
  return encoding.axis_is_channel ? Uncover(out, encoding.axis) : out.view(values.sizes());
}

}  // namespace adaflow::quant
