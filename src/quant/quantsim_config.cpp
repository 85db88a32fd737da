#include "src/quant/quantsim_config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/suggest.h"
#include "src/quant/default_quantsim_config.h"

namespace adaflow::quant {
namespace {

using json = nlohmann::json;

/// Checks a config document against AIMET's schema while reading it; every error names the file and the
/// JSON path ("defaults.ops.is_output_quantized").
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  QuantsimConfigFile Read(const json& root) {
    QuantsimConfigFile config;
    config.source = source_;
    Keys(root, "", {"defaults", "params", "op_type", "supergroups", "model_input", "model_output"},
         {"defaults", "params", "op_type", "supergroups", "model_input", "model_output"});
    Defaults(root.at("defaults"), config);
    const json& params = root.at("params");
    Object(params, "params");
    for (const auto& [name, rule] : params.items()) config.params[name] = Param(rule, "params." + name);
    const json& op_type = root.at("op_type");
    Object(op_type, "op_type");
    for (const auto& [type, rule] : op_type.items()) {
      KnownType(type, "op_type." + type);
      config.op_type[type] = Op(rule, "op_type." + type);
    }
    Supergroups(root.at("supergroups"), config);
    const json& input = root.at("model_input");
    Keys(input, "model_input", {"is_input_quantized"});
    config.model_input_quantized = Flag(input, "is_input_quantized", "model_input");
    const json& output = root.at("model_output");
    Keys(output, "model_output", {"is_output_quantized"});
    config.model_output_quantized = Flag(output, "is_output_quantized", "model_output");
    return config;
  }

 private:
  [[noreturn]] void Fail(const std::string& path, const std::string& what) const {
    throw InputError(source_ + ": " + (path.empty() ? "the document" : path) + ": " + what);
  }
  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  void Object(const json& value, const std::string& path) const {
    if (!value.is_object()) Fail(path, "must be an object, got " + value.dump());
  }

  /// `value` is an object whose keys are among `allowed` and include `required`.
  void Keys(const json& value, const std::string& path, const std::vector<std::string>& allowed,
            const std::vector<std::string>& required = {}) const {
    Object(value, path);
    for (const auto& [key, unused] : value.items())
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        Fail(Join(path, key), "unknown key" + DidYouMean(key, allowed) + " (allowed: " + QuoteList(allowed) + ")");
    for (const auto& key : required)
      if (!value.contains(key)) Fail(path, "missing required key '" + key + "'");
  }

  /// A "True"/"False" setting.
  Setting Flag(const json& object, const char* key, const std::string& path) const {
    if (!object.contains(key)) return std::nullopt;
    const json& value = object.at(key);
    if (value.is_string() && (value == "True" || value == "False")) return value == "True";
    Fail(Join(path, key), "must be \"True\" or \"False\", got " + value.dump());
  }

  void KnownType(const std::string& type, const std::string& path) const {
    const auto& known = KnownOpTypes();
    if (!std::binary_search(known.begin(), known.end(), type))
      Fail(path, "unknown op type '" + type + "'" + DidYouMean(type, known) +
                     " (ONNX operator types and AIMET's own names, e.g. 'Conv', 'Gemm', 'LayerNorm')");
  }

  void Defaults(const json& value, QuantsimConfigFile& config) const {
    Keys(value, "defaults",
         {"ops", "params", "strict_symmetric", "unsigned_symmetric", "per_channel_quantization", "hw_version",
          "supported_kernels"},
         {"ops", "params"});
    const json& ops = value.at("ops");
    Keys(ops, "defaults.ops", {"is_input_quantized", "is_output_quantized", "is_symmetric"});
    config.default_ops.is_input_quantized = Flag(ops, "is_input_quantized", "defaults.ops");
    config.default_ops.is_output_quantized = Flag(ops, "is_output_quantized", "defaults.ops");
    config.default_ops.is_symmetric = Flag(ops, "is_symmetric", "defaults.ops");
    config.default_params = Param(value.at("params"), "defaults.params");
    config.strict_symmetric = Flag(value, "strict_symmetric", "defaults");
    config.unsigned_symmetric = Flag(value, "unsigned_symmetric", "defaults");
    config.per_channel_quantization = Flag(value, "per_channel_quantization", "defaults");
    if (value.contains("hw_version")) {
      if (!value.at("hw_version").is_string()) Fail("defaults.hw_version", "must be a string");
      config.hw_version = value.at("hw_version").get<std::string>();
    }
    if (value.contains("supported_kernels")) SupportedKernels(value.at("supported_kernels"), "defaults.supported_kernels");
  }

