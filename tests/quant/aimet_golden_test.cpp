// Every encoding of tests/data/aimet_golden (computed by AIMET's own C++ analyzers; see its README)
// recomputed through adaflow's encoding API and compared.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "src/quant/encoding.h"

namespace adaflow::quant {
namespace {

const std::string kDir = std::string(ADAFLOW_SOURCE_DIR) + "/tests/data/aimet_golden/";

std::vector<float> ReadValues(std::size_t count) {
  std::ifstream in(kDir + "values.f32", std::ios::binary);
  std::vector<float> values(count);
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(count * sizeof(float)));
  EXPECT_EQ(static_cast<std::size_t>(in.gcount()), count * sizeof(float)) << "values.f32 is short";
  return values;
}

Scheme SchemeOf(const std::string& name) {
  if (name == "tf") return Scheme::kTf;
  if (name == "tf_enhanced") return Scheme::kTfEnhanced;
  if (name == "percentile") return Scheme::kPercentile;
  throw std::invalid_argument("unknown scheme " + name);
}

bool Near(double actual, double expected, double tolerance) { return std::fabs(actual - expected) <= tolerance; }

/// Empty when `actual` matches `expected`, else what differs.
std::string Compare(const Encoding& actual, const nlohmann::json& expected) {
  const double delta = expected.at("delta").get<double>();
  const double min = expected.at("min").get<double>(), max = expected.at("max").get<double>();
  const double range_tolerance = 1e-6 * std::max({std::fabs(min), std::fabs(max), max - min});
  std::ostringstream out;
  out.precision(17);
  if (!Near(actual.scale, delta, 1e-6 * std::fabs(delta))) out << " delta " << actual.scale << " != " << delta;
  if (actual.offset != expected.at("offset").get<std::int64_t>())
    out << " offset " << actual.offset << " != " << expected.at("offset").get<std::int64_t>();
  if (actual.bitwidth != expected.at("bitwidth").get<int>()) out << " bitwidth " << actual.bitwidth;
  if (!Near(actual.min, min, range_tolerance)) out << " min " << actual.min << " != " << min;
  if (!Near(actual.max, max, range_tolerance)) out << " max " << actual.max << " != " << max;
  return out.str();
}

TEST(AimetGoldenTest, EveryCaseMatchesAimetsOwnAnalyzers) {
  std::ifstream in(kDir + "cases.json");
  ASSERT_TRUE(in) << "missing " << kDir << "cases.json";
  const nlohmann::json golden = nlohmann::json::parse(in);
  ASSERT_EQ(golden.at("format").get<std::string>(), "aimet-golden-encodings/1");
  const std::vector<float> values = ReadValues(golden.at("total_values").get<std::size_t>());
  const auto& cases = golden.at("cases");
  ASSERT_EQ(cases.size(), golden.at("num_cases").get<std::size_t>());
  ASSERT_EQ(cases.size(), 128u);

  int matched = 0, encodings = 0, exact = 0;
  for (const auto& item : cases) {
    const std::string id = item.at("id").get<std::string>();
    const Scheme scheme = SchemeOf(item.at("scheme").get<std::string>());
    const double percentile = item.at("percentile").is_null() ? 100.0 : item.at("percentile").get<double>();
    const GridSpec grid{item.at("bitwidth").get<int>(), item.at("symmetric").get<bool>(),
                        item.at("strict_symmetric").get<bool>(), item.at("unsigned_symmetric").get<bool>()};
    const float* data = values.data() + item.at("values_offset").get<std::size_t>();
    const auto count = item.at("values_count").get<std::size_t>();
    const auto& expected = item.at("expected");

    std::vector<Encoding> actual;
    if (item.at("granularity").get<std::string>() == "per_channel") {
      ASSERT_EQ(item.at("channel_axis").get<int>(), 0) << id;
      actual = ComputePerChannelEncodings(data, item.at("shape").get<std::vector<std::int64_t>>(), 0, scheme, grid,
                                          percentile);
    } else {
      EncodingAnalyzer analyzer(scheme, percentile);
      std::size_t start = 0;
      for (const auto& batch : item.at("batches")) {
        analyzer.Update(data + start, batch.get<std::size_t>());
        start += batch.get<std::size_t>();
      }
      ASSERT_EQ(start, count) << id << ": batches do not cover the values";
      actual.push_back(analyzer.Compute(grid));
    }
    ASSERT_EQ(actual.size(), expected.size()) << id;
    std::string differences;
    for (std::size_t channel = 0; channel < actual.size(); ++channel) {
      const std::string difference = Compare(actual[channel], expected[channel]);
      if (!difference.empty()) differences += " [" + std::to_string(channel) + "]" + difference;
      if (actual[channel].scale == expected[channel].at("delta").get<double>() &&
          actual[channel].min == expected[channel].at("min").get<double>() &&
          actual[channel].max == expected[channel].at("max").get<double>())
        ++exact;
    }
    encodings += static_cast<int>(actual.size());
    if (differences.empty()) ++matched;
    else ADD_FAILURE() << id << ":" << differences;
  }
  std::printf("AIMET golden encodings: %d of %zu cases match (%d encodings, %d of them bit for bit)\n", matched,
              cases.size(), encodings, exact);
  EXPECT_EQ(matched, 128);
  EXPECT_EQ(encodings, 424);
}

}  // namespace
}  // namespace adaflow::quant
