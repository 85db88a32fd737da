// Walks every registered stage type and data type: each option's default and one non-default value
// go schema parse -> dump -> parse and come back equal, and an invalid value of each is exit 2 from the
// CLI naming it, so a new option is tested for free.

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "pipeline/pipeline_spec.h"
#include "pipeline/planner.h"
#include "pipeline/stage_registry.h"
#include "stages/register_builtin_stages.h"
#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

const StageRegistry& Builtin() {
  static const StageRegistry registry = [] {
    StageRegistry r;
    RegisterBuiltinStages(r);
    return r;
  }();
  return registry;
}

double PickNumber(const OptionSpec& spec, double current) {
  const double low = spec.min.value_or(current - 3);
  const double high = spec.max.value_or(low + 7);
  for (double candidate : {low, high, std::floor((low + high) / 2), low + 1})
    if (candidate != current && candidate >= low && candidate <= high) return candidate;
  return current;
}

/// A valid value different from the default, as YAML text.
std::string NonDefaultYaml(const OptionSpec& spec) {
  switch (spec.type) {
    case OptionType::kBool:
      return std::get<bool>(spec.default_value) ? "false" : "true";
    case OptionType::kInt:
      return FormatOptionValue(static_cast<std::int64_t>(
          PickNumber(spec, static_cast<double>(std::get<std::int64_t>(spec.default_value)))));
    case OptionType::kFloat: {
      const double current = std::get<double>(spec.default_value);
      const double picked = PickNumber(spec, current);
      return FormatOptionValue(picked != current ? picked : current * 0.5 + 0.125);
    }
    case OptionType::kString:
      return "other_value";
    case OptionType::kPath:
      return SourcePath("CMakeLists.txt");
    case OptionType::kEnum:
      for (const auto& choice : spec.choices)
        if (choice != std::get<std::string>(spec.default_value)) return choice;
      return spec.choices.front();
    case OptionType::kIntList: {
      const std::size_t count = spec.size.value_or(3);
      std::string out = "[";
      for (std::size_t idx = 0; idx < count; ++idx)
        out += (idx ? ", " : "") + FormatOptionValue(static_cast<std::int64_t>(spec.min.value_or(1) + idx));
      return out + "]";
    }
    case OptionType::kFloatList: {
      const std::size_t count = spec.size.value_or(3);
      std::string out = "[";
      for (std::size_t idx = 0; idx < count; ++idx)
        out += (idx ? ", " : "") + FormatOptionValue(spec.min.value_or(0) + 0.5 * double(count - idx));
      return out + "]";
    }
    case OptionType::kStringList:
      return spec.choices.empty() ? "[layers.0.conv1, fc]" : "[" + spec.choices.back() + "]";
    case OptionType::kStringIntMap:
      return "{fc: " + FormatOptionValue(static_cast<std::int64_t>(spec.min.value_or(8))) + "}";
    case OptionType::kStringMap:
      return "{input_ids: tokens}";
    case OptionType::kTensorList:
      return "[{name: input_ids, shape: [1, 12], dtype: int64}, {name: features, shape: [1, 12, 4]}]";
  }
  return "";
}

/// YAML text with every required option set, and `extra` (one "name: value" line) on top.
std::string WithRequired(const OptionSchema& schema, const std::string& skip, const std::string& extra) {
  std::string text = extra.empty() ? "" : extra + "\n";
  for (const auto& spec : schema.specs())
    if (spec.required && spec.name != skip) text += spec.name + ": " + NonDefaultYaml(spec) + "\n";
  return text.empty() ? "{}" : text;
}

