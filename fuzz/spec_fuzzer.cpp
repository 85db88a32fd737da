// The YAML config loader and the planner: text → PipelineSpec → Plan (every stage bound, edges
// wired), then the resolved config and the plan table. Content keys are left out: they hash the
// model and data files a config names, which measures the disk rather than the parser.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "pipeline/pipeline_spec.h"
#include "pipeline/planner.h"
#include "pipeline/stage_registry.h"
#include "stages/register_builtin_stages.h"

namespace {

const adaflow::StageRegistry& Registry() {
  static const adaflow::StageRegistry registry = [] {
    adaflow::StageRegistry built;
    adaflow::RegisterBuiltinStages(built);
    return built;
  }();
  return registry;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto plan = adaflow::BuildPlan(adaflow::ParsePipelineSpec(text, "fuzz.yaml", {}, Registry()), Registry());
    YAML::Emitter out;
    out << adaflow::ResolvedConfig(*plan);
    (void)adaflow::DescribePlan(*plan);
  } catch (const adaflow::InputError&) {
  }
  return 0;
}