  ParamRule Param(const json& value, const std::string& path) const {
    Keys(value, path, {"is_quantized", "is_symmetric"});
    return {Flag(value, "is_quantized", path), Flag(value, "is_symmetric", path)};
  }

  OpRule Op(const json& value, const std::string& path) const {
    Keys(value, path,
         {"is_input_quantized", "is_output_quantized", "is_symmetric", "per_channel_quantization",
          "encoding_constraints", "params", "supported_kernels"});
    OpRule rule;
    rule.is_input_quantized = Flag(value, "is_input_quantized", path);
    rule.is_output_quantized = Flag(value, "is_output_quantized", path);
    rule.is_symmetric = Flag(value, "is_symmetric", path);
    rule.per_channel_quantization = Flag(value, "per_channel_quantization", path);
    if (value.contains("encoding_constraints")) {
      const std::string where = path + ".encoding_constraints";
      const json& range = value.at("encoding_constraints");
      Keys(range, where, {"min", "max"}, {"min", "max"});
      for (const char* key : {"min", "max"})
        if (!range.at(key).is_number()) Fail(where + "." + key, "must be a number, got " + range.at(key).dump());
      rule.encoding_constraints = FixedRange{range.at("min").get<double>(), range.at("max").get<double>()};
      if (!(rule.encoding_constraints->min < rule.encoding_constraints->max)) Fail(where, "min must be below max");
    }
    if (value.contains("params")) {
      const json& params = value.at("params");
      Object(params, path + ".params");
      for (const auto& [name, param] : params.items()) rule.params[name] = Param(param, path + ".params." + name);
    }
    if (value.contains("supported_kernels")) SupportedKernels(value.at("supported_kernels"), path + ".supported_kernels");
    return rule;
  }

  /// Checked for form (AIMET's schema) and not applied: bitwidths come from default_output_bw/param_bw.
  void SupportedKernels(const json& value, const std::string& path) const {
    if (!value.is_array() || value.empty()) Fail(path, "must be a non-empty list");
    for (std::size_t index = 0; index < value.size(); ++index) {
      const std::string item = path + "[" + std::to_string(index) + "]";
      Keys(value[index], item, {"activation", "param"}, {"activation"});
      for (const auto& [side, kernel] : value[index].items()) {
        const std::string where = item + "." + side;
        Keys(kernel, where, {"bitwidth", "dtype"}, {"bitwidth", "dtype"});
        const json& bitwidth = kernel.at("bitwidth");
        if (!bitwidth.is_number_integer() || (bitwidth != 4 && bitwidth != 8 && bitwidth != 16 && bitwidth != 32))
          Fail(where + ".bitwidth", "must be 4, 8, 16 or 32, got " + bitwidth.dump());
        if (kernel.at("dtype") != "int" && kernel.at("dtype") != "float")
          Fail(where + ".dtype", "must be \"int\" or \"float\", got " + kernel.at("dtype").dump());
      }
    }
  }

  void Supergroups(const json& value, QuantsimConfigFile& config) const {
    if (!value.is_array()) Fail("supergroups", "must be a list of {\"op_list\": [...]}");
    for (std::size_t index = 0; index < value.size(); ++index) {
      const std::string path = "supergroups[" + std::to_string(index) + "]";
      Keys(value[index], path, {"op_list"}, {"op_list"});
      const json& ops = value[index].at("op_list");
      if (!ops.is_array() || ops.size() < 2) Fail(path + ".op_list", "must list at least two op types");
      std::vector<std::string> group;
      for (std::size_t position = 0; position < ops.size(); ++position) {
        const std::string where = path + ".op_list[" + std::to_string(position) + "]";
        if (!ops[position].is_string()) Fail(where, "must be an op type name");
        KnownType(ops[position].get<std::string>(), where);
        group.push_back(ops[position].get<std::string>());
      }
      config.supergroups.push_back(std::move(group));
    }
  }

  std::string source_;
};

/// `setting` of the rules in order, the last one given winning, starting from `initial`.
template <class Get>
bool Resolve(bool initial, const std::vector<const OpRule*>& rules, Get get) {
  bool value = initial;
  for (const OpRule* rule : rules)
    if (const Setting setting = get(*rule)) value = *setting;
  return value;
}

}  // namespace

