#include "src/quant/encoding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace adaflow::quant {
namespace {

/// AIMET's MIN_RANGE: the narrowest range an encoding may have.
constexpr double kMinRange = 0.01;
/// AIMET's weight of saturation error against quantization error in TF-enhanced.
constexpr double kSaturationWeight = 3.0;

double Steps(const GridSpec& grid) {
  double steps = std::pow(2.0, grid.bitwidth) - 1.0;
  if (grid.symmetric && grid.strict_symmetric) steps -= 1.0;
  return steps;
}

Encoding Make(int bitwidth, double scale, double offset, double steps, bool symmetric) {
  Encoding encoding;
  encoding.bitwidth = bitwidth;
  encoding.scale = scale;
  encoding.offset = static_cast<std::int64_t>(offset);
  encoding.min = scale * offset;
  encoding.max = scale * (offset + steps);
  encoding.symmetric = symmetric;
  encoding.num_steps = static_cast<std::int64_t>(steps);
  return encoding;
}

void CheckBitwidth(int bitwidth) {
  if (bitwidth < 1 || bitwidth > 31) throw std::invalid_argument("bitwidth must be in [1, 31]");
}

}  // namespace

bool Encoding::operator==(const Encoding& other) const {
  return bitwidth == other.bitwidth && scale == other.scale && offset == other.offset && min == other.min &&
         max == other.max && symmetric == other.symmetric &&
         num_steps == other.num_steps;
}

std::string ToString(const Encoding& encoding) {
  std::ostringstream out;
  out.precision(9);
  out << "{bw " << encoding.bitwidth << ", scale " << encoding.scale << ", offset " << encoding.offset << ", min "
      << encoding.min << ", max " << encoding.max << (encoding.symmetric ? ", symmetric" : "") << "}";
  return out.str();
}

void GateMinMax(double& min, double& max) {
  min = std::min(min, 0.0);
  max = std::max(max, 0.0);
  max = std::max(max, min + kMinRange);
}

Encoding EncodingFromMinMax(double min, double max, const GridSpec& grid) {
  CheckBitwidth(grid.bitwidth);
  GateMinMax(min, max);
  const double steps = Steps(grid);
  if (grid.symmetric && grid.unsigned_symmetric && min >= 0.0)
    return Make(grid.bitwidth, max / steps, 0.0, steps, true);
  if (grid.symmetric) {
    const double absolute = std::max(std::fabs(min), std::fabs(max));
    const double positive_steps = std::floor(steps / 2.0);
    const double negative_steps = steps - positive_steps;  // ceil(N/2)
    return Make(grid.bitwidth, absolute / positive_steps, -negative_steps, steps, true);
  }
  const double scale = (max - min) / steps;
  const double offset = -std::clamp(RoundHalfAway(-min / scale), 0.0, steps);
  return Make(grid.bitwidth, scale, offset, steps, false);
}

EncodingAnalyzer::EncodingAnalyzer(Scheme scheme, double percentile) : scheme_(scheme), percentile_(percentile) {
  if (percentile < 50.0 || percentile > 100.0) throw std::invalid_argument("percentile must be in [50, 100]");
}

void EncodingAnalyzer::Update(const float* data, std::size_t count) {
  if (count == 0) return;
  const auto [low, high] = std::minmax_element(data, data + count);
  if (!seen_) {
    min_ = *low;
    max_ = *high;
    seen_ = true;
  } else {
    min_ = std::min<double>(min_, *low);
    max_ = std::max<double>(max_, *high);
  }
  if (scheme_ != Scheme::kTf) UpdatePdf(data, count);
}

