#include "pipeline/planner.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "common/by_name.h"
#include "pipeline/content_hash.h"

namespace adaflow {
namespace {

/// Bumped whenever stored results change meaning, so old run directories are recomputed.
constexpr std::uint64_t kFormatVersion = 1;

void CheckCycles(const Plan& plan) {
  const std::size_t count = plan.stages.size();
  std::vector<int> color(count, 0);  // 0 new, 1 on the stack, 2 done
  std::vector<std::size_t> stack;
  std::function<void(std::size_t)> visit = [&](std::size_t node) {
    color[node] = 1;
    stack.push_back(node);
    for (std::size_t up : plan.stages[node].after) {
      if (color[up] == 1) {
        std::string cycle;
        auto start = std::find(stack.begin(), stack.end(), up);
        for (auto it = start; it != stack.end(); ++it) cycle += plan.stages[*it].id + " -> ";
        cycle += plan.stages[up].id;
        throw InputError(plan.stages[node].where + ": the stages form a cycle through 'after:' (" + cycle + ")");
      }
      if (color[up] == 0) visit(up);
    }
    stack.pop_back();
    color[node] = 2;
  };
  for (std::size_t idx = 0; idx < count; ++idx)
    if (color[idx] == 0) visit(idx);
}

std::vector<std::size_t> TopologicalOrder(const Plan& plan) {
  const std::size_t count = plan.stages.size();
  std::vector<std::size_t> pending(count, 0), order;
  std::vector<std::vector<std::size_t>> down(count);
  for (std::size_t idx = 0; idx < count; ++idx) {
    pending[idx] = plan.stages[idx].after.size();
    for (std::size_t up : plan.stages[idx].after) down[up].push_back(idx);
  }
  std::deque<std::size_t> ready;
  for (std::size_t idx = 0; idx < count; ++idx)
    if (pending[idx] == 0) ready.push_back(idx);
  while (!ready.empty()) {
    const std::size_t node = ready.front();
    ready.pop_front();
    order.push_back(node);
    for (std::size_t next : down[node])
      if (--pending[next] == 0) ready.push_back(next);
  }
  return order;
}

/// Feeds each input of stage `idx` (derived inputs excepted) from the nearest upstream stage that
/// outputs its kind: breadth-first over `after:` edges.
void WirePorts(Plan& plan, std::size_t idx, const StageRegistry& registry) {
  PlannedStage& stage = plan.stages[idx];
  for (const PortSpec& port : stage.def->inputs) {
    if (port.derived) continue;
    std::deque<std::size_t> queue(stage.after.begin(), stage.after.end());
    std::set<std::size_t> seen(stage.after.begin(), stage.after.end());
    bool found = false;
    while (!queue.empty() && !found) {
      const std::size_t up = queue.front();
      queue.pop_front();
      const auto& outputs = plan.stages[up].def->outputs;
      if (std::find(outputs.begin(), outputs.end(), port.kind) != outputs.end()) {
        stage.input_from[port.id()] = up;
        found = true;
      }
      for (std::size_t further : plan.stages[up].after)
        if (seen.insert(further).second) queue.push_back(further);
    }
    if (!found && !port.optional) {
      std::vector<std::string> producers;
      for (const auto& def : registry.stages())
        if (std::find(def.outputs.begin(), def.outputs.end(), port.kind) != def.outputs.end())
          producers.push_back(def.type);
      throw InputError(stage.where + ": stage '" + stage.id + "' (type " + stage.type + ") needs a " + port.kind +
                       " input, but no stage upstream of it produces one" +
                       (producers.empty() ? "" : " (stages of type " + QuoteList(producers) + " do)"));
    }
  }
}

/// Adds the stages that the config's stages derive (StageDef::derive), each wired like a stage of the
/// config, and feeds their owners' derived inputs.
void AddDerivedStages(Plan& plan, std::map<std::string, std::size_t>& index_of, const StageRegistry& registry) {
  const std::size_t config_stages = plan.stages.size();
  for (std::size_t owner = 0; owner < config_stages; ++owner) {
    if (!plan.stages[owner].def->derive) continue;
    std::vector<DerivedStage> derived_stages;
    try {
      derived_stages = plan.stages[owner].def->derive(plan, owner);
    } catch (const InputError& error) {
      throw InputError(plan.stages[owner].where + ": stage '" + plan.stages[owner].id + "': " + error.what());
    }
    for (DerivedStage& derived : derived_stages) {
      PlannedStage stage;
      stage.id = plan.stages[owner].id + "." + derived.name;
      stage.type = derived.type;
      stage.where = plan.stages[owner].where;
      stage.def = registry.Find(derived.type);
      if (!stage.def) throw std::logic_error("stage '" + stage.id + "' is derived with unknown type " + derived.type);
      stage.options = std::move(derived.options);
      stage.derived_for = plan.stages[owner].id;
      stage.point = plan.stages[owner].point;
      stage.base_id = plan.stages[owner].base_id + "." + derived.name;
      if (index_of.count(stage.id))
        throw InputError(plan.stages[index_of[stage.id]].where + ": stage id '" + stage.id + "' is taken by a stage that '" +
                         stage.derived_for + "' derives; choose another id");
      for (const auto& name : derived.after) {
        auto it = index_of.find(name);
        if (it == index_of.end()) throw std::logic_error("stage '" + stage.id + "' is derived after unknown stage " + name);
        stage.after.push_back(it->second);
      }
      const std::size_t idx = plan.stages.size();
      index_of[stage.id] = idx;
      plan.stages.push_back(std::move(stage));
      WirePorts(plan, idx, registry);
      if (!derived.feeds.empty()) {
        plan.stages[owner].after.push_back(idx);
        plan.stages[owner].input_from[derived.feeds] = idx;
      }
    }
  }
}

}  // namespace

std::string PlannedStage::Folder() const {
  const std::string point_folder = point.empty() ? "" : point + "/";
  return derived_for.empty() ? point_folder : point_folder + base_id + "/";
}

const std::string& PlannedStage::KindOf(const std::string& port) const {
  for (const PortSpec& spec : def->inputs)
    if (spec.id() == port) return spec.kind;
  throw std::logic_error("stage type " + type + " has no input '" + port + "'");
}

std::unique_ptr<Plan> BuildPlan(PipelineSpec spec, const StageRegistry& registry) {
  auto plan = std::make_unique<Plan>();
  plan->spec = std::move(spec);
  plan->thread_setters = registry.thread_setters();
  const YamlSource& source = plan->spec.source;
  std::map<std::string, std::size_t> index_of;

  for (const auto& stage_spec : plan->spec.stages) {
    PlannedStage stage;
    stage.id = stage_spec.id;
    stage.type = stage_spec.type;
    stage.point = stage_spec.point;
    stage.base_id = stage_spec.point.empty() ? stage_spec.id : stage_spec.base_id;
    stage.where = source.Where(stage_spec.origin ? stage_spec.origin : stage_spec.node);
    stage.def = registry.Find(stage.type);
    if (!stage.def)
      source.Fail(stage_spec.node["type"], "unknown stage type '" + stage.type + "'" +
                                               DidYouMean(stage.type, registry.StageTypes()) +
                                               " (adaflow stages lists them)");
    if (index_of.count(stage.id)) {
      const YAML::Node at = stage_spec.origin["id"] ? stage_spec.origin["id"] : stage_spec.origin;
      source.Fail(at, "duplicate stage id '" + stage.id + "' (first used at " +
                          plan->stages[index_of[stage.id]].where + ")");
    }
    const std::string context = "stage '" + stage.id + "'";
    stage.options = stage.def->schema->Parse(stage_spec.node, source, context, {"id", "type", "after"});
    index_of[stage.id] = plan->stages.size();
    plan->stages.push_back(std::move(stage));
  }

  // Edges: an explicit `after:` may name any stage (earlier or later); absent means the previous one.
  std::vector<std::string> ids;
  for (const auto& stage : plan->stages) ids.push_back(stage.id);
  for (std::size_t idx = 0; idx < plan->stages.size(); ++idx) {
    const StageSpec& stage_spec = plan->spec.stages[idx];
    PlannedStage& stage = plan->stages[idx];
    if (!stage_spec.after_given) {
      if (idx > 0) stage.after.push_back(idx - 1);
      continue;
    }
    for (const auto& name : stage_spec.after) {
      auto it = index_of.find(name);
      if (it == index_of.end())
        source.Fail(stage_spec.after_node, "stage '" + stage.id + "': after: names unknown stage '" + name + "'" +
                                               DidYouMean(name, ids));
      if (it->second == idx) source.Fail(stage_spec.after_node, "stage '" + stage.id + "' cannot come after itself");
      if (std::find(stage.after.begin(), stage.after.end(), it->second) == stage.after.end())
        stage.after.push_back(it->second);
    }
  }
  CheckCycles(*plan);
  for (std::size_t idx = 0; idx < plan->stages.size(); ++idx) WirePorts(*plan, idx, registry);
  AddDerivedStages(*plan, index_of, registry);
  CheckCycles(*plan);
  plan->order = TopologicalOrder(*plan);

  // Cross-field checks and construction last, so they see a well-formed plan.
  for (auto& stage : plan->stages) {
    try {
      if (stage.def->data_sets)
        for (const DataSetUse& use : *stage.def->data_sets)
          if (!use.optional && !plan->spec.FindData(use.name))
            throw InputError("stage type '" + stage.type + "' needs 'data: " + use.name + ":' in the config");
      stage.stage = stage.def->make(stage.options, plan->spec);
    } catch (const InputError& error) {
      throw InputError(stage.where + ": stage '" + stage.id + "': " + error.what());
    }
  }
  return plan;
}

std::vector<std::string> ComputeContentKeys(const Plan& plan) {
  const PipelineSpec& spec = plan.spec;
  ContentHasher root;
  root.Add(kFormatVersion).Field("seed", std::to_string(spec.seed));
  auto add_paths = [](ContentHasher& hasher, const OptionSchema& schema, const OptionValues& values) {
    for (const auto& option : schema.specs()) {
      if (option.type != OptionType::kPath) continue;
      const auto& path = std::get<std::string>(values.Get(option.name));
      if (!path.empty()) hasher.Field(option.name, FingerprintPath(path));
    }
  };
  for (const auto& section : spec.sections) {
    root.Field("section", section.name + ":" + section.schema->Canonical(section.options));
    add_paths(root, *section.schema, section.options);
  }
  const std::string root_key = root.HexDigest();
  // Each data set's own key; a stage's key takes those of the sets it reads.
  std::map<std::string, std::string> data_keys;
  for (const auto& set : spec.data) {
    ContentHasher data;
    data.Field("data", set.name + ":" + set.type + ":" + set.schema->Canonical(set.options));
    add_paths(data, *set.schema, set.options);
    data_keys[set.name] = data.HexDigest();
  }

  std::vector<std::string> keys(plan.stages.size());
  for (std::size_t idx : plan.order) {
    const PlannedStage& stage = plan.stages[idx];
    ContentHasher hasher;
    hasher.Field("root", root_key).Field("type", stage.type).Field("options", stage.def->schema->Canonical(stage.options));
    const auto& reads = stage.def->data_sets;
    for (const auto& [name, key] : data_keys)
      if (!reads || FindByName(*reads, name)) hasher.Field("data", key);
    add_paths(hasher, *stage.def->schema, stage.options);
    for (std::size_t up : stage.after) hasher.Field("after", keys[up]);
    keys[idx] = hasher.HexDigest();
  }
  return keys;
}

YAML::Node ResolvedConfig(const Plan& plan) {
  const PipelineSpec& spec = plan.spec;
  YAML::Node root(YAML::NodeType::Map);
  root["name"] = spec.name;
  root["seed"] = spec.seed;
  root["threads"] = spec.threads;
  for (const auto& section : spec.sections) root[section.name] = section.schema->Dump(section.options);
  for (const auto& set : spec.data) {
    YAML::Node body(YAML::NodeType::Map);
    body["type"] = set.type;
    for (const auto& kv : set.schema->Dump(set.options)) body[kv.first] = kv.second;
    root["data"][set.name] = body;
  }
  YAML::Node stages(YAML::NodeType::Sequence);
  for (const auto& stage : plan.stages) {
    if (!stage.derived_for.empty()) continue;  // the config does not name it; the planner adds it again
    YAML::Node node(YAML::NodeType::Map);
    node["id"] = stage.id;
    node["type"] = stage.type;
    YAML::Node after(YAML::NodeType::Sequence);
    for (std::size_t up : stage.after)
      if (plan.stages[up].derived_for.empty()) after.push_back(plan.stages[up].id);
    after.SetStyle(YAML::EmitterStyle::Flow);
    node["after"] = after;
    for (const auto& kv : stage.def->schema->Dump(stage.options)) node[kv.first] = kv.second;
    stages.push_back(node);
  }
  root["stages"] = stages;
  return root;
}

std::string DescribePlan(const Plan& plan, const std::vector<std::string>& status) {
  std::ostringstream out;
  out << "plan '" << plan.spec.name << "': " << plan.stages.size() << " stages\n";
  std::size_t id_width = 2, type_width = 4;
  for (const auto& stage : plan.stages) {
    id_width = std::max(id_width, stage.id.size());
    type_width = std::max(type_width, stage.type.size());
  }
  auto pad = [](const std::string& text, std::size_t width) {
    return text + std::string(width > text.size() ? width - text.size() : 0, ' ');
  };
  out << "  #  " << pad("id", id_width) << "  " << pad("type", type_width) << "  "
      << (status.empty() ? "" : pad("status", 8) + "  ") << "after -> inputs\n";
  std::size_t step = 1;
  for (std::size_t idx : plan.order) {
    const PlannedStage& stage = plan.stages[idx];
    std::string after;
    for (std::size_t up : stage.after) after += (after.empty() ? "" : ", ") + plan.stages[up].id;
    std::string inputs;
    for (const auto& [port, from] : stage.input_from)
      inputs += (inputs.empty() ? "" : ", ") + port + " from " + plan.stages[from].id;
    out << "  " << pad(std::to_string(step++), 2) << " " << pad(stage.id, id_width) << "  "
        << pad(stage.type, type_width) << "  " << (status.empty() ? "" : pad(status[idx], 8) + "  ")
        << (after.empty() ? "(start)" : after) << (inputs.empty() ? "" : " -> " + inputs) << "\n";
  }
  return out.str();
}

}  // namespace adaflow
