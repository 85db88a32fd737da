#pragma once
// Stage types that exist only in tests, to prove the framework without models: they pass integers
// along `after:` edges, write files, count their runs, fail on request, and meet at a rendezvous.
//
//   source (value) ──► add (+n) ──► add ──► sink
//   rendezvous: blocks until `parties` rendezvous stages are inside at once (or times out)
//   fanout: runs `tasks` sub-tasks as its own sub-graph, each resumable on its own
//   data type `counted`: a data set that counts its reads (a rendezvous may hold one while it waits)

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "pipeline/stage_registry.h"

namespace adaflow::testing {

/// The test registry's port kinds: integers flow between its stages; nothing produces a Model.
inline constexpr const char* kInt = "Int";
inline constexpr const char* kModelKind = "Model";

/// Shared, thread-safe record of what the test stages did. Reset between tests.
struct TestHooks {
  std::mutex mutex;
  std::map<std::string, int> runs;      ///< Run calls per stage id (sub-tasks: "id/task")
  std::map<std::string, int> restores;  ///< Restore calls per stage id
  std::set<std::string> fail;           ///< ids (or "id/task") that throw when run
  std::set<std::string> fail_input;     ///< ids that throw InputError when run
  std::set<std::string> fail_restore;   ///< ids whose Restore throws InputError (a damaged file)
  std::map<std::string, std::int64_t> sunk;  ///< value each sink received
  int waiting = 0;                      ///< rendezvous state
  int data_loads = 0;                   ///< reads of `counted` data sets
  /// "run/stage" -> the data set a rendezvous held; kept until Reset, as a stage of another run would.
  std::map<std::string, std::shared_ptr<const void>> data_held;
  std::condition_variable arrived;

  void Reset();
  int Runs(const std::string& id);
  int Restores(const std::string& id);
};

TestHooks& Hooks();

/// Port kinds Int and Model; section `thing:` (size); data set names calibration and evaluation;
/// stages source, add, sink, rendezvous, fanout, needs_model, pair (derives an add stage when
/// derive_add is not 0); data type counted.
void RegisterTestStages(StageRegistry& registry);

}  // namespace adaflow::testing
