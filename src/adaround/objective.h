#pragma once
// AdaRound's choices that the stage options name (no Torch here: stage headers include it).

namespace adaflow::adaround {

/// The reconstruction loss: AIMET's sampled rows, the exact Gram form, or (`auto`) the cheaper of the
/// two per layer (plan.h, ChooseObjective).
enum class Objective { kAuto, kSampled, kGram };
const char* ObjectiveName(Objective objective);

/// Where a layer's input comes from while it is optimized.
enum class InputSource {
  kQuant,  ///< the model whose upstream layers are already rounded, activations float (AIMET)
  kFp,     ///< the FP model: every layer independent
};

}  // namespace adaflow::adaround
