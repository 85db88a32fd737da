#include "src/io/aimet_encodings.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "common/error.h"

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

std::map<std::string, std::vector<quant::Encoding>> ReadParamEncodings(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("encodings file '" + path + "' does not exist");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw InputError("encodings file '" + path + "' is not valid JSON: " + error.what());
  }
  if (!json.is_object() || !json.contains("param_encodings") || !json.at("param_encodings").is_object())
    throw InputError("encodings file '" + path + "' has no \"param_encodings\" object");
  std::map<std::string, std::vector<quant::Encoding>> result;
  for (const auto& [key, entries] : json.at("param_encodings").items()) {
    const std::string suffix = ".weight";
    if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0)
      throw InputError("encodings file '" + path + "': entry '" + key +
                       "' is not a weight ('<layer>.weight'); only weight encodings can be frozen");
    const std::string where = "encodings file '" + path + "', entry '" + key + "'";
    if (!entries.is_array() || entries.empty()) throw InputError(where + " must be a non-empty list");
    std::vector<quant::Encoding> channels;
    for (const auto& item : entries) {
      try {
        quant::Encoding enc;
        enc.bitwidth = item.at("bitwidth").get<int>();
        enc.scale = item.at("scale").get<double>();
        enc.offset = item.at("offset").get<std::int64_t>();
        const auto& symmetric = item.at("is_symmetric");
        enc.symmetric = symmetric.is_boolean() ? symmetric.get<bool>() : symmetric.get<std::string>() == "True";
        if (enc.bitwidth < 2 || enc.bitwidth > 16 || !(enc.scale > 0) || enc.offset > 0)
          throw InputError(where + ": bitwidth must be 2..16, scale > 0 and offset <= 0");
        const std::int64_t full = (std::int64_t{1} << enc.bitwidth) - 1;
        // A strict symmetric grid has one step fewer: offset −(2^(b−1) − 1).
        enc.num_steps = enc.symmetric && enc.offset == -((std::int64_t{1} << (enc.bitwidth - 1)) - 1) ? full - 1 : full;
        if (-enc.offset > enc.num_steps) throw InputError(where + ": offset is outside the grid");
        enc.min = enc.scale * static_cast<double>(enc.offset);
        enc.max = enc.scale * static_cast<double>(enc.offset + enc.num_steps);
        channels.push_back(enc);
      } catch (const nlohmann::json::exception& error) {
        throw InputError(where + " lacks a field or has one of the wrong type: " + error.what());
      }
    }
    result[key.substr(0, key.size() - suffix.size())] = std::move(channels);
  }
  return result;
}

std::map<std::string, quant::TensorEncoding> ReadParamEncodings(const std::string& path,
                                                                const model::LayerGraph& layers) {
  std::map<std::string, quant::TensorEncoding> result;
  for (auto& [name, channels] : ReadParamEncodings(path)) {
    const model::Layer* layer = layers.Find(name);
    if (!layer)
      throw InputError("encodings file '" + path + "' has encodings for '" + name +
                       "', which is not a quantizable layer of the model (adaflow inspect lists them)");
    quant::TensorEncoding encoding;
    encoding.channels = std::move(channels);
    encoding.axis = layer->channel_axis();
    encoding.axis_is_channel = encoding.channels.size() > 1;
    result[name] = std::move(encoding);
  }
  return result;
}

}  // namespace adaflow::io
