#pragma once
// Builds plans from YAML text against a registry of test stages.

#include <string>
#include <vector>

#include "pipeline/planner.h"
#include "tests/pipeline/test_stages.h"

namespace adaflow::testing {

inline const StageRegistry& TestRegistry() {
  static const StageRegistry registry = [] {
    StageRegistry r;
    RegisterTestStages(r);
    return r;
  }();
  return registry;
}

inline std::unique_ptr<Plan> PlanFromText(const std::string& text, const std::vector<std::string>& sets = {}) {
  return BuildPlan(ParsePipelineSpec(text, "test.yaml", sets, TestRegistry()), TestRegistry());
}

/// The InputError message of planning `text`, or "" when it plans fine.
inline std::string PlanError(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    PlanFromText(text, sets);
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

}  // namespace adaflow::testing
