#include "pipeline/stage_registry.h"

#include <algorithm>
#include <sstream>

namespace adaflow {
namespace {

std::string RangeText(const OptionSpec& spec) {
  if (!spec.choices.empty()) {
    std::string out;
    for (const auto& choice : spec.choices) out += (out.empty() ? "" : "|") + choice;
    return out;
  }
  std::string out;
  auto number = [](double value) { return FormatOptionValue(value); };
  if (spec.min && spec.max) out = number(*spec.min) + ".." + number(*spec.max);
  else if (spec.min) out = ">= " + number(*spec.min);
  else if (spec.max) out = "<= " + number(*spec.max);
  if (spec.size) out += (out.empty() ? "" : ", ") + std::to_string(*spec.size) + " elements";
  if (spec.must_exist) out += (out.empty() ? "" : ", ") + std::string("must exist");
  return out.empty() ? "-" : out;
}

/// The entry of `list` whose `key` is `name`, or nullptr.
template <class Def>
const Def* FindByName(const std::vector<Def>& list, std::string Def::*key, const std::string& name) {
  for (const auto& def : list)
    if (def.*key == name) return &def;
  return nullptr;
}

template <class Def>
std::vector<std::string> NamesOf(const std::vector<Def>& list, std::string Def::*key) {
  std::vector<std::string> names;
  for (const auto& def : list) names.push_back(def.*key);
  return names;
}

/// Appends `def` to `list`; std::logic_error when its name is taken (registrations run at start).
template <class Def>
void AddNamed(std::vector<Def>& list, std::string Def::*key, Def def, const std::string& what) {
  if (FindByName(list, key, def.*key)) throw std::logic_error(what + " '" + def.*key + "' is registered twice");
  list.push_back(std::move(def));
}

}  // namespace

void StageRegistry::AddPortKind(PortKindDef def) {
  AddNamed(port_kinds_, &PortKindDef::name, std::move(def), "port kind");
}

void StageRegistry::AddSection(SectionDef def) {
  static const std::vector<std::string> kReserved = {"name", "seed", "threads", "data", "stages"};
  if (!def.schema) throw std::logic_error("section '" + def.name + "' lacks a schema");
  if (std::find(kReserved.begin(), kReserved.end(), def.name) != kReserved.end())
    throw std::logic_error("section '" + def.name + "' is a key of the config itself");
  AddNamed(sections_, &SectionDef::name, std::move(def), "section");
}

void StageRegistry::AddDataSetName(DataSetNameDef def) {
  AddNamed(data_set_names_, &DataSetNameDef::name, std::move(def), "data set name");
}

void StageRegistry::AddDataType(DataTypeDef def) {
  AddNamed(data_types_, &DataTypeDef::type, std::move(def), "data type");
}

void StageRegistry::Add(StageDef def) {
  if (!def.schema || !def.make) throw std::logic_error("stage type '" + def.type + "' lacks a schema or factory");
  std::vector<std::string> kinds = def.outputs;
  for (const auto& port : def.inputs) kinds.push_back(port.kind);
  for (const auto& kind : kinds)
    if (!FindPortKind(kind))
      throw std::logic_error("stage type '" + def.type + "': port kind '" + kind + "' is not registered");
  AddNamed(stages_, &StageDef::type, std::move(def), "stage type");
}

const StageDef* StageRegistry::Find(const std::string& type) const { return FindByName(stages_, &StageDef::type, type); }

const PortKindDef* StageRegistry::FindPortKind(const std::string& name) const {
  return FindByName(port_kinds_, &PortKindDef::name, name);
}

const DataTypeDef* StageRegistry::FindDataType(const std::string& type) const {
  return FindByName(data_types_, &DataTypeDef::type, type);
}

std::vector<std::string> StageRegistry::StageTypes() const { return NamesOf(stages_, &StageDef::type); }
std::vector<std::string> StageRegistry::DataTypes() const { return NamesOf(data_types_, &DataTypeDef::type); }
std::vector<std::string> StageRegistry::DataSetNames() const {
  return NamesOf(data_set_names_, &DataSetNameDef::name);
}

std::string DescribeSchema(const OptionSchema& schema) {
  if (schema.specs().empty()) return "  (no options)\n";
  std::size_t name_width = 6, type_width = 4, default_width = 7, range_width = 7;
  for (const auto& spec : schema.specs()) {
    name_width = std::max(name_width, spec.name.size());
    type_width = std::max(type_width, std::string(OptionTypeName(spec.type)).size());
    default_width = std::max(default_width, spec.required ? 8 : FormatOptionValue(spec.default_value).size());
    range_width = std::max(range_width, RangeText(spec).size());
  }
  std::ostringstream out;
  auto pad = [](const std::string& text, std::size_t width) {
    return text + std::string(width > text.size() ? width - text.size() : 0, ' ');
  };
  out << "  " << pad("option", name_width) << "  " << pad("type", type_width) << "  "
      << pad("default", default_width) << "  " << pad("allowed", range_width) << "  help\n";
  for (const auto& spec : schema.specs()) {
    out << "  " << pad(spec.name, name_width) << "  " << pad(OptionTypeName(spec.type), type_width) << "  "
        << pad(spec.required ? "required" : FormatOptionValue(spec.default_value), default_width) << "  "
        << pad(RangeText(spec), range_width) << "  " << spec.help << "\n";
  }
  return out.str();
}

std::string DescribeStage(const StageDef& def) {
  std::ostringstream out;
  out << def.type << " - " << def.help << "\n";
  out << "  inputs:  ";
  if (def.inputs.empty()) out << "(none)";
  for (std::size_t idx = 0; idx < def.inputs.size(); ++idx) {
    const PortSpec& port = def.inputs[idx];
    out << (idx ? ", " : "") << port.kind << (port.name.empty() ? "" : " '" + port.name + "'")
        << (port.derived ? " (from a derived stage)" : port.optional ? " (optional)" : "");
  }
  out << "\n  outputs: ";
  if (def.outputs.empty()) out << "(none)";
  for (std::size_t idx = 0; idx < def.outputs.size(); ++idx) out << (idx ? ", " : "") << def.outputs[idx];
  out << "\n  data:    ";
  if (!def.data_sets) out << "every data set of the config";
  else if (def.data_sets->empty()) out << "(none)";
  else
    for (std::size_t idx = 0; idx < def.data_sets->size(); ++idx)
      out << (idx ? ", " : "") << (*def.data_sets)[idx].name << ((*def.data_sets)[idx].optional ? " (optional)" : "");
  out << "\n\n" << DescribeSchema(*def.schema);
  return out.str();
}

}  // namespace adaflow
