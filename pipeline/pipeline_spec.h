#pragma once
// The YAML config as read from disk: top-level settings, the application's sections (the model), the
// data sets and the stage list (stage options are bound later, by the planner). See
// docs/ARCHITECTURE.md for the contract.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/yaml_source.h"

namespace adaflow {

class StageRegistry;
struct DataTypeDef;

/// A top-level section the application registered (StageRegistry::AddSection), bound to its schema.
struct SectionSpec {
  std::string name;
  const OptionSchema* schema = nullptr;
  OptionValues options;
};

/// One entry of `data:` (a name the application registered), bound to its data type's schema.
struct DataSetSpec {
  std::string name;
  std::string type;
  const DataTypeDef* def = nullptr;  ///< the registry's entry for `type` (its schema and loader)
  const OptionSchema* schema = nullptr;
  OptionValues options;
};

/// One entry of `stages:` before binding.
struct StageSpec {
  std::string id;
  std::string type;
  bool after_given = false;         ///< `after:` absent means "the previous stage"
  std::vector<std::string> after;
  YAML::Node node;                  ///< the whole stage map (options are every non-reserved key)
  YAML::Node after_node;
};

struct PipelineSpec {
  std::string config_path;
  YamlSource source;
  YAML::Node root;

  std::string name;
  std::int64_t seed = 0;
  int threads = 0;            ///< 0: every core
  std::vector<SectionSpec> sections;  ///< those present in the config, in the registry's order
  std::vector<DataSetSpec> data;
  std::vector<StageSpec> stages;

  const SectionSpec* FindSection(const std::string& name) const;
  const DataSetSpec* FindData(const std::string& name) const;
};

/// Reads and checks a config file; `overrides` are `--set a.b=value` texts applied before checking.
/// Throws InputError naming file:line (or the override) and the key.
PipelineSpec LoadPipelineSpec(const std::string& path, const std::vector<std::string>& overrides,
                              const StageRegistry& registry);

/// Same, from text; `source_name` stands for the file in messages.
PipelineSpec ParsePipelineSpec(const std::string& text, const std::string& source_name,
                               const std::vector<std::string>& overrides, const StageRegistry& registry);

}  // namespace adaflow
