#pragma once
// AdaRound's choices that the stage options name (no Torch here: stage headers include it).

#include "common/enum_names.h"

namespace adaflow::adaround {

/// The reconstruction loss: AIMET's sampled rows, the exact Gram form, or (`auto`) the cheaper of the
/// two per layer (plan.h, ChooseObjective).
enum class Objective { kAuto, kSampled, kGram };
inline const EnumNames<Objective> kObjectiveNames = {
    {"auto", Objective::kAuto}, {"sampled", Objective::kSampled}, {"gram", Objective::kGram}};

/// Where a layer's input comes from while it is optimized.
enum class InputSource {
  kQuant,  ///< the model whose upstream layers are already rounded, activations float (AIMET)
  kFp,     ///< the FP model: every layer independent
};
inline const EnumNames<InputSource> kInputSourceNames = {{"quant", InputSource::kQuant}, {"fp", InputSource::kFp}};

}  // namespace adaflow::adaround
