#include "src/io/aimet_encodings.h"

#include <nlohmann/json.hpp>

namespace adaflow::io {

std::string ParamEncodingsJson(const std::map<std::string, quant::TensorEncoding>& params) {
  nlohmann::ordered_json encodings = nlohmann::ordered_json::object();
  for (const auto& [layer, encoding] : params) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& channel : encoding.channels) {
      list.push_back({{"bitwidth", channel.bitwidth},
                      {"dtype", "int"},
                      {"is_symmetric", channel.symmetric ? "True" : "False"},
                      {"max", channel.max},
                      {"min", channel.min},
                      {"offset", channel.offset},
                      {"scale", channel.scale}});
    }
    encodings[layer + ".weight"] = list;
  }
  return nlohmann::ordered_json{{"param_encodings", encodings}}.dump(4) + "\n";
}

}  // namespace adaflow::io
