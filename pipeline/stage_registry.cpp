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

}  // namespace

void StageRegistry::Add(StageDef def) {
  if (Find(def.type)) throw std::logic_error("stage type '" + def.type + "' is registered twice");
  if (!def.schema || !def.make) throw std::logic_error("stage type '" + def.type + "' lacks a schema or factory");
  stages_.push_back(std::move(def));
}

void StageRegistry::AddDataType(DataTypeDef def) {
  if (FindDataType(def.type)) throw std::logic_error("data type '" + def.type + "' is registered twice");
  data_types_.push_back(std::move(def));
}

const StageDef* StageRegistry::Find(const std::string& type) const {
  for (const auto& def : stages_)
    if (def.type == type) return &def;
  return nullptr;
}

const DataTypeDef* StageRegistry::FindDataType(const std::string& type) const {
  for (const auto& def : data_types_)
    if (def.type == type) return &def;
  return nullptr;
}

std::vector<std::string> StageRegistry::StageTypes() const {
  std::vector<std::string> names;
  for (const auto& def : stages_) names.push_back(def.type);
  return names;
}

std::vector<std::string> StageRegistry::DataTypes() const {
  std::vector<std::string> names;
  for (const auto& def : data_types_) names.push_back(def.type);
  return names;
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
  for (std::size_t idx = 0; idx < def.inputs.size(); ++idx)
    out << (idx ? ", " : "") << PortTypeName(def.inputs[idx].type) << (def.inputs[idx].optional ? " (optional)" : "");
  out << "\n  outputs: ";
  if (def.outputs.empty()) out << "(none)";
  for (std::size_t idx = 0; idx < def.outputs.size(); ++idx) out << (idx ? ", " : "") << PortTypeName(def.outputs[idx]);
  out << "\n\n" << DescribeSchema(*def.schema);
  return out.str();
}

}  // namespace adaflow
