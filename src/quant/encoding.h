#pragma once
// Quantization encodings as AIMET computes them (DESIGN §6; docs/AIMET_PARITY.md). No Torch: plain
// float arrays, so the math is testable against the encodings AIMET's own analyzers computed
// (tests/data/aimet_golden).
//
// A grid of bitwidth b has N = 2^b − 1 steps (strict symmetric: N − 1). A value x maps to
//   q = clamp(round(x / Δ) − o, 0, N),   x̂ = Δ · (q + o)
// with scale Δ > 0 and integer offset o ≤ 0. Rounding is half away from zero (std::round), as
// AIMET's own quantizer.
//
// The analyzers compute in float32 where AIMET's do (its TensorQuantizer instantiates them with
// DTYPE = float): histogram positions, candidate deltas, range bounds. That is what makes every
// golden case match exactly rather than "to within a bucket".

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/enum_names.h"

namespace adaflow::quant {

/// How ranges are chosen from the observed values: AIMET's TfEncodingAnalyzer (min/max),
/// TfEnhancedEncodingAnalyzer (SQNR grid search) and PercentileEncodingAnalyzer.
enum class Scheme { kTf, kTfEnhanced, kPercentile };
/// The config's names (`quant_scheme: tf_enhanced`); AIMET's files name them post_training_<name>.
inline const EnumNames<Scheme> kSchemeNames = {
    {"tf_enhanced", Scheme::kTfEnhanced}, {"tf", Scheme::kTf}, {"percentile", Scheme::kPercentile}};

/// Grid shape, as AIMET's computeEncoding(bw, symmetric, strict, unsigned) takes it. Symmetric grids
/// are signed (offset −ceil(N/2)); strict symmetric drops one step (N − 1 steps, offset −floor(N/2));
/// unsigned symmetric gives an all-non-negative tensor the grid [0, max] (offset 0).
struct GridSpec {
  int bitwidth = 8;
  bool symmetric = false;
  bool strict_symmetric = false;
  /// AIMET's quantizers default to false (and its default config sets no such key).
  bool unsigned_symmetric = false;
};

/// How a weight's grid is chosen (the `adaround` and `quant_sim` stages share these options, AIMET's names).
struct WeightGridOptions {
  Scheme quant_scheme = Scheme::kTfEnhanced;
  bool per_channel = false;        ///< one grid per output channel
  bool symmetric = true;
  bool strict_symmetric = false;   ///< symmetric grids with 2^b − 2 steps
  bool unsigned_symmetric = false; ///< [0, max] for an all-non-negative tensor or channel (AIMET's default: false)

  GridSpec Grid(int bitwidth) const { return GridSpec{bitwidth, symmetric, strict_symmetric, unsigned_symmetric}; }
};

/// One encoding, as AIMET's TfEncoding plus the grid it belongs to.
struct Encoding {
  int bitwidth = 8;
  double scale = 0.0;        ///< Δ
  std::int64_t offset = 0;   ///< o ≤ 0
  double min = 0.0;          ///< the range AIMET returns (≈ Δ·o)
  double max = 0.0;          ///< the range AIMET returns (≈ Δ·(o + steps))
  bool symmetric = false;
  std::int64_t num_steps = 255;  ///< N: 2^b − 1, or 2^b − 2 for strict symmetric grids

  std::int64_t steps() const { return num_steps; }
  /// The same grid (bitwidth, Δ, o, steps, symmetry). min and max are AIMET's report of the range,
  /// computed in float, and are not compared: a grid read back from a file has them recomputed.
  bool operator==(const Encoding& other) const;
};

std::string ToString(const Encoding& encoding);

/// The number of grid steps: 2^b − 1, one fewer for a strict symmetric grid.
std::int64_t GridSteps(const GridSpec& grid);

/// AIMET's gating: min ≤ 0 ≤ max and max ≥ min + 0.01.
void GateMinMax(double& min, double& max);

/// The encoding of a min/max range (the TF scheme): gated, then
///   signed symmetric   Δ = A / floor(N/2), o = −ceil(N/2), A = max(|min|, |max|)
///   unsigned symmetric Δ = max / N, o = 0   (when min = 0 and unsigned_symmetric is on)
///   asymmetric         Δ = (max − min) / N, o = −clamp(round(−min/Δ), 0, N)
Encoding EncodingFromMinMax(double min, double max, const GridSpec& grid);

/// Accumulates statistics over batches and computes an encoding, as AIMET's analyzers do.
///   TF          keeps the running min and max.
///   TF-enhanced keeps AIMET's 512-bucket PDF: its range is fixed by the first batch that is not all
///               zeros, enlarged 3× around its centre; each later batch's histogram (normalised by its
///               own element count) is averaged in with equal weight; values outside are dropped.
///   percentile  the same PDF; p = 100 takes its range, p < 100 walks its CDF.
/// Data that was all zeros gives AIMET's fallback range [−1, 1].
class EncodingAnalyzer {
 public:
  static constexpr int kBins = 512;

  /// `percentile` in [50, 100], used by kPercentile (AIMET's default: 100).
  explicit EncodingAnalyzer(Scheme scheme, double percentile = 100.0);

  void Update(const float* data, std::size_t count);
  /// True until Update has seen a value.
  bool empty() const { return !seen_; }
  Encoding Compute(const GridSpec& grid) const;

 private:
  Encoding ComputeTfEnhanced(const GridSpec& grid) const;
  Encoding ComputePercentile(const GridSpec& grid) const;
  Encoding AllZeroEncoding(const GridSpec& grid, bool strict_steps) const;
  void UpdatePdf(const float* data, std::size_t count);
  /// The left edges of the lowest and highest non-empty buckets, gated (AIMET's findOriginalRange).
  void PdfRange(float& low, float& high) const;

  Scheme scheme_;
  float percentile_;
  bool seen_ = false;
  double min_ = 0.0;  // TF: running min/max
  double max_ = 0.0;
  // The PDF: bucket left edges (double, as AIMET stores them) and the batch-averaged probabilities.
  std::vector<double> left_;
  std::vector<double> pdf_;
  int pdf_batches_ = 0;
};

/// One-shot encoding of a whole array (a weight tensor, per tensor): one Update, one Compute.
Encoding ComputeEncoding(const float* data, std::size_t count, Scheme scheme, const GridSpec& grid,
                         double percentile = 100.0);

/// Per-channel encodings of a [channels, rest...] array along `axis` 0 or 1 of `shape`: each channel
/// gets its own analyzer (AIMET v1's StaticGridPerChannelQuantizer).
std::vector<Encoding> ComputePerChannelEncodings(const float* data, const std::vector<std::int64_t>& shape, int axis,
                                                 Scheme scheme, const GridSpec& grid, double percentile = 100.0);

/// Rounds half away from zero, as AIMET.
inline double RoundHalfAway(double value) { return value < 0 ? -std::floor(-value + 0.5) : std::floor(value + 0.5); }

/// The integer grid index q ∈ [0, N] of x.
std::int64_t Quantize(double x, const Encoding& encoding);
/// Δ·(q + o).
double Dequantize(std::int64_t q, const Encoding& encoding);
/// Quantize then dequantize `count` values in place or into `out`.
void QuantizeDequantize(const float* in, float* out, std::size_t count, const Encoding& encoding);

}  // namespace adaflow::quant
