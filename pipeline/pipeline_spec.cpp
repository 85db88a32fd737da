#include "pipeline/pipeline_spec.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
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
  std::set<std::string> not_settings = {"data", "stages", "sweep"};
  for (const auto& section : registry.sections()) {
    top_level.push_back(section.name);
    not_settings.insert(section.name);
  }
  top_level.insert(top_level.end(), {"data", "stages", "sweep"});
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
    stage.origin.reset(node);
    spec.stages.push_back(std::move(stage));
  }
}

// ---- sweep: ----------------------------------------------------------------------------------------

constexpr const char* kSweepPathHelp = "stages.<id>.<option>, or stages.*.<option> for every stage that has it";

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, separator);) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

std::string Trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

bool NameCharacters(const std::string& text, const char* extra) {
  for (char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr(extra, c)) return false;
  return !text.empty();
}

/// One stage option a sweep entry sets: the stage (index into spec.stages) and the keys down to it.
struct SweepTarget {
  std::size_t stage = 0;
  std::vector<std::string> keys;
};

struct SweepEntry {
  std::string text;
  YAML::Node key;  ///< where the entry is written
  std::vector<SweepTarget> targets;
};

/// The stage options `text` names ("stages.adaround.default_param_bw", "stages.*.default_param_bw",
/// or several, comma-separated, that take the same value).
std::vector<SweepTarget> ResolveSweepEntry(const std::string& text, const YAML::Node& key, const PipelineSpec& spec,
                                           const StageRegistry& registry) {
  const YamlSource& source = spec.source;
  std::vector<std::string> ids;
  for (const auto& stage : spec.stages) ids.push_back(stage.id);
  std::vector<SweepTarget> targets;
  for (const std::string& raw : Split(text, ',')) {
    const std::string path = Trim(raw);
    const auto parts = Split(path, '.');
    auto fail = [&](const std::string& why) { source.Fail(key, "sweep entry '" + text + "': " + why); };
    if (parts.size() < 3 || parts[0] != "stages" ||
        std::any_of(parts.begin(), parts.end(), [](const std::string& part) { return part.empty(); }))
      fail("'" + path + "' names no stage option; write " + kSweepPathHelp);
    const std::string& option = parts[2];
    if (option == "id" || option == "type" || option == "after")
      fail("'" + option + "' shapes the pipeline; only stage options can be swept");
    std::vector<std::size_t> stages;
    if (parts[1] == "*") {
      for (std::size_t idx = 0; idx < spec.stages.size(); ++idx) {
        const StageDef* def = registry.Find(spec.stages[idx].type);
        if (def && def->schema->Find(option)) stages.push_back(idx);
      }
      if (stages.empty()) fail("no stage of this config has an option '" + option + "'");
    } else {
      const auto it = std::find(ids.begin(), ids.end(), parts[1]);
      if (it == ids.end()) fail("no stage with id '" + parts[1] + "'" + DidYouMean(parts[1], ids));
      const std::size_t idx = static_cast<std::size_t>(it - ids.begin());
      const StageDef* def = registry.Find(spec.stages[idx].type);
      if (!def) fail("stage '" + parts[1] + "' has unknown type '" + spec.stages[idx].type + "'");
      if (!def->schema->Find(option))
        fail("stage '" + parts[1] + "' (type " + def->type + ") has no option '" + option + "'" +
             DidYouMean(option, def->schema->Names()) + " (adaflow describe " + def->type + " lists them)");
      stages.push_back(idx);
    }
    for (std::size_t idx : stages) targets.push_back({idx, std::vector<std::string>(parts.begin() + 2, parts.end())});
  }
  return targets;
}

/// A copy of `map` sharing its nodes (so their lines stay), with keys[depth..] set to `value`.
YAML::Node WithValue(const YAML::Node& map, const std::vector<std::string>& keys, std::size_t depth,
                     const YAML::Node& value) {
  YAML::Node copy(YAML::NodeType::Map);
  YAML::Node inner;
  if (map.IsMap()) {
    for (const auto& kv : map) {
      if (kv.first.Scalar() == keys[depth]) inner.reset(kv.second);
      else copy[kv.first] = kv.second;
    }
  }
  if (depth + 1 == keys.size()) copy[keys[depth]] = value;
  else copy[keys[depth]] = WithValue(inner, keys, depth + 1, value);
  return copy;
}

