#pragma once
// An adaflow process's place in an MPI job (`mpirun -np N adaflow run CONFIG`). Rank 0 runs the
// pipeline and alone touches the run directory; every other rank is a worker that runs the tasks rank 0
// hands it (common/remote.h: AdaRound's blocks of output channels) and writes nothing.
//
//   rank 0                                         rank r > 0 (Serve)
//   Lanes() ───── configure ─────────────────────►  hello {threads, host}
//   LocalExecutor(threads, lanes)                  ◄── heartbeat every second
//     a task with RemoteWork ── context (once) ──►  parse_context, kept (least recently used dropped)
//                            ── request ─────────►  the handler on one of the worker's threads
//                            ◄── progress, reply, error, or "send the context again"
//   Finish() ──── shutdown ──────────────────────►  Serve returns 0
//
// One thread per process makes every MPI call (MPI_THREAD_SERIALIZED); messages larger than 256 MiB go
// in parts. A worker rank computes in a child process it forks before MPI_Init (when the launcher names
// the rank; else in Serve) and watches: the rank's MPI process relays messages both ways, heartbeats
// included, so a child that hangs is silent; the child never calls MPI. A worker
// that sends nothing for `rank_timeout` seconds fails the tasks it holds with its rank, host and the
// tasks' ids; Finish then ends the job with MPI_Abort (exit 1), since MPI_Finalize would wait for the
// silent rank forever. A child that dies (a signal, the out-of-memory killer) is reported at once: its
// tasks fail the same way, naming how it ended, and the job ends normally with rank 0's exit code 1.
//
// Every rank's process is itself the child of the process the launcher started (its keeper), which only
// waits for it and passes on the signals it is sent. A rank's process that dies (rank 0 included) leaves
// its keeper to say how (a worker's, with the tasks it was passing on) and exit 1: mpirun ends the job
// with that code. A death by a signal the keeper passed on, or by SIGTERM, SIGINT or SIGHUP (the job being
// ended: launchers signal the whole process group), is passed on as it is.
//
// Without a launcher's variables in the environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK) MPI is
// never initialized: one process, as before. A build without MPI (ADAFLOW_MPI=OFF) refuses to start
// under mpirun with more than one rank.

#include <atomic>
#include <memory>
#include <string>

#include "common/remote.h"
#include "pipeline/threads.h"

namespace adaflow::mpi {

/// Whether this build can run across MPI ranks.
bool Available();

class Session {
 public:
  /// Initializes MPI when launched by mpirun/srun, after forking the rank's process (the launched one
  /// stays as its keeper and never returns from here); a worker rank then forks its compute process, for
  /// which worker() is true as well (Serve runs the tasks there). Throws InputError when launched with
  /// several ranks by a build without MPI, std::runtime_error when a fork fails.
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int rank() const;
  int size() const;
  bool worker() const { return size() > 1 && rank() > 0; }

  /// Rank 0 of a job with workers: the workers' threads as RemoteLanes (waits for every worker's hello,
  /// at most `rank_timeout` seconds). `threads_default`: a worker's threads when its command line has no
  /// --threads (the config's threads:; 0: the worker's cores). When `stop` turns true (Ctrl-C, or mpirun
  /// ending the job), the tasks in flight on the workers are logged at once, naming rank, host and task:
  /// mpirun gives the ranks a second before it kills them.
  std::shared_ptr<RemoteLanes> Lanes(int threads_default, double rank_timeout,
                                     const std::atomic<bool>* stop = nullptr);

  /// A worker: forks the process that runs what rank 0 sends, relays until rank 0 says stop, and
  /// reports that process's death. `threads`: from --threads (0: as rank 0 says). Returns the exit code.
  int Serve(const RemoteHandlers& handlers, int threads, const ThreadSetters& setters);

  /// Rank 0, last: tells the workers to stop and returns `code`; ends the job with MPI_Abort(1) when a
  /// worker went silent, MPI_Abort(code) when the run was interrupted (mpirun is ending the job).
  int Finish(int code);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace adaflow::mpi
