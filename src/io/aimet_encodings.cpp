#include "src/io/aimet_encodings.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "common/error.h"
#include "src/quant/module_params.h"

namespace adaflow::io {

namespace {

using Json = nlohmann::ordered_json;

Json Entry061(const quant::Encoding& enc) {
  if (enc.bitwidth >= 32) return {{"bitwidth", 32}, {"dtype", "float"}};
  return {{"bitwidth", enc.bitwidth}, {"dtype", "int"},     {"is_symmetric", enc.symmetric ? "True" : "False"},
          {"max", enc.max},           {"min", enc.min},     {"offset", enc.offset},
          {"scale", enc.scale}};
}

Json List061(const std::vector<quant::Encoding>& channels) {
  Json list = Json::array();
  for (const auto& channel : channels) list.push_back(Entry061(channel));
  return list;
}

Json Entry100(const std::string& name, const std::vector<quant::Encoding>& channels) {
  const quant::Encoding& first = channels.at(0);
  if (first.bitwidth >= 32) return {{"name", name}, {"dtype", "FLOAT"}, {"enc_type", "PER_TENSOR"}, {"bw", 32}};
  Json scale = Json::array(), offset = Json::array();
  for (const auto& channel : channels) {
    scale.push_back(channel.scale);
    offset.push_back(channel.offset);
  }
  return {{"name", name},
          {"dtype", "INT"},
          {"enc_type", channels.size() > 1 ? "PER_CHANNEL" : "PER_TENSOR"},
          {"bw", first.bitwidth},
          {"is_sym", first.symmetric},
          {"scale", scale},
          {"offset", offset}};
}

Json QuantizerArgsJson(const QuantizerArgs& args) {
  return {{"activation_bitwidth", args.activation_bitwidth},
          {"dtype", "int"},
          {"is_symmetric", args.param_symmetric},
          {"param_bitwidth", args.param_bitwidth},
          {"per_channel_quantization", args.per_channel},
          {"quant_scheme", args.quant_scheme}};
}

}  // namespace

std::string ParamEncodingsJson(const std::map<std::string, quant::TensorEncoding>& params) {
  Json encodings = Json::object();
  for (const auto& [layer, encoding] : params) encodings[layer + ".weight"] = List061(encoding.channels);
  return Json{{"param_encodings", encodings}}.dump(4) + "\n";
}

std::string EncodingsJson(const ModelEncodings& encodings, EncodingsVersion version) {
  Json json;
  if (version == EncodingsVersion::k061) {
    Json activations = Json::object(), params = Json::object();
    for (const auto& [name, enc] : encodings.activations) activations[name] = List061({enc});
    for (const auto& [layer, encoding] : encodings.params) params[layer + ".weight"] = List061(encoding.channels);
    for (const auto& [key, encoding] : encodings.module_params) params[key] = List061(encoding.channels);
    json = {{"activation_encodings", activations},
            {"excluded_layers", encodings.excluded_layers},
            {"param_encodings", params},
            {"quantizer_args", QuantizerArgsJson(encodings.args)},
            {"version", "0.6.1"}};
  } else {
    Json activations = Json::array(), params = Json::array();
    for (const auto& [name, enc] : encodings.activations) activations.push_back(Entry100(name, {enc}));
    for (const auto& [layer, encoding] : encodings.params) params.push_back(Entry100(layer + ".weight", encoding.channels));
    for (const auto& [key, encoding] : encodings.module_params) params.push_back(Entry100(key, encoding.channels));
    json = {{"version", "1.0.0"},
            {"activation_encodings", activations},
            {"param_encodings", params},
            {"excluded_layers", encodings.excluded_layers},
            {"quantizer_args", QuantizerArgsJson(encodings.args)}};
  }
  return json.dump(4) + "\n";
}

std::string TorchEncodingsJson(const ModelEncodings& encodings) {
  if (encodings.activation_modules.size() != encodings.activations.size())
    throw std::logic_error("TorchEncodingsJson: activation_modules does not match activations");
  Json activations = Json::object(), params = Json::object();
  for (std::size_t idx = 0; idx < encodings.activations.size(); ++idx) {
    const auto& [module, input] = encodings.activation_modules[idx];
    const char* side = input ? "input" : "output";
    if (activations.contains(module) && activations[module].contains(side))
      throw std::logic_error("TorchEncodingsJson: two activations are the " + std::string(side) + " of '" + module + "'");
    activations[module][side]["0"] = Entry061(encodings.activations[idx].second);
  }
  for (const auto& [layer, encoding] : encodings.params) params[layer + ".weight"] = List061(encoding.channels);
  for (const auto& [key, encoding] : encodings.module_params) params[key] = List061(encoding.channels);
  const Json json = {{"activation_encodings", activations},
                     {"excluded_layers", encodings.excluded_layers},
                     {"param_encodings", params},
                     {"quantizer_args", QuantizerArgsJson(encodings.args)},
                     {"version", "0.6.1"}};
  return json.dump(4) + "\n";
}

namespace {

nlohmann::json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("encodings file '" + path + "' does not exist");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw InputError("encodings file '" + path + "' is not valid JSON: " + error.what());
  }
}