std::vector<const OpRule*> QuantsimConfigFile::RulesFor(const OpTypes& types) const {
  std::vector<const OpRule*> rules;
  if (!types.backend.empty()) {
    const auto it = op_type.find(types.backend);
    if (it != op_type.end()) return {&it->second};
  }
  for (const auto& type : types.onnx) {
    const auto it = op_type.find(type);
    if (it != op_type.end()) rules.push_back(&it->second);
  }
  return rules;
}

bool QuantsimConfigFile::OutputQuantized(const OpTypes& types) const {
  return Resolve(default_ops.is_output_quantized.value_or(false), RulesFor(types),
                 [](const OpRule& rule) { return rule.is_output_quantized; });
}

bool QuantsimConfigFile::InputQuantized(const OpTypes& types) const {
  return Resolve(default_ops.is_input_quantized.value_or(false), RulesFor(types),
                 [](const OpRule& rule) { return rule.is_input_quantized; });
}

bool QuantsimConfigFile::Symmetric(const OpTypes& types) const {
  return Resolve(default_ops.is_symmetric.value_or(false), RulesFor(types),
                 [](const OpRule& rule) { return rule.is_symmetric; });
}

std::optional<FixedRange> QuantsimConfigFile::Constraints(const OpTypes& types) const {
  std::optional<FixedRange> range;
  for (const OpRule* rule : RulesFor(types))
    if (rule->encoding_constraints) range = rule->encoding_constraints;
  return range;
}

bool QuantsimConfigFile::PerChannel(const OpTypes& types) const {
  bool listed = false;
  for (const auto& type : types.onnx) {
    const auto it = op_type.find(type);
    if (it == op_type.end() || !it->second.per_channel_quantization) continue;
    if (*it->second.per_channel_quantization) return true;
    listed = true;
  }
  return listed ? false : per_channel_quantization.value_or(false);
}

bool QuantsimConfigFile::ParamSetting(const OpTypes& types, const std::string& param, Setting ParamRule::*setting) const {
  // defaults.params, then params.<param>, then each op_type entry's params.<param>.
  bool value = (default_params.*setting).value_or(false);
  if (const auto it = params.find(param); it != params.end() && it->second.*setting) value = *(it->second.*setting);
  for (const OpRule* rule : RulesFor(types))
    if (const auto it = rule->params.find(param); it != rule->params.end() && it->second.*setting)
      value = *(it->second.*setting);
  return value;
}

bool QuantsimConfigFile::ParamQuantized(const OpTypes& types, const std::string& param) const {
  return ParamSetting(types, param, &ParamRule::is_quantized);
}

bool QuantsimConfigFile::ParamSymmetric(const OpTypes& types, const std::string& param) const {
  return ParamSetting(types, param, &ParamRule::is_symmetric);
}

GridSpec QuantsimConfigFile::ActivationGrid(const OpTypes& types, int bitwidth) const {
  const bool symmetric = Symmetric(types);
  return GridSpec{bitwidth, symmetric, symmetric && StrictSymmetric(), UnsignedSymmetric()};
}

WeightGridOptions QuantsimConfigFile::ParamGrid(const OpTypes& types, const std::string& param, Scheme scheme) const {
  WeightGridOptions grid;
  grid.quant_scheme = scheme;
  grid.per_channel = PerChannel(types);
  grid.symmetric = ParamSymmetric(types, param);
  grid.strict_symmetric = StrictSymmetric();
  grid.unsigned_symmetric = UnsignedSymmetric();
  return grid;
}

QuantsimConfigFile ParseQuantsimConfig(const std::string& text, const std::string& source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& error) {
    throw InputError(source + ": not valid JSON (" + error.what() + ")");
  }
  return Reader(source).Read(root);
}

QuantsimConfigFile ReadQuantsimConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("quantsim config '" + path + "' cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return ParseQuantsimConfig(text.str(), path);
}

const QuantsimConfigFile& DefaultQuantsimConfig() {
  static const QuantsimConfigFile config =
      ParseQuantsimConfig(kDefaultQuantsimConfig, "the built-in default config (configs/quantsim/default_config.json)");
  return config;
}

QuantsimConfigFile DefaultQuantsimConfig(const WeightGridOptions& grid) {
  QuantsimConfigFile config = DefaultQuantsimConfig();
  config.per_channel_quantization = grid.per_channel;
  config.default_params.is_symmetric = grid.symmetric;
  config.strict_symmetric = grid.strict_symmetric;
  config.unsigned_symmetric = grid.unsigned_symmetric;
  return config;
}

}  // namespace adaflow::quant
