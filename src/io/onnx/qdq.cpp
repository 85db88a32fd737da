#include "src/io/onnx/converter.h"

#include "common/error.h"

namespace adaflow::io::onnx_internal {

std::string Converter::Weight(Value* value, Node* node) {
  const auto layer_it = layer_at_.find(node_index_);
  const Item& item = ItemOf(value, node);
  if (layer_it == layer_at_.end() || item.kind != Item::Kind::kParameter) return TensorOf(value, node);
  const std::string& layer = layer_it->second->name;
  weight_initializers_[layer] = item.name;
  if (!quantization_ || !quantization_->qdq || emitted_parameters_.count(item.name)) return TensorOf(value, node);
  const auto encoding_it = quantization_->params.find(layer);
  if (encoding_it == quantization_->params.end()) return TensorOf(value, node);
  const quant::TensorEncoding& encoding = encoding_it->second;
  bool signed_grid = true;
  for (const auto& channel : encoding.channels) {
    if (channel.bitwidth > 8) return TensorOf(value, node);  // 16-bit weights stay float (on their grid)
    signed_grid = signed_grid && channel.symmetric && channel.offset < 0;
  }
  const torch::Tensor weight = item.parameter.to(torch::kFloat64).contiguous();
  const std::int64_t count = static_cast<std::int64_t>(encoding.channels.size());
  std::vector<double> scales, offsets;
  for (const auto& channel : encoding.channels) {
    scales.push_back(channel.scale);
    offsets.push_back(static_cast<double>(channel.offset));
  }
  std::vector<std::int64_t> view(static_cast<std::size_t>(weight.dim()), 1);
  if (count > 1) view[static_cast<std::size_t>(encoding.axis)] = count;
  const torch::Tensor scale = torch::tensor(scales, torch::kFloat64).view(view);
  const torch::Tensor offset = torch::tensor(offsets, torch::kFloat64).view(view);
  // On its grid the weight is Δ·(q + o): signed grids store q + o (zero point 0), others q (zero point −o).
  torch::Tensor levels = torch::round(weight / scale);
  if (!signed_grid) levels = levels - offset;
  const std::string quantized =
      AddInitializer(item.name + "_quantized", levels.to(signed_grid ? torch::kInt8 : torch::kUInt8));
  const std::string scale_name = AddInitializer(item.name + "_scale", torch::tensor(scales).to(torch::kFloat32).view(count > 1 ? std::vector<std::int64_t>{count} : std::vector<std::int64_t>{}));
  torch::Tensor zero = signed_grid ? torch::zeros({count}, torch::TensorOptions().dtype(torch::kInt8))
                                   : (-torch::tensor(offsets, torch::kFloat64)).to(torch::kUInt8);
  if (count == 1) zero = zero.reshape(std::vector<std::int64_t>{});  // (view({}) would reinterpret the dtype)
  const std::string zero_name = AddInitializer(item.name + "_zero_point", zero);
  bool four_bits = quantization_->int4_weights;
  for (const auto& channel : encoding.channels) four_bits = four_bits && channel.bitwidth <= 4;
  if (four_bits) four_bit_initializers_.insert({quantized, zero_name});
  used_.insert(item.name);
  auto* dequantize = AddNode("DequantizeLinear", {quantized, scale_name, zero_name}, {item.name});
  if (count > 1) Attr(dequantize, "axis", encoding.axis);
  emitted_parameters_.insert(item.name);
  const_cast<Item&>(item).kind = Item::Kind::kTensor;
  return item.name;
}

void Converter::Quantize(const model::ValueRef& ref, Value* value) {
  if (!quantization_) return;
  auto it = quantizer_at_.find(ref);
  if (it == quantizer_at_.end()) return;
  const quant::ActivationQuantizer& quantizer = *it->second;
  const quant::Encoding& encoding = quantizer.encoding;
  const std::string tensor = TensorOf(value, value->node());
  activation_tensors_[quantizer.name] = tensor;
  if (!quantization_->qdq) return;
  if (encoding.bitwidth > 8)
    throw InputError("ONNX export: activation quantizer '" + quantizer.name + "' has " +
                     std::to_string(encoding.bitwidth) + " bits; onnx_qdq holds up to 8 (opset 13)");
  const std::string scale = AddInitializer(tensor + "_scale", torch::tensor(static_cast<float>(encoding.scale)));
  const std::string zero =
      AddInitializer(tensor + "_zero_point", torch::tensor(static_cast<std::int64_t>(-encoding.offset)).to(torch::kUInt8));
  const std::string quantized = Fresh(tensor + "_quantized"), dequantized = Fresh(tensor + "_dequantized");
  AddNode("QuantizeLinear", {tensor, scale, zero}, {quantized});
  if (encoding.bitwidth == 8) {
    AddNode("DequantizeLinear", {quantized, scale, zero}, {dequantized});
  } else {
    // Fewer than 8 bits: uint8 saturates at 255, so the grid's own ends are kept with a Clip.
    const std::string wide = Fresh(tensor + "_dequantized_uint8");
    AddNode("DequantizeLinear", {quantized, scale, zero}, {wide});
    const double low = encoding.scale * static_cast<double>(encoding.offset);
    const double high = encoding.scale * static_cast<double>(encoding.offset + encoding.steps());
    AddNode("Clip", {wide, Scalar(low), Scalar(high)}, {dequantized});
  }
  items_[value] = TensorItem(dequantized);
}

}  // namespace adaflow::io::onnx_internal
