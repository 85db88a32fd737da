#pragma once
// Accuracy of a forward function on a data set: top-1/top-5 on labelled data; per-token accuracy and
// perplexity for token models (labels [N, T], -100 = no label, as PyTorch's cross-entropy ignores); the
// SQNR, mean cosine similarity and MSE of its outputs against a reference (the FP model), which need no
// labels. By default top-1/top-5 where there are labels, else SQNR and cosine.

#include <functional>
#include <optional>
#include <vector>
#include <string>

#include "src/data/dataset.h"
#include "src/model/model.h"

namespace adaflow::model {

using ForwardFn = std::function<torch::Tensor(const Inputs&)>;

/// What an evaluation reports: top-k accuracy needs labels; the others compare the outputs with a
/// reference (the FP model) and need no labels.
enum class Metric { kTop1, kTop5, kSqnr, kCosine, kMse, kTokenAccuracy, kPerplexity };
/// The metric's key in metrics.json and report.json: "top1", "top5", "sqnr_db", "cosine", "mse",
/// "token_accuracy", "perplexity".
const char* MetricKey(Metric metric);
/// Its column heading: "top-1 %", "top-5 %", "SQNR dB", "cosine", "MSE", "token %", "perplexity".
const char* MetricHeading(Metric metric);
/// The metric of a key (MetricKey's inverse), or nullopt.
std::optional<Metric> MetricOfKey(const std::string& key);
bool NeedsLabels(Metric metric);
/// Top-1 and top-5 on labelled data, SQNR and cosine otherwise.
std::vector<Metric> DefaultMetrics(bool labelled);

struct EvalResult {
  bool labelled = false;
  std::int64_t samples = 0;
  double top1 = 0.0;     ///< percent (labelled)
  double top5 = 0.0;     ///< percent (labelled; top-k with k = min(5, classes))
  double sqnr_db = 0.0;  ///< 10·log10(Σ ref² / Σ (out − ref)²)
  double cosine = 0.0;   ///< mean over samples of cos(out, ref)
  double mse = 0.0;      ///< mean over output elements of (out − ref)²
  double token_accuracy = 0.0;  ///< percent of labelled tokens whose argmax is the label
  double perplexity = 0.0;      ///< exp(mean over labelled tokens of −log softmax(out)[label])
  std::vector<Metric> metrics;  ///< the ones computed, in the order they are reported
  double Value(Metric metric) const;
  void SetValue(Metric metric, double value);
};

/// "top-1 92.04  top-5 99.91  (10000 samples)", or "SQNR 16.36 dB  cosine 0.990960  (2000 samples)": each
/// of the result's metrics.
std::string FormatResult(const EvalResult& result);

/// The sums an evaluation adds up over samples; sums of disjoint ranges merge (in a fixed order, for
/// the same floating-point result whatever ran them).
struct EvalSums {
  bool labelled = false;
  std::vector<Metric> metrics;
  std::int64_t samples = 0;
  std::int64_t correct1 = 0, correct5 = 0;
  double signal = 0.0, noise = 0.0, cosine = 0.0;
  std::int64_t elements = 0;  ///< output elements compared with the reference
  std::int64_t tokens = 0, correct_tokens = 0;  ///< labelled tokens, and those predicted right
  double nll = 0.0;                             ///< Σ −log p(label) over labelled tokens
  void Merge(const EvalSums& other);
  EvalResult Result() const;
};

/// The sums of `metrics` (empty: DefaultMetrics of the data) over samples [start, start + count) of
/// `data`. `reference` is needed for the metrics that compare outputs; labels for top-k (InputError
/// naming the data set when it has none).
EvalSums EvaluateRange(const ForwardFn& forward, const data::Dataset& data, const ForwardFn* reference,
                       std::int64_t start, std::int64_t count, const std::vector<Metric>& metrics = {});

/// Evaluates `forward` over the first `max_samples` samples of `data` (0 = all), in one thread.
EvalResult Evaluate(const ForwardFn& forward, const data::Dataset& data, const ForwardFn* reference,
                    std::int64_t max_samples = 0, const std::vector<Metric>& metrics = {});

}  // namespace adaflow::model
