#include "pipeline/planner.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/pipeline/pipeline_fixture.h"

namespace adaflow::testing {
namespace {

// a (1) → b (+2) → c (+3) → d
const char* kChain =
    "name: chain\nstages:\n  - {id: a, type: source, value: 1}\n  - {id: b, type: add, add: 2}\n"
    "  - {id: c, type: add, add: 3}\n  - {id: d, type: sink}\n";

TEST(PlannerTest, AfterDefaultsToThePreviousStage) {
  auto plan = PlanFromText(kChain);
  ASSERT_EQ(plan->stages.size(), 4u);
  EXPECT_TRUE(plan->stages[0].after.empty());
  EXPECT_EQ(plan->stages[1].after, std::vector<std::size_t>{0});
  EXPECT_EQ(plan->stages[3].after, std::vector<std::size_t>{2});
  EXPECT_EQ(plan->order, (std::vector<std::size_t>{0, 1, 2, 3}));
  EXPECT_EQ(plan->stages[3].input_from.at(kInt), 2u);
}

TEST(PlannerTest, InputsComeFromTheNearestUpstreamProducer) {
  // d sits after a sink (no outputs) and reaches the Metrics of c through it.
  auto plan = PlanFromText(R"(name: wiring
stages:
  - {id: a, type: source}
  - {id: c, type: add, after: [a]}
  - {id: s, type: sink, after: [c]}
  - {id: d, type: sink, after: [s]}
)");
  EXPECT_EQ(plan->stages[3].input_from.at(kInt), 1u);
}

TEST(PlannerTest, ExplicitAfterMayNameALaterStage) {
  auto plan = PlanFromText(R"(name: order
stages:
  - {id: sink, type: sink, after: [src]}
  - {id: src, type: source, after: []}
)");
  EXPECT_EQ(plan->order, (std::vector<std::size_t>{1, 0}));
}

TEST(PlannerTest, RejectsCyclesAndNamesThem) {
  const std::string error = PlanError(R"(name: cycle
stages:
  - {id: a, type: source}
  - {id: b, type: add, after: [a, c]}
  - {id: c, type: add, after: [b]}
)");
  EXPECT_NE(error.find("cycle"), std::string::npos) << error;
  EXPECT_NE(error.find("b -> c -> b"), std::string::npos) << error;
}

TEST(PlannerTest, RejectsMissingProducerWithAHint) {
  const std::string error = PlanError("name: x\nstages:\n  - {id: m, type: needs_model}\n");
  EXPECT_NE(error.find("test.yaml:3"), std::string::npos) << error;
  EXPECT_NE(error.find("needs a Model input"), std::string::npos) << error;
}

TEST(PlannerTest, ContentKeysFollowOptionsDownstreamOnly) {
  auto base = ComputeContentKeys(*PlanFromText(kChain));
  auto changed = ComputeContentKeys(*PlanFromText(kChain, {"stages.b.add=5"}));
  EXPECT_EQ(base[0], changed[0]);
  EXPECT_NE(base[1], changed[1]);
  EXPECT_NE(base[2], changed[2]);
  EXPECT_NE(base[3], changed[3]);
  auto reseeded = ComputeContentKeys(*PlanFromText(std::string(kChain) + "seed: 7\n"));
  EXPECT_NE(base[0], reseeded[0]);
  // Same text, same keys.
  EXPECT_EQ(base, ComputeContentKeys(*PlanFromText(kChain)));
}

TEST(PlannerTest, SetOverridesAreCheckedAndNamed) {
  auto plan = PlanFromText(kChain, {"stages.c.add=10", "seed=3"});
  EXPECT_EQ(std::get<std::int64_t>(plan->stages[2].options.Get("add")), 10);
  EXPECT_EQ(plan->spec.seed, 3);
  const std::string error = PlanError(kChain, {"stages.c.add=abc"});
  EXPECT_NE(error.find("--set stages.c.add=abc"), std::string::npos) << error;
  const std::string unknown = PlanError(kChain, {"stages.cc.add=1"});
  EXPECT_NE(unknown.find("no stage with id 'cc'"), std::string::npos) << unknown;
}

TEST(PlannerTest, ResolvedConfigReplansToTheSameKeys) {
  auto plan = PlanFromText(kChain);
  YAML::Emitter out;
  out << ResolvedConfig(*plan);
  auto again = PlanFromText(out.c_str());
  EXPECT_EQ(ComputeContentKeys(*plan), ComputeContentKeys(*again)) << out.c_str();
}

TEST(PlannerTest, DescribePlanListsEveryStage) {
  const std::string text = DescribePlan(*PlanFromText(kChain));
  for (const char* id : {"a", "b", "c", "d"}) EXPECT_NE(text.find(std::string(" ") + id + " "), std::string::npos);
  EXPECT_NE(text.find("Int from c"), std::string::npos) << text;
}

const char* kDerived = kDerivedConfig;

TEST(PlannerTest, AStageTypeDerivesStagesThatArePlannedLikeTheConfigsOwn) {
  auto plan = PlanFromText(kDerived);
  ASSERT_EQ(plan->stages.size(), 4u);
  const PlannedStage& plus = plan->stages[3];
  EXPECT_EQ(plus.id, "p.plus");
  EXPECT_EQ(plus.type, "add");
  EXPECT_EQ(plus.derived_for, "p");
  EXPECT_EQ(plus.after, std::vector<std::size_t>{0});
  EXPECT_EQ(plus.input_from.at(kInt), 0u);
  EXPECT_EQ(std::get<std::int64_t>(plus.options.Get("add")), 3);
  const PlannedStage& pair = plan->stages[1];
  EXPECT_EQ(pair.input_from.at(kInt), 0u);
  EXPECT_EQ(pair.input_from.at("extra"), 3u);
  const auto position = [&](std::size_t idx) { return std::find(plan->order.begin(), plan->order.end(), idx); };
  EXPECT_LT(position(3), position(1));
  // Its options are part of its key and of its owner's.
  const auto keys = ComputeContentKeys(*plan);
  const auto other = ComputeContentKeys(*PlanFromText(kDerived, {"stages.p.derive_add=4"}));
  EXPECT_EQ(keys[0], other[0]);
  EXPECT_NE(keys[1], other[1]);
  EXPECT_NE(keys[3], other[3]);
  // config.resolved.yaml holds the config's stages, and plans to the same stages and keys again.
  YAML::Emitter out;
  out << ResolvedConfig(*plan);
  EXPECT_EQ(YAML::Load(out.c_str())["stages"].size(), 3u) << out.c_str();
  EXPECT_EQ(ComputeContentKeys(*PlanFromText(out.c_str())), keys);
  // The plan table shows it and what it feeds.
  const std::string table = DescribePlan(*plan);
  EXPECT_NE(table.find("p.plus"), std::string::npos) << table;
  EXPECT_NE(table.find("extra from p.plus"), std::string::npos) << table;
  // Nothing asked for, nothing derived.
  EXPECT_EQ(PlanFromText(kDerived, {"stages.p.derive_add=0"})->stages.size(), 3u);
}

TEST(PlannerTest, AConfigStageMayNotTakeTheIdOfADerivedOne) {
  const std::string error = PlanError(std::string(kDerived) + "  - {id: p.plus, type: sink, after: [a]}\n");
  EXPECT_NE(error.find("test.yaml:6"), std::string::npos) << error;
  EXPECT_NE(error.find("'p.plus' is taken by a stage that 'p' derives"), std::string::npos) << error;
}

TEST(PlannerTest, SectionsAndDataSetNamesAreTheApplicationsAndSectionsTakePartInEveryKey) {
  const std::string two = std::string(kChain) + "thing: {size: 2}\n";
  auto plan = PlanFromText(two);
  ASSERT_NE(plan->spec.FindSection("thing"), nullptr);
  EXPECT_EQ(std::get<std::int64_t>(plan->spec.FindSection("thing")->options.Get("size")), 2);
  const auto keys = ComputeContentKeys(*plan);
  const auto three = ComputeContentKeys(*PlanFromText(two, {"thing.size=3"}));
  for (std::size_t idx = 0; idx < keys.size(); ++idx) EXPECT_NE(keys[idx], three[idx]) << idx;
  YAML::Emitter out;
  out << ResolvedConfig(*plan);
  EXPECT_EQ(YAML::Load(out.c_str())["thing"]["size"].as<int>(), 2) << out.c_str();
  EXPECT_EQ(ComputeContentKeys(*PlanFromText(out.c_str())), keys);

  const std::string unknown = PlanError(std::string(kChain) + "thin: {size: 2}\n");
  EXPECT_NE(unknown.find("unknown top-level key 'thin'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("'thing'"), std::string::npos) << unknown;
  const std::string negative = PlanError(std::string(kChain) + "thing: {size: -1}\n");
  EXPECT_NE(negative.find("size"), std::string::npos) << negative;
  const std::string data = PlanError(std::string(kChain) + "data: {calib: {type: counted}}\n");
  EXPECT_NE(data.find("unknown data set 'calib'"), std::string::npos) << data;
  EXPECT_NE(data.find("'calibration'"), std::string::npos) << data;
}

}  // namespace
}  // namespace adaflow::testing
