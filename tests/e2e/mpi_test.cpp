// adaflow under mpirun on this machine (mpi/session.h): AdaRound's statistics chunks and blocks spread
// over ranks give the same bytes as one process, in quant and fp mode, with 2 and 3 ranks, also with
// layers split into more blocks (blocks_per_layer); a rank that hangs fails the run
// within --rank-timeout naming the rank and the task (exit 1), a rank whose compute process or MPI process
// dies fails it at once naming the rank, the signal and the task (exit 1), so does rank 0's death, a node
// that dies ends the job (mpirun's exit code) with rank 0 naming the tasks in flight, and the rerun
// resumes to the same bytes.

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mpi/session.h"
#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

const char* kConfig = "tests/configs/adaround_small.yaml";
const char* kEncodings = "adaround_small_adaround.encodings";
/// Short runs: the bytes, not the accuracy, are under test.
const char* kShort = " --set stages.adaround.num_iterations=150";

/// A file's bytes, or "" when it cannot be read (a /proc entry of a process that has just gone).
std::string ReadQuietly(const std::filesystem::path& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {
    return "";
  }
}

struct Process {
  int pid = 0;
  std::string program;  ///< argv[0]
  std::string cmdline;  ///< the arguments joined by spaces
};

/// The processes running now (one that goes meanwhile has an empty command line).
std::vector<Process> ListProcesses() {
  std::vector<Process> processes;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ignored)) {
    Process process;
    process.pid = std::atoi(entry.path().filename().c_str());
    if (process.pid <= 0) continue;
    process.cmdline = ReadQuietly(entry.path() / "cmdline");
    process.program = process.cmdline.substr(0, process.cmdline.find('\0'));
    std::replace(process.cmdline.begin(), process.cmdline.end(), '\0', ' ');
    processes.push_back(std::move(process));
  }
  return processes;
}

int CountProcesses(const std::string& text) {
  const std::vector<Process> processes = ListProcesses();
  return static_cast<int>(std::count_if(processes.begin(), processes.end(), [&](const Process& process) {
    return process.cmdline.find(text) != std::string::npos;
  }));
}

/// How many processes' command lines contain `text` (a job's processes left behind), after giving them
/// up to 5 s to go (a compute process dies a moment after its rank).
int Processes(const std::string& text) {
  int found = 0;
  for (int attempt = 0; attempt < 50; ++attempt) {
    found = CountProcesses(text);
    if (found == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return found;
}

/// The first process whose program is named `program` (with or without a directory) and whose command
/// line contains `text`, or 0.
int FindProcess(const std::string& program, const std::string& text) {
  for (const Process& process : ListProcesses())
    if (std::filesystem::path(process.program).filename() == program && process.cmdline.find(text) != std::string::npos)
      return process.pid;
  return 0;
}

/// `root` and every process below it.
std::vector<int> ProcessTree(int root) {
  std::multimap<int, int> children;  // parent → child
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ignored)) {
    const std::string stat = ReadQuietly(entry.path() / "stat");
    const std::size_t name_end = stat.rfind(')');  // "pid (name) state ppid …"
    if (name_end == std::string::npos) continue;
    std::istringstream rest(stat.substr(name_end + 1));
    std::string state;
    int parent = 0;
    if (rest >> state >> parent) children.emplace(parent, std::atoi(entry.path().filename().c_str()));
  }
  std::vector<int> tree{root};
  for (std::size_t index = 0; index < tree.size(); ++index) {
    const auto range = children.equal_range(tree[index]);
    for (auto it = range.first; it != range.second; ++it) tree.push_back(it->second);
  }
  return tree;
}

/// Whether `output` names one of the engine's tasks that go to ranks right after `before`
/// ("… while running prepare/layers.1.conv2/3", "… optimize/fc/0").
bool NamesARemoteTask(const std::string& output, const std::string& before) {
  return output.find(before + "prepare/") != std::string::npos || output.find(before + "optimize/") != std::string::npos;
}

std::string Mpirun(int ranks) {
  return "mpirun -np " + std::to_string(ranks) + " --oversubscribe --allow-run-as-root ";
}

class MpiRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!mpi::Available()) GTEST_SKIP() << "built without MPI (ADAFLOW_MPI=OFF)";
    ASSERT_EQ(RunCommand("command -v mpirun").exit_code, 0) << "mpirun is missing: scripts/setup.sh installs openmpi-bin";
  }
  /// One process, two threads: the reference.
  void Reference(const std::string& run_dir, const std::string& sets) {
    const CommandResult one = RunCli("run " + std::string(kConfig) + " --threads 2 --run-dir " + run_dir + kShort + sets);
    ASSERT_EQ(one.exit_code, 0) << one.output;
  }
  static void ExpectSameBytes(const std::string& a, const std::string& b) {
    EXPECT_EQ(ReadTextFile(a + "/" + kEncodings), ReadTextFile(b + "/" + kEncodings));
    // The rounded weights (each layer's .json also holds its timings).
    for (const auto& entry : std::filesystem::directory_iterator(a + "/adaround")) {
      if (entry.path().extension() != ".weight") continue;
      EXPECT_EQ(ReadTextFile(entry.path().string()), ReadTextFile(b + "/adaround/" + entry.path().filename().string()))
          << entry.path().filename();
    }
  }
  TempDir dir_;
};

TEST_F(MpiRunTest, RanksGiveTheBytesOfOneProcessInQuantAndFpMode) {
  struct Case {
    std::string name, sets;
    int ranks;
    std::string reference;  // the one-process run of an earlier case with the same settings; "": its own
  };
  for (const Case& run :
       {Case{"quant_gram", " --set stages.adaround.objective=gram", 2, ""},
        Case{"quant_gram3", " --set stages.adaround.objective=gram", 3, "quant_gram"},
        Case{"fp_sampled", " --set stages.adaround.objective=sampled --set stages.adaround.input_source=fp", 2, ""},
        // Layers split into up to 16 blocks: more tasks of a quant chain for the ranks, the same bytes.
        Case{"quant_blocks", " --set stages.adaround.objective=gram --set stages.adaround.blocks_per_layer=16", 3,
             ""}}) {
    SCOPED_TRACE(run.name);
    const std::string& sets = run.sets;
    const std::string reference = dir_ / (run.name + "_one"), spread = dir_ / (run.name + "_mpi");
    if (run.reference.empty()) Reference(reference, sets);
    const std::string ref_dir = run.reference.empty() ? reference : dir_ / (run.reference + "_one");
    // Each rank gets --threads 1: rank 0 computes on one thread, each worker on one.
    const CommandResult mpi = RunCommand(Mpirun(run.ranks) + ADAFLOW_CLI + " run " + kConfig +
                                         " --threads 1 --run-dir " + spread + kShort + sets);
    ASSERT_EQ(mpi.exit_code, 0) << mpi.output;
    EXPECT_NE(mpi.output.find("MPI: " + std::to_string(run.ranks) + " ranks"), std::string::npos) << mpi.output;
    EXPECT_NE(mpi.output.find(" remote tasks (rank 1 "), std::string::npos) << mpi.output;
    // Both kinds of the engine's tasks went to the workers: chunks of a layer's statistics (reading the
    // run directory's cache) and blocks of its output channels.
    EXPECT_NE(mpi.output.find("MPI: adaround.prepare: "), std::string::npos) << mpi.output;
    EXPECT_NE(mpi.output.find("MPI: adaround.block: "), std::string::npos) << mpi.output;
    ExpectSameBytes(ref_dir, spread);
  }
}

TEST_F(MpiRunTest, AHungRankFailsTheRunNamingRankAndTaskAndTheRerunResumesToTheSameBytes) {
  const std::string reference = dir_ / "one", spread = dir_ / "mpi";
  Reference(reference, "");
  // Worker rank 1 stops (SIGSTOP) as its 6th task starts: it sends nothing more.
  const std::string args = std::string(" run ") + kConfig + " --threads 1 --rank-timeout 4 --run-dir " + spread + kShort;
  const auto start = std::chrono::steady_clock::now();
  const CommandResult hung =
      RunCommand("mpirun --oversubscribe --allow-run-as-root -np 1 " + std::string(ADAFLOW_CLI) + args +
                 " : -np 1 -x ADAFLOW_TEST_KILL_AT=worker-task#6 -x ADAFLOW_TEST_KILL_SIGNAL=STOP " + ADAFLOW_CLI + args);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(hung.exit_code, 1) << hung.output;
  EXPECT_NE(hung.output.find("MPI rank 1 ("), std::string::npos) << hung.output;
  EXPECT_TRUE(NamesARemoteTask(hung.output, "--rank-timeout 4) while running ")) << hung.output;
  EXPECT_LT(seconds, 120) << hung.output;
  EXPECT_EQ(Processes("--rank-timeout 4 --run-dir " + spread), 0);  // the stopped compute process included
  // The rerun (two ranks again) computes what did not finish and ends on the reference's bytes.
  const CommandResult rerun = RunCommand(Mpirun(2) + ADAFLOW_CLI + args);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  ExpectSameBytes(reference, spread);
}

