#include "pipeline/options.h"

#include <gtest/gtest.h>

namespace adaflow {
namespace {

enum class Color { kRed, kGreen };

struct Sample {
  bool flag = true;
  int count = 10;
  double rate = 0.25;
  std::string label = "x";
  Color color = Color::kGreen;
  std::vector<double> range = {20.0, 2.0};
  std::vector<std::string> names;
  std::map<std::string, int> bits;
};

const Schema<Sample>& SampleSchema() {
  static const Schema<Sample> schema = [] {
    Schema<Sample> s("sample");
    s.Bool("flag", &Sample::flag, "a flag");
    s.Int("count", &Sample::count, "a count").Range(1, 100);
    s.Float("rate", &Sample::rate, "a rate").Range(0, 1);
    s.String("label", &Sample::label, "a label");
    s.Enum("color", &Sample::color, {{"red", Color::kRed}, {"green", Color::kGreen}}, "a color");
    s.FloatList("range", &Sample::range, "two numbers").Size(2);
    s.StringList("names", &Sample::names, "names");
    s.StringIntMap("bits", &Sample::bits, "bits per name").Range(2, 16);
    return s;
  }();
  return schema;
}

OptionValues ParseText(const std::string& text) {
  YamlSource source("sample.yaml");
  return SampleSchema().erased().Parse(YAML::Load(text), source, "stage 'sample'");
}

std::string ErrorOf(const std::string& text) {
  try {
    ParseText(text);
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

TEST(OptionsTest, DefaultsComeFromMemberInitializers) {
  const Sample bound = SampleSchema().Bind(ParseText("{}"));
  EXPECT_TRUE(bound.flag);
  EXPECT_EQ(bound.count, 10);
  EXPECT_DOUBLE_EQ(bound.rate, 0.25);
  EXPECT_EQ(bound.color, Color::kGreen);
  EXPECT_EQ(bound.range, (std::vector<double>{20.0, 2.0}));
  const OptionValues values = ParseText("{}");
  EXPECT_FALSE(values.Given("count"));
}

TEST(OptionsTest, ParsesEveryType) {
  const OptionValues values =
      ParseText("flag: false\ncount: 42\nrate: 0.5\nlabel: hello\ncolor: red\nrange: [3, 1.5]\n"
                "names: [a, b]\nbits: {fc: 8, conv: 4}\n");
  const Sample bound = SampleSchema().Bind(values);
  EXPECT_FALSE(bound.flag);
  EXPECT_EQ(bound.count, 42);
  EXPECT_DOUBLE_EQ(bound.rate, 0.5);
  EXPECT_EQ(bound.label, "hello");
  EXPECT_EQ(bound.color, Color::kRed);
  EXPECT_EQ(bound.range, (std::vector<double>{3.0, 1.5}));
  EXPECT_EQ(bound.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(bound.bits.at("fc"), 8);
  EXPECT_EQ(bound.bits.at("conv"), 4);
  EXPECT_TRUE(values.Given("count"));
}

TEST(OptionsTest, DumpThenParseRoundTrips) {
  const OptionValues values = ParseText("count: 7\nrate: 0.1\nrange: [0.3, 0.1]\nbits: {fc: 8}\nnames: [x]\n");
  YAML::Emitter out;
  out << SampleSchema().erased().Dump(values);
  const OptionValues again = ParseText(out.c_str());
  EXPECT_TRUE(values == again) << out.c_str();
  EXPECT_EQ(SampleSchema().erased().Canonical(values), SampleSchema().erased().Canonical(again));
}

TEST(OptionsTest, CanonicalTextChangesWithAnyValue) {
  const std::string base = SampleSchema().erased().Canonical(ParseText("{}"));
  EXPECT_NE(base, SampleSchema().erased().Canonical(ParseText("rate: 0.26")));
  EXPECT_NE(base, SampleSchema().erased().Canonical(ParseText("names: [a]")));
  // Writing a default explicitly does not change the key.
  EXPECT_EQ(base, SampleSchema().erased().Canonical(ParseText("count: 10")));
}

TEST(OptionsTest, UnknownKeyNamesLineAndSuggests) {
  const std::string error = ErrorOf("count: 3\ncout: 4\n");
  EXPECT_NE(error.find("sample.yaml:2"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown key 'cout'"), std::string::npos) << error;
  EXPECT_NE(error.find("did you mean 'count'?"), std::string::npos) << error;
}

TEST(OptionsTest, RejectsWrongTypesAndRanges) {
  EXPECT_NE(ErrorOf("count: abc").find("must be an integer, got 'abc'"), std::string::npos);
  EXPECT_NE(ErrorOf("count: 1.5").find("must be an integer"), std::string::npos);
  EXPECT_NE(ErrorOf("count: 0").find("must be in [1, 100], got 0"), std::string::npos);
  EXPECT_NE(ErrorOf("rate: 2.5").find("must be in [0, 1], got 2.5"), std::string::npos);
  EXPECT_NE(ErrorOf("flag: maybe").find("must be true or false"), std::string::npos);
  EXPECT_NE(ErrorOf("range: [1]").find("must have 2 elements, got 1"), std::string::npos);
  EXPECT_NE(ErrorOf("range: 3").find("must be a list of numbers"), std::string::npos);
  EXPECT_NE(ErrorOf("bits: {fc: 40}").find("must be in [2, 16], got 40"), std::string::npos);
  const std::string color = ErrorOf("\n\ncolor: gren");
  EXPECT_NE(color.find("sample.yaml:3"), std::string::npos) << color;
  EXPECT_NE(color.find("did you mean 'green'?"), std::string::npos) << color;
}

TEST(OptionsTest, DoublesPrintRoundTripExact) {
  for (double value : {0.1, 1.0 / 3.0, 0.00392156862745098, 1e-8, 20.0, -2.5}) {
    const std::string text = FormatOptionValue(value);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), value) << text;
  }
  EXPECT_EQ(FormatOptionValue(20.0), "20");
  EXPECT_EQ(FormatOptionValue(0.001), "0.001");
}

TEST(OptionsTest, ClosestMatchNeedsToBeClose) {
  EXPECT_EQ(ClosestMatch("num_iteration", {"num_iterations", "reg_param"}), "num_iterations");
  EXPECT_EQ(ClosestMatch("zzzzzz", {"num_iterations", "reg_param"}), "");
}

}  // namespace
}  // namespace adaflow