/// The module-keyed layout's key of an activation: "<module>/input/0" or "<module>/output/0".
std::string ModuleKey(const std::string& module, bool input) { return module + (input ? "/input/0" : "/output/0"); }

/// One section of an encodings file by key, each entry in the 0.6.1 shape (a list of per-channel
/// entries): version 1.0.0 lists are converted, and a module-keyed activation section is flattened to
/// ModuleKey keys (`module_keyed` tells which it was).
std::map<std::string, nlohmann::json> ParseSection(const nlohmann::json& json, const std::string& path,
                                                   const std::string& section, bool* module_keyed) {
  if (!json.is_object() || !json.contains(section) || !(json.at(section).is_object() || json.at(section).is_array()))
    throw InputError("encodings file '" + path + "' has no \"" + section + "\" object (or list, version 1.0.0)");
  std::map<std::string, nlohmann::json> by_name;
  if (module_keyed) *module_keyed = false;
  if (json.at(section).is_object()) {
    for (const auto& [key, entries] : json.at(section).items()) {
      if (!module_keyed || !entries.is_object()) {
        if (!by_name.emplace(key, entries).second)
          throw InputError("encodings file '" + path + "', " + section + " entry '" + key + "' is given twice");
        continue;
      }
      // {"<module>": {"input": {"0": entry}, "output": {"0": entry}}}
      *module_keyed = true;
      const std::string where = "encodings file '" + path + "', " + section + " entry '" + key + "'";
      if (entries.empty()) throw InputError(where + " is empty");
      for (const auto& [side, indexed] : entries.items()) {
        if ((side != "input" && side != "output") || !indexed.is_object() || indexed.empty())
          throw InputError(where + ": expected {\"input\" or \"output\": {\"<index>\": entry}}");
        for (const auto& [index, entry] : indexed.items()) {
          if (index != "0")
            throw InputError(where + ": " + side + " " + index + " (adaflow quantizes only the first " + side +
                             " of a module)");
          if (!by_name.emplace(ModuleKey(key, side == "input"), nlohmann::json::array({entry})).second)
            throw InputError(where + ": the " + side + " of '" + key + "' is given twice");
        }
      }
    }
    return by_name;
  }
  // Version 1.0.0 lists one object per tensor, with per-channel scale/offset arrays; turn each into
  // the 0.6.1 shape (a list of per-channel entries) so both are checked the same way.
  for (const auto& item : json.at(section)) {
    if (!item.is_object() || !item.contains("name") || !item.at("name").is_string())
      throw InputError("encodings file '" + path + "': a " + section + " entry has no \"name\"");
    const std::string name = item.at("name").get<std::string>();
    const std::string where = "encodings file '" + path + "', entry '" + name + "'";
    try {
      const std::string dtype = item.value("dtype", "INT");
      if (dtype == "FLOAT" || dtype == "float") {
        by_name[name] = nlohmann::json::array({{{"bitwidth", item.value("bw", 32)}, {"dtype", "float"}}});
        continue;
      }
      const auto& scales = item.at("scale");
      const auto& offsets = item.at("offset");
      if (!scales.is_array() || !offsets.is_array() || scales.size() != offsets.size())
        throw InputError(where + ": 'scale' and 'offset' must be lists of the same length");
      nlohmann::json channels = nlohmann::json::array();
      for (std::size_t idx = 0; idx < scales.size(); ++idx)
        channels.push_back({{"bitwidth", item.at("bw")}, {"is_symmetric", item.at("is_sym")},
                            {"scale", scales[idx]}, {"offset", offsets[idx]}});
      by_name[name] = channels;
    } catch (const nlohmann::json::exception& error) {
      throw InputError(where + " lacks a field or has one of the wrong type: " + error.what());
    }
  }
  return by_name;
}

}  // namespace

