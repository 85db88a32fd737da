#pragma once
// Quantization encodings as AIMET computes them (DESIGN §6). No Torch: plain float arrays, so the
// math is testable against hand-computed cases.
//
// A grid of bitwidth b has N = 2^b − 1 steps (strict symmetric: N − 1). A value x maps to
//   q = clamp(round(x / Δ) − o, 0, N),   x̂ = Δ · (q + o)
// with scale Δ > 0 and integer offset o ≤ 0, so min = Δ·o and max = Δ·(o + N).
// Rounding is half away from zero (std::round), as AIMET's own quantizer.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace adaflow::quant {

/// How ranges are chosen from the observed values.
enum class Scheme { kTf, kTfEnhanced, kPercentile };

/// Grid shape. Symmetric grids are signed (offset −ceil(N/2), or −floor(N/2) when strict) unless the
/// values are all ≥ 0 and unsigned_symmetric is on, in which case offset is 0 (AIMET's default).
struct GridSpec {
  int bitwidth = 8;
  bool symmetric = false;
  bool strict_symmetric = false;
  bool unsigned_symmetric = true;
};

struct Encoding {
  int bitwidth = 8;
  double scale = 0.0;        ///< Δ
  std::int64_t offset = 0;   ///< o ≤ 0
  double min = 0.0;          ///< Δ·o
  double max = 0.0;          ///< Δ·(o + steps)
  bool symmetric = false;
  std::int64_t num_steps = 255;  ///< N: 2^b − 1, or 2^b − 2 for strict symmetric grids

  std::int64_t steps() const { return num_steps; }
  bool operator==(const Encoding& other) const;
};

std::string ToString(const Encoding& encoding);

/// AIMET's gating: min ≤ 0 ≤ max and max ≥ min + 0.01.
void GateMinMax(double& min, double& max);

/// The encoding of a min/max range (the TF scheme): gated, then
///   signed symmetric   Δ = A / floor(N/2), o = −ceil(N/2) (strict: N−1 steps, o = −floor(N/2)), A = max(|min|, |max|)
///   unsigned symmetric Δ = max / N, o = 0   (min ≥ 0)
///   asymmetric         Δ = (max − min) / N, o = −clamp(round(−min/Δ), 0, N)
Encoding EncodingFromMinMax(double min, double max, const GridSpec& grid);

/// Accumulates statistics over batches and computes an encoding for a scheme.
/// TF keeps the running min/max. TF-enhanced keeps AIMET's 512-bucket PDF: its range is fixed by the
/// first non-zero batch enlarged 3× around its center, each batch's normalized histogram is averaged
/// in. Percentile keeps a 512-bin histogram whose range grows to cover every batch.
class EncodingAnalyzer {
 public:
  static constexpr int kBins = 512;

  explicit EncodingAnalyzer(Scheme scheme, double percentile = 99.99);

  void Update(const float* data, std::size_t count);
  bool empty() const { return !seen_; }
  Encoding Compute(const GridSpec& grid) const;

  double observed_min() const { return min_; }
  double observed_max() const { return max_; }

 private:
  Encoding ComputeTfEnhanced(const GridSpec& grid) const;
  Encoding ComputePercentile(const GridSpec& grid) const;
  void UpdatePdf(const float* data, std::size_t count);
  void UpdateHistogram(const float* data, std::size_t count);

  Scheme scheme_;
  double percentile_;
  bool seen_ = false;
  double min_ = 0.0;
  double max_ = 0.0;
  // TF-enhanced PDF (left edges start at pdf_start_, width pdf_step_), averaged over batches.
  std::vector<double> pdf_;
  double pdf_start_ = 0.0;
  double pdf_step_ = 0.0;
  std::size_t pdf_batches_ = 0;
  // Percentile histogram over [hist_min_, hist_max_].
  std::vector<double> hist_;
  double hist_min_ = 0.0;
  double hist_max_ = 0.0;
};

/// One-shot encoding of a whole array (a weight tensor, per tensor).
Encoding ComputeEncoding(const float* data, std::size_t count, Scheme scheme, const GridSpec& grid,
                         double percentile = 99.99);

/// Per-channel encodings of a [channels, rest...] array along `axis` 0 or 1 of `shape`.
std::vector<Encoding> ComputePerChannelEncodings(const float* data, const std::vector<std::int64_t>& shape, int axis,
                                                 Scheme scheme, const GridSpec& grid);

/// Rounds half away from zero, as AIMET.
inline double RoundHalfAway(double value) { return value < 0 ? -std::floor(-value + 0.5) : std::floor(value + 0.5); }

/// The integer grid index q ∈ [0, N] of x.
std::int64_t Quantize(double x, const Encoding& encoding);
/// Δ·(q + o).
double Dequantize(std::int64_t q, const Encoding& encoding);
/// Quantize then dequantize `count` values in place or into `out`.
void QuantizeDequantize(const float* in, float* out, std::size_t count, const Encoding& encoding);

}  // namespace adaflow::quant
