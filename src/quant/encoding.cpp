#include "src/quant/encoding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>

// The arithmetic below keeps AIMET's types on purpose (ModelOptimizations/DlQuantization/src/:
// math_functions.cpp UpdatePdf/InitializePdf, TfEnhancedEncodingAnalyzer.cpp, PercentileEncodingAnalyzer.cpp,
// quantization_utils.cpp getComputedEncodings): `float` where AIMET's DTYPE is float, `double` where it
// widens. Rewriting a float expression in double changes which candidate wins near a bucket edge.

namespace adaflow::quant {
namespace {

/// AIMET's MIN_RANGE: the narrowest range an encoding may have.
constexpr double kMinRange = 0.01;
/// AIMET's GAMMA: weight of saturation error against quantization error in TF-enhanced.
constexpr double kSaturationWeight = 3.0;
constexpr float kLowest = std::numeric_limits<float>::lowest();
constexpr float kHighest = std::numeric_limits<float>::max();

void RequireGridBitwidth(int bitwidth) {
  if (bitwidth < 1 || bitwidth > 31) throw std::invalid_argument("bitwidth must be in [1, 31]");
}

/// 2^b − 1 as AIMET's float `numSteps`.
float FullSteps(int bitwidth) { return static_cast<float>(std::pow(2.0, bitwidth) - 1.0); }

/// AIMET's getComputedEncodings: the grid of an already gated range, in double.
Encoding FromRange(double min, double max, const GridSpec& grid) {
  const double steps = static_cast<double>(GridSteps(grid));
  if (std::isinf(min)) min = kLowest;
  if (std::isinf(max)) max = kHighest;
  Encoding encoding;
  encoding.bitwidth = grid.bitwidth;
  encoding.symmetric = grid.symmetric;
  encoding.num_steps = GridSteps(grid);
  if (grid.symmetric && (min < 0.0 || !grid.unsigned_symmetric)) {
    const double absolute = std::max(std::fabs(max), std::fabs(min));
    const double positive_steps = std::floor(steps / 2.0);
    encoding.scale = absolute / positive_steps;
    const double offset = -std::ceil(steps / 2.0);
    encoding.offset = static_cast<std::int64_t>(offset);
    encoding.min = std::max(offset * encoding.scale, static_cast<double>(kLowest));
    encoding.max = std::min(encoding.scale * positive_steps, static_cast<double>(kHighest));
    return encoding;
  }
  // Asymmetric, and unsigned symmetric (min = 0): the grid starts at min, shifted so 0 is exact.
  encoding.scale = (max - min) / steps;
  if (min < 0.0 && max > 0.0) {
    const double zero_index = std::clamp(std::round(-min / encoding.scale), 0.0, steps);
    encoding.offset = static_cast<std::int64_t>(-zero_index);
    const double shifted_min = -zero_index * encoding.scale;
    encoding.min = shifted_min >= kLowest ? shifted_min : kLowest;
    // AIMET's form of Δ·N + min', which differs from it in the last bits.
    encoding.max = std::min(max - min + encoding.min, static_cast<double>(kHighest));
  } else {
    encoding.offset = static_cast<std::int64_t>(std::round(min / encoding.scale));
    encoding.min = min;
    encoding.max = max;
  }
  return encoding;
}

/// AIMET's _quantAndSatCost: quantization MSE inside [Δ·o, Δ·(o + 2^b − 1)] plus 3× the saturation
/// MSE outside, over the PDF's bucket midpoints.
double CandidateCost(const std::vector<double>& left, const std::vector<double>& pdf, int bitwidth, float delta,
                     int offset) {
  constexpr int kBins = EncodingAnalyzer::kBins;
  const float min_value = delta * static_cast<float>(offset);
  const float max_value = delta * (static_cast<float>(offset) + FullSteps(bitwidth));
  const float pdf_start = static_cast<float>(left[0]);
  const double pdf_step = left[1] - left[0];
  const int min_index = std::clamp(static_cast<int>(std::floor((min_value - pdf_start) / pdf_step)), 0, kBins - 1);
  const int max_index = std::clamp(static_cast<int>(std::floor((max_value - pdf_start) / pdf_step)), 0, kBins - 1);

  double saturation = 0.0;
  const float min_mid = static_cast<float>(pdf_start + min_index * pdf_step + pdf_step / 2);
  for (int bin = 0; bin < min_index; ++bin) {
    const double mid = pdf_start + bin * pdf_step + pdf_step / 2;
    saturation += pdf[bin] * std::pow(mid - min_mid, 2);
  }
  const float max_mid = static_cast<float>(pdf_start + max_index * pdf_step + pdf_step / 2);
  for (int bin = max_index; bin < kBins; ++bin) {
    const double mid = pdf_start + bin * pdf_step + pdf_step / 2;
    saturation += pdf[bin] * std::pow(mid - max_mid, 2);
  }
  double quantization = 0.0;
  for (int bin = min_index; bin < max_index; ++bin) {
    const float mid = static_cast<float>(pdf_start + bin * pdf_step + pdf_step / 2);
    const int index = static_cast<int>(std::round(mid / delta - static_cast<float>(offset)));
    const float dequantized = delta * static_cast<float>(index + offset);
    quantization += pdf[bin] * std::pow(static_cast<double>(mid - dequantized), 2);
  }
  return kSaturationWeight * saturation + quantization;
}

/// AIMET's _clampToObservedMinMax: narrows a candidate to the observed grid range. False when the
/// candidate already covers that range or its clamped range collapses (such candidates are skipped).
bool ClampToObserved(float observed_min, float observed_max, float steps, float& delta, int& offset) {
  float test_min = std::max(delta * static_cast<float>(offset), kLowest);
  float test_max = std::min(delta * (static_cast<float>(offset) + steps), kHighest);
  if (test_min < observed_min && test_max > observed_max) return false;
  test_min = std::max(observed_min, test_min);
  test_max = std::min(observed_max, test_max);
  if (test_min == test_max) return false;
  delta = static_cast<float>((static_cast<double>(test_max) - static_cast<double>(test_min)) / steps);
  offset = static_cast<int>(std::round(test_min / delta));
  return true;
}

}  // namespace

bool Encoding::operator==(const Encoding& other) const {
  return bitwidth == other.bitwidth && scale == other.scale && offset == other.offset &&
         symmetric == other.symmetric && num_steps == other.num_steps;
}

std::string ToString(const Encoding& encoding) {
  std::ostringstream out;
  out.precision(9);
  out << "{bw " << encoding.bitwidth << ", scale " << encoding.scale << ", offset " << encoding.offset << ", min "
      << encoding.min << ", max " << encoding.max << (encoding.symmetric ? ", symmetric" : "") << "}";
  return out.str();
}

std::int64_t GridSteps(const GridSpec& grid) {
  RequireGridBitwidth(grid.bitwidth);
  std::int64_t steps = (std::int64_t{1} << grid.bitwidth) - 1;
  if (grid.symmetric && grid.strict_symmetric) steps -= 1;
  return steps;
}

void GateMinMax(double& min, double& max) {
  min = std::min(min, 0.0);
  max = std::max(max, 0.0);
  max = std::max(max, min + kMinRange);
}

Encoding EncodingFromMinMax(double min, double max, const GridSpec& grid) {
  GateMinMax(min, max);
  return FromRange(min, max, grid);
}

EncodingAnalyzer::EncodingAnalyzer(Scheme scheme, double percentile)
    : scheme_(scheme), percentile_(static_cast<float>(percentile)) {
  if (!(percentile >= 50.0 && percentile <= 100.0)) throw std::invalid_argument("percentile must be in [50, 100]");
  min_ = std::numeric_limits<double>::max();
  max_ = -std::numeric_limits<double>::max();
}

void EncodingAnalyzer::Update(const float* data, std::size_t count) {
  if (count == 0) return;
  seen_ = true;
  if (scheme_ == Scheme::kTf) {
    const auto [low, high] = std::minmax_element(data, data + count);
    min_ = std::min(min_, static_cast<double>(*low));
    max_ = std::max(max_, static_cast<double>(*high));
    return;
  }
  UpdatePdf(data, count);
}

void EncodingAnalyzer::UpdatePdf(const float* data, std::size_t count) {
  if (left_.empty()) {
    const auto [low_it, high_it] = std::minmax_element(data, data + count);
    float low = *low_it, high = *high_it;
    // An all-zero batch says nothing about the range: the PDF waits for one that does.
    if (low == 0.0f && high == 0.0f) return;
    if (low == high) high = std::max(high, low + static_cast<float>(kMinRange));
    // The first batch's range enlarged 3× around its centre fixes the buckets for good.
    const float center = (high + low) / 2;
    low = std::max(kLowest, center - 3 * (center - low));
    high = std::min(kHighest, center + 3 * (high - center));
    const double bucket = (static_cast<double>(high) - static_cast<double>(low)) / kBins;
    left_.resize(kBins);
    for (int bin = 0; bin < kBins; ++bin) left_[bin] = low + bin * bucket;
    pdf_.assign(kBins, 0.0);
    pdf_batches_ = 0;
  }
  const float bucket = static_cast<float>(left_[1] - left_[0]);
  const float pdf_offset = static_cast<float>(left_[0]) / bucket;
  std::vector<std::uint32_t> counts(kBins, 0);
  for (std::size_t idx = 0; idx < count; ++idx) {
    const float index = std::round(data[idx] / bucket - pdf_offset);
    if (index >= 0.0f && index < static_cast<float>(kBins)) ++counts[static_cast<std::size_t>(index)];
  }
  // Each batch's histogram over its own element count (values outside the buckets still count),
  // averaged in with equal weight per batch.
  for (int bin = 0; bin < kBins; ++bin) {
    const double prob = static_cast<double>(counts[bin]) / static_cast<double>(count);
    pdf_[bin] = (pdf_[bin] * pdf_batches_ + prob) / (pdf_batches_ + 1);
  }
  ++pdf_batches_;
}

void EncodingAnalyzer::PdfRange(float& low, float& high) const {
  low = static_cast<float>(left_[0]);
  high = static_cast<float>(left_[kBins - 1]);
  for (int bin = 0; bin < kBins; ++bin) {
    if (pdf_[bin] > 0) {
      low = static_cast<float>(left_[bin]);
      break;
    }
  }
  for (int bin = kBins - 1; bin > 0; --bin) {
    if (pdf_[bin] > 0) {
      high = static_cast<float>(left_[bin]);
      break;
    }
  }
  low = std::min(low, 0.0f);
  high = std::max(high, 0.0f);
  high = std::max(high, low + static_cast<float>(kMinRange));
}

Encoding EncodingAnalyzer::Compute(const GridSpec& grid) const {
  RequireGridBitwidth(grid.bitwidth);
  if (!seen_) throw std::logic_error("no statistics collected");
  switch (scheme_) {
    case Scheme::kTf: return EncodingFromMinMax(min_, max_, grid);
    case Scheme::kTfEnhanced: return left_.empty() ? AllZeroEncoding(grid, false) : ComputeTfEnhanced(grid);
    case Scheme::kPercentile: return left_.empty() ? AllZeroEncoding(grid, true) : ComputePercentile(grid);
  }
  throw std::logic_error("unknown scheme");
}

Encoding EncodingAnalyzer::AllZeroEncoding(const GridSpec& grid, bool strict_steps) const {
  // AIMET's fallback for data that was all zeros: [−1, 1] on the grid, whatever the symmetric flags.
  // TF-enhanced counts 2^b − 1 steps even when strict; percentile drops one when strict.
  const std::int64_t steps = strict_steps ? GridSteps(grid) : (std::int64_t{1} << grid.bitwidth) - 1;
  Encoding encoding;
  encoding.bitwidth = grid.bitwidth;
  encoding.symmetric = grid.symmetric;
  encoding.num_steps = steps;
  encoding.scale = 2.0 / static_cast<double>(steps);
  const double offset = std::floor(-1.0 / encoding.scale);
  encoding.offset = static_cast<std::int64_t>(offset);
  encoding.min = offset * encoding.scale;
  encoding.max = encoding.min + static_cast<double>(steps) * encoding.scale;
  return encoding;
}

Encoding EncodingAnalyzer::ComputeTfEnhanced(const GridSpec& grid) const {
  float low = 0, high = 0;
  PdfRange(low, high);
  float steps = FullSteps(grid.bitwidth);
  std::vector<std::pair<float, int>> candidates;  // (Δ, o)
  if (grid.symmetric) {
    if (grid.strict_symmetric) steps -= 1;
    float delta_max = 0.0f;
    int offset = 0;
    if (low == 0.0f && grid.unsigned_symmetric) {
      delta_max = high / steps;
    } else {
      const float absolute = std::max(std::fabs(high), std::fabs(low));
      delta_max = static_cast<float>(absolute / (steps / 2.0));
      offset = static_cast<int>(std::floor(-steps / 2));
    }
    // f = 0.01, 0.02, … ≤ 1.01, accumulated in float as AIMET does (101 values).
    for (float factor = static_cast<float>(0.01); factor <= 1.01; factor = static_cast<float>(factor + 0.01))
      candidates.emplace_back(factor * delta_max, offset);
  } else {
    const float observed_delta = static_cast<float>((static_cast<double>(high) - static_cast<double>(low)) / steps);
    const int observed_offset = static_cast<int>(std::round(low / observed_delta));
    const float observed_min = std::max(observed_delta * static_cast<float>(observed_offset), kLowest);
    const float observed_max = std::min(observed_delta * (static_cast<float>(observed_offset) + steps), kHighest);
    // 17 deltas f·Δ_obs, f = 1/16 … 17/16, by 21 offsets from −N to 0; each candidate starts from the
    // unclamped delta.
    for (int sixteenth = 1; sixteenth <= 17; ++sixteenth) {
      const float factor = static_cast<float>(sixteenth) / 16.0f;
      for (int index = 0; index <= 20; ++index) {
        float delta = factor * observed_delta;
        int offset = static_cast<int>(-steps + steps / 20.0 * index);
        if (!ClampToObserved(observed_min, observed_max, steps, delta, offset)) continue;
        candidates.emplace_back(delta, offset);
      }
    }
    candidates.emplace_back(observed_delta, observed_offset);
  }

  double best_cost = std::numeric_limits<double>::max();
  std::pair<float, int> best{-1.0f, -1};
  for (const auto& [delta, offset] : candidates) {
    const double cost = CandidateCost(left_, pdf_, grid.bitwidth, delta, offset);
    if (cost < best_cost) {  // the first minimum wins
      best_cost = cost;
      best = {delta, offset};
    }
  }
  Encoding encoding;
  encoding.bitwidth = grid.bitwidth;
  encoding.symmetric = grid.symmetric;
  encoding.num_steps = static_cast<std::int64_t>(steps);
  encoding.scale = best.first;
  encoding.offset = best.second;
  encoding.min = std::max(best.first * static_cast<float>(best.second), kLowest);
  encoding.max = std::min(best.first * (static_cast<float>(best.second) + steps), kHighest);
  return encoding;
}

Encoding EncodingAnalyzer::ComputePercentile(const GridSpec& grid) const {
  float low = 0, high = 0;
  PdfRange(low, high);
  if (percentile_ != 100.0f) {
    const float width = static_cast<float>(left_[1] - left_[0]);
    float percentile_min = static_cast<float>(left_[0]);
    float percentile_max = static_cast<float>(left_[kBins - 1] + width);
    // The PDF may sum to less than 1 (values outside the buckets), and the walk uses it as it is.
    std::vector<double> cdf(pdf_);
    for (int bin = 1; bin < kBins; ++bin) cdf[bin] += cdf[bin - 1];
    const float left_tail = 1 - percentile_ / 100;
    for (int bin = 0; bin < kBins; ++bin) {
      if (cdf[bin] >= left_tail) {
        percentile_min = static_cast<float>(left_[bin]);
        break;
      }
    }
    const float right_tail = percentile_ / 100;
    for (int bin = kBins - 1; bin >= 0; --bin) {
      if (cdf[bin] < right_tail && left_[bin] < high) {
        percentile_max = static_cast<float>(left_[bin] + width);
        break;
      }
    }
    if (percentile_min == percentile_max) percentile_max += width;
    low = percentile_min;
    high = percentile_max;
  }
  // Zero in range, but no 0.01 minimum for p < 100 (AIMET's PercentileEncodingAnalyzer).
  low = std::min(low, 0.0f);
  high = std::max(high, 0.0f);
  return FromRange(low, high, grid);
}

Encoding ComputeEncoding(const float* data, std::size_t count, Scheme scheme, const GridSpec& grid, double percentile) {
  EncodingAnalyzer analyzer(scheme, percentile);
  analyzer.Update(data, count);
  if (analyzer.empty()) return EncodingFromMinMax(0.0, 0.0, grid);
  return analyzer.Compute(grid);
}

std::vector<Encoding> ComputePerChannelEncodings(const float* data, const std::vector<std::int64_t>& shape, int axis,
                                                 Scheme scheme, const GridSpec& grid, double percentile) {
  if (shape.size() < 2 || (axis != 0 && axis != 1)) throw std::invalid_argument("per-channel needs axis 0 or 1 of a 2-D+ shape");
  std::int64_t inner = 1;
  for (std::size_t dim = static_cast<std::size_t>(axis) + 1; dim < shape.size(); ++dim) inner *= shape[dim];
  const std::int64_t outer = axis == 0 ? 1 : shape[0];
  const std::int64_t channels = shape[static_cast<std::size_t>(axis)];
  std::vector<Encoding> encodings;
  std::vector<float> values;
  for (std::int64_t channel = 0; channel < channels; ++channel) {
    values.clear();
    for (std::int64_t block = 0; block < outer; ++block) {
      const float* start = data + (block * channels + channel) * inner;
      values.insert(values.end(), start, start + inner);
    }
    encodings.push_back(ComputeEncoding(values.data(), values.size(), scheme, grid, percentile));
  }
  return encodings;
}

std::int64_t Quantize(double x, const Encoding& encoding) {
  const double q = RoundHalfAway(x / encoding.scale) - static_cast<double>(encoding.offset);
  return static_cast<std::int64_t>(std::clamp(q, 0.0, static_cast<double>(encoding.steps())));
}

double Dequantize(std::int64_t q, const Encoding& encoding) {
  return encoding.scale * static_cast<double>(q + encoding.offset);
}

void QuantizeDequantize(const float* in, float* out, std::size_t count, const Encoding& encoding) {
  for (std::size_t idx = 0; idx < count; ++idx)
    out[idx] = static_cast<float>(Dequantize(Quantize(in[idx], encoding), encoding));
}

}  // namespace adaflow::quant
