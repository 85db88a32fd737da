#include "src/model/evaluation.h"

#include <cmath>
#include <cstdio>

#include "common/error.h"

namespace adaflow::model {
namespace {

/// Samples per forward call.
constexpr std::int64_t kMicroBatch = 50;

}  // namespace

void EvalSums::Merge(const EvalSums& other) {
  labelled = other.labelled;
  samples += other.samples;
  correct1 += other.correct1;
  correct5 += other.correct5;
  signal += other.signal;
  noise += other.noise;
  cosine += other.cosine;
}

EvalResult EvalSums::Result() const {
  EvalResult result;
  result.labelled = labelled;
  result.samples = samples;
  if (labelled) {
    result.top1 = 100.0 * static_cast<double>(correct1) / static_cast<double>(samples);
    result.top5 = 100.0 * static_cast<double>(correct5) / static_cast<double>(samples);
  } else {
    result.sqnr_db = noise > 0 ? 10.0 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
    result.cosine = cosine / static_cast<double>(samples);
  }
  return result;
}

EvalSums EvaluateRange(const ForwardFn& forward, const data::Dataset& data, const ForwardFn* reference,
                       std::int64_t start, std::int64_t count) {
  EvalSums sums;
  sums.labelled = data.labelled();
  if (!sums.labelled && !reference) throw std::logic_error("unlabelled evaluation needs a reference");
  const std::int64_t end = start + count;
  for (std::int64_t first = start; first < end; first += kMicroBatch) {
    const data::Batch batch = data.Slice(first, std::min(kMicroBatch, end - first));
    const torch::Tensor output = forward(batch.inputs).to(torch::kFloat32);
    if (sums.labelled) {
      if (output.dim() != 2)
        throw InputError("data set '" + data.name() + "' has labels, but the model's output has shape " +
                         c10::str(output.sizes()) + " instead of [batch, classes]");
      const std::int64_t k = std::min<std::int64_t>(5, output.size(1));
      const torch::Tensor best = std::get<1>(output.topk(k, 1));
      const torch::Tensor hits = best.eq(batch.labels.unsqueeze(1));
      sums.correct1 += hits.select(1, 0).sum().item<std::int64_t>();
      sums.correct5 += hits.any(1).sum().item<std::int64_t>();
    } else {
      const torch::Tensor ref = (*reference)(batch.inputs).to(torch::kFloat32).flatten(1);
      const torch::Tensor out = output.flatten(1);
      sums.signal += ref.pow(2).sum().item<double>();
      sums.noise += (out - ref).pow(2).sum().item<double>();
      sums.cosine += torch::cosine_similarity(out, ref, 1, 1e-12).sum().item<double>();
    }
    sums.samples += batch.inputs.size(0);
  }
  return sums;
}

EvalResult Evaluate(const ForwardFn& forward, const data::Dataset& data, const ForwardFn* reference,
                    std::int64_t max_samples) {
  const std::int64_t total = max_samples > 0 ? std::min(max_samples, data.size()) : data.size();
  return EvaluateRange(forward, data, reference, 0, total).Result();
}

std::string FormatResult(const EvalResult& result) {
  char text[128];
  if (result.labelled)
    std::snprintf(text, sizeof text, "top-1 %6.2f  top-5 %6.2f  (%lld samples)", result.top1, result.top5,
                  static_cast<long long>(result.samples));
  else
    std::snprintf(text, sizeof text, "SQNR %7.2f dB  cosine %.6f  (%lld samples)", result.sqnr_db, result.cosine,
                  static_cast<long long>(result.samples));
  return text;
}

}  // namespace adaflow::model
