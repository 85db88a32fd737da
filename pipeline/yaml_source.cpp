#include "pipeline/yaml_source.h"

#include <algorithm>

#include "common/error.h"

namespace adaflow {
namespace {

bool Contains(const YAML::Node& haystack, const YAML::Node& needle) {
  if (haystack.is(needle)) return true;
  if (haystack.IsSequence()) {
    for (const auto& child : haystack)
      if (Contains(child, needle)) return true;
  } else if (haystack.IsMap()) {
    for (const auto& kv : haystack)
      if (kv.first.is(needle) || Contains(kv.second, needle)) return true;
  }
  return false;
}

}  // namespace

void YamlSource::AddOverride(const YAML::Node& node, std::string text) {
  overrides_.emplace_back(node, std::move(text));
}

std::string YamlSource::Where(const YAML::Node& node) const {
  if (!node.IsDefined()) return file_;  // a key the map lacks: no position to point at
  for (const auto& [root, text] : overrides_)
    if (Contains(root, node)) return "--set " + text;
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return file_;
  return file_ + ":" + std::to_string(mark.line + 1);
}

void YamlSource::Fail(const YAML::Node& node, const std::string& message) const {
  throw InputError(Where(node) + ": " + message);
}

}  // namespace adaflow
