#include "src/quant/encoding.h"

#include <gtest/gtest.h>

#include <random>

namespace adaflow::quant {
namespace {

GridSpec Grid(int bits, bool symmetric, bool strict = false, bool unsigned_symmetric = false) {
  return GridSpec{bits, symmetric, strict, unsigned_symmetric};
}

/// Δ, o, N and the range AIMET reports.
void ExpectGrid(const Encoding& enc, double scale, std::int64_t offset, std::int64_t steps, double min, double max) {
  EXPECT_DOUBLE_EQ(enc.scale, scale);
  EXPECT_EQ(enc.offset, offset);
  EXPECT_EQ(enc.steps(), steps);
  EXPECT_NEAR(enc.min, min, 1e-12);
  EXPECT_NEAR(enc.max, max, 1e-12);
}

TEST(EncodingTest, SignedSymmetricGrids) {
  // 8 bits, A = 1.27: Δ = A / floor(255/2) = 0.01, offset −ceil(255/2) = −128.
  ExpectGrid(EncodingFromMinMax(-0.5, 1.27, Grid(8, true)), 1.27 / 127, -128, 255, -1.28, 1.27);
  // Strict: 2^8 − 2 steps, symmetric about 0.
  ExpectGrid(EncodingFromMinMax(-1.27, 0.3, Grid(8, true, /*strict=*/true)), 1.27 / 127, -127, 254, -1.27, 1.27);
  // 4 bits, A = 0.7: Δ = 0.7 / 7, offset −8.
  ExpectGrid(EncodingFromMinMax(-0.7, 0.2, Grid(4, true)), 0.7 / 7, -8, 15, -0.8, 0.7);
}

TEST(EncodingTest, UnsignedSymmetricWhenAllValuesAreNonNegative) {
  const Encoding enc = EncodingFromMinMax(0.0, 2.55, Grid(8, true, false, /*unsigned_symmetric=*/true));
  EXPECT_DOUBLE_EQ(enc.scale, 0.01);
  EXPECT_EQ(enc.offset, 0);
  // Off (AIMET's default), the same range is signed: half the resolution, but a grid every reader
  // of a symmetric encoding agrees on.
  EXPECT_EQ(EncodingFromMinMax(0.0, 2.55, Grid(8, true)).offset, -128);
  EXPECT_DOUBLE_EQ(EncodingFromMinMax(0.0, 2.55, Grid(8, true)).scale, 2.55 / 127);
  EXPECT_EQ(GridSpec{}.unsigned_symmetric, false);
}

TEST(EncodingTest, AsymmetricShiftsTheRangeSoZeroIsExact) {
  // Δ = 4/255, o = −round(1/Δ) = −round(63.75) = −64.
  const Encoding enc = EncodingFromMinMax(-1.0, 3.0, Grid(8, false));
  ExpectGrid(enc, 4.0 / 255, -64, 255, -64 * 4.0 / 255, 191 * 4.0 / 255);
  EXPECT_EQ(Quantize(0.0, enc), 64);
  EXPECT_EQ(Dequantize(Quantize(0.0, enc), enc), 0.0);
}

TEST(EncodingTest, GatingKeepsZeroAndAMinimumRange) {
  const Encoding zero = EncodingFromMinMax(0.0, 0.0, Grid(8, false));
  EXPECT_DOUBLE_EQ(zero.min, 0.0);
  EXPECT_NEAR(zero.max, 0.01, 1e-12);
  const Encoding positive = EncodingFromMinMax(2.0, 3.0, Grid(8, false));  // min is pulled down to 0
  EXPECT_DOUBLE_EQ(positive.min, 0.0);
  EXPECT_NEAR(positive.max, 3.0, 1e-12);
}

TEST(EncodingTest, QuantizeRoundsHalfAwayFromZeroAndClamps) {
  const Encoding enc = EncodingFromMinMax(-0.7, 0.7, Grid(4, true));  // Δ = 0.1, o = −8
  EXPECT_EQ(Quantize(0.05, enc), 9);    // 0.5 → 1 (not to even 0)
  EXPECT_EQ(Quantize(-0.05, enc), 7);   // −0.5 → −1
  EXPECT_EQ(Quantize(0.25, enc), 11);   // 2.5 → 3
  EXPECT_EQ(Quantize(5.0, enc), 15);    // clamped to N
  EXPECT_EQ(Quantize(-5.0, enc), 0);
  EXPECT_NEAR(Dequantize(15, enc), 0.7, 1e-12);
  EXPECT_NEAR(Dequantize(0, enc), -0.8, 1e-12);
}

TEST(EncodingTest, QuantizeDequantizeIsIdempotentOnTheGrid) {
  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(4096);
  for (auto& value : values) value = normal(rng);
  for (const GridSpec& grid : {Grid(4, true), Grid(8, false), Grid(3, true, true), Grid(16, false)}) {
    const Encoding enc = ComputeEncoding(values.data(), values.size(), Scheme::kTf, grid);
    std::vector<float> once(values.size()), twice(values.size());
    QuantizeDequantize(values.data(), once.data(), values.size(), enc);
    QuantizeDequantize(once.data(), twice.data(), once.size(), enc);
    EXPECT_EQ(once, twice) << ToString(enc);
    for (float value : once) {
      const double index = value / enc.scale - static_cast<double>(enc.offset);
      // Stored as float: the index is exact up to float rounding of the value.
      EXPECT_NEAR(index, std::round(index), 1.2e-7 * std::fabs(value) / enc.scale + 1e-6) << value;
      EXPECT_GE(value, enc.min - 1e-6);
      EXPECT_LE(value, enc.max + 1e-6);
    }
  }
}

TEST(EncodingTest, PerChannelAlongAxisZeroAndOne) {
  // shape [2, 3]: axis 0 channels are rows {1,-2,0.5}, {-0.1,0.2,-0.3}; axis 1 the columns.
  const std::vector<float> data = {1.0f, -2.0f, 0.5f, -0.1f, 0.2f, -0.3f};
  const auto rows = ComputePerChannelEncodings(data.data(), {2, 3}, 0, Scheme::kTf, Grid(8, true));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FLOAT_EQ(static_cast<float>(rows[0].scale), 2.0f / 127);
  EXPECT_FLOAT_EQ(static_cast<float>(rows[1].scale), 0.3f / 127);
  const auto columns = ComputePerChannelEncodings(data.data(), {2, 3}, 1, Scheme::kTf, Grid(8, true));
  ASSERT_EQ(columns.size(), 3u);
  EXPECT_FLOAT_EQ(static_cast<float>(columns[0].scale), 1.0f / 127);
  EXPECT_FLOAT_EQ(static_cast<float>(columns[1].scale), 2.0f / 127);
  EXPECT_FLOAT_EQ(static_cast<float>(columns[2].scale), 0.5f / 127);
}

TEST(EncodingTest, TfMinMaxRunsOverBatches) {
  EncodingAnalyzer analyzer(Scheme::kTf);
  const std::vector<float> first = {-1.0f, 0.5f}, second = {0.0f, 3.0f};
  analyzer.Update(first.data(), first.size());
  analyzer.Update(second.data(), second.size());
  EXPECT_EQ(analyzer.Compute(Grid(8, false)), EncodingFromMinMax(-1.0, 3.0, Grid(8, false)));
}

TEST(EncodingTest, TfEnhancedClipsRareOutliers) {
  // Gaussian weights plus one far outlier: min/max spends the grid on the outlier, TF-enhanced
  // clips it and gets a finer step and a lower error on the bulk.
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(20000);
  for (auto& value : values) value = normal(rng);
  values[0] = 30.0f;
  const Encoding tf = ComputeEncoding(values.data(), values.size(), Scheme::kTf, Grid(4, true));
  const Encoding enhanced = ComputeEncoding(values.data(), values.size(), Scheme::kTfEnhanced, Grid(4, true));
  EXPECT_EQ(enhanced.offset, -8);
  EXPECT_LT(enhanced.scale, 0.5 * tf.scale) << ToString(enhanced) << " vs " << ToString(tf);
  auto mse = [&](const Encoding& enc) {
    double total = 0;
    for (std::size_t idx = 1; idx < values.size(); ++idx) {
      const double error = Dequantize(Quantize(values[idx], enc), enc) - values[idx];
      total += error * error;
    }
    return total / static_cast<double>(values.size() - 1);
  };
  EXPECT_LT(mse(enhanced), 0.5 * mse(tf));
}

TEST(EncodingTest, TfEnhancedKeepsTheFullRangeOfUniformValues) {
  std::vector<float> values;
  for (int idx = 0; idx <= 10000; ++idx) values.push_back(-1.0f + 2.0f * static_cast<float>(idx) / 10000.0f);
  const Encoding enc = ComputeEncoding(values.data(), values.size(), Scheme::kTfEnhanced, Grid(8, false));
  EXPECT_NEAR(enc.min, -1.0, 0.05) << ToString(enc);
  EXPECT_NEAR(enc.max, 1.0, 0.05) << ToString(enc);
}

TEST(EncodingTest, AllZeroDataGivesAimetsFallbackRange) {
  // AIMET's TF-enhanced and percentile analyzers never build a PDF from zeros: [−1, 1], Δ = 2/N.
  const std::vector<float> zeros(64, 0.0f);
  for (Scheme scheme : {Scheme::kTfEnhanced, Scheme::kPercentile}) {
    for (const GridSpec& grid : {Grid(4, true), Grid(8, false)}) {
      const Encoding enc = ComputeEncoding(zeros.data(), zeros.size(), scheme, grid);
      const double steps = std::pow(2.0, grid.bitwidth) - 1;
      EXPECT_DOUBLE_EQ(enc.scale, 2.0 / steps);
      EXPECT_EQ(enc.offset, static_cast<std::int64_t>(std::floor(-steps / 2.0)));
      EXPECT_NEAR(enc.min, -1.0, enc.scale);
      EXPECT_NEAR(enc.max, 1.0, enc.scale);
    }
  }
  // TF keeps its 0.01 minimum range.
  EXPECT_NEAR(ComputeEncoding(zeros.data(), zeros.size(), Scheme::kTf, Grid(8, false)).max, 0.01, 1e-12);
}

TEST(EncodingTest, TfEnhancedAsymmetricOnReluLikeDataIsFinite) {
  // Data whose minimum is exactly 0 (a ReLU output) once took a NaN offset.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(5000);
  for (auto& value : values) value = std::max(0.0f, normal(rng));
  const Encoding enc = ComputeEncoding(values.data(), values.size(), Scheme::kTfEnhanced, Grid(8, false));
  EXPECT_TRUE(std::isfinite(enc.scale)) << ToString(enc);
  EXPECT_GT(enc.scale, 0.0);
  EXPECT_EQ(enc.offset, 0);
  EXPECT_GT(enc.max, 2.0);
}

TEST(EncodingTest, PercentileDropsTheTails) {
  std::vector<float> values;
  for (int idx = 0; idx < 10000; ++idx) values.push_back(static_cast<float>(idx));
  const Encoding enc = ComputeEncoding(values.data(), values.size(), Scheme::kPercentile, Grid(8, false), 99.0);
  // The PDF's buckets are 3·10000/512 ≈ 59 wide; the 99th percentile is 9900.
  EXPECT_NEAR(enc.max, 9900.0, 60.0) << ToString(enc);
  EXPECT_DOUBLE_EQ(enc.min, 0.0);
}

}  // namespace
}  // namespace adaflow::quant