void CheckRoundTrip(const OptionSchema& schema, const std::string& owner) {
  YamlSource source(owner + ".yaml");
  const OptionValues base = schema.Parse(YAML::Load(WithRequired(schema, "", "")), source, owner);
  {
    YAML::Emitter out;
    out << schema.Dump(base);
    EXPECT_TRUE(schema.Parse(YAML::Load(out.c_str()), source, owner) == base) << owner << ":\n" << out.c_str();
  }
  for (const auto& spec : schema.specs()) {
    if (spec.required) continue;  // set in every case already
    const std::string text = WithRequired(schema, spec.name, spec.name + ": " + NonDefaultYaml(spec));
    SCOPED_TRACE(owner + " " + text);
    const OptionValues parsed = schema.Parse(YAML::Load(text), source, owner);
    EXPECT_TRUE(parsed.Given(spec.name));
    EXPECT_NE(schema.Canonical(parsed), schema.Canonical(base));
    YAML::Emitter out;
    out << schema.Dump(parsed);
    const OptionValues again = schema.Parse(YAML::Load(out.c_str()), source, owner);
    EXPECT_TRUE(again == parsed) << out.c_str();
    EXPECT_EQ(schema.Canonical(again), schema.Canonical(parsed));
    EXPECT_FALSE(spec.help.empty());
  }
}

TEST(RegistryWalkTest, EveryStageOptionRoundTrips) {
  ASSERT_EQ(Builtin().stages().size(), 8u);
  for (const auto& def : Builtin().stages()) CheckRoundTrip(*def.schema, def.type);
}

TEST(RegistryWalkTest, EveryDataTypeOptionRoundTrips) {
  ASSERT_EQ(Builtin().data_types().size(), 5u);
  for (const auto& def : Builtin().data_types()) CheckRoundTrip(*def.schema, def.type);
}

TEST(RegistryWalkTest, EverySectionOptionRoundTrips) {
  ASSERT_FALSE(Builtin().sections().empty());
  for (const auto& def : Builtin().sections()) CheckRoundTrip(*def.schema, def.name);
}

/// A value `spec` rejects (of the wrong type, or out of its range or choices), as YAML text.
std::string InvalidYaml(const OptionSpec& spec) {
  switch (spec.type) {
    case OptionType::kBool: return "sometimes";
    case OptionType::kInt: return spec.min ? FormatOptionValue(static_cast<std::int64_t>(*spec.min) - 1) : "many";
    case OptionType::kFloat: return spec.min ? FormatOptionValue(*spec.min - 1.0) : "lots";
    case OptionType::kString: return "[a, b]";
    case OptionType::kPath: return "/nonexistent/adaflow/file";
    case OptionType::kEnum: return "no_such_choice";
    case OptionType::kIntList: return "[one]";
    case OptionType::kFloatList: return "[half]";
    case OptionType::kStringList: return spec.choices.empty() ? "{a: 1}" : "[no_such_choice]";
    case OptionType::kStringIntMap: return "{fc: eight}";
    case OptionType::kStringMap: return "{input_ids: [a, b]}";
    case OptionType::kTensorList: return "[{name: ids, shape: [1, 0]}]";
  }
  return "";
}

TEST(RegistryWalkTest, EveryStageOptionRejectsAnInvalidValueWithExitTwoNamingIt) {
  // Every stage type is in this config; each option of each gets a value it must reject.
  const std::string config = "tests/configs/export_small.yaml";
  const auto plan = BuildPlan(LoadPipelineSpec(SourcePath(config), {}, Builtin()), Builtin());
  std::size_t checked = 0;
  for (const auto& def : Builtin().stages()) {
    const PlannedStage* stage = nullptr;
    for (const auto& planned : plan->stages)
      if (planned.type == def.type && planned.derived_for.empty()) stage = &planned;
    ASSERT_NE(stage, nullptr) << config << " has no stage of type " << def.type;
    for (const auto& spec : def.schema->specs()) {
      const std::string set = "stages." + stage->id + "." + spec.name + "=" + InvalidYaml(spec);
      const CommandResult result = RunCli("validate " + config + " --set '" + set + "'");
      EXPECT_EQ(result.exit_code, 2) << set << "\n" << result.output;
      EXPECT_NE(result.output.find(spec.name), std::string::npos) << set << "\n" << result.output;
      ++checked;
    }
  }
  EXPECT_GE(checked, 30u);
}