void EncodingAnalyzer::UpdatePdf(const float* data, std::size_t count) {
  if (pdf_.empty()) {
    double low = *std::min_element(data, data + count);
    double high = *std::max_element(data, data + count);
    // An all-zero first batch says nothing about the range: wait for one that does.
    if (low == 0.0 && high == 0.0) return;
    if (low == high) high = low + kMinRange;
    const double center = (high + low) / 2.0;
    low = center - 3.0 * (center - low);
    high = center + 3.0 * (high - center);
    pdf_step_ = (high - low) / kBins;
    pdf_start_ = low;
    pdf_.assign(kBins, 0.0);
  }
  std::vector<std::uint64_t> counts(kBins, 0);
  const double pdf_offset = pdf_start_ / pdf_step_;
  for (std::size_t idx = 0; idx < count; ++idx) {
    const double bucket = RoundHalfAway(static_cast<double>(data[idx]) / pdf_step_ - pdf_offset);
    if (bucket >= 0 && bucket < kBins) ++counts[static_cast<std::size_t>(bucket)];
  }
  // Each batch's histogram, normalized, averaged into the running PDF with equal weight per batch.
  for (int bin = 0; bin < kBins; ++bin) {
    const double prob = static_cast<double>(counts[bin]) / static_cast<double>(count);
    pdf_[bin] = (pdf_[bin] * static_cast<double>(pdf_batches_) + prob) / static_cast<double>(pdf_batches_ + 1);
  }
  ++pdf_batches_;
}

Encoding EncodingAnalyzer::Compute(const GridSpec& grid) const {
  CheckBitwidth(grid.bitwidth);
  if (!seen_) throw std::logic_error("no statistics collected");
  switch (scheme_) {
    case Scheme::kTf:
      return EncodingFromMinMax(min_, max_, grid);
    case Scheme::kTfEnhanced:
      return pdf_.empty() ? EncodingFromMinMax(0.0, 0.0, grid) : ComputeTfEnhanced(grid);
    case Scheme::kPercentile:
      return pdf_.empty() ? EncodingFromMinMax(0.0, 0.0, grid) : ComputePercentile(grid);
  }
  throw std::logic_error("unknown scheme");
}

