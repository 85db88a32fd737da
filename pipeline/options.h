#pragma once
// Options declared once, as data. A stage's options are a plain struct with defaults in member
// initializers; `Schema<T>` binds each field to a name, a type, a range or a set of choices and a
// one-line help. From that one declaration come YAML parsing (unknown keys, types and ranges checked,
// errors naming file:line), `adaflow describe`, the resolved-config dump and the content key.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/enum_names.h"
#include "common/error.h"
#include "common/tensor_spec.h"
#include "pipeline/yaml_source.h"

namespace adaflow {

enum class OptionType {
  kBool,
  kInt,
  kFloat,
  kString,
  kPath,        ///< a file or folder; its contents take part in content keys
  kEnum,        ///< one of a closed set of names
  kIntList,
  kFloatList,
  kStringList,  ///< with choices: each element one of a closed set of names
  kStringIntMap,
  kStringMap,   ///< name: name
  kTensorList,  ///< a list of {name, shape, dtype} (model.inputs)
};

const char* OptionTypeName(OptionType type);

using OptionValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                                 std::vector<double>, std::vector<std::string>,
                                 std::map<std::string, std::int64_t>, std::map<std::string, std::string>,
                                 std::vector<TensorSpec>>;

/// One declared option.
struct OptionSpec {
  std::string name;
  OptionType type = OptionType::kString;
  std::string help;
  OptionValue default_value;
  bool required = false;             ///< no default: the key must be given
  std::optional<double> min;         ///< scalars, and every element of a numeric list or map
  std::optional<double> max;
  std::optional<std::size_t> size;   ///< exact element count of a list
  std::vector<std::string> choices;  ///< kEnum, and kStringList elements when not empty
  bool must_exist = false;           ///< kPath: checked at bind time, before anything runs
  bool allow_empty = true;           ///< kPath/kString: "" means "not set"
};

/// Option values after parsing: every declared option, in declaration order, defaults filled in.
class OptionValues {
 public:
  struct Entry {
    std::string name;
    OptionValue value;
    bool given = false;  ///< written by the user (not a default)
  };

  void Set(std::string name, OptionValue value, bool given);
  const OptionValue& Get(const std::string& name) const;
  bool Given(const std::string& name) const;
  const std::vector<Entry>& entries() const { return entries_; }
  bool operator==(const OptionValues& other) const;

 private:
  std::vector<Entry> entries_;
};

/// Canonical text of a value: used for content keys and `describe`. Doubles print round-trip exact.
std::string FormatOptionValue(const OptionValue& value);

/// The type-erased list of options of one stage (or data type, or config section).
class OptionSchema {
 public:
  explicit OptionSchema(std::string owner = "") : owner_(std::move(owner)) {}

  const std::string& owner() const { return owner_; }
  const std::vector<OptionSpec>& specs() const { return specs_; }
  const OptionSpec* Find(const std::string& name) const;
  std::vector<std::string> Names() const;

  OptionSpec& Add(OptionSpec spec);

  /// Parses a YAML map. Keys in `reserved` belong to the caller and are skipped. `context` names the
  /// owner in messages ("stage 'adaround'"). Throws InputError naming file:line and the key.
  OptionValues Parse(const YAML::Node& map, const YamlSource& source, const std::string& context,
                     const std::set<std::string>& reserved = {}) const;

  /// Checks one value against its spec (type already right): range, size, choices.
  void Check(const OptionSpec& spec, const OptionValue& value, const std::string& where) const;

  /// The resolved values as a YAML map (every option, defaults included), for config.resolved.yaml.
  YAML::Node Dump(const OptionValues& values) const;

  /// Canonical "name=value;" text of the values, for content keys.
  std::string Canonical(const OptionValues& values) const;

  /// Values with every default filled in and nothing given.
  OptionValues Defaults() const;

 private:
  std::string owner_;
  std::vector<OptionSpec> specs_;
};

/// Fluent refinement of the option just declared.
class OptionBuilder {
 public:
  explicit OptionBuilder(OptionSpec& spec) : spec_(&spec) {}
  OptionBuilder& Range(double min, double max) { spec_->min = min; spec_->max = max; return *this; }
  OptionBuilder& Min(double min) { spec_->min = min; return *this; }
  OptionBuilder& Size(std::size_t size) { spec_->size = size; return *this; }
  OptionBuilder& Required() { spec_->required = true; return *this; }
  OptionBuilder& MustExist() { spec_->must_exist = true; spec_->allow_empty = false; return *this; }
  OptionBuilder& Choices(std::vector<std::string> choices) { spec_->choices = std::move(choices); return *this; }

 private:
  OptionSpec* spec_;
};

/// Typed schema for an options struct T. Defaults are read from a default-constructed T, so the member
/// initializer is the one place a default is written.
template <class T>
class Schema {
 public:
  explicit Schema(std::string owner) : erased_(std::move(owner)) {}