std::map<std::string, nlohmann::json> ParseParamEncodings(const std::string& path) {
  return ParseSection(ReadJsonFile(path), path, "param_encodings", nullptr);
}

namespace {

/// An integer field of an entry: a JSON integer, or a number with an integral value (3.0), within
/// [low, high]; InputError otherwise (a float out of an integer's range is never converted).
std::int64_t IntegerField(const nlohmann::json& item, const char* key, std::int64_t low, std::int64_t high,
                          const std::string& where) {
  const nlohmann::json& value = item.at(key);
  if (!value.is_number()) throw InputError(where + ": '" + key + "' must be an integer");
  const double number = value.get<double>();
  if (!(number >= static_cast<double>(low) && number <= static_cast<double>(high)) || number != std::floor(number))
    throw InputError(where + ": '" + key + "' is " + value.dump() + "; it must be an integer in [" + std::to_string(low) +
                     ", " + std::to_string(high) + "]");
  return value.is_number_integer() ? value.get<std::int64_t>() : static_cast<std::int64_t>(number);
}

}  // namespace

std::vector<quant::Encoding> ParamEntryEncodings(const nlohmann::json& entries, const std::string& where) {
  if (!entries.is_array() || entries.empty()) throw InputError(where + " must be a non-empty list");
  std::vector<quant::Encoding> channels;
  for (const auto& item : entries) {
    try {
      if (item.value("dtype", "int") == "float") return {};
      quant::Encoding enc;
      enc.bitwidth = static_cast<int>(IntegerField(item, "bitwidth", 2, 16, where));
      enc.scale = item.at("scale").get<double>();
      enc.offset = IntegerField(item, "offset", -(std::int64_t{1} << 16), 0, where);
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
  return channels;
}

std::string LayerOfWeightKey(const std::string& key) {
  const std::string suffix = ".weight";
  if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) return "";
  return key.substr(0, key.size() - suffix.size());
}

ParamEncodingsFile ReadParamEncodings(const std::string& path, const model::LayerGraph& layers,
                                      const model::Model& model) {
  std::set<std::string> parameters;
  for (const auto& parameter : model.module().named_parameters(/*recurse=*/true)) parameters.insert(parameter.name);
  for (const auto& buffer : model.module().named_buffers(/*recurse=*/true)) parameters.insert(buffer.name);
  std::map<std::string, quant::ModuleParam> module_params;
  for (auto& param : quant::FindModuleParams(model, layers)) module_params.emplace(param.key(), std::move(param));
  ParamEncodingsFile result;
  for (const auto& [key, entries] : ParseParamEncodings(path)) {
    const std::string where = "encodings file '" + path + "', entry '" + key + "'";
    const std::string layer_name = LayerOfWeightKey(key);
    const bool is_weight = !layer_name.empty();
    const model::Layer* layer = is_weight ? layers.Find(layer_name) : nullptr;
    if (const auto param = module_params.find(key); !layer && param != module_params.end()) {
      // Another module's parameter (LayerNorm, Embedding, PReLU, an unfolded BatchNorm: module_params.h).
      std::vector<quant::Encoding> channels = ParamEntryEncodings(entries, where);
      if (channels.empty()) {
        result.float_params.push_back(key);
        continue;
      }
      const std::int64_t count = param->second.shape.empty() ? 1 : param->second.shape.front();
      if (channels.size() > 1 && static_cast<std::int64_t>(channels.size()) != count)
        throw InputError(where + " has " + std::to_string(channels.size()) + " per-channel encodings; '" + key +
                         "' has " + std::to_string(count) + " channels along axis 0");
      quant::TensorEncoding encoding;
      encoding.channels = std::move(channels);
      encoding.axis_is_channel = encoding.channels.size() > 1;
      result.module_params[key] = std::move(encoding);
      continue;
    }
    if (!layer) {
      // AIMET files of whole models also hold the biases of layers, which adaflow leaves float. A
      // name the model does not have at all is a different model.
      if (!parameters.count(key))
        throw InputError(where + " names no parameter of model '" + model.source() + "'" +
                         (is_weight ? " ('" + layer_name + "' is not a quantizable layer; adaflow inspect lists them)"
                                    : ""));
      result.skipped.push_back(key);
      continue;
    }
    std::vector<quant::Encoding> channels = ParamEntryEncodings(entries, where);
    if (channels.empty()) {
      result.float_layers.push_back(layer->name);
      continue;
    }
    const std::int64_t layer_channels = layer->weight_channels();
    if (channels.size() > 1 && static_cast<std::int64_t>(channels.size()) != layer_channels)
      throw InputError(where + " has " + std::to_string(channels.size()) + " per-channel encodings; layer '" +
                       layer->name + "' has " + std::to_string(layer_channels) + " output channels");
    quant::TensorEncoding encoding;
    encoding.channels = std::move(channels);
    encoding.axis = layer->channel_axis();
    encoding.axis_is_channel = encoding.channels.size() > 1;
    result.params[layer->name] = std::move(encoding);
  }
  return result;
}

std::vector<quant::Encoding> ReadActivationEncodings(
    const std::string& path, const std::vector<quant::ActivationQuantizer>& quantizers,
    const std::function<std::map<std::string, std::string>()>& tensor_names) {
  bool module_keyed = false;
  const auto entries = ParseSection(ReadJsonFile(path), path, "activation_encodings", &module_keyed);
  // The key each quantizer has in this file: its module, its own name, or its ONNX tensor.
  std::vector<std::string> keys;
  std::string keyed_by = "module";
  if (module_keyed) {
    for (const auto& quantizer : quantizers) keys.push_back(ModuleKey(quantizer.module, quantizer.module_input));
  } else {
    // By quantizer name, or else by ONNX tensor name: whichever the file matches better.
    auto matches = [&](const std::vector<std::string>& candidates) {
      return std::count_if(candidates.begin(), candidates.end(), [&](const std::string& key) { return entries.count(key); });
    };
    keyed_by = "quantizer name";
    for (const auto& quantizer : quantizers) keys.push_back(quantizer.name);
    if (matches(keys) < static_cast<std::ptrdiff_t>(keys.size())) {
      const std::map<std::string, std::string> tensors = tensor_names();
      std::vector<std::string> tensor_keys;
      for (const auto& quantizer : quantizers) {
        const auto it = tensors.find(quantizer.name);
        tensor_keys.push_back(it == tensors.end() ? std::string() : it->second);
      }
      if (matches(tensor_keys) > matches(keys)) {
        keyed_by = "ONNX tensor name";
        keys = std::move(tensor_keys);
      }
    }
  }
  std::vector<quant::Encoding> encodings;
  std::set<std::string> used;
  for (std::size_t idx = 0; idx < quantizers.size(); ++idx) {
    const auto it = entries.find(keys[idx]);
    if (it == entries.end())
      throw InputError("encodings file '" + path + "' has no activation entry for the quantizer '" + quantizers[idx].name +
                       "' (" + keyed_by + " '" + keys[idx] + "'); it must come from a model with the same graph");
    const std::string where = "encodings file '" + path + "', activation entry '" + keys[idx] + "'";
    const std::vector<quant::Encoding> channels = ParamEntryEncodings(it->second, where);
    if (channels.empty())
      throw InputError(where + " is float; adaflow's quant-sim quantizes every activation it lists "
                       "(default_output_bw: 32 leaves them all float)");
    if (channels.size() != 1) throw InputError(where + " has " + std::to_string(channels.size()) + " entries, not one");
    encodings.push_back(channels.front());
    if (!used.insert(keys[idx]).second)
      throw std::logic_error("two activation quantizers have the key '" + keys[idx] + "'");
  }
  std::string unused;
  for (const auto& [key, entry] : entries)
    if (!used.count(key)) unused += (unused.empty() ? "'" : ", '") + key + "'";
  if (!unused.empty())
    throw InputError("encodings file '" + path + "' has activation entries that no quantizer of this model matches (by " +
                     keyed_by + "): " + unused);
  return encodings;
}

}  // namespace adaflow::io
