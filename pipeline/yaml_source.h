#pragma once
// Where a YAML node came from, for error messages: "config.yaml:17" for a node read from a file,
// "--set stages.adaround.num_iterations=abc" for a node that a command-line override replaced.

#include <yaml-cpp/yaml.h>

#include <string>
#include <utility>
#include <vector>

#include "common/suggest.h"

namespace adaflow {

class YamlSource {
 public:
  explicit YamlSource(std::string file = "<config>") : file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  /// Remembers that `node` (and everything under it) came from a command-line override.
  void AddOverride(const YAML::Node& node, std::string text);

  /// "file:line" (1-based) or "--set a.b=c".
  std::string Where(const YAML::Node& node) const;

  /// Throws InputError("<where>: <message>").
  [[noreturn]] void Fail(const YAML::Node& node, const std::string& message) const;

 private:
  std::string file_;
  std::vector<std::pair<YAML::Node, std::string>> overrides_;
};


}  // namespace adaflow
