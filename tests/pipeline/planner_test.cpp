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


// ---- sweep: ----------------------------------------------------------------------------------------

std::vector<std::string> Ids(const Plan& plan) {
  std::vector<std::string> ids;
  for (const auto& stage : plan.stages) ids.push_back(stage.id);
  return ids;
}

std::size_t IndexOf(const Plan& plan, const std::string& id) {
  for (std::size_t idx = 0; idx < plan.stages.size(); ++idx)
    if (plan.stages[idx].id == id) return idx;
  ADD_FAILURE() << "no stage " << id;
  return 0;
}

std::int64_t AddOf(const Plan& plan, const std::string& id) {
  return std::get<std::int64_t>(plan.stages[IndexOf(plan, id)].options.Get("add"));
}

TEST(PlannerSweepTest, APointCopiesTheSweptStagesAndThoseAfterThemAndSharesTheRest) {
  auto plan = PlanFromText(std::string(kChain) + "sweep:\n  matrix:\n    stages.c.add: [10, 20]\n");
  EXPECT_EQ(Ids(*plan), (std::vector<std::string>{"a", "b", "c@add10", "d@add10", "c@add20", "d@add20"}));
  const SweepSpec& sweep = plan->spec.sweep;
  ASSERT_EQ(sweep.points.size(), 2u);
  EXPECT_EQ(sweep.points[1].name, "add20");
  EXPECT_EQ(sweep.shared, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(sweep.swept, (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(AddOf(*plan, "c@add10"), 10);
  EXPECT_EQ(AddOf(*plan, "c@add20"), 20);
  EXPECT_EQ(plan->stages[IndexOf(*plan, "c@add20")].after, std::vector<std::size_t>{IndexOf(*plan, "b")});
  EXPECT_EQ(plan->stages[IndexOf(*plan, "d@add20")].after, std::vector<std::size_t>{IndexOf(*plan, "c@add20")});
  EXPECT_EQ(plan->stages[IndexOf(*plan, "d@add20")].point, "add20");
  EXPECT_EQ(plan->stages[IndexOf(*plan, "d@add20")].base_id, "d");
  EXPECT_EQ(plan->stages[IndexOf(*plan, "d@add20")].Folder(), "add20/");
  EXPECT_EQ(plan->stages[IndexOf(*plan, "b")].Folder(), "");
  // A point's stage has the key of the same stage in a config that sets the value by hand: the shared
  // stages are the very stages of the config, and a point is the config with its values.
  const auto keys = ComputeContentKeys(*plan);
  const auto by_hand = ComputeContentKeys(*PlanFromText(kChain, {"stages.c.add=20"}));
  EXPECT_EQ(keys[IndexOf(*plan, "b")], by_hand[1]);
  EXPECT_EQ(keys[IndexOf(*plan, "c@add20")], by_hand[2]);
  EXPECT_EQ(keys[IndexOf(*plan, "d@add20")], by_hand[3]);
  EXPECT_NE(keys[IndexOf(*plan, "d@add10")], by_hand[3]);
}

TEST(PlannerSweepTest, TheMatrixCrossesEntriesAndPointsAddNamedOnes) {
  auto plan = PlanFromText(std::string(kChain) + R"(sweep:
  matrix:
    stages.b.add, stages.c.add: {low: 1, high: 2}
    stages.*.max: [5, 50]
  points:
    - {name: big, stages.c.add: 300}
)");
  std::vector<std::string> names;
  for (const auto& point : plan->spec.sweep.points) names.push_back(point.name);
  EXPECT_EQ(names, (std::vector<std::string>{"low-max5", "low-max50", "high-max5", "high-max50", "big"}));
  // One entry that names two options sets both; the swept stage b makes c and d per point too.
  EXPECT_EQ(AddOf(*plan, "b@high-max5"), 2);
  EXPECT_EQ(AddOf(*plan, "c@high-max5"), 2);
  EXPECT_EQ(std::get<std::int64_t>(plan->stages[IndexOf(*plan, "d@low-max50")].options.Get("max")), 50);
  // An explicit point keeps the config's values for what it does not set.
  EXPECT_EQ(AddOf(*plan, "b@big"), 2);
  EXPECT_EQ(AddOf(*plan, "c@big"), 300);
  EXPECT_EQ(plan->spec.sweep.shared, std::vector<std::string>{"a"});
  EXPECT_EQ(plan->stages.size(), 1u + 5u * 3u);
}

TEST(PlannerSweepTest, OnePointRunsAloneWithTheStagesItShares) {
  PipelineSpec spec =
      ParsePipelineSpec(std::string(kChain) + "sweep:\n  matrix:\n    stages.c.add: [10, 20]\n", "test.yaml", {}, TestRegistry());
  SelectSweepPoint(spec, "add20");
  auto plan = BuildPlan(std::move(spec), TestRegistry());
  EXPECT_EQ(Ids(*plan), (std::vector<std::string>{"a", "b", "c@add20", "d@add20"}));
  PipelineSpec again =
      ParsePipelineSpec(std::string(kChain) + "sweep:\n  matrix:\n    stages.c.add: [10, 20]\n", "test.yaml", {}, TestRegistry());
  try {
    SelectSweepPoint(again, "add30");
    FAIL() << "an unknown point was accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("no such sweep point"), std::string::npos) << error.what();
  }
  PipelineSpec plain = ParsePipelineSpec(kChain, "test.yaml", {}, TestRegistry());
  EXPECT_THROW(SelectSweepPoint(plain, "add10"), InputError);
  // `--set sweep=null` plans the config without its sweep.
  EXPECT_EQ(Ids(*PlanFromText(std::string(kChain) + "sweep:\n  matrix:\n    stages.c.add: [10, 20]\n", {"sweep=null"})),
            (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(PlannerSweepTest, BadEntriesAndValuesNameTheEntryAndItsLineBeforeAnythingRuns) {
  auto error_of = [](const std::string& sweep) { return PlanError(std::string(kChain) + "sweep:\n" + sweep); };
  struct Case {
    std::string sweep, expected;
  };
  const std::vector<Case> cases = {
      {"  matrix:\n    stages.cc.add: [1]\n", "test.yaml:9: sweep entry 'stages.cc.add': no stage with id 'cc'; did you mean 'c'?"},
      {"  matrix:\n    stages.c.ad: [1]\n", "test.yaml:9: sweep entry 'stages.c.ad': stage 'c' (type add) has no option 'ad'; did you mean 'add'?"},
      {"  matrix:\n    seed: [1, 2]\n", "test.yaml:9: sweep entry 'seed': 'seed' names no stage option"},
      {"  matrix:\n    stages.*.nothing: [1]\n", "no stage of this config has an option 'nothing'"},
      {"  matrix:\n    stages.c.type: [add]\n", "'type' shapes the pipeline"},
      {"  matrix:\n    stages.c.add: [1,\n      5000]\n", "test.yaml:10: sweep entry 'stages.c.add' (point 'add5000'): stage 'c' option 'add' must be in [-1000, 1000], got 5000"},
      {"  matrix:\n    stages.c.add: [abc]\n", "test.yaml:9: sweep entry 'stages.c.add' (point 'abc'): stage 'c' option 'add' must be an integer"},
      {"  matrix:\n    stages.c.add: []\n", "sweep entry 'stages.c.add' has no values"},
      {"  matrix:\n    stages.c.add: 3\n", "must list its values"},
      {"  matrix:\n    stages.c.add: {x: 1, y: 2}\n    stages.b.add, stages.c.add: [1]\n",
       "test.yaml:10: sweep entry 'stages.b.add, stages.c.add' sets what entry 'stages.c.add' (test.yaml:9) sets too"},
      {"  points:\n    - {name: p, stages.c.add: 1}\n    - {name: p, stages.c.add: 2}\n", "test.yaml:10: two sweep points are named 'p'"},
      {"  points:\n    - {name: 'a/b', stages.c.add: 1}\n", "sweep point name 'a/b' must use only"},
      {"  matrixx: {}\n", "test.yaml:8: unknown key 'matrixx' in sweep; did you mean 'matrix'?"},
      {"  {}\n", "sweep has no points"},
  };
  for (const auto& item : cases) {
    const std::string error = error_of(item.sweep);
    EXPECT_NE(error.find(item.expected), std::string::npos) << item.sweep << "\n-> " << error;
  }
}

}  // namespace
}  // namespace adaflow::testing
