#pragma once
// Named points where a test can kill the process, to check that a run killed there resumes. Off unless
// the environment asks (one getenv, once per process):
//   ADAFLOW_TEST_KILL_AT=<name>#<k>   SIGKILL at the k-th time (from 1) the point <name> is reached
//   ADAFLOW_TEST_KILL_LOG=<file>      append every point reached to <file>, one "<name>#<k>" per line
//   ADAFLOW_TEST_KILL_SIGNAL=STOP     SIGSTOP instead of SIGKILL: the process hangs (an MPI worker that
//                                     stops answering)
// Names say where: "write:<file>" (an atomic write, after the data is flushed and before the rename),
// "hdf5:<file>" (between row writes of an HDF5 file), "stage:<id>" (a stage starts computing),
// "optimize:<layer>" (a block of a layer starts its steps), "worker-task" (an MPI worker starts a task),
// "worker-start" (an MPI worker's compute process starts), "rank-task" (an MPI worker's MPI process passes
// a task on to its compute process).

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace adaflow {

namespace kill_point_detail {

struct State {
  std::string kill_at;   ///< "<name>#<k>", empty when off
  std::string log_path;  ///< empty when off
  int signal = SIGKILL;
  std::mutex mutex;
  std::map<std::string, int> reached;
};

inline State* Active() {
  static State* state = [] {
    const char* kill_at = std::getenv("ADAFLOW_TEST_KILL_AT");
    const char* log_path = std::getenv("ADAFLOW_TEST_KILL_LOG");
    if (!kill_at && !log_path) return static_cast<State*>(nullptr);
    auto* made = new State();  // lives as long as the process
    made->kill_at = kill_at ? kill_at : "";
    made->log_path = log_path ? log_path : "";
    const char* signal = std::getenv("ADAFLOW_TEST_KILL_SIGNAL");
    if (signal && std::string(signal) == "STOP") made->signal = SIGSTOP;
    return made;
  }();
  return state;
}

}  // namespace kill_point_detail

/// A point where a test may kill the process (see the top of this file); nothing when not asked.
inline void KillPoint(const std::string& name) {
  kill_point_detail::State* state = kill_point_detail::Active();
  if (!state) return;
  std::lock_guard<std::mutex> lock(state->mutex);
  const std::string point = name + "#" + std::to_string(++state->reached[name]);
  if (!state->log_path.empty()) {
    if (std::FILE* log = std::fopen(state->log_path.c_str(), "a")) {
      std::fprintf(log, "%s\n", point.c_str());
      std::fclose(log);
    }
  }
  if (point == state->kill_at) ::kill(::getpid(), state->signal);
}

}  // namespace adaflow
