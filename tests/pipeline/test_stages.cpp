#include "tests/pipeline/test_stages.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "pipeline/pipeline_spec.h"
#include "pipeline/planner.h"
#include "pipeline/run_store.h"
#include "pipeline/stage_context.h"
#include "pipeline/task_dag.h"

namespace adaflow::testing {
namespace {

struct IntValue : Artifact {
  explicit IntValue(std::int64_t v) : value(v) {}
  std::int64_t value;
};

void CountRun(const std::string& id) {
  TestHooks& hooks = Hooks();
  bool fail = false, fail_input = false;
  {
    std::lock_guard<std::mutex> lock(hooks.mutex);
    ++hooks.runs[id];
    fail = hooks.fail.count(id) > 0;
    fail_input = hooks.fail_input.count(id) > 0;
  }
  if (fail) throw std::runtime_error("test failure requested");
  if (fail_input) throw InputError("bad test input requested");
}

StageOutputs Emit(StageContext& ctx, std::int64_t value) {
  ctx.WriteFile(ctx.id() + ".txt", std::to_string(value));
  StageOutputs out;
  out.Set(kInt, std::make_shared<IntValue>(value));
  return out;
}

StageOutputs Reload(StageContext& ctx) {
  bool fail = false;
  {
    std::lock_guard<std::mutex> lock(Hooks().mutex);
    ++Hooks().restores[ctx.id()];
    fail = Hooks().fail_restore.count(ctx.id()) > 0;
  }
  if (fail) throw InputError("'" + ctx.PathFor(ctx.id() + ".txt") + "' is damaged (restore failure requested)");
  std::ifstream in(ctx.PathFor(ctx.id() + ".txt"));
  std::int64_t value = 0;
  in >> value;
  StageOutputs out;
  out.Set(kInt, std::make_shared<IntValue>(value));
  return out;
}

struct SourceOptions {
  int value = 1;
};
class SourceStage : public Stage {
 public:
  using Options = SourceOptions;
  static const Schema<Options>& GetSchema() {
    static const Schema<Options> schema = [] {
      Schema<Options> s("source");
      s.Int("value", &Options::value, "value emitted");
      return s;
    }();
    return schema;
  }
  static std::unique_ptr<Stage> Make(const Options& o, const PipelineSpec&) { return std::make_unique<SourceStage>(o); }
  explicit SourceStage(Options o) : options_(o) {}
  StageOutputs Run(const StageInputs&, StageContext& ctx) override {
    CountRun(ctx.id());
    return Emit(ctx, options_.value);
  }
  StageOutputs Restore(const StageInputs&, StageContext& ctx) override { return Reload(ctx); }

 private:
  Options options_;
};

struct AddOptions {
  int add = 1;
};
class AddStage : public Stage {
 public:
  using Options = AddOptions;
  static const Schema<Options>& GetSchema() {
    static const Schema<Options> schema = [] {
      Schema<Options> s("add");
      s.Int("add", &Options::add, "added to the input").Range(-1000, 1000);
      return s;
    }();
    return schema;
  }
  static std::unique_ptr<Stage> Make(const Options& o, const PipelineSpec&) { return std::make_unique<AddStage>(o); }
  explicit AddStage(Options o) : options_(o) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override {
    CountRun(ctx.id());
    return Emit(ctx, inputs.Get<IntValue>(kInt).value + options_.add);
  }
  StageOutputs Restore(const StageInputs&, StageContext& ctx) override { return Reload(ctx); }

 private:
  Options options_;
};

struct NoOptions {};
struct SinkOptions {
  int max = 1000000;
};
class SinkStage : public Stage {
 public:
  using Options = SinkOptions;
  static const Schema<Options>& GetSchema() {
    static const Schema<Options> schema = [] {
      Schema<Options> s("sink");
      s.Int("max", &Options::max, "largest value it accepts (checked as soon as its input exists)");
      return s;
    }();
    return schema;
  }
  static std::unique_ptr<Stage> Make(const Options& o, const PipelineSpec&) { return std::make_unique<SinkStage>(o); }
  explicit SinkStage(Options o) : options_(o) {}
  void CheckInput(const std::string&, const Artifact& value) const override {
    const std::int64_t got = dynamic_cast<const IntValue&>(value).value;
    if (got > options_.max)
      throw InputError("its input " + std::to_string(got) + " is over max " + std::to_string(options_.max));
  }
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override {
    CountRun(ctx.id());
    const std::int64_t value = inputs.Get<IntValue>(kInt).value;
    ctx.WriteFile(ctx.id() + ".txt", std::to_string(value));
    std::lock_guard<std::mutex> lock(Hooks().mutex);
    Hooks().sunk[ctx.id()] = value;
    return {};
  }

