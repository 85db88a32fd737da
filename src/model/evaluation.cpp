#include "src/model/evaluation.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "common/error.h"

namespace adaflow::model {
namespace {

/// Samples per forward call.
constexpr std::int64_t kMicroBatch = 50;
/// A label that counts for nothing (padding): PyTorch's cross-entropy ignore_index.
constexpr std::int64_t kIgnoredLabel = -100;

/// Per-token accuracy and NLL of `output` [B, T, V] (or [B, V]) against `labels` [B, T] (or [B]); labels
/// of -100 are skipped.
void AddTokenSums(const torch::Tensor& output, const torch::Tensor& labels, const std::string& data, EvalSums& sums) {
  if (output.dim() != labels.dim() + 1 || output.sizes().slice(0, labels.dim()) != labels.sizes())
    throw InputError("token_accuracy / perplexity: data set '" + data + "' has labels of shape " +
                     c10::str(labels.sizes()) + ", but the model's output has shape " + c10::str(output.sizes()) +
                     " (expected the labels' shape and then the vocabulary)");
  const torch::Tensor logits = output.reshape({-1, output.size(-1)});
  const torch::Tensor flat = labels.reshape({-1});
  const torch::Tensor keep = flat.ne(kIgnoredLabel);
  const torch::Tensor kept = flat.masked_select(keep);
  if (kept.numel() == 0) return;
  if (kept.min().item<std::int64_t>() < 0 || kept.max().item<std::int64_t>() >= output.size(-1))
    throw InputError("token_accuracy / perplexity: data set '" + data + "' has a label outside [0, " +
                     std::to_string(output.size(-1)) + ") (the model's vocabulary; -100 marks no label)");
  const torch::Tensor rows = logits.index({keep});
  const torch::Tensor log_probs = torch::log_softmax(rows.to(torch::kFloat64), 1);
  sums.nll -= log_probs.gather(1, kept.unsqueeze(1)).sum().item<double>();
  sums.correct_tokens += rows.argmax(1).eq(kept).sum().item<std::int64_t>();
  sums.tokens += kept.numel();
}

}  // namespace

const char* MetricKey(Metric metric) {
  switch (metric) {
    case Metric::kTop1: return "top1";
    case Metric::kTop5: return "top5";
    case Metric::kSqnr: return "sqnr_db";
    case Metric::kCosine: return "cosine";
    case Metric::kMse: return "mse";
    case Metric::kTokenAccuracy: return "token_accuracy";
    case Metric::kPerplexity: return "perplexity";
  }
  return "?";
}

const char* MetricHeading(Metric metric) {
  switch (metric) {
    case Metric::kTop1: return "top-1 %";
    case Metric::kTop5: return "top-5 %";
    case Metric::kSqnr: return "SQNR dB";
    case Metric::kCosine: return "cosine";
    case Metric::kMse: return "MSE";
    case Metric::kTokenAccuracy: return "token %";
    case Metric::kPerplexity: return "perplexity";
  }
  return "?";
}

std::optional<Metric> MetricOfKey(const std::string& key) {
  for (Metric metric : {Metric::kTop1, Metric::kTop5, Metric::kSqnr, Metric::kCosine, Metric::kMse,
                        Metric::kTokenAccuracy, Metric::kPerplexity})
    if (key == MetricKey(metric)) return metric;
  return std::nullopt;
}

bool NeedsLabels(Metric metric) {
  return metric == Metric::kTop1 || metric == Metric::kTop5 || metric == Metric::kTokenAccuracy ||
         metric == Metric::kPerplexity;
}

std::vector<Metric> DefaultMetrics(bool labelled) {
  return labelled ? std::vector<Metric>{Metric::kTop1, Metric::kTop5} : std::vector<Metric>{Metric::kSqnr, Metric::kCosine};
}

double EvalResult::Value(Metric metric) const {
  switch (metric) {
    case Metric::kTop1: return top1;
    case Metric::kTop5: return top5;
    case Metric::kSqnr: return sqnr_db;
    case Metric::kCosine: return cosine;
    case Metric::kMse: return mse;
    case Metric::kTokenAccuracy: return token_accuracy;
    case Metric::kPerplexity: return perplexity;
  }
  return 0.0;
}

void EvalResult::SetValue(Metric metric, double value) {
  switch (metric) {
    case Metric::kTop1: top1 = value; break;
    case Metric::kTop5: top5 = value; break;
    case Metric::kSqnr: sqnr_db = value; break;
    case Metric::kCosine: cosine = value; break;
    case Metric::kMse: mse = value; break;
    case Metric::kTokenAccuracy: token_accuracy = value; break;
    case Metric::kPerplexity: perplexity = value; break;
  }
}

void EvalSums::Merge(const EvalSums& other) {
  labelled = other.labelled;
  metrics = other.metrics;
  samples += other.samples;
  correct1 += other.correct1;
  correct5 += other.correct5;
  signal += other.signal;
  noise += other.noise;
  cosine += other.cosine;
  elements += other.elements;
  tokens += other.tokens;
  correct_tokens += other.correct_tokens;
  nll += other.nll;
}

EvalResult EvalSums::Result() const {
  EvalResult result;
  result.labelled = labelled;
  result.samples = samples;
  result.metrics = metrics;
  if (labelled) {
    result.top1 = 100.0 * static_cast<double>(correct1) / static_cast<double>(samples);
    result.top5 = 100.0 * static_cast<double>(correct5) / static_cast<double>(samples);
  }
  if (tokens > 0) {
    result.token_accuracy = 100.0 * static_cast<double>(correct_tokens) / static_cast<double>(tokens);
    result.perplexity = std::exp(nll / static_cast<double>(tokens));
  }
  if (elements > 0) {
    result.sqnr_db = noise > 0 ? 10.0 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
    result.cosine = cosine / static_cast<double>(samples);
    result.mse = noise / static_cast<double>(elements);
  }
  return result;
}

EvalSums EvaluateRange(const ForwardFn& forward, const data::Dataset& data, const ForwardFn* reference,
                       std::int64_t start, std::int64_t count, const std::vector<Metric>& metrics) {
  EvalSums sums;
  sums.metrics = metrics.empty() ? DefaultMetrics(data.labelled()) : metrics;
  bool top_k = false, per_token = false, compare = false;
  for (Metric metric : sums.metrics) {
    if (metric == Metric::kTop1 || metric == Metric::kTop5) top_k = true;
    else if (NeedsLabels(metric)) per_token = true;
    else compare = true;
  }
  if ((top_k || per_token) && !data.labelled())
    throw InputError(std::string(top_k ? "top-1/top-5 need" : "token_accuracy and perplexity need") +
                     " labels, and data set '" + data.name() +
                     "' has none (sqnr, cosine and mse compare the outputs with the FP model instead)");
  sums.labelled = top_k || per_token;
  if (compare && !reference) throw std::logic_error("evaluating sqnr, cosine or mse needs a reference");
  const std::int64_t end = start + count;
  for (std::int64_t first = start; first < end; first += kMicroBatch) {
    const data::Batch batch = data.Slice(first, std::min(kMicroBatch, end - first));
    const torch::Tensor output = forward(batch.inputs).to(torch::kFloat32);
    if (top_k) {
      if (output.dim() != 2)
        throw InputError("data set '" + data.name() + "' has labels, but the model's output has shape " +
                         c10::str(output.sizes()) + " instead of [batch, classes]");
      const std::int64_t k = std::min<std::int64_t>(5, output.size(1));
      const torch::Tensor best = std::get<1>(output.topk(k, 1));
      const torch::Tensor hits = best.eq(batch.labels.unsqueeze(1));
      sums.correct1 += hits.select(1, 0).sum().item<std::int64_t>();
      sums.correct5 += hits.any(1).sum().item<std::int64_t>();
    }
    if (per_token) AddTokenSums(output, batch.labels, data.name(), sums);
    if (compare) {
      const torch::Tensor ref = (*reference)(batch.inputs).to(torch::kFloat32).flatten(1);
      const torch::Tensor out = output.flatten(1);
      sums.signal += ref.pow(2).sum().item<double>();
      sums.noise += (out - ref).pow(2).sum().item<double>();
      sums.cosine += torch::cosine_similarity(out, ref, 1, 1e-12).sum().item<double>();
      sums.elements += out.numel();
    }
    sums.samples += batch.inputs.at(0).size(0);
  }
  return sums;
}

EvalResult Evaluate(const ForwardFn& forward, const data::Dataset& data, const ForwardFn* reference,
                    std::int64_t max_samples, const std::vector<Metric>& metrics) {
  const std::int64_t total = max_samples > 0 ? std::min(max_samples, data.size()) : data.size();
  return EvaluateRange(forward, data, reference, 0, total, metrics).Result();
}

std::string FormatResult(const EvalResult& result) {
  std::string text;
  char piece[64];
  for (Metric metric : result.metrics) {
    switch (metric) {
      case Metric::kTop1: std::snprintf(piece, sizeof piece, "top-1 %6.2f", result.top1); break;
      case Metric::kTop5: std::snprintf(piece, sizeof piece, "top-5 %6.2f", result.top5); break;
      case Metric::kSqnr: std::snprintf(piece, sizeof piece, "SQNR %7.2f dB", result.sqnr_db); break;
      case Metric::kCosine: std::snprintf(piece, sizeof piece, "cosine %.6f", result.cosine); break;
      case Metric::kMse: std::snprintf(piece, sizeof piece, "MSE %.4g", result.mse); break;
      case Metric::kTokenAccuracy: std::snprintf(piece, sizeof piece, "token %6.2f", result.token_accuracy); break;
      case Metric::kPerplexity: std::snprintf(piece, sizeof piece, "perplexity %.4f", result.perplexity); break;
    }
    text += piece;
    text += "  ";
  }
  std::snprintf(piece, sizeof piece, "(%lld samples)", static_cast<long long>(result.samples));
  return text + piece;
}

}  // namespace adaflow::model
