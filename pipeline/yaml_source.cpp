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

std::size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t col = 0; col <= b.size(); ++col) prev[col] = col;
  for (std::size_t row = 1; row <= a.size(); ++row) {
    cur[0] = row;
    for (std::size_t col = 1; col <= b.size(); ++col) {
      const std::size_t substitute = prev[col - 1] + (a[row - 1] == b[col - 1] ? 0 : 1);
      cur[col] = std::min({prev[col] + 1, cur[col - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

void YamlSource::AddOverride(const YAML::Node& node, std::string text) {
  overrides_.emplace_back(node, std::move(text));
}

std::string YamlSource::Where(const YAML::Node& node) const {
  for (const auto& [root, text] : overrides_)
    if (Contains(root, node)) return "--set " + text;
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return file_;
  return file_ + ":" + std::to_string(mark.line + 1);
}

void YamlSource::Fail(const YAML::Node& node, const std::string& message) const {
  throw InputError(Where(node) + ": " + message);
}

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::string::npos;
  for (const auto& candidate : candidates) {
    const std::size_t distance = EditDistance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  // A suggestion must be closer than a rewrite: at most a third of the word, and at least one edit.
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  return best_distance <= limit ? best : std::string();
}

std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string match = ClosestMatch(word, candidates);
  return match.empty() ? std::string() : "; did you mean '" + match + "'?";
}

std::string QuoteList(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += "'" + name + "'";
  }
  return out;
}

}  // namespace adaflow
