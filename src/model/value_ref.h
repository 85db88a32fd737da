#pragma once

#include <cstddef>

namespace adaflow::model {

/// A value of Model::InlinedGraph(): output `output` of top-level node `node`, or, with node = kInput,
/// the model's input number `output` (0 for a one-input model). Node positions are stable because the inlined graph is rebuilt the same way.
struct ValueRef {
  static constexpr std::size_t kInput = static_cast<std::size_t>(-1);
  std::size_t node = kInput;
  std::size_t output = 0;
  bool operator<(const ValueRef& other) const {
    return node != other.node ? node < other.node : output < other.output;
  }
  bool operator==(const ValueRef& other) const { return node == other.node && output == other.output; }
};

}  // namespace adaflow::model
