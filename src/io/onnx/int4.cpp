#include "src/io/onnx/converter.h"

#include <stdexcept>

namespace adaflow::io::onnx_internal {
namespace {

// TensorProto.DataType values of ONNX 1.16 (IR version 10), which Debian's ONNX 1.12 headers predate.
constexpr int kUint4 = 21;
constexpr int kInt4 = 22;

/// Two elements a byte, the first in the low nibble (ONNX's INT4/UINT4 layout); an odd count pads the
/// last high nibble with zero.
std::string PackNibbles(const std::string& bytes) {
  std::string packed((bytes.size() + 1) / 2, '\0');
  for (std::size_t index = 0; index < bytes.size(); ++index) {
    const auto nibble = static_cast<unsigned char>(bytes[index]) & 0x0F;
    packed[index / 2] = static_cast<char>(static_cast<unsigned char>(packed[index / 2]) | (index % 2 ? nibble << 4 : nibble));
  }
  return packed;
}

void ToFourBits(onnx::TensorProto& tensor) {
  const std::string& raw = tensor.raw_data();
  if (tensor.data_type() == onnx::TensorProto::INT8) {
    for (const char value : raw)
      if (value < -8 || value > 7) throw std::logic_error("INT4 export: '" + tensor.name() + "' holds a value outside [-8, 7]");
    tensor.set_data_type(kInt4);
  } else if (tensor.data_type() == onnx::TensorProto::UINT8) {
    for (const char value : raw)
      if (static_cast<unsigned char>(value) > 15) throw std::logic_error("INT4 export: '" + tensor.name() + "' holds a value above 15");
    tensor.set_data_type(kUint4);
  } else {
    throw std::logic_error("INT4 export: '" + tensor.name() + "' is not an 8-bit integer tensor");
  }
  tensor.set_raw_data(PackNibbles(raw));
}

}  // namespace

void Converter::ToInt4Weights(onnx::ModelProto& proto) {
  const std::set<std::string>& four_bit = four_bit_initializers_;
  proto.set_ir_version(10);  // INT4 and UINT4 came with IR version 10, DequantizeLinear of them with opset 21
  proto.mutable_opset_import(0)->set_version(21);
  onnx::GraphProto& graph = *proto.mutable_graph();
  std::size_t converted = 0;
  for (auto& tensor : *graph.mutable_initializer())
    if (four_bit.count(tensor.name())) {
      ToFourBits(tensor);
      ++converted;
    }
  if (converted != four_bit.size()) throw std::logic_error("INT4 export: an initializer to convert is missing");
  // The one op adaflow writes whose form changed between opsets 13 and 21: ReduceMean takes its axes as
  // an input from opset 18 on.
  for (auto& node : *graph.mutable_node()) {
    if (node.op_type() != "ReduceMean") continue;
    auto& attributes = *node.mutable_attribute();
    for (int index = 0; index < attributes.size(); ++index) {
      if (attributes.Get(index).name() != "axes") continue;
      onnx::TensorProto& axes = *graph.add_initializer();
      axes.set_name(Fresh(node.output(0) + "_axes"));
      axes.set_data_type(onnx::TensorProto::INT64);
      axes.add_dims(attributes.Get(index).ints_size());
      for (const auto axis : attributes.Get(index).ints()) axes.add_int64_data(axis);
      node.add_input(axes.name());
      attributes.DeleteSubrange(index, 1);
      break;
    }
  }
}

}  // namespace adaflow::io::onnx_internal
