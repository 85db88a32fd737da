#include "src/adaround/wire.h"

#include <cstring>
#include <stdexcept>

namespace adaflow::adaround {

/// A tensor as dtype, sizes, strides and the bytes the strides span: the same layout comes back.
void PutTensor(ByteWriter& out, const torch::Tensor& tensor) {
  out.Put<std::uint8_t>(tensor.defined());
  if (!tensor.defined()) return;
  out.Put<std::int8_t>(static_cast<std::int8_t>(tensor.scalar_type()));
  out.Put(tensor.sizes().vec());
  out.Put(tensor.strides().vec());
  std::int64_t span = tensor.numel() > 0 ? 1 : 0;
  for (std::int64_t dim = 0; dim < tensor.dim() && span > 0; ++dim) {
    if (tensor.stride(dim) < 0) throw std::logic_error("a tensor with a negative stride cannot be sent");
    span += (tensor.size(dim) - 1) * tensor.stride(dim);
  }
  const std::size_t bytes = static_cast<std::size_t>(span) * tensor.element_size();
  out.Put<std::uint64_t>(bytes);
  if (bytes) out.Append(tensor.data_ptr(), bytes);
}

torch::Tensor GetTensor(ByteReader& in) {
  if (!in.Get<std::uint8_t>()) return {};
  const auto dtype = static_cast<torch::ScalarType>(in.Get<std::int8_t>());
  const auto sizes = in.GetVector<std::int64_t>();
  const auto strides = in.GetVector<std::int64_t>();
  const auto bytes = in.Get<std::uint64_t>();
  torch::Tensor tensor = torch::empty_strided(sizes, strides, torch::TensorOptions().dtype(dtype));
  if (bytes) std::memcpy(tensor.data_ptr(), in.Take(bytes), bytes);
  return tensor;
}

void PutLayer(ByteWriter& out, const model::Layer& layer) {
  out.Put(layer.name);
  out.Put<std::int32_t>(static_cast<std::int32_t>(layer.kind));
  out.Put(layer.weight_shape);
  out.Put<std::uint8_t>(layer.has_bias);
  out.Put(layer.groups);
  out.Put(layer.stride);
  out.Put(layer.padding);
  out.Put(layer.dilation);
  out.Put(layer.output_padding);
  const model::ActivationOp& act = layer.activation;
  out.Put<std::int32_t>(static_cast<std::int32_t>(act.kind));
  out.Put(act.args);
  out.Put(act.dim);
  out.Put(act.approximate);
  PutTensor(out, act.weight);
}

model::Layer GetLayer(ByteReader& in) {
  model::Layer layer;
  layer.name = in.GetString();
  layer.kind = static_cast<model::LayerKind>(in.Get<std::int32_t>());
  layer.weight_shape = in.GetVector<std::int64_t>();
  layer.has_bias = in.Get<std::uint8_t>() != 0;
  layer.groups = in.Get<std::int64_t>();
  layer.stride = in.GetVector<std::int64_t>();
  layer.padding = in.GetVector<std::int64_t>();
  layer.dilation = in.GetVector<std::int64_t>();
  layer.output_padding = in.GetVector<std::int64_t>();
  model::ActivationOp& act = layer.activation;
  act.kind = static_cast<model::Activation>(in.Get<std::int32_t>());
  act.args = in.GetVector<double>();
  act.dim = in.Get<std::int64_t>();
  act.approximate = in.GetString();
  act.weight = GetTensor(in);
  return layer;
}

}  // namespace adaflow::adaround
