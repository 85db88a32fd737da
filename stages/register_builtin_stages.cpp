#include "stages/register_builtin_stages.h"

#include "pipeline/stage_context.h"
#include "pipeline/stage_registry.h"
#include "stages/adaround/adaround_stage.h"
#include "stages/cache_activations/cache_activations_stage.h"
#include "stages/calibrate/calibrate_stage.h"
#include "stages/data/data_types.h"
#include "stages/evaluate/evaluate_stage.h"
#include "stages/export/export_stage.h"
#include "stages/load_model/load_model_stage.h"
#include "stages/prepare/prepare_stage.h"
#include "stages/quant_sim/quant_sim_stage.h"
#include "stages/stage_common.h"
#include "src/model/torch_runtime.h"

namespace adaflow {

void RegisterBuiltinStages(StageRegistry& registry) {
  // Every stage and sub-task of a run gets its intra-op threads from the run's executor, through this.
  registry.SetThreadSetters({SetIntraOpThreads, SetBlasThreads});
  RegisterBuiltinVocabulary(registry);
  // In pipeline order, which is also the order `adaflow stages` lists them.
  RegisterLoadModelStage(registry);
  RegisterPrepareStage(registry);
  RegisterCacheActivationsStage(registry);
  RegisterAdaroundStage(registry);
  RegisterQuantSimStage(registry);
  RegisterCalibrateStage(registry);
  RegisterEvaluateStage(registry);
  RegisterExportStage(registry);
  RegisterDataTypes(registry);
}

}  // namespace adaflow