TEST_F(MpiRunTest, ADeadRankFailsTheRunNamingRankSignalAndTaskAndTheRerunResumesToTheSameBytes) {
  const std::string reference = dir_ / "one";
  Reference(reference, "");
  struct Case {
    std::string name;
    std::string rank0_env, rank1_env;  // which process is killed (SIGKILL), and when
    std::string message;               // what the error says, right before the task's id
  };
  for (const Case& c : {
           // A worker's compute process, as its 6th task starts: its rank's MPI process reports it to rank 0,
           // which fails the stage.
           Case{"compute", "", " -x ADAFLOW_TEST_KILL_AT=worker-task#6",
                "): its compute process was killed by signal 9 (SIGKILL) while running "},
           // A worker's MPI process, as it passes on its 6th task: the rank's keeper (the process mpirun
           // started) says so and exits 1.
           Case{"mpi", "", " -x ADAFLOW_TEST_KILL_AT=rank-task#6",
                "): its MPI process was killed by signal 9 (SIGKILL) while running "},
           // Rank 0, as it commits the third layer: its keeper says so and exits 1.
           Case{"rank0", " -x ADAFLOW_TEST_KILL_AT=write:adaround/layers.0.conv2.json#1", "", ""}}) {
    SCOPED_TRACE(c.name);
    const std::string spread = dir_ / c.name;
    // The rank-timeout is long: a death must be seen at once, not as silence.
    const std::string args = std::string(" run ") + kConfig + " --threads 1 --rank-timeout 600 --run-dir " + spread + kShort;
    const auto start = std::chrono::steady_clock::now();
    const CommandResult dead = RunCommand("mpirun --oversubscribe --allow-run-as-root -np 1" + c.rank0_env + " " +
                                          ADAFLOW_CLI + args + " : -np 1" + c.rank1_env + " " + ADAFLOW_CLI + args);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(dead.exit_code, 1) << dead.output;
    if (c.message.empty()) {
      EXPECT_NE(dead.output.find("adaflow: error: MPI rank 0 ("), std::string::npos) << dead.output;
      EXPECT_NE(dead.output.find("), the process that runs the pipeline, was killed by signal 9 (SIGKILL)"),
                std::string::npos)
          << dead.output;
    } else {
      EXPECT_NE(dead.output.find("MPI rank 1 ("), std::string::npos) << dead.output;
      EXPECT_TRUE(NamesARemoteTask(dead.output, c.message)) << dead.output;
    }
    if (c.name == "compute") {
      EXPECT_TRUE(NamesARemoteTask(dead.output, "adaflow: error: stage 'adaround/")) << dead.output;
    }
    EXPECT_LT(seconds, 120) << dead.output;
    // Nothing of the job is left behind (a rank's processes die with the one mpirun started).
    EXPECT_EQ(Processes("--rank-timeout 600 --run-dir " + spread), 0);
    const CommandResult rerun = RunCommand(Mpirun(2) + ADAFLOW_CLI + args);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
    // Rank 0 died after two layers were committed: the rerun reads them back.
    if (c.name == "rank0") {
      EXPECT_NE(rerun.output.find("2 finished before"), std::string::npos) << rerun.output;
    }
    ExpectSameBytes(reference, spread);
  }
}