  OptionBuilder Bool(std::string name, bool T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kBool, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) { obj.*field = std::get<bool>(v); });
  }
  OptionBuilder Int(std::string name, int T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kInt, std::move(help),
                   static_cast<std::int64_t>(T{}.*field), [field](T& obj, const OptionValue& v) {
                     obj.*field = static_cast<int>(std::get<std::int64_t>(v));
                   });
  }
  OptionBuilder Int64(std::string name, std::int64_t T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kInt, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) { obj.*field = std::get<std::int64_t>(v); });
  }
  OptionBuilder Float(std::string name, double T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kFloat, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) { obj.*field = std::get<double>(v); });
  }
  OptionBuilder String(std::string name, std::string T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kString, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) { obj.*field = std::get<std::string>(v); });
  }
  OptionBuilder Path(std::string name, std::string T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kPath, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) { obj.*field = std::get<std::string>(v); });
  }
  /// One of the names of `names` (the enum's one name table, common/enum_names.h; or a subset of it).
  template <class E>
  OptionBuilder Enum(std::string name, E T::*field, const EnumNames<E>& names, std::string help) {
    std::vector<std::string> choices;
    for (const auto& entry : names) choices.push_back(entry.name);
    auto builder = Declare(std::move(name), OptionType::kEnum, std::move(help), std::string(NameOf(names, T{}.*field)),
                           [field, names](T& obj, const OptionValue& v) {
                             if (const auto value = ValueOf(names, std::get<std::string>(v))) obj.*field = *value;
                           });
    builder.Choices(std::move(choices));
    return builder;
  }
  OptionBuilder IntList(std::string name, std::vector<int> T::*field, std::string help) {
    const T defaults{};
    const auto& init = defaults.*field;
    return Declare(std::move(name), OptionType::kIntList, std::move(help),
                   std::vector<std::int64_t>(init.begin(), init.end()),
                   [field](T& obj, const OptionValue& v) {
                     const auto& list = std::get<std::vector<std::int64_t>>(v);
                     (obj.*field).assign(list.begin(), list.end());
                   });
  }
  OptionBuilder Int64List(std::string name, std::vector<std::int64_t> T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kIntList, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) {
                     obj.*field = std::get<std::vector<std::int64_t>>(v);
                   });
  }
  OptionBuilder FloatList(std::string name, std::vector<double> T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kFloatList, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) { obj.*field = std::get<std::vector<double>>(v); });
  }
  OptionBuilder StringList(std::string name, std::vector<std::string> T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kStringList, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) {
                     obj.*field = std::get<std::vector<std::string>>(v);
                   });
  }
  /// A list of names from a closed set (`names`, as for Enum), bound to a vector of an enum class.
  template <class E>
  OptionBuilder EnumList(std::string name, std::vector<E> T::*field, const EnumNames<E>& names, std::string help) {
    std::vector<std::string> choices, default_names;
    for (const auto& entry : names) choices.push_back(entry.name);
    const T defaults{};
    for (E value : defaults.*field) default_names.push_back(NameOf(names, value));
    auto builder = Declare(std::move(name), OptionType::kStringList, std::move(help), default_names,
                           [field, names](T& obj, const OptionValue& v) {
                             (obj.*field).clear();
                             for (const auto& item : std::get<std::vector<std::string>>(v))
                               if (const auto value = ValueOf(names, item)) (obj.*field).push_back(*value);
                           });
    builder.Choices(std::move(choices));
    return builder;
  }
  OptionBuilder StringIntMap(std::string name, std::map<std::string, int> T::*field, std::string help) {
    std::map<std::string, std::int64_t> init;
    const T defaults{};
    for (const auto& [key, value] : defaults.*field) init[key] = value;
    return Declare(std::move(name), OptionType::kStringIntMap, std::move(help), init,
                   [field](T& obj, const OptionValue& v) {
                     (obj.*field).clear();
                     for (const auto& [key, value] : std::get<std::map<std::string, std::int64_t>>(v))
                       (obj.*field)[key] = static_cast<int>(value);
                   });
  }

  OptionBuilder StringMap(std::string name, std::map<std::string, std::string> T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kStringMap, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) { obj.*field = std::get<std::map<std::string, std::string>>(v); });
  }
  OptionBuilder TensorList(std::string name, std::vector<TensorSpec> T::*field, std::string help) {
    return Declare(std::move(name), OptionType::kTensorList, std::move(help), T{}.*field,
                   [field](T& obj, const OptionValue& v) { obj.*field = std::get<std::vector<TensorSpec>>(v); });
  }

  const OptionSchema& erased() const { return erased_; }

  /// Fills a T from parsed values (which the erased schema produced, so types are right).
  T Bind(const OptionValues& values) const {
    T obj{};
    for (std::size_t idx = 0; idx < setters_.size(); ++idx)
      setters_[idx](obj, values.Get(erased_.specs()[idx].name));
    return obj;
  }

 private:
  using Setter = std::function<void(T&, const OptionValue&)>;

  OptionBuilder Declare(std::string name, OptionType type, std::string help, OptionValue default_value,
                        Setter setter) {
    OptionSpec spec;
    spec.name = std::move(name);
    spec.type = type;
    spec.help = std::move(help);
    spec.default_value = std::move(default_value);
    setters_.push_back(std::move(setter));
    return OptionBuilder(erased_.Add(std::move(spec)));
  }

  OptionSchema erased_;
  std::vector<Setter> setters_;
};

}  // namespace adaflow
