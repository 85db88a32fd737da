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
  /// Where messages point for the stage as a whole (a sweep point's copy points at the stage it copies).
  YAML::Node origin;
  /// The sweep point this copy of a stage belongs to ("" for a stage every point shares, or no sweep);
  /// `base_id` is then the id the config gives the stage.
  std::string point;
  std::string base_id;
};

/// One point of a `sweep:`: its name and the value each swept entry takes there.
struct SweepPoint {
  std::string name;
  struct Value {
    std::string entry;   ///< the swept entry as written, e.g. "stages.adaround.default_param_bw"
    YAML::Node value;    ///< as written in the sweep (its line is the one messages name)
  };
  std::vector<Value> values;
};

/// `sweep:` expanded: every point is a copy of the stages its entries change and of all stages after
/// them (ids "<id>@<point>"); the other stages are shared by all points and run once.
struct SweepSpec {
  std::vector<std::string> entries;  ///< swept entries as written, in order (matrix keys, then points' keys)
  std::vector<SweepPoint> points;
  std::vector<std::string> shared;   ///< ids of the stages every point shares
  std::vector<std::string> swept;    ///< ids (as in the config) of the stages each point has its own copy of
  bool empty() const { return points.empty(); }
  const SweepPoint* Find(const std::string& name) const;
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
  SweepSpec sweep;

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

/// Keeps only sweep point `name` (its stages and the shared ones); InputError when the config has no
/// sweep or no such point.
void SelectSweepPoint(PipelineSpec& spec, const std::string& name);

}  // namespace adaflow
