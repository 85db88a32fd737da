#include "pipeline/options.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/by_name.h"

namespace adaflow {
namespace {

std::string Describe(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  return "nothing";
}

std::int64_t ToInt(const YAML::Node& node, const YamlSource& source, const std::string& what) {
  if (node.IsScalar()) {
    try {
      return node.as<std::int64_t>();
    } catch (const YAML::Exception&) {
    }
  }
  source.Fail(node, what + " must be an integer, got " + Describe(node));
}

double ToDouble(const YAML::Node& node, const YamlSource& source, const std::string& what) {
  if (node.IsScalar()) {
    try {
      const double value = node.as<double>();
      if (std::isfinite(value)) return value;
    } catch (const YAML::Exception&) {
    }
  }
  source.Fail(node, what + " must be a number, got " + Describe(node));
}

std::string ToString(const YAML::Node& node, const YamlSource& source, const std::string& what) {
  if (!node.IsScalar()) source.Fail(node, what + " must be a string, got " + Describe(node));
  return node.Scalar();
}

/// A YAML sequence read element by element with `convert` (ToInt, ToDouble or ToString).
template <class Convert>
auto ToList(const YAML::Node& node, const YamlSource& source, const std::string& what, const char* elements,
            Convert convert) {
  if (!node.IsSequence())
    source.Fail(node, what + " must be a list of " + elements + ", got " + Describe(node));
  std::vector<decltype(convert(node, source, what))> list;
  for (const auto& item : node) list.push_back(convert(item, source, what + " element"));
  return list;
}

/// `[{name: input_ids, shape: [1, 12], dtype: int64}, …]`: every entry a map with a unique name, a shape of
/// positive sizes and a dtype of TensorDtypes() (float32 when left out).
std::vector<TensorSpec> ToTensorList(const YAML::Node& node, const YamlSource& source, const std::string& what) {
  if (!node.IsSequence()) source.Fail(node, what + " must be a list of {name, shape, dtype} maps, got " + Describe(node));
  std::vector<TensorSpec> list;
  for (const auto& item : node) {
    if (!item.IsMap()) source.Fail(item, what + " element must be a map {name, shape, dtype}, got " + Describe(item));
    TensorSpec spec;
    bool has_name = false, has_shape = false;
    for (const auto& kv : item) {
      const std::string key = ToString(kv.first, source, what + " key");
      if (key == "name") {
        spec.name = ToString(kv.second, source, what + " name");
        has_name = !spec.name.empty();
      } else if (key == "shape") {
        spec.shape = ToList(kv.second, source, what + " shape", "integers", ToInt);
        has_shape = true;
        for (std::int64_t size : spec.shape)
          if (size < 1) source.Fail(kv.second, what + " shape must have sizes >= 1, got " + std::to_string(size));
      } else if (key == "dtype") {
        spec.dtype = ToString(kv.second, source, what + " dtype");
        const auto& dtypes = TensorDtypes();
        if (std::find(dtypes.begin(), dtypes.end(), spec.dtype) == dtypes.end())
          source.Fail(kv.second, what + " dtype '" + spec.dtype + "' is not one of " + QuoteList(dtypes));
      } else {
        source.Fail(kv.first, "unknown key '" + key + "' in " + what + " element" +
                                  DidYouMean(key, {"name", "shape", "dtype"}));
      }
    }
    if (!has_name) source.Fail(item, what + " element has no 'name'");
    if (!has_shape) source.Fail(item, what + " element '" + spec.name + "' has no 'shape'");
    for (const auto& earlier : list)
      if (earlier.name == spec.name) source.Fail(item, what + " has '" + spec.name + "' twice");
    list.push_back(std::move(spec));
  }
  return list;
}

OptionValue ParseValue(const OptionSpec& spec, const YAML::Node& node, const YamlSource& source,
                       const std::string& what) {
  switch (spec.type) {
    case OptionType::kBool:
      if (node.IsScalar()) {
        const std::string& text = node.Scalar();
        if (text == "true" || text == "True" || text == "TRUE") return true;
        if (text == "false" || text == "False" || text == "FALSE") return false;
      }
      source.Fail(node, what + " must be true or false, got " + Describe(node));
    case OptionType::kInt:
      return ToInt(node, source, what);
    case OptionType::kFloat:
      return ToDouble(node, source, what);
    case OptionType::kString:
    case OptionType::kPath:
    case OptionType::kEnum:
      return ToString(node, source, what);
    case OptionType::kIntList:
      return ToList(node, source, what, "integers", ToInt);
    case OptionType::kFloatList:
      return ToList(node, source, what, "numbers", ToDouble);
    case OptionType::kStringList:
      return ToList(node, source, what, "names", ToString);
    case OptionType::kStringIntMap: {
      if (node.IsSequence() && node.size() == 0) return std::map<std::string, std::int64_t>{};
      if (!node.IsMap()) source.Fail(node, what + " must be a map of name: integer, got " + Describe(node));
      std::map<std::string, std::int64_t> map;
      for (const auto& kv : node) {
        const std::string key = ToString(kv.first, source, what + " key");
        if (map.count(key)) source.Fail(kv.first, what + " has '" + key + "' twice");
        map[key] = ToInt(kv.second, source, what + " '" + key + "'");
      }
      return map;
    }
    case OptionType::kStringMap: {
      if (node.IsSequence() && node.size() == 0) return std::map<std::string, std::string>{};
      if (!node.IsMap()) source.Fail(node, what + " must be a map of name: name, got " + Describe(node));
      std::map<std::string, std::string> map;
      for (const auto& kv : node) {
        const std::string key = ToString(kv.first, source, what + " key");
        if (map.count(key)) source.Fail(kv.first, what + " has '" + key + "' twice");
        map[key] = ToString(kv.second, source, what + " '" + key + "'");
      }
      return map;
    }
    case OptionType::kTensorList:
      return ToTensorList(node, source, what);
  }
  throw std::logic_error("unhandled option type");
}

std::string FormatDouble(double value) {
  char buffer[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
    return buffer;
  }
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  // Shortest text that reads back to the same double: try fewer digits first.
  for (int digits = 1; digits <= 17; ++digits) {
    char shorter[64];
    std::snprintf(shorter, sizeof(shorter), "%.*g", digits, value);
    if (std::strtod(shorter, nullptr) == value) return shorter;
  }
  return buffer;
}


YAML::Node ToYaml(const OptionValue& value) {
  return std::visit(
      [](const auto& v) -> YAML::Node {
        using V = std::decay_t<decltype(v)>;
        YAML::Node node;
        if constexpr (std::is_same_v<V, double>) {
          node = FormatDouble(v);
        } else if constexpr (std::is_same_v<V, std::vector<double>>) {
          node = YAML::Node(YAML::NodeType::Sequence);
          for (double item : v) node.push_back(FormatDouble(item));
          node.SetStyle(YAML::EmitterStyle::Flow);
        } else if constexpr (std::is_same_v<V, std::vector<std::int64_t>> ||
                             std::is_same_v<V, std::vector<std::string>>) {
          node = YAML::Node(YAML::NodeType::Sequence);
          for (const auto& item : v) node.push_back(item);
          node.SetStyle(YAML::EmitterStyle::Flow);
        } else if constexpr (std::is_same_v<V, std::map<std::string, std::int64_t>> ||
                             std::is_same_v<V, std::map<std::string, std::string>>) {
          node = YAML::Node(YAML::NodeType::Map);
          for (const auto& [key, item] : v) node[key] = item;
          node.SetStyle(YAML::EmitterStyle::Flow);
        } else if constexpr (std::is_same_v<V, std::vector<TensorSpec>>) {
          node = YAML::Node(YAML::NodeType::Sequence);
          for (const auto& spec : v) {
            YAML::Node entry(YAML::NodeType::Map);
            entry["name"] = spec.name;
            YAML::Node shape(YAML::NodeType::Sequence);
            for (std::int64_t size : spec.shape) shape.push_back(size);
            shape.SetStyle(YAML::EmitterStyle::Flow);
            entry["shape"] = shape;
            entry["dtype"] = spec.dtype;
            entry.SetStyle(YAML::EmitterStyle::Flow);
            node.push_back(entry);
          }
        } else {
          node = v;
        }
        return node;
      },
      value);
}

}  // namespace

const char* OptionTypeName(OptionType type) {
  switch (type) {
    case OptionType::kBool: return "bool";
    case OptionType::kInt: return "int";
    case OptionType::kFloat: return "float";
    case OptionType::kString: return "string";
    case OptionType::kPath: return "path";
    case OptionType::kEnum: return "enum";
    case OptionType::kIntList: return "int list";
    case OptionType::kFloatList: return "float list";
    case OptionType::kStringList: return "name list";
    case OptionType::kStringIntMap: return "map name: int";
    case OptionType::kStringMap: return "map name: name";
    case OptionType::kTensorList: return "list of {name, shape, dtype}";
  }
  return "?";
}

void OptionValues::Set(std::string name, OptionValue value, bool given) {
  for (auto& entry : entries_) {
    if (entry.name == name) {
      entry.value = std::move(value);
      entry.given = given;
      return;
    }
  }
  entries_.push_back({std::move(name), std::move(value), given});
}

const OptionValue& OptionValues::Get(const std::string& name) const {
  for (const auto& entry : entries_)
    if (entry.name == name) return entry.value;
  throw std::logic_error("option '" + name + "' was not declared");
}

bool OptionValues::Given(const std::string& name) const {
  for (const auto& entry : entries_)
    if (entry.name == name) return entry.given;
  return false;
}

bool OptionValues::operator==(const OptionValues& other) const {
  if (entries_.size() != other.entries_.size()) return false;
  for (std::size_t idx = 0; idx < entries_.size(); ++idx)
    if (entries_[idx].name != other.entries_[idx].name || entries_[idx].value != other.entries_[idx].value)
      return false;
  return true;
}

std::string FormatOptionValue(const OptionValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<V, std::int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<V, double>) {
          return FormatDouble(v);
        } else if constexpr (std::is_same_v<V, std::string>) {
          return v.empty() ? "\"\"" : v;
        } else if constexpr (std::is_same_v<V, std::map<std::string, std::int64_t>>) {
          std::string out = "{";
          for (const auto& [key, item] : v) out += (out.size() > 1 ? ", " : "") + key + ": " + std::to_string(item);
          return out + "}";
        } else if constexpr (std::is_same_v<V, std::map<std::string, std::string>>) {
          std::string out = "{";
          for (const auto& [key, item] : v) out += (out.size() > 1 ? ", " : "") + key + ": " + item;
          return out + "}";
        } else if constexpr (std::is_same_v<V, std::vector<TensorSpec>>) {
          std::string out = "[";
          for (const auto& spec : v) {
            std::string shape;
            for (std::int64_t size : spec.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(size);
            out += (out.size() > 1 ? ", " : "") + ("{" + spec.name + ": [" + shape + "] " + spec.dtype + "}");
          }
          return out + "]";
        } else {
          std::string out = "[";
          for (const auto& item : v) {
            if (out.size() > 1) out += ", ";
            if constexpr (std::is_same_v<V, std::vector<double>>) out += FormatDouble(item);
            else if constexpr (std::is_same_v<V, std::vector<std::int64_t>>) out += std::to_string(item);
            else out += item;
          }
          return out + "]";
        }
      },
      value);
}

