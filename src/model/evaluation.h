#pragma once
// Accuracy of a forward function on a data set: top-1/top-5 on labelled data; on unlabelled data the
// SQNR and mean cosine similarity of its outputs against a reference (the FP model).

#include <functional>
#include <string>

#include "src/data/dataset.h"

namespace adaflow::model {

using ForwardFn = std::function<torch::Tensor(const torch::Tensor&)>;

struct EvalResult {
  bool labelled = false;
  std::int64_t samples = 0;
  double top1 = 0.0;     ///< percent (labelled)
  double top5 = 0.0;     ///< percent (labelled; top-k with k = min(5, classes))
  double sqnr_db = 0.0;  ///< 10·log10(Σ ref² / Σ (out − ref)²) (unlabelled)
  double cosine = 0.0;   ///< mean over samples of cos(out, ref) (unlabelled)
};

/// "top-1 92.04  top-5 99.91  (10000 samples)", or "SQNR 16.36 dB  cosine 0.990960  (2000 samples)".
std::string FormatResult(const EvalResult& result);

/// The sums an evaluation adds up over samples; sums of disjoint ranges merge (in a fixed order, for
/// the same floating-point result whatever ran them).
struct EvalSums {
  bool labelled = false;
  std::int64_t samples = 0;
  std::int64_t correct1 = 0, correct5 = 0;
  double signal = 0.0, noise = 0.0, cosine = 0.0;
  void Merge(const EvalSums& other);
  EvalResult Result() const;
};

/// The sums over samples [start, start + count) of `data`. `reference` is needed for unlabelled data.
EvalSums EvaluateRange(const ForwardFn& forward, const data::Dataset& data, const ForwardFn* reference,
                       std::int64_t start, std::int64_t count);

/// Evaluates `forward` over the first `max_samples` samples of `data` (0 = all), in one thread.
EvalResult Evaluate(const ForwardFn& forward, const data::Dataset& data, const ForwardFn* reference,
                    std::int64_t max_samples = 0);

}  // namespace adaflow::model