 private:
  Options options_;
};

struct CountedDataOptions {
  int value = 0;
};
struct CountedData : Artifact {
  explicit CountedData(std::int64_t v) : value(v) {}
  std::int64_t value;
};
const Schema<CountedDataOptions>& CountedDataSchema() {
  static const Schema<CountedDataOptions> schema = [] {
    Schema<CountedDataOptions> s("counted");
    s.Int("value", &CountedDataOptions::value, "what the data set holds");
    return s;
  }();
  return schema;
}
ArtifactPtr LoadCounted(const DataSetSpec& set, const PipelineSpec&) {
  {
    std::lock_guard<std::mutex> lock(Hooks().mutex);
    ++Hooks().data_loads;
  }
  return std::make_shared<CountedData>(CountedDataSchema().Bind(set.options).value);
}

struct RendezvousOptions {
  int parties = 2;
  double timeout = 20.0;
  std::string data;
};
class RendezvousStage : public Stage {
 public:
  using Options = RendezvousOptions;
  static const Schema<Options>& GetSchema() {
    static const Schema<Options> schema = [] {
      Schema<Options> s("rendezvous");
      s.Int("parties", &Options::parties, "stages that must be inside at once").Min(1);
      s.Float("timeout", &Options::timeout, "seconds to wait for the others").Min(0);
      s.String("data", &Options::data, "a data set to hold while waiting (\"\": none)");
      return s;
    }();
    return schema;
  }
  static std::unique_ptr<Stage> Make(const Options& o, const PipelineSpec&) {
    return std::make_unique<RendezvousStage>(o);
  }
  explicit RendezvousStage(Options o) : options_(o) {}
  StageOutputs Run(const StageInputs&, StageContext& ctx) override {
    CountRun(ctx.id());
    std::shared_ptr<const CountedData> data;
    if (!options_.data.empty()) data = ctx.DataSet<CountedData>(options_.data);
    TestHooks& hooks = Hooks();
    std::unique_lock<std::mutex> lock(hooks.mutex);
    if (data) hooks.data_held[ctx.spec().name + "/" + ctx.id()] = data;
    ++hooks.waiting;
    hooks.arrived.notify_all();
    const bool met = hooks.arrived.wait_for(lock, std::chrono::duration<double>(options_.timeout),
                                            [&] { return hooks.waiting >= options_.parties; });
    if (!met) throw std::runtime_error("rendezvous: the other stage never arrived (stages ran one after another)");
    lock.unlock();
    return Emit(ctx, 0);
  }

 private:
  Options options_;
};

struct FanoutOptions {
  int tasks = 4;
};
/// Runs `tasks` sub-tasks as a chain-free sub-graph; each finished sub-task is recorded in the
/// manifest as "id/tN" and skipped on resume, like AdaRound's layers.
class FanoutStage : public Stage {
 public:
  using Options = FanoutOptions;
  static const Schema<Options>& GetSchema() {
    static const Schema<Options> schema = [] {
      Schema<Options> s("fanout");
      s.Int("tasks", &Options::tasks, "number of sub-tasks").Range(1, 64);
      return s;
    }();
    return schema;
  }
  static std::unique_ptr<Stage> Make(const Options& o, const PipelineSpec&) { return std::make_unique<FanoutStage>(o); }
  explicit FanoutStage(Options o) : options_(o) {}
  StageOutputs Run(const StageInputs&, StageContext& ctx) override {
    CountRun(ctx.id());
    TaskDag dag;
    for (int task = 0; task < options_.tasks; ++task) {
      const std::string name = "t" + std::to_string(task);
      dag.Add(name, [&ctx, name, task] {
        SubTask sub = ctx.MakeSubTask(name);
        if (sub.IsDone()) return;
        CountRun(sub.id());
        sub.WriteFile(ctx.id() + "_" + name + ".txt", std::to_string(task * task));
        sub.Commit(0.0);
      });
    }
    ctx.RunTasks(dag);
    std::int64_t total = 0;
    for (int task = 0; task < options_.tasks; ++task) total += task * task;
    return Emit(ctx, total);
  }