const OptionSpec* OptionSchema::Find(const std::string& name) const { return FindByName(specs_, name); }

std::vector<std::string> OptionSchema::Names() const { return NamesOf(specs_); }

OptionSpec& OptionSchema::Add(OptionSpec spec) {
  if (Find(spec.name)) throw std::logic_error(owner_ + ": option '" + spec.name + "' declared twice");
  specs_.push_back(std::move(spec));
  return specs_.back();
}

void OptionSchema::Check(const OptionSpec& spec, const OptionValue& value, const std::string& where) const {
  const std::string what = where + "'" + spec.name + "'";
  auto check_number = [&](double number) {
    if ((spec.min && number < *spec.min) || (spec.max && number > *spec.max)) {
      std::string range = spec.min && spec.max ? "in [" + FormatDouble(*spec.min) + ", " + FormatDouble(*spec.max) + "]"
                          : spec.min         ? ">= " + FormatDouble(*spec.min)
                                             : "<= " + FormatDouble(*spec.max);
      throw InputError(what + " must be " + range + ", got " + FormatDouble(number));
    }
  };
  auto check_choice = [&](const std::string& name) {
    if (spec.choices.empty()) return;
    for (const auto& choice : spec.choices)
      if (choice == name) return;
    throw InputError(what + ": '" + name + "' is not one of " + QuoteList(spec.choices) +
                     DidYouMean(name, spec.choices));
  };
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::int64_t> || std::is_same_v<V, double>) {
          check_number(static_cast<double>(v));
        } else if constexpr (std::is_same_v<V, std::string>) {
          if (spec.type == OptionType::kEnum) check_choice(v);
          if (!spec.allow_empty && v.empty()) throw InputError(what + " must not be empty");
          if (spec.must_exist && !std::filesystem::exists(v))
            throw InputError(what + ": '" + v + "' does not exist");
        } else if constexpr (std::is_same_v<V, std::vector<std::int64_t>> ||
                             std::is_same_v<V, std::vector<double>>) {
          if (spec.size && v.size() != *spec.size)
            throw InputError(what + " must have " + std::to_string(*spec.size) + " elements, got " +
                             std::to_string(v.size()));
          for (auto item : v) check_number(static_cast<double>(item));
        } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
          if (spec.size && v.size() != *spec.size)
            throw InputError(what + " must have " + std::to_string(*spec.size) + " elements, got " +
                             std::to_string(v.size()));
          for (const auto& item : v) check_choice(item);
        } else if constexpr (std::is_same_v<V, std::map<std::string, std::int64_t>>) {
          for (const auto& [key, item] : v) check_number(static_cast<double>(item));
        }
      },
      value);
}