TEST(RegistryWalkTest, DescribeListsEveryOption) {
  for (const auto& def : Builtin().stages()) {
    const std::string text = DescribeStage(def);
    for (const auto& spec : def.schema->specs()) EXPECT_NE(text.find(spec.name), std::string::npos) << def.type;
  }
}

TEST(RegistryWalkTest, DuplicateRegistrationFailsAtStart) {
  StageRegistry registry;
  RegisterBuiltinStages(registry);
  EXPECT_THROW(RegisterBuiltinStages(registry), std::logic_error);
}

TEST(RegistryWalkTest, StageKeysCoverOnlyTheDataSetsTheStageReads) {
  // The shipped config's plan with another evaluation set, then another calibration set: only the
  // stages that read the changed set (and their downstream) get new keys.
  auto keys = [](const std::vector<std::string>& overrides) {
    auto plan = BuildPlan(LoadPipelineSpec(SourcePath("tests/configs/export_small.yaml"), overrides, Builtin()), Builtin());
    std::map<std::string, std::string> by_id;
    const auto computed = ComputeContentKeys(*plan);
    for (std::size_t idx = 0; idx < plan->stages.size(); ++idx) by_id[plan->stages[idx].id] = computed[idx];
    return by_id;
  };
  const auto base = keys({});
  const auto evaluation = keys({"data.evaluation.num_samples=500"});
  for (const char* id : {"load", "prepare", "cache", "adaround", "quantsim", "calibrate"})
    EXPECT_EQ(base.at(id), evaluation.at(id)) << id;
  for (const char* id : {"evaluate", "export"}) EXPECT_NE(base.at(id), evaluation.at(id)) << id;
  const auto calibration = keys({"data.calibration.num_samples=128"});
  for (const char* id : {"load", "prepare"}) EXPECT_EQ(base.at(id), calibration.at(id)) << id;
  for (const char* id : {"cache", "adaround", "quantsim", "calibrate", "evaluate", "export"})
    EXPECT_NE(base.at(id), calibration.at(id)) << id;
}

TEST(RegistryWalkTest, TheDerivedNearestBaselineKeepsTheLayersAnEncodingsFileLeavesFloat) {
  // A quant-sim freezing a file's grids, fc left float by the file: the nearest baseline evaluate derives
  // rounds every weight to nearest but fc, which stays float there too, and reads no activation encodings.
  TempDir dir;
  WriteTextFile(dir / "float_fc.encodings", R"({"param_encodings": {"fc.weight": [{"bitwidth": 32, "dtype": "float"}]}})");
  const auto plan = BuildPlan(LoadPipelineSpec(SourcePath("tests/configs/export_small.yaml"),
                                               {"stages.quantsim.param_encodings=" + (dir / "float_fc.encodings"),
                                                "stages.quantsim.activation_encodings=" + (dir / "float_fc.encodings")},
                                               Builtin()),
                              Builtin());
  const PlannedStage* nearest = nullptr;
  for (const auto& stage : plan->stages)
    if (stage.id == "evaluate.nearest_sim") nearest = &stage;
  ASSERT_NE(nearest, nullptr);
  const auto overrides = std::get<std::map<std::string, std::int64_t>>(nearest->options.Get("param_bw_override"));
  ASSERT_EQ(overrides.size(), 1u);
  EXPECT_EQ(overrides.at("fc"), 32);
  EXPECT_EQ(std::get<std::string>(nearest->options.Get("param_encodings")), "");
  // Its activation encodings are its own calibrate's, not the file's.
  EXPECT_EQ(std::get<std::string>(nearest->options.Get("activation_encodings")), "");
}

}  // namespace
}  // namespace adaflow::testing