 private:
  Options options_;
};

class NeedsModelStage : public Stage {
 public:
  using Options = NoOptions;
  static const Schema<Options>& GetSchema() {
    static const Schema<Options> schema("needs_model");
    return schema;
  }
  static std::unique_ptr<Stage> Make(const Options&, const PipelineSpec&) { return std::make_unique<NeedsModelStage>(); }
  StageOutputs Run(const StageInputs&, StageContext&) override { return {}; }
};

struct PairOptions {
  int derive_add = 0;
};
/// Emits its input plus its derived input `extra` (an add stage it derives, fed by its own input's producer).
class PairStage : public Stage {
 public:
  using Options = PairOptions;
  static const Schema<Options>& GetSchema() {
    static const Schema<Options> schema = [] {
      Schema<Options> s("pair");
      s.Int("derive_add", &Options::derive_add, "0: no derived stage; else the derived add stage's add");
      return s;
    }();
    return schema;
  }
  static std::unique_ptr<Stage> Make(const Options& o, const PipelineSpec&) { return std::make_unique<PairStage>(o); }
  static std::vector<DerivedStage> Derive(const Plan& plan, std::size_t self) {
    const PlannedStage& stage = plan.stages[self];
    const Options options = GetSchema().Bind(stage.options);
    if (options.derive_add == 0) return {};
    OptionValues add = AddStage::GetSchema().erased().Defaults();
    add.Set("add", std::int64_t{options.derive_add}, true);
    return {{"plus", "add", add, {plan.stages[stage.input_from.at(kInt)].id}, "extra"}};
  }
  explicit PairStage(Options o) : options_(o) {}
  StageOutputs Run(const StageInputs& inputs, StageContext& ctx) override {
    CountRun(ctx.id());
    const std::int64_t extra = inputs.Has("extra") ? inputs.Get<IntValue>("extra").value : 0;
    return Emit(ctx, inputs.Get<IntValue>(kInt).value + extra);
  }
  StageOutputs Restore(const StageInputs&, StageContext& ctx) override { return Reload(ctx); }

 private:
  Options options_;
};

struct ThingSection {
  int size = 1;
};
const Schema<ThingSection>& ThingSchema() {
  static const Schema<ThingSection> schema = [] {
    Schema<ThingSection> s("thing");
    s.Int("size", &ThingSection::size, "a number every stage's key covers").Min(0);
    return s;
  }();
  return schema;
}

}  // namespace

void TestHooks::Reset() {
  std::lock_guard<std::mutex> lock(mutex);
  runs.clear();
  restores.clear();
  fail.clear();
  fail_input.clear();
  fail_restore.clear();
  sunk.clear();
  waiting = 0;
  data_loads = 0;
  data_held.clear();
}

int TestHooks::Runs(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex);
  return runs.count(id) ? runs[id] : 0;
}

int TestHooks::Restores(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex);
  return restores.count(id) ? restores[id] : 0;
}

TestHooks& Hooks() {
  static TestHooks hooks;
  return hooks;
}

void RegisterTestStages(StageRegistry& registry) {
  registry.AddPortKind({kInt, "an integer"});
  registry.AddPortKind({kModelKind, "a model (no test stage makes one)"});
  registry.AddSection({"thing", "a section of the test application", &ThingSchema().erased()});
  registry.AddDataSetName({"calibration", "a data set"});
  registry.AddDataSetName({"evaluation", "another one"});
  registry.Add(DefineStage<SourceStage>("source", "emits an integer", {}, {kInt}));
  registry.Add(DefineStage<AddStage>("add", "adds to its input", {{kInt}}, {kInt}));
  registry.Add(DefineStage<SinkStage>("sink", "records its input", {{kInt}}, {}));
  registry.Add(DefineStage<RendezvousStage>("rendezvous", "waits for its sibling", {}, {kInt}));
  registry.Add(DefineStage<FanoutStage>("fanout", "runs a resumable sub-graph", {}, {kInt}));
  registry.Add(DefineStage<NeedsModelStage>("needs_model", "needs a Model input", {{kModelKind}}, {}));
  StageDef pair = DefineStage<PairStage>("pair", "adds its derived input to its input",
                                         {{kInt}, {kInt, /*optional=*/true, "extra", /*derived=*/true}}, {kInt});
  pair.derive = &PairStage::Derive;
  registry.Add(std::move(pair));
  registry.AddDataType({"counted", "a data set that counts its reads", &CountedDataSchema().erased(), LoadCounted});
}

}  // namespace adaflow::testing