TEST_F(MpiRunTest, ANodeThatDiesEndsTheJobWithRankZeroNamingTheTasksInFlightAndTheRerunResumesToTheSameBytes) {
  const std::string reference = dir_ / "one", spread = dir_ / "node";
  Reference(reference, "");
  // A second node on this machine: mpirun starts its orted through a remote shell that runs it here.
  const std::string shell = dir_ / "remote-shell", hosts = dir_ / "hosts", log = dir_ / "node.log";
  // remote-shell [OPTION...] HOST COMMAND...: runs COMMAND here.
  WriteTextFile(shell, "#!/bin/sh\nwhile [ \"${1#-}\" != \"$1\" ]; do shift; done\nshift\nexec sh -c \"$*\"\n");
  std::filesystem::permissions(shell, std::filesystem::perms::owner_all);
  WriteTextFile(hosts, "localhost slots=1\n127.0.0.2 slots=1\n");
  const std::string args = std::string(" run ") + kConfig + " --threads 1 --run-dir " + spread + kShort;
  const auto start = std::chrono::steady_clock::now();
  CommandResult dead;
  std::thread job([&] {
    dead = RunCommand("mpirun --allow-run-as-root --mca plm_rsh_agent " + shell + " --hostfile " + hosts + " -np 2 " +
                      ADAFLOW_CLI + args + " > " + log + " 2>&1");
  });
  struct Join {
    std::thread& thread;
    ~Join() {
      if (thread.joinable()) thread.join();
    }
  } join{job};
  // After two layers, the node dies: its orted and every process under it are killed at once.
  std::vector<int> node;
  for (int attempt = 0; attempt < 1200 && node.empty(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (ReadQuietly(log).find("2/10 layers done") == std::string::npos) continue;
    const int orted = FindProcess("orted", shell);
    if (orted > 0) node = ProcessTree(orted);
  }
  for (const int pid : node) ::kill(pid, SIGSTOP);
  for (const int pid : node) ::kill(pid, SIGKILL);
  job.join();
  ASSERT_FALSE(node.empty()) << ReadTextFile(log);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string output = ReadTextFile(log);
  // mpirun ends the job with a code of its own (9 with Open MPI 4.1); rank 0, sent SIGTERM, names what the
  // dead node's rank was running (if anything: rank 0 may have been computing) before it is killed.
  EXPECT_NE(dead.exit_code, 0) << output;
  const std::size_t said = output.find("MPI: stopping; tasks in flight on the workers: ");
  ASSERT_NE(said, std::string::npos) << output;
  const std::string in_flight = output.substr(said, output.find('\n', said) - said);
  EXPECT_TRUE(in_flight.find("workers: none") != std::string::npos || NamesARemoteTask(in_flight, ") "))
      << in_flight;
  EXPECT_LT(seconds, 120) << output;
  EXPECT_EQ(Processes("--run-dir " + spread), 0);
  const CommandResult rerun = RunCommand(Mpirun(2) + ADAFLOW_CLI + args);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_EQ(rerun.output.find(" 0 finished before"), std::string::npos) << rerun.output;
  ExpectSameBytes(reference, spread);
}

TEST_F(MpiRunTest, AComputeProcessThatDiesOrHangsBeforeItStartsFailsTheRun) {
  struct Case {
    std::string name, signal, timeout, message;
    double within;
  };
  for (const Case& c :
       {// Killed before its hello: rank 0 must not wait out --rank-timeout for it.
        Case{"killed", "", "600", "MPI rank 1: its compute process was killed by signal 9 (SIGKILL) before it started", 60},
        // Stopped before its hello: rank 0 gives up after --rank-timeout and ends the job (MPI_Finalize
        // would wait for the silent rank).
        Case{"stopped", " -x ADAFLOW_TEST_KILL_SIGNAL=STOP", "4", "MPI rank(s) 1 did not answer within 4 s (--rank-timeout)",
             60}}) {
    SCOPED_TRACE(c.name);
    const std::string args = std::string(" run ") + kConfig + " --threads 1 --rank-timeout " + c.timeout +
                             " --run-dir " + (dir_ / c.name) + kShort;
    const auto start = std::chrono::steady_clock::now();
    const CommandResult early =
        RunCommand("mpirun --oversubscribe --allow-run-as-root -np 1 " + std::string(ADAFLOW_CLI) + args +
                   " : -np 1 -x ADAFLOW_TEST_KILL_AT=worker-start#1" + c.signal + " " + ADAFLOW_CLI + args);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(early.exit_code, 1) << early.output;
    EXPECT_NE(early.output.find("adaflow: error: " + c.message), std::string::npos) << early.output;
    EXPECT_LT(seconds, c.within) << early.output;
    EXPECT_EQ(Processes("--run-dir " + (dir_ / c.name)), 0);
  }
}

}  // namespace
}  // namespace adaflow::testing
