#pragma once
// The YAML config as read from disk: top-level settings, the model, the data sets and the stage list
// (stage options are bound later, by the planner). See docs/ARCHITECTURE.md for the contract.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/yaml_source.h"

namespace adaflow {

class StageRegistry;
struct DataTypeDef;

struct ModelSpec {
  /// TorchScript file, relative to the current directory. Example: examples/models/resnet8_fmnist.pt
  std::string path;
  /// Shape of one model input, batch first. Example: [1, 1, 28, 28]
  std::vector<std::int64_t> input_shape;
};

/// One entry of `data:` (`calibration`, `evaluation`), bound to its data type's schema.
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
  bool has_model = false;
  ModelSpec model;
  std::vector<DataSetSpec> data;
  std::vector<StageSpec> stages;

  const DataSetSpec* FindData(const std::string& name) const;
};

/// Names a config may use under `data:`.
const std::vector<std::string>& DataSetNames();

/// Reads and checks a config file; `overrides` are `--set a.b=value` texts applied before checking.
/// Throws InputError naming file:line (or the override) and the key.
PipelineSpec LoadPipelineSpec(const std::string& path, const std::vector<std::string>& overrides,
                              const StageRegistry& registry);

/// Same, from text; `source_name` stands for the file in messages.
PipelineSpec ParsePipelineSpec(const std::string& text, const std::string& source_name,
                               const std::vector<std::string>& overrides, const StageRegistry& registry);

}  // namespace adaflow