/// A short label for a value of a list in the matrix: strings as they are (a path's file stem),
/// numbers after the option's last word (bw4, iterations2000), booleans as the option or no_<option>.
std::string AutoLabel(const std::string& option, const YAML::Node& value) {
  const std::string word = option.substr(option.rfind('_') == std::string::npos ? 0 : option.rfind('_') + 1);
  auto clean = [](std::string text) {
    for (char& c : text)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') c = '_';
    return text;
  };
  if (value.IsSequence()) {
    std::string joined;
    for (const auto& item : value) joined += (joined.empty() ? "" : "_") + (item.IsScalar() ? item.Scalar() : "x");
    return word + clean(joined);
  }
  if (!value.IsScalar()) return clean(option);
  const std::string& text = value.Scalar();
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  if (!text.empty() && end && *end == '\0') return word + clean(text);
  bool flag = false;
  if (YAML::convert<bool>::decode(value, flag)) return flag ? option : "no_" + option;
  std::string stem = text.substr(text.rfind('/') == std::string::npos ? 0 : text.rfind('/') + 1);
  if (const auto dot = stem.find('.'); dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
  return clean(stem);
}

/// The stages each stage follows: `after:` as given, else the previous stage of the list.
std::vector<std::vector<std::size_t>> EffectiveAfter(const PipelineSpec& spec) {
  std::vector<std::vector<std::size_t>> after(spec.stages.size());
  for (std::size_t idx = 0; idx < spec.stages.size(); ++idx) {
    if (!spec.stages[idx].after_given) {
      if (idx > 0) after[idx].push_back(idx - 1);
      continue;
    }
    for (const auto& name : spec.stages[idx].after)
      for (std::size_t up = 0; up < spec.stages.size(); ++up)
        if (spec.stages[up].id == name) after[idx].push_back(up);
  }
  return after;
}

/// `sweep: {matrix: {ENTRY: [values] or {label: value}}, points: [{name: N, ENTRY: value, ...}]}`
/// becomes a copy of the swept stages and of every stage after them per point. Every value is checked
/// against its stage's options here, before anything runs.
void ExpandSweep(PipelineSpec& spec, const StageRegistry& registry) {
  const YAML::Node sweep = spec.root["sweep"];
  if (!sweep || sweep.IsNull()) return;  // `--set sweep=null` runs the config without its sweep
  const YamlSource& source = spec.source;
  if (!sweep.IsMap()) source.Fail(sweep, "sweep must be a map with 'matrix:' and/or 'points:'");
  for (const auto& kv : sweep) {
    const std::string key = kv.first.Scalar();
    if (key != "matrix" && key != "points")
      source.Fail(kv.first, "unknown key '" + key + "' in sweep" + DidYouMean(key, {"matrix", "points"}) +
                                " (sweep has 'matrix:' and 'points:')");
  }
  std::vector<SweepEntry> entries;
  auto entry_index = [&](const YAML::Node& key) {
    if (!key.IsScalar() || Trim(key.Scalar()).empty()) source.Fail(key, "a sweep entry must be a path: " + std::string(kSweepPathHelp));
    const std::string text = Trim(key.Scalar());
    for (std::size_t idx = 0; idx < entries.size(); ++idx)
      if (entries[idx].text == text) return idx;
    entries.push_back({text, key, ResolveSweepEntry(text, key, spec, registry)});
    return entries.size() - 1;
  };
  // An option that two entries of one point set would take two values there.
  auto check_overlap = [&](const std::vector<std::size_t>& used, const YAML::Node& at) {
    for (std::size_t later = 1; later < used.size(); ++later)
      for (std::size_t earlier = 0; earlier < later; ++earlier)
        for (const auto& mine : entries[used[later]].targets)
          for (const auto& theirs : entries[used[earlier]].targets) {
            const std::size_t common = std::min(mine.keys.size(), theirs.keys.size());
            if (mine.stage == theirs.stage && std::equal(mine.keys.begin(), mine.keys.begin() + common, theirs.keys.begin()))
              source.Fail(at.IsDefined() ? at : entries[used[later]].key,
                          "sweep entry '" + entries[used[later]].text + "' sets what entry '" + entries[used[earlier]].text +
                              "' (" + source.Where(entries[used[earlier]].key) + ") sets too, in stage '" +
                              spec.stages[mine.stage].id + "'");
          }
  };

  struct Choice {
    std::size_t entry;
    std::string label;
    YAML::Node value;
  };
  std::vector<std::vector<Choice>> points;
  std::vector<std::string> names;
  std::vector<YAML::Node> name_nodes;
  // matrix: every combination, the first entry varying slowest.
  if (const YAML::Node matrix = sweep["matrix"]) {
    if (!matrix.IsMap() || matrix.size() == 0)
      source.Fail(matrix, "sweep matrix must map entries (" + std::string(kSweepPathHelp) + ") to lists of values");
    std::vector<std::vector<Choice>> axes;
    std::vector<std::size_t> used;
    for (const auto& kv : matrix) {
      const std::size_t entry = entry_index(kv.first);
      used.push_back(entry);
      check_overlap(used, kv.first);
      const std::string option = entries[entry].targets.front().keys.back();
      std::vector<Choice> axis;
      if (kv.second.IsSequence()) {
        for (const auto& value : kv.second) axis.push_back({entry, AutoLabel(option, value), value});
      } else if (kv.second.IsMap()) {
        for (const auto& labelled : kv.second) {
          const std::string label = labelled.first.Scalar();
          if (!NameCharacters(label, "_.-"))
            source.Fail(labelled.first, "sweep entry '" + entries[entry].text + "': label '" + label +
                                            "' must use only letters, digits, '_', '-' and '.' (it names points)");
          axis.push_back({entry, label, labelled.second});
        }
      } else {
        source.Fail(kv.second, "sweep entry '" + entries[entry].text +
                                   "' must list its values ([2, 4, 8]) or label them ({w2: 2, w4: 4})");
      }
      if (axis.empty()) source.Fail(kv.second, "sweep entry '" + entries[entry].text + "' has no values");
      axes.push_back(std::move(axis));
    }
    std::vector<std::vector<Choice>> combos{{}};
    for (const auto& axis : axes) {
      std::vector<std::vector<Choice>> next;
      for (const auto& combo : combos)
        for (const auto& choice : axis) {
          next.push_back(combo);
          next.back().push_back(choice);
        }
      combos = std::move(next);
    }
    for (auto& combo : combos) {
      std::string name;
      for (const auto& choice : combo) name += (name.empty() ? "" : "-") + choice.label;
      names.push_back(name);
      name_nodes.push_back(matrix);
      points.push_back(std::move(combo));
    }
  }
  // points: each one explicit, the entries it does not name keep the config's values.
  if (const YAML::Node listed = sweep["points"]) {
    if (!listed.IsSequence() || listed.size() == 0)
      source.Fail(listed, "sweep points must be a list of maps such as {name: w4_long, stages.adaround.num_iterations: 10000}");
    for (const auto& item : listed) {
      if (!item.IsMap()) source.Fail(item, "each sweep point must be a map of entries to values, with an optional name:");
      std::vector<Choice> combo;
      std::vector<std::size_t> used;
      std::string name;
      YAML::Node name_node = item;
      for (const auto& kv : item) {
        if (kv.first.Scalar() == "name") {
          name = kv.second.Scalar();
          name_node.reset(kv.second);  // reset, not =: assigning a Node rebinds the tree it came from
          continue;
        }
        const std::size_t entry = entry_index(kv.first);
        used.push_back(entry);
        check_overlap(used, kv.first);
        combo.push_back({entry, AutoLabel(entries[entry].targets.front().keys.back(), kv.second), kv.second});
      }
      if (combo.empty()) source.Fail(item, "a sweep point must set at least one entry");
      if (name.empty())
        for (const auto& choice : combo) name += (name.empty() ? "" : "-") + choice.label;
      names.push_back(name);
      name_nodes.push_back(name_node);
      points.push_back(std::move(combo));
    }
  }
  if (points.empty()) source.Fail(sweep, "sweep has no points: give 'matrix:' or 'points:'");
  for (std::size_t idx = 0; idx < names.size(); ++idx) {
    if (!NameCharacters(names[idx], "_.-"))
      source.Fail(name_nodes[idx], "sweep point name '" + names[idx] +
                                       "' must use only letters, digits, '_', '-' and '.' (it names stages and folders)");
    for (std::size_t other = 0; other < idx; ++other)
      if (names[other] == names[idx])
        source.Fail(name_nodes[idx], "two sweep points are named '" + names[idx] +
                                         "'; give the values labels ({w4: 4}) or the points names");
  }

  // Every value against its stage's options, before anything runs; first the stages as written.
  const std::set<std::string> reserved = {"id", "type", "after"};
  std::set<std::size_t> checked;
  for (const auto& entry : entries)
    for (const auto& target : entry.targets) {
      const StageSpec& stage = spec.stages[target.stage];
      if (checked.insert(target.stage).second)
        registry.Find(stage.type)->schema->Parse(stage.node, source, "stage '" + stage.id + "'", reserved);
    }
  for (std::size_t point = 0; point < points.size(); ++point)
    for (const auto& choice : points[point])
      for (const auto& target : entries[choice.entry].targets) {
        const StageSpec& stage = spec.stages[target.stage];
        const YAML::Node copy = WithValue(stage.node, target.keys, 0, choice.value);
        registry.Find(stage.type)->schema->Parse(
            copy, source, "sweep entry '" + entries[choice.entry].text + "' (point '" + names[point] + "'): stage '" + stage.id + "'",
            reserved);
      }

  // The stages a point changes, and every stage after them, are copied per point; the rest is shared.
  const auto after = EffectiveAfter(spec);
  std::vector<bool> swept(spec.stages.size(), false);
  for (const auto& entry : entries)
    for (const auto& target : entry.targets) swept[target.stage] = true;
  for (bool grew = true; grew;) {
    grew = false;
    for (std::size_t idx = 0; idx < spec.stages.size(); ++idx)
      for (std::size_t up : after[idx])
        if (swept[up] && !swept[idx]) swept[idx] = grew = true;
  }
  std::vector<StageSpec> expanded;
  for (std::size_t idx = 0; idx < spec.stages.size(); ++idx) {
    if (swept[idx]) {
      spec.sweep.swept.push_back(spec.stages[idx].id);
      continue;
    }
    StageSpec stage = spec.stages[idx];
    stage.after_given = true;
    stage.after.clear();
    for (std::size_t up : after[idx]) stage.after.push_back(spec.stages[up].id);
    spec.sweep.shared.push_back(stage.id);
    expanded.push_back(std::move(stage));
  }
  for (std::size_t point = 0; point < points.size(); ++point) {
    SweepPoint described{names[point], {}};
    for (const auto& choice : points[point]) described.values.push_back({entries[choice.entry].text, choice.value});
    spec.sweep.points.push_back(std::move(described));
    const std::string suffix = "@" + names[point];
    for (std::size_t idx = 0; idx < spec.stages.size(); ++idx) {
      if (!swept[idx]) continue;
      StageSpec stage = spec.stages[idx];
      stage.id += suffix;
      stage.point = names[point];
      stage.base_id = spec.stages[idx].id;
      stage.after_given = true;
      stage.after.clear();
      for (std::size_t up : after[idx]) stage.after.push_back(spec.stages[up].id + (swept[up] ? suffix : ""));
      for (const auto& choice : points[point])
        for (const auto& target : entries[choice.entry].targets)
          if (target.stage == idx) stage.node.reset(WithValue(stage.node, target.keys, 0, choice.value));
      expanded.push_back(std::move(stage));
    }
  }
  for (const auto& entry : entries) spec.sweep.entries.push_back(entry.text);
  spec.stages = std::move(expanded);
}

}  // namespace

const SweepPoint* SweepSpec::Find(const std::string& name) const {
  for (const auto& point : points)
    if (point.name == name) return &point;
  return nullptr;
}

void SelectSweepPoint(PipelineSpec& spec, const std::string& name) {
  if (spec.sweep.empty()) throw InputError("--point " + name + ": " + spec.config_path + " has no sweep: section");
  if (!spec.sweep.Find(name)) {
    std::vector<std::string> names;
    for (const auto& point : spec.sweep.points) names.push_back(point.name);
    throw InputError("--point " + name + ": no such sweep point in " + spec.config_path + DidYouMean(name, names) +
                     " (run --dry-run to list them)");
  }
  spec.stages.erase(std::remove_if(spec.stages.begin(), spec.stages.end(),
                                   [&](const StageSpec& stage) { return !stage.point.empty() && stage.point != name; }),
                    spec.stages.end());
  const SweepPoint kept = *spec.sweep.Find(name);
  spec.sweep.points = {kept};
}

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
  ExpandSweep(spec, registry);
  return spec;
}

}  // namespace adaflow
