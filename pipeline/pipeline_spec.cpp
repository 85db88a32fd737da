#include "pipeline/pipeline_spec.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "pipeline/stage_registry.h"

namespace adaflow {
namespace {

struct Settings {
  std::string name;
  std::int64_t seed = 0;
  int threads = 0;
};

const Schema<Settings>& SettingsSchema() {
  static const Schema<Settings> schema = [] {
    Schema<Settings> s("config");
    s.String("name", &Settings::name, "run name; the run directory is runs/<name>").Required();
    s.Int64("seed", &Settings::seed, "seed of every random choice (per-layer RNGs derive from it)").Min(0);
    s.Int("threads", &Settings::threads, "thread budget of the whole run; 0 = every core").Range(0, 1024);
    return s;
  }();
  return schema;
}

void ApplyOverride(YAML::Node& root, const std::string& text, YamlSource& source) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("--set " + text + ": expected KEY=VALUE, e.g. stages.adaround.num_iterations=500");
  const std::string path = text.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::Exception& error) {
    throw InputError("--set " + text + ": value is not valid YAML: " + error.msg);
  }
  std::vector<std::string> parts;
  std::stringstream stream(path);
  for (std::string part; std::getline(stream, part, '.');) {
    if (part.empty()) throw InputError("--set " + text + ": empty component in '" + path + "'");
    parts.push_back(part);
  }
  // Walk with a node that rebinds (yaml-cpp's operator= on a node assigns its value instead).
  std::vector<YAML::Node> chain{root};
  for (std::size_t idx = 0; idx + 1 < parts.size(); ++idx) {
    YAML::Node current = chain.back();
    if (idx == 1 && parts[0] == "stages") {
      std::vector<std::string> ids;
      YAML::Node found;
      bool matched = false;
      if (current.IsSequence()) {
        for (const auto& stage : current) {
          const std::string id = stage.IsMap() && stage["id"] ? stage["id"].Scalar()
                                 : stage.IsMap() && stage["type"] ? stage["type"].Scalar()
                                                                  : "";
          ids.push_back(id);
          if (id == parts[idx] && !matched) {
            found.reset(stage);
            matched = true;
          }
        }
      }
      if (!matched)
        throw InputError("--set " + text + ": no stage with id '" + parts[idx] + "'" + DidYouMean(parts[idx], ids));
      chain.push_back(found);
      continue;
    }
    if (current.IsNull() || !current.IsDefined()) current = YAML::Node(YAML::NodeType::Map);
    if (!current.IsMap()) throw InputError("--set " + text + ": '" + parts[idx] + "' is not a map in the config");
    if (!current[parts[idx]]) current[parts[idx]] = YAML::Node(YAML::NodeType::Map);
    chain.push_back(current[parts[idx]]);
  }
  YAML::Node parent = chain.back();
  if (!parent.IsMap()) throw InputError("--set " + text + ": cannot set a key inside a non-map");
  parent[parts.back()] = value;
  source.AddOverride(value, text);
}

std::vector<std::string> ReadNameList(const YAML::Node& node, const YamlSource& source, const std::string& what) {
  std::vector<std::string> names;
  if (node.IsScalar()) {
    names.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (const auto& item : node) {
      if (!item.IsScalar()) source.Fail(item, what + " must list stage ids");
      names.push_back(item.Scalar());
    }
  } else if (!node.IsNull()) {
    source.Fail(node, what + " must be a stage id or a list of stage ids");
  }
  return names;
}

}  // namespace

const SectionSpec* PipelineSpec::FindSection(const std::string& section_name) const {
  for (const auto& section : sections)
    if (section.name == section_name) return &section;
  return nullptr;
}

const DataSetSpec* PipelineSpec::FindData(const std::string& data_name) const {
  for (const auto& set : data)
    if (set.name == data_name) return &set;
  return nullptr;
}

PipelineSpec LoadPipelineSpec(const std::string& path, const std::vector<std::string>& overrides,
                              const StageRegistry& registry) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read config '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  PipelineSpec spec = ParsePipelineSpec(text.str(), path, overrides, registry);
  spec.config_path = path;
  return spec;
}

namespace {

/// name, seed, threads and the application's sections; an unknown top-level key is an error.
void ParseTopLevel(PipelineSpec& spec, const StageRegistry& registry) {
  const YAML::Node& root = spec.root;
  const YamlSource& source = spec.source;
  std::vector<std::string> top_level = {"name", "seed", "threads"};
  std::set<std::string> not_settings = {"data", "stages"};
  for (const auto& section : registry.sections()) {
    top_level.push_back(section.name);
    not_settings.insert(section.name);
  }
  top_level.insert(top_level.end(), {"data", "stages"});
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (std::find(top_level.begin(), top_level.end(), key) == top_level.end())
      source.Fail(kv.first, "unknown top-level key '" + key + "'" + DidYouMean(key, top_level));
  }

