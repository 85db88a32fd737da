#include "src/model/evaluation.h"

#include <cmath>
#include <cstdio>

#include "common/error.h"

namespace adaflow::model {
namespace {

/// Samples per forward call.
constexpr std::int64_t kMicroBatch = 50;

}  // namespace

EvalResult Evaluate(const ForwardFn& forward, const data::Dataset& data, const ForwardFn* reference,
                    std::int64_t max_samples) {
  EvalResult result;
  result.labelled = data.labelled();
  if (!result.labelled && !reference) throw std::logic_error("unlabelled evaluation needs a reference");
  const std::int64_t total = max_samples > 0 ? std::min(max_samples, data.size()) : data.size();
  std::int64_t correct1 = 0, correct5 = 0;
  double signal = 0.0, noise = 0.0, cosine_sum = 0.0;
  for (std::int64_t start = 0; start < total; start += data.batch_size()) {
    const data::Batch batch = data.Slice(start, std::min(data.batch_size(), total - start));
    // Small pieces keep each convolution's activations in cache; per-sample results are the same.
    auto run = [&](const ForwardFn& fn) {
      std::vector<torch::Tensor> pieces;
      for (const torch::Tensor& piece : batch.inputs.split(kMicroBatch)) pieces.push_back(fn(piece));
      return torch::cat(pieces).to(torch::kFloat32);
    };
    const torch::Tensor output = run(forward);
    if (result.labelled) {
      if (output.dim() != 2)
        throw InputError("data set '" + data.name() + "' has labels, but the model's output has shape " +
                         c10::str(output.sizes()) + " instead of [batch, classes]");
      const std::int64_t k = std::min<std::int64_t>(5, output.size(1));
      const torch::Tensor best = std::get<1>(output.topk(k, 1));
      const torch::Tensor hits = best.eq(batch.labels.unsqueeze(1));
      correct1 += hits.select(1, 0).sum().item<std::int64_t>();
      correct5 += hits.any(1).sum().item<std::int64_t>();
    } else {
      const torch::Tensor ref = run(*reference).flatten(1);
      const torch::Tensor out = output.flatten(1);
      signal += ref.pow(2).sum().item<double>();
      noise += (out - ref).pow(2).sum().item<double>();
      cosine_sum += torch::cosine_similarity(out, ref, 1, 1e-12).sum().item<double>();
    }
  }
  result.samples = total;
  if (result.labelled) {
    result.top1 = 100.0 * static_cast<double>(correct1) / static_cast<double>(total);
    result.top5 = 100.0 * static_cast<double>(correct5) / static_cast<double>(total);
  } else {
    result.sqnr_db = noise > 0 ? 10.0 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
    result.cosine = cosine_sum / static_cast<double>(total);
  }
  return result;
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