Encoding EncodingAnalyzer::ComputeTfEnhanced(const GridSpec& grid) const {
  // Range covered by the PDF: the left edges of the outermost non-empty buckets, zero included.
  double low = pdf_start_, high = pdf_start_ + (kBins - 1) * pdf_step_;
  for (int bin = 0; bin < kBins; ++bin) {
    if (pdf_[bin] > 0) {
      low = pdf_start_ + bin * pdf_step_;
      break;
    }
  }
  for (int bin = kBins - 1; bin > 0; --bin) {
    if (pdf_[bin] > 0) {
      high = pdf_start_ + bin * pdf_step_;
      break;
    }
  }
  low = std::min(low, 0.0);
  high = std::max(high, 0.0);
  high = std::max(high, low + kMinRange);

  const double steps = Steps(grid);
  std::vector<std::pair<double, double>> candidates;  // (Δ, o)
  if (grid.symmetric) {
    double delta_max = 0.0, offset = 0.0;
    if (low == 0.0 && grid.unsigned_symmetric) {
      delta_max = high / steps;
    } else {
      delta_max = 2.0 * std::max(std::fabs(high), std::fabs(low)) / steps;
      offset = std::floor(-steps / 2.0);
    }
    for (int step = 1; step <= 101; ++step) candidates.emplace_back(step / 100.0 * delta_max, offset);
  } else {
    const double observed_delta = (high - low) / steps;
    const double observed_offset = RoundHalfAway(low / observed_delta);
    const double observed_min = observed_delta * observed_offset;
    const double observed_max = observed_min + observed_delta * steps;
    for (int sixteenth = 1; sixteenth <= 17; ++sixteenth) {
      // As in AIMET, a delta narrowed to the observed range carries over to the next offsets of the
      // same factor.
      double delta = sixteenth / 16.0 * observed_delta;
      for (int index = 0; index <= 20; ++index) {
        double offset = std::trunc(-steps + steps / 20.0 * index);
        const double test_min = delta * offset;
        const double test_max = test_min + delta * steps;
        if (test_min < observed_min && test_max > observed_max) continue;
        const double clamped_min = std::max(observed_min, test_min);
        const double clamped_max = std::min(observed_max, test_max);
        delta = (clamped_max - clamped_min) / steps;
        offset = RoundHalfAway(clamped_min / delta);
        candidates.emplace_back(delta, offset);
      }
    }
    candidates.emplace_back(observed_delta, observed_offset);
  }

  // Cost of a candidate: quantization MSE inside its range plus 3× the saturation MSE outside, over
  // the PDF's bucket midpoints.
  const double full_steps = std::pow(2.0, grid.bitwidth) - 1.0;
  auto cost = [&](double delta, double offset) {
    const double min_value = delta * offset;
    const double max_value = delta * full_steps + min_value;
    const int min_index = std::clamp(static_cast<int>(std::floor((min_value - pdf_start_) / pdf_step_)), 0, kBins - 1);
    const int max_index = std::clamp(static_cast<int>(std::floor((max_value - pdf_start_) / pdf_step_)), 0, kBins - 1);
    const double min_mid = pdf_start_ + min_index * pdf_step_ + pdf_step_ / 2.0;
    const double max_mid = pdf_start_ + max_index * pdf_step_ + pdf_step_ / 2.0;
    double saturation = 0.0, quantization = 0.0;
    for (int bin = 0; bin < min_index; ++bin) {
      const double mid = pdf_start_ + bin * pdf_step_ + pdf_step_ / 2.0;
      saturation += pdf_[bin] * (mid - min_mid) * (mid - min_mid);
    }
    for (int bin = max_index; bin < kBins; ++bin) {
      const double mid = pdf_start_ + bin * pdf_step_ + pdf_step_ / 2.0;
      saturation += pdf_[bin] * (mid - max_mid) * (mid - max_mid);
    }
    for (int bin = min_index; bin < max_index; ++bin) {
      const double mid = pdf_start_ + bin * pdf_step_ + pdf_step_ / 2.0;
      const double dequantized = delta * (RoundHalfAway(mid / delta - offset) + offset);
      quantization += pdf_[bin] * (mid - dequantized) * (mid - dequantized);
    }
    return kSaturationWeight * saturation + quantization;
  };
  double best_cost = std::numeric_limits<double>::max();
  std::pair<double, double> best{-1.0, -1.0};
  for (const auto& [delta, offset] : candidates) {
    const double candidate_cost = cost(delta, offset);
    if (candidate_cost < best_cost) {
      best_cost = candidate_cost;
      best = {delta, offset};
    }
  }
  return Make(grid.bitwidth, best.first, best.second, steps, grid.symmetric);
}

Encoding EncodingAnalyzer::ComputePercentile(const GridSpec& grid) const {
  // Values at the (100 − p)th and pth percentiles of the averaged PDF (bucket centers).
  const double tail = (100.0 - percentile_) / 100.0;
  double cumulative = 0.0, low = pdf_start_, high = pdf_start_ + (kBins - 1) * pdf_step_;
  bool low_found = false;
  for (int bin = 0; bin < kBins; ++bin) {
    cumulative += pdf_[bin];
    if (!low_found && cumulative > tail) {
      low = pdf_start_ + bin * pdf_step_;
      low_found = true;
    }
    if (cumulative >= 1.0 - tail - 1e-12) {
      high = pdf_start_ + bin * pdf_step_;
      break;
    }
  }
  return EncodingFromMinMax(std::max(low, min_), std::min(high, max_), grid);
}

Encoding ComputeEncoding(const float* data, std::size_t count, Scheme scheme, const GridSpec& grid, double percentile) {
  EncodingAnalyzer analyzer(scheme, percentile);
  analyzer.Update(data, count);
  if (analyzer.empty()) return EncodingFromMinMax(0.0, 0.0, grid);
  return analyzer.Compute(grid);
}

std::vector<Encoding> ComputePerChannelEncodings(const float* data, const std::vector<std::int64_t>& shape, int axis,
                                                 Scheme scheme, const GridSpec& grid) {
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
    encodings.push_back(ComputeEncoding(values.data(), values.size(), scheme, grid));
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