  const Settings settings =
      SettingsSchema().Bind(SettingsSchema().erased().Parse(root, source, "the config", not_settings));
  spec.name = settings.name;
  spec.seed = settings.seed;
  spec.threads = settings.threads;
  if (spec.name.empty() || spec.name.find_first_not_of(
                               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos ||
      spec.name[0] == '.')
    source.Fail(root["name"], "name '" + spec.name + "' must use only letters, digits, '_', '-' and '.' (it names the run directory)");

  for (const auto& def : registry.sections()) {
    if (const YAML::Node node = root[def.name])
      spec.sections.push_back({def.name, def.schema, def.schema->Parse(node, source, def.name)});
  }
}

/// `data:`: each data set under a registered name, bound to its data type's schema.
void ParseDataSets(PipelineSpec& spec, const StageRegistry& registry) {
  const YAML::Node data = spec.root["data"];
  if (!data) return;
  const YamlSource& source = spec.source;
  const std::vector<std::string> names = registry.DataSetNames();
  std::string listed;
  for (const auto& name : names) listed += (listed.empty() ? "" : ", ") + name + ":";
  if (!data.IsMap()) source.Fail(data, "data must be a map of data sets (" + listed + ")");
  for (const auto& kv : data) {
    DataSetSpec set;
    set.name = kv.first.Scalar();
    if (std::find(names.begin(), names.end(), set.name) == names.end())
      source.Fail(kv.first, "unknown data set '" + set.name + "'; use one of " + QuoteList(names) +
                                DidYouMean(set.name, names));
    const YAML::Node& body = kv.second;
    if (!body.IsMap()) source.Fail(body, "data set '" + set.name + "' must be a map with a 'type:'");
    if (!body["type"]) source.Fail(body, "missing required key 'type' in data set '" + set.name + "'");
    set.type = body["type"].Scalar();
    const DataTypeDef* def = registry.FindDataType(set.type);
    if (!def)
      source.Fail(body["type"], "unknown data type '" + set.type + "' in data set '" + set.name + "'; known: " +
                                    QuoteList(registry.DataTypes()) + DidYouMean(set.type, registry.DataTypes()));
    set.def = def;
    set.schema = def->schema;
    set.options = def->schema->Parse(body, source, "data set '" + set.name + "'", {"type"});
    spec.data.push_back(std::move(set));
  }
}

/// `stages:`: id, type and after of each; the options are bound by the planner, with the type's schema.
void ParseStages(PipelineSpec& spec) {
  const YAML::Node stages = spec.root["stages"];
  const YamlSource& source = spec.source;
  if (!stages) throw InputError(spec.config_path + ": missing required key 'stages'");
  if (!stages.IsSequence() || stages.size() == 0)
    source.Fail(stages, "stages must be a non-empty list of {id, type, ...} maps");
  for (const auto& node : stages) {
    if (!node.IsMap()) source.Fail(node, "each stage must be a map with at least 'type:'");
    StageSpec stage;
    stage.node.reset(node);
    if (!node["type"]) source.Fail(node, "missing required key 'type' in a stage");
    if (!node["type"].IsScalar()) source.Fail(node["type"], "stage 'type' must be a name");
    stage.type = node["type"].Scalar();
    if (const YAML::Node id = node["id"]) {
      if (!id.IsScalar() || id.Scalar().empty()) source.Fail(id, "stage 'id' must be a non-empty name");
      stage.id = id.Scalar();
    } else {
      stage.id = stage.type;
    }
    if (stage.id.find('/') != std::string::npos)
      source.Fail(node["id"] ? node["id"] : node["type"], "stage id '" + stage.id + "' must not contain '/'" +
                                                         (node["id"] ? "" : " (without 'id:' a stage is named by its type)"));
    if (const YAML::Node after = node["after"]) {
      stage.after_given = true;
      stage.after_node = after;
      stage.after = ReadNameList(after, source, "stage '" + stage.id + "': after");
    }
    spec.stages.push_back(std::move(stage));
  }
}

}  // namespace

PipelineSpec ParsePipelineSpec(const std::string& text, const std::string& source_name,
                               const std::vector<std::string>& overrides, const StageRegistry& registry) {
  PipelineSpec spec;
  spec.config_path = source_name;
  spec.source = YamlSource(source_name);
  try {
    spec.root = YAML::Load(text);
  } catch (const YAML::ParserException& error) {
    throw InputError(source_name + ":" + std::to_string(error.mark.line + 1) + ": invalid YAML: " + error.msg);
  }
  if (!spec.root.IsMap()) throw InputError(source_name + ": a config must be a YAML map (name:, model:, data:, stages:)");
  for (const auto& text_override : overrides) ApplyOverride(spec.root, text_override, spec.source);
  ParseTopLevel(spec, registry);
  ParseDataSets(spec, registry);
  ParseStages(spec);
  return spec;
}

}  // namespace adaflow