OptionValues OptionSchema::Parse(const YAML::Node& map, const YamlSource& source, const std::string& context,
                                 const std::set<std::string>& reserved) const {
  if (map && !map.IsNull() && !map.IsMap()) source.Fail(map, context + " must be a map of options");
  OptionValues values = Defaults();
  std::set<std::string> seen;
  if (map && map.IsMap()) {
    for (const auto& kv : map) {
      const std::string key = kv.first.Scalar();
      if (reserved.count(key)) continue;
      const OptionSpec* spec = Find(key);
      if (!spec) {
        std::vector<std::string> candidates = Names();
        candidates.insert(candidates.end(), reserved.begin(), reserved.end());
        source.Fail(kv.first, "unknown key '" + key + "' in " + context + DidYouMean(key, candidates));
      }
      const std::string what = context + " option '" + key + "'";
      OptionValue value = ParseValue(*spec, kv.second, source, what);
      try {
        Check(*spec, value, context + " option ");
      } catch (const InputError& error) {
        source.Fail(kv.second, error.what());
      }
      values.Set(key, std::move(value), true);
      seen.insert(key);
    }
  }
  for (const auto& spec : specs_) {
    if (spec.required && !seen.count(spec.name)) {
      const std::string message = "missing required key '" + spec.name + "' in " + context;
      if (map && map.IsMap()) source.Fail(map, message);
      throw InputError(source.file() + ": " + message);
    }
  }
  return values;
}

YAML::Node OptionSchema::Dump(const OptionValues& values) const {
  YAML::Node node(YAML::NodeType::Map);
  for (const auto& spec : specs_) node[spec.name] = ToYaml(values.Get(spec.name));
  return node;
}

std::string OptionSchema::Canonical(const OptionValues& values) const {
  std::string out;
  for (const auto& spec : specs_) out += spec.name + "=" + FormatOptionValue(values.Get(spec.name)) + ";";
  return out;
}

OptionValues OptionSchema::Defaults() const {
  OptionValues values;
  for (const auto& spec : specs_) values.Set(spec.name, spec.default_value, false);
  return values;
}

}  // namespace adaflow
