#pragma once
// Builds plans from YAML text against a registry of test stages.

#include <string>
#include <vector>

#include "pipeline/planner.h"
#include "tests/pipeline/test_stages.h"

namespace adaflow::testing {

/// a (source 5) → p (pair: derives p.plus, an add of 3 fed by a, into its input `extra`) → s (sink).
inline const char* kDerivedConfig =
    "name: derived\nstages:\n  - {id: a, type: source, value: 5}\n  - {id: p, type: pair, derive_add: 3}\n"
    "  - {id: s, type: sink}\n";

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
