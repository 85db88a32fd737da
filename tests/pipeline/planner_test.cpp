#include "pipeline/planner.h"

#include <gtest/gtest.h>

#include "tests/pipeline/pipeline_fixture.h"

namespace adaflow::testing {
namespace {

const char* kChain = R"(name: chain
stages:
  - {id: a, type: source, value: 1}
  - {id: b, type: add, add: 2}
  - {id: c, type: add, add: 3}
  - {id: d, type: sink}
)";

TEST(PlannerTest, AfterDefaultsToThePreviousStage) {
  auto plan = PlanFromText(kChain);
  ASSERT_EQ(plan->stages.size(), 4u);
  EXPECT_TRUE(plan->stages[0].after.empty());
  EXPECT_EQ(plan->stages[1].after, std::vector<std::size_t>{0});
  EXPECT_EQ(plan->stages[3].after, std::vector<std::size_t>{2});
  EXPECT_EQ(plan->order, (std::vector<std::size_t>{0, 1, 2, 3}));
  EXPECT_EQ(plan->stages[3].input_from.at(PortType::kMetrics), 2u);
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
  EXPECT_EQ(plan->stages[3].input_from.at(PortType::kMetrics), 1u);
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
  EXPECT_NE(text.find("Metrics from c"), std::string::npos) << text;
}

}  // namespace
}  // namespace adaflow::testing
