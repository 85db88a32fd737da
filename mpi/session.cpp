#include "mpi/session.h"

#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/kill_point.h"

#if ADAFLOW_WITH_MPI
#include <mpi.h>
#endif

namespace adaflow::mpi {

namespace {

/// A launcher's variables: Open MPI's mpirun, MPICH/Slurm PMI, PMIx (srun --mpi=pmix).
int LaunchedSize() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  if (std::getenv("PMIX_RANK")) return 2;  // a PMIx launch without the size: MPI tells
  return 1;
}

/// This process's rank as the launcher set it, or -1.
int LaunchedRank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (const char* value = std::getenv(name)) return std::atoi(value);
  return -1;
}

}  // namespace

#if !ADAFLOW_WITH_MPI

bool Available() { return false; }

struct Session::Impl {};

Session::Session(int*, char***) {
  if (LaunchedSize() > 1)
    throw InputError("this adaflow was built without MPI and was started with several ranks; build it with "
                     "MPI (scripts/setup.sh does: libopenmpi-dev, cmake -DADAFLOW_MPI=ON) or start one process");
}
Session::~Session() = default;
int Session::rank() const { return 0; }
int Session::size() const { return 1; }
std::shared_ptr<RemoteLanes> Session::Lanes(int, double, const std::atomic<bool>*) { return nullptr; }
int Session::Serve(const RemoteHandlers&, int, const ThreadSetters&) { return 0; }
int Session::Finish(int code) { return code; }

#else

bool Available() { return true; }

namespace {

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }
std::string MiB(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MiB", bytes / (1024.0 * 1024.0));
  return text;
}

constexpr int kHeaderTag = 1;
constexpr int kPartTag = 2;
constexpr std::size_t kPartBytes = std::size_t{256} << 20;
constexpr double kHeartbeatSeconds = 1.0;
constexpr double kShutdownSeconds = 30.0;  ///< a worker's compute process has this long to end when told

enum class Type : std::uint8_t {
  kConfigure,    ///< 0 → worker: number = threads default
  kHello,        ///< worker → 0: number = threads, text = host
  kContext,      ///< 0 → worker: key, kind, payload
  kRequest,      ///< 0 → worker: id, kind, key, payload
  kReply,        ///< worker → 0: id, seconds = computing, payload
  kError,        ///< worker → 0: id, text
  kNeedContext,  ///< worker → 0: id (the worker does not hold the request's context)
  kProgress,     ///< worker → 0: id, payload
  kHeartbeat,    ///< worker → 0
  kStop,         ///< 0 → worker: the run was interrupted
  kShutdown,     ///< 0 → worker
  kDied,         ///< worker → 0: text = how its compute process ended
};

struct Message {
  Type type = Type::kHeartbeat;
  std::uint64_t id = 0;
  std::int64_t number = 0;
  double seconds = 0;
  std::string kind, key, text;
  std::string payload;
};

/// A message but its payload, as bytes (the payload's size included).
std::string EncodeHeader(const Message& message) {
  ByteWriter out;
  out.Put<std::uint8_t>(static_cast<std::uint8_t>(message.type));
  out.Put(message.id);
  out.Put(message.number);
  out.Put(message.seconds);
  out.Put(message.kind);
  out.Put(message.key);
  out.Put(message.text);
  out.Put<std::uint64_t>(message.payload.size());
  return out.Take();
}

/// The message a header describes, its payload sized but not filled.
Message DecodeHeader(const std::string& header) {
  ByteReader in(header);
  Message message;
  message.type = static_cast<Type>(in.Get<std::uint8_t>());
  message.id = in.Get<std::uint64_t>();
  message.number = in.Get<std::int64_t>();
  message.seconds = in.Get<double>();
  message.kind = in.GetString();
  message.key = in.GetString();
  message.text = in.GetString();
  message.payload.resize(in.Get<std::uint64_t>());
  return message;
}

/// Messages in and out, on the one thread that calls MPI.
class Channel {
 public:
  /// Any thread.
  void Post(int dest, Message message) {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(dest, std::move(message));
  }
  /// The MPI thread: starts queued sends, completes finished ones, receives and hands over what came.
  /// Returns whether anything happened.
  bool Pump(const std::function<void(int source, Message message)>& deliver) {
    bool busy = false;
    std::deque<std::pair<int, Message>> queued;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queued.swap(queue_);
    }
    for (auto& [dest, message] : queued) {
      Start(dest, std::move(message));
      busy = true;
    }
    for (auto it = sending_.begin(); it != sending_.end();) {
      int done = 0;
      MPI_Testall(static_cast<int>(it->requests.size()), it->requests.data(), &done, MPI_STATUSES_IGNORE);
      if (done) it = sending_.erase(it);
      else ++it;
    }
    for (;;) {
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, kHeaderTag, MPI_COMM_WORLD, &flag, &status);
      if (!flag) break;
      busy = true;
      int size = 0;
      MPI_Get_count(&status, MPI_BYTE, &size);
      std::string header(static_cast<std::size_t>(size), '\0');
      MPI_Recv(header.data(), size, MPI_BYTE, status.MPI_SOURCE, kHeaderTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      Message message = DecodeHeader(header);
      for (std::size_t offset = 0; offset < message.payload.size(); offset += kPartBytes) {
        const int part = static_cast<int>(std::min(kPartBytes, message.payload.size() - offset));
        MPI_Recv(message.payload.data() + offset, part, MPI_BYTE, status.MPI_SOURCE, kPartTag, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
      }
      deliver(status.MPI_SOURCE, std::move(message));
    }
    return busy;
  }
  bool Sending() const { return !sending_.empty(); }

 private:
  struct Outgoing {
    std::string header, payload;
    std::vector<MPI_Request> requests;
  };
  void Start(int dest, Message message) {
    sending_.emplace_back();
    Outgoing& outgoing = sending_.back();
    outgoing.header = EncodeHeader(message);
    outgoing.payload = std::move(message.payload);
    outgoing.requests.emplace_back();
    MPI_Isend(outgoing.header.data(), static_cast<int>(outgoing.header.size()), MPI_BYTE, dest, kHeaderTag,
              MPI_COMM_WORLD, &outgoing.requests.back());
    for (std::size_t offset = 0; offset < outgoing.payload.size(); offset += kPartBytes) {
      const int part = static_cast<int>(std::min(kPartBytes, outgoing.payload.size() - offset));
      outgoing.requests.emplace_back();
      MPI_Isend(outgoing.payload.data() + offset, part, MPI_BYTE, dest, kPartTag, MPI_COMM_WORLD,
                &outgoing.requests.back());
    }
  }

  std::mutex mutex_;
  std::deque<std::pair<int, Message>> queue_;
  std::list<Outgoing> sending_;
};

/// Messages between a worker rank's MPI process and its compute process (a socket pair): a frame is
/// the header's size, the header and the payload.
class Pipe {
 public:
  explicit Pipe(int fd) : fd_(fd) {}
  ~Pipe() { ::close(fd_); }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  /// Any thread; false once the other side is gone.
  bool Send(const Message& message) {
    const std::string header = EncodeHeader(message);
    const std::uint64_t size = header.size();
    std::lock_guard<std::mutex> lock(send_mutex_);
    return Write(&size, sizeof(size)) && Write(header.data(), header.size()) &&
           Write(message.payload.data(), message.payload.size());
  }
  /// One thread; false at the end (the other side closed or died).
  bool Receive(Message* message) {
    std::uint64_t size = 0;
    if (!Read(&size, sizeof(size))) return false;
    std::string header(size, '\0');
    if (!Read(header.data(), header.size())) return false;
    *message = DecodeHeader(header);
    return Read(message->payload.data(), message->payload.size());
  }

 private:
  bool Write(const void* data, std::size_t size) {
    const char* at = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t sent = ::send(fd_, at, size, MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      if (sent <= 0) return false;
      at += sent;
      size -= static_cast<std::size_t>(sent);
    }
    return true;
  }
  bool Read(void* data, std::size_t size) {
    char* at = static_cast<char*>(data);
    while (size > 0) {
      const ssize_t got = ::recv(fd_, at, size, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      at += got;
      size -= static_cast<std::size_t>(got);
    }
    return true;
  }

  int fd_;
  std::mutex send_mutex_;
};

/// How a child process ended, in words.
std::string DescribeStatus(int status) {
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    static const std::map<int, const char*> kNames = {
        {SIGKILL, "SIGKILL"}, {SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"},
        {SIGILL, "SIGILL"},   {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},   {SIGHUP, "SIGHUP"}, {SIGPIPE, "SIGPIPE"}};
    const auto name = kNames.find(signal);
    return "was killed by signal " + std::to_string(signal) + " (" +
           (name != kNames.end() ? std::string(name->second) : std::string(::strsignal(signal))) + ")";
  }
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "ended";
}

/// The process the launcher started (the rank's keeper, Supervise): the rank's own process, and which
/// signals it was sent on (a bit per signal number).
pid_t g_supervised = 0;
volatile std::sig_atomic_t g_forwarded = 0;

/// What a rank's process is doing, in memory it shares with its keeper, which says it when the process
/// dies: two texts, the one being written and the one `current` names.
struct Doing {
  std::atomic<int> current{0};
  char text[2][2048] = {};
};
Doing* g_doing = nullptr;

/// The rank's process: what it is doing now ("optimize/fc/0, prepare/conv1/0"); nothing without a keeper.
void SayDoing(const std::string& text) {
  if (!g_doing) return;
  const int next = 1 - g_doing->current.load();
  const std::size_t size = std::min(text.size(), sizeof g_doing->text[next] - 1);
  std::memcpy(g_doing->text[next], text.data(), size);
  g_doing->text[next][size] = '\0';
  g_doing->current.store(next);
}

/// The signals a keeper passes on to its rank's process (all below 32: a bit each in g_forwarded).
constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGALRM};

sigset_t ForwardedSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int signal : kForwardedSignals) sigaddset(&set, signal);
  return set;
}

/// Runs with every forwarded signal blocked (sa_mask): no two update g_forwarded at once.
void ForwardSignal(int signal) {
  const int saved_errno = errno;
  g_forwarded = g_forwarded | (1 << signal);
  if (g_supervised > 0) ::kill(g_supervised, signal);
  errno = saved_errno;
}

/// A rank of a job with several ranks: the launched process forks the rank's process and, from then on,
/// only waits for it, passing on the signals it is sent (mpirun ending the job, Ctrl-C, scancel; most
/// launchers signal the whole process group, so the rank's process gets those directly as well). So a
/// rank's process that dies (killed, a segfault in the MPI library, the out-of-memory killer) leaves its
/// launched process alive to say so and exit 1: mpirun then ends the job with that code, not with the
/// signal. A death by a signal that came through here, or by one that asks a process to end (SIGTERM,
/// SIGINT, SIGHUP: the job being ended), is passed on as it is. `rank`: as the launcher named it, -1 when
/// it did not. Returns in the child; the keeper never returns.
void Supervise(int rank) {
  std::fflush(stdout);
  std::fflush(stderr);
  void* shared = ::mmap(nullptr, sizeof(Doing), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared != MAP_FAILED) g_doing = new (shared) Doing();
  // Held from before the fork until the keeper's handlers are in place: a signal in between is passed on,
  // not taken by the default action (which would end the keeper, and the rank with it by SIGKILL).
  const sigset_t forwarded = ForwardedSignals();
  sigset_t before;
  ::pthread_sigmask(SIG_BLOCK, &forwarded, &before);
  ::signal(SIGCHLD, SIG_DFL);  // ignored by the launcher, waitpid would never see the child
  const pid_t keeper = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    throw std::runtime_error("MPI rank " + std::to_string(rank) + ": fork: " + std::strerror(error));
  }
  if (pid == 0) {
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the keeper killed (SIGKILL from mpirun): this one goes too
    if (::getppid() != keeper) ::_exit(1);
    return;
  }
  g_supervised = pid;
  struct sigaction action {};
  action.sa_handler = ForwardSignal;
  action.sa_mask = forwarded;
  for (const int signal : kForwardedSignals) ::sigaction(signal, &action, nullptr);
  ::pthread_sigmask(SIG_UNBLOCK, &forwarded, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) ::_exit(1);
  // The child is gone (its pid may be reused): nothing more is passed on.
  ::pthread_sigmask(SIG_BLOCK, &forwarded, nullptr);
  g_supervised = 0;
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  const int signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  const bool asked_to_end = signal == SIGTERM || signal == SIGINT || signal == SIGHUP ||
                            (signal > 0 && signal < 32 && (g_forwarded & (1 << signal)));
  if (asked_to_end) {
    ::signal(signal, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signal);
    ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    ::raise(signal);
  }
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::string what =
      rank == 0  ? "MPI rank 0 (" + std::string(host) + "), the process that runs the pipeline, " + DescribeStatus(status)
      : rank > 0 ? "MPI rank " + std::to_string(rank) + " (" + host + "): its MPI process " + DescribeStatus(status)
                 : "an MPI rank's process on " + std::string(host) + " (pid " + std::to_string(pid) + ") " +
                       DescribeStatus(status);
  if (g_doing && g_doing->text[g_doing->current.load()][0] != '\0')
    what += " while running " + std::string(g_doing->text[g_doing->current.load()]);
  const std::string text = "adaflow: error: " + what +
                           (signal == SIGKILL ? " (also what the kernel's out-of-memory killer sends)" : "") +
                           "; mpirun ends the job, and a rerun resumes from the layers that finished\n";
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t wrote = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) break;
    done += static_cast<std::size_t>(wrote);
  }
  ::_exit(1);
}

/// Rank 0's view of the workers: lanes, calls in flight, silence, traffic.
class MpiLanes final : public RemoteLanes {
 public:
  MpiLanes(Channel& channel, double timeout) : channel_(channel), timeout_(timeout) {}

  int lanes() const override { return static_cast<int>(lane_rank_.size()); }

  /// Waits for every worker's hello (the constructor's second half, on the main thread).
  void Configure(int workers, int threads_default) {
    for (int rank = 1; rank <= workers; ++rank) {
      Message configure;
      configure.type = Type::kConfigure;
      configure.number = threads_default;
      channel_.Post(rank, std::move(configure));
    }
    std::unique_lock<std::mutex> lock(mutex_);
    const bool all = changed_.wait_for(lock, std::chrono::duration<double>(timeout_), [&] {
      return static_cast<int>(workers_.size()) == workers || !died_before_hello_.empty();
    });
    if (!died_before_hello_.empty()) throw std::runtime_error(died_before_hello_);
    if (!all) {
      std::string missing;
      for (int rank = 1; rank <= workers; ++rank)
        if (!workers_.count(rank)) missing += (missing.empty() ? "" : ", ") + std::to_string(rank);
      hung_ = true;  // MPI_Finalize would wait for them
      throw std::runtime_error("MPI rank(s) " + missing + " did not answer within " +
                               std::to_string(static_cast<int>(timeout_)) + " s (--rank-timeout)");
    }
    for (const auto& [rank, worker] : workers_)
      for (int lane = 0; lane < worker.threads; ++lane) lane_rank_.push_back(rank);
  }

  void Run(int lane, const std::string& task_id, const RemoteWork& work, const std::atomic<bool>* stop) override {
    const int rank = lane_rank_.at(static_cast<std::size_t>(lane));
    auto call = std::make_shared<Call>();
    call->task_id = task_id;
    call->rank = rank;
    bool send_context = false;
    std::uint64_t id = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      Worker& worker = workers_.at(rank);
      if (worker.lost) throw std::runtime_error(worker.lost_reason);
      id = ++next_id_;
      calls_[id] = call;
      send_context = !work.context_key.empty() && worker.contexts.insert(work.context_key).second;
    }
    const Clock::time_point start = Clock::now();
    struct Forget {
      MpiLanes& lanes;
      std::uint64_t id;
      ~Forget() {
        std::lock_guard<std::mutex> lock(lanes.mutex_);
        lanes.calls_.erase(id);
      }
    } forget{*this, id};
    // The request is made once (a chunk's x̂ is computed for it) and sent again as it is when the worker
    // asks for the context.
    const Clock::time_point making = Clock::now();
    const std::string payload = work.request();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      making_ += SecondsSince(making);
    }
    auto post = [&](bool with_context) {
      if (with_context) {
        Message context;
        context.type = Type::kContext;
        context.kind = work.kind;
        context.key = work.context_key;
        context.payload = work.context();
        std::lock_guard<std::mutex> lock(mutex_);
        context_bytes_ += static_cast<double>(context.payload.size());
        kinds_[work.kind].context_bytes += static_cast<double>(context.payload.size());
        ++contexts_;
        channel_.Post(rank, std::move(context));
      }
      Message request;
      request.type = Type::kRequest;
      request.id = id;
      request.kind = work.kind;
      request.key = work.context_key;
      request.text = call->task_id;  // what the worker rank is running, should its process die
      request.payload = payload;
      std::lock_guard<std::mutex> lock(mutex_);
      request_bytes_ += static_cast<double>(request.payload.size());
      kinds_[work.kind].request_bytes += static_cast<double>(request.payload.size());
      channel_.Post(rank, std::move(request));
    };
    post(send_context);
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      call->changed.wait_for(lock, std::chrono::milliseconds(100));
      while (!call->progress.empty()) {
        const std::string message = std::move(call->progress.front());
        call->progress.pop_front();
        lock.unlock();
        if (work.progress) work.progress(message);
        lock.lock();
      }
      switch (call->state) {
        case Call::kWaiting:
          break;
        case Call::kNeedContext:
          call->state = Call::kWaiting;
          lock.unlock();
          post(true);
          lock.lock();
          break;
        case Call::kReply: {
          Worker& worker = workers_.at(rank);
          ++worker.tasks;
          worker.computing += call->computing;
          waiting_ += SecondsSince(start);
          reply_bytes_ += static_cast<double>(call->reply.size());
          Traffic& traffic = kinds_[work.kind];
          ++traffic.tasks;
          traffic.reply_bytes += static_cast<double>(call->reply.size());
          const std::string reply = std::move(call->reply);
          lock.unlock();
          work.accept(reply);
          return;
        }
        case Call::kError:
          throw std::runtime_error(RankName(rank) + ": " + call->error);
        case Call::kLost:
          throw std::runtime_error(workers_.at(rank).lost_reason);
      }
      if (stop && stop->load()) {
        Message halt;
        halt.type = Type::kStop;
        channel_.Post(rank, std::move(halt));
        const std::string message =
            "stopped while " + RankName(rank) + " ran " + task_id;
        spdlog::warn("{}", message);  // the run's error says only that it was interrupted
        throw Interrupted(message);
      }
    }
  }

  /// The MPI thread: a message from a worker.
  void Deliver(int source, Message message) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (message.type == Type::kHello) {
      Worker& worker = workers_[source];
      worker.threads = static_cast<int>(std::max<std::int64_t>(1, message.number));
      worker.host = message.text;
      worker.last_seen = Clock::now();
      changed_.notify_all();
      return;
    }
    const auto found = workers_.find(source);
    if (found == workers_.end()) {  // a heartbeat before the hello, or a death
      if (message.type == Type::kDied && died_before_hello_.empty()) {
        died_before_hello_ = "MPI rank " + std::to_string(source) + ": its compute process " + message.text +
                             " before it started";
        changed_.notify_all();
      }
      return;
    }
    found->second.last_seen = Clock::now();
    if (message.type == Type::kDied) {
      Lose(source, found->second, ": its compute process " + message.text, false,
           message.text.find("SIGKILL") == std::string::npos ? ""
                                                              : "; SIGKILL is also what the kernel's out-of-memory killer sends");
      return;
    }
    const auto call_it = calls_.find(message.id);
    if (message.type == Type::kHeartbeat || call_it == calls_.end()) return;  // late replies of stopped calls
    Call& call = *call_it->second;
    switch (message.type) {
      case Type::kReply:
        call.state = Call::kReply;
        call.reply = std::move(message.payload);
        call.computing = message.seconds;
        break;
      case Type::kError:
        call.state = Call::kError;
        call.error = message.text;
        break;
      case Type::kNeedContext:
        call.state = Call::kNeedContext;
        break;
      case Type::kProgress:
        call.progress.push_back(std::move(message.payload));
        break;
      default:
        return;
    }
    call.changed.notify_all();
  }

  /// The MPI thread: fails the calls of a worker silent for longer than the timeout.
  void CheckSilence() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_ && stop_->load() && !stop_seen_) {
      stop_seen_ = true;
      std::string in_flight;
      for (const auto& entry : calls_) {
        const Call& call = *entry.second;
        if (call.waiting()) in_flight += (in_flight.empty() ? "" : ", ") + RankName(call.rank) + " " + call.task_id;
      }
      spdlog::warn("MPI: stopping; tasks in flight on the workers: {}", in_flight.empty() ? "none" : in_flight);
    }
    for (auto& [rank, worker] : workers_) {
      if (worker.lost) continue;
      const double silent = SecondsSince(worker.last_seen);
      if (silent <= timeout_) continue;
      Lose(rank, worker,
           " sent nothing for " + std::to_string(static_cast<int>(silent)) + " s (--rank-timeout " +
               std::to_string(static_cast<int>(timeout_)) + ")",
           true);
    }
  }

  /// `stop`: turns true when the run is told to stop; CheckSilence then logs what is in flight, once.
  void WatchStop(const std::atomic<bool>* stop) {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = stop;
  }

  /// Whether a worker went silent: MPI_Finalize would wait for it forever.
  bool hung() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hung_;
  }

  /// Tasks per rank, bytes each way, the share of the waiting that was the workers' computing and rank 0's
  /// making of requests (the rest is moving bytes and latency); then a line per kind of task with its bytes.
  std::string Summary() const {
    std::lock_guard<std::mutex> lock(mutex_);
    int tasks = 0;
    double computing = 0;
    std::string per_rank;
    for (const auto& [rank, worker] : workers_) {
      tasks += worker.tasks;
      computing += worker.computing;
      per_rank += (per_rank.empty() ? "" : ", ") + std::string("rank ") + std::to_string(rank) + " " +
                  std::to_string(worker.tasks);
    }
    if (tasks == 0) return "";
    char text[512];
    std::snprintf(text, sizeof(text),
                  "sent %d contexts (%s) and %s of requests, received %s of replies; remote tasks waited %.2f s, of "
                  "which the workers computed %.2f s (%.1f %%) and rank 0 made the requests %.2f s (%.1f %%)",
                  contexts_, MiB(context_bytes_).c_str(), MiB(request_bytes_).c_str(), MiB(reply_bytes_).c_str(),
                  waiting_, computing, waiting_ > 0 ? 100.0 * computing / waiting_ : 0.0, making_,
                  waiting_ > 0 ? 100.0 * making_ / waiting_ : 0.0);
    // The ranks' list grows with the job: it goes in as a string, never cut.
    std::string summary = "MPI: " + std::to_string(tasks) + " remote tasks (" + per_rank + "); " + text;
    for (const auto& [kind, traffic] : kinds_) {
      std::snprintf(text, sizeof(text), "\nMPI: %s: %d tasks; contexts %s, requests %s, replies %s", kind.c_str(),
                    traffic.tasks, MiB(traffic.context_bytes).c_str(), MiB(traffic.request_bytes).c_str(),
                    MiB(traffic.reply_bytes).c_str());
      summary += text;
    }
    return summary;
  }

 private:
  struct Worker;
  /// With mutex_ held: "rank 3 (node7)".
  std::string RankName(int rank) const {
    const auto worker = workers_.find(rank);
    return "rank " + std::to_string(rank) + " (" + (worker != workers_.end() ? worker->second.host : "?") + ")";
  }
  /// With mutex_ held: the worker is gone; its calls fail, naming it, `why` and the tasks they ran.
  /// A silent worker may never answer again (`hung`); one whose compute process died still does.
  void Lose(int rank, Worker& worker, const std::string& why, bool silent, const std::string& hint = "") {
    if (worker.lost) return;
    if (silent) hung_ = true;
    // Calls whose reply or error came already keep it.
    auto waiting = [rank](const Call& call) { return call.rank == rank && call.waiting(); };
    std::string tasks;
    for (const auto& [id, call] : calls_)
      if (waiting(*call)) tasks += (tasks.empty() ? "" : ", ") + call->task_id;
    worker.lost = true;
    worker.lost_reason = "MPI " + RankName(rank) + why +
                         (tasks.empty() ? std::string() : " while running " + tasks) + hint;
    for (auto& [id, call] : calls_)
      if (waiting(*call)) {
        call->state = Call::kLost;
        call->changed.notify_all();
      }
  }

  struct Worker {
    int threads = 1;
    std::string host;
    Clock::time_point last_seen = Clock::now();
    std::set<std::string> contexts;
    bool lost = false;
    std::string lost_reason;
    int tasks = 0;
    double computing = 0;
  };
  struct Call {
    enum State { kWaiting, kReply, kError, kNeedContext, kLost };
    std::string task_id;
    int rank = 0;
    State state = kWaiting;
    /// No reply, error or loss yet.
    bool waiting() const { return state == kWaiting || state == kNeedContext; }
    std::string reply, error;
    double computing = 0;
    std::deque<std::string> progress;
    std::condition_variable changed;
  };

  Channel& channel_;
  double timeout_;
  const std::atomic<bool>* stop_ = nullptr;  ///< Ctrl-C or mpirun ending the job (WatchStop)
  bool stop_seen_ = false;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int, Worker> workers_;
  std::vector<int> lane_rank_;
  std::map<std::uint64_t, std::shared_ptr<Call>> calls_;
  std::uint64_t next_id_ = 0;
  bool hung_ = false;
  std::string died_before_hello_;
  int contexts_ = 0;
  double context_bytes_ = 0, request_bytes_ = 0, reply_bytes_ = 0, waiting_ = 0;
  double making_ = 0;  ///< seconds rank 0 spent making requests (a prepare chunk's x̂), within waiting_
  /// What went each way, per kind of remote task.
  struct Traffic {
    int tasks = 0;
    double context_bytes = 0, request_bytes = 0, reply_bytes = 0;
  };
  std::map<std::string, Traffic> kinds_;
};

/// A worker's compute process: contexts it keeps, tasks running, stop. `send` takes what goes to rank 0.
class Worker {
 public:
  Worker(std::function<void(Message)> send, const RemoteHandlers& handlers, int threads, const ThreadSetters& setters,
         std::string host)
      : send_(std::move(send)), handlers_(handlers), threads_(threads), setters_(setters), host_(std::move(host)) {}

  /// The thread that receives.
  void Deliver(Message message) {
    switch (message.type) {
      case Type::kConfigure: {
        stop_ = false;
        if (!arena_) {
          if (threads_ <= 0) threads_ = message.number > 0 ? static_cast<int>(message.number) : tbb::this_task_arena::max_concurrency();
          arena_ = std::make_unique<tbb::task_arena>(threads_);
          if (setters_.process_pool) setters_.process_pool(1);  // every task computes on one thread
        }
        Message hello;
        hello.type = Type::kHello;
        hello.number = threads_;
        hello.text = host_;
        send_(std::move(hello));
        configured_ = true;
        break;
      }
      case Type::kContext: {
        const RemoteHandler* handler = handlers_.Find(message.kind);
        if (!handler) break;  // the request fails below, naming the kind
        std::lock_guard<std::mutex> lock(mutex_);
        contexts_[message.key] = {handler->parse_context(message.payload), ++tick_};
        // Keep a few: the layers in flight. One dropped too early is sent again on request.
        const std::size_t keep = std::max<std::size_t>(4, 2 * static_cast<std::size_t>(threads_));
        while (contexts_.size() > keep) {
          auto oldest = std::min_element(contexts_.begin(), contexts_.end(),
                                         [](const auto& a, const auto& b) { return a.second.tick < b.second.tick; });
          contexts_.erase(oldest);
        }
        break;
      }
      case Type::kRequest:
        Start(std::move(message));
        break;
      case Type::kStop:
        stop_ = true;
        break;
      case Type::kShutdown:
        stop_ = true;
        shutdown_ = true;
        break;
      default:
        break;
    }
  }

  bool shutdown() const { return shutdown_; }
  bool configured() const { return configured_; }
  int running() const { return running_; }
  int tasks() const { return tasks_; }

 private:
  void Start(Message request) {
    const RemoteHandler* handler = handlers_.Find(request.kind);
    std::shared_ptr<const void> context;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto found = contexts_.find(request.key);
      if (found != contexts_.end()) {
        found->second.tick = ++tick_;
        context = found->second.value;
      }
    }
    if (handler && !context && !request.key.empty()) {
      Message need;
      need.type = Type::kNeedContext;
      need.id = request.id;
      send_(std::move(need));
      return;
    }
    ++running_;
    arena_->enqueue([this, handler, context, request = std::move(request)] {
      Message reply;
      reply.id = request.id;
      try {
        if (!handler) throw std::runtime_error("no handler for remote tasks of kind '" + request.kind + "'");
        KillPoint("worker-task");
        if (setters_.calling_thread) setters_.calling_thread(1);
        const Clock::time_point start = Clock::now();
        const std::uint64_t id = request.id;
        reply.payload = handler->run(
            context.get(), request.payload,
            [this, id](const std::string& message) {
              Message progress;
              progress.type = Type::kProgress;
              progress.id = id;
              progress.payload = message;
              send_(std::move(progress));
            },
            &stop_);
        reply.type = Type::kReply;
        reply.seconds = SecondsSince(start);
        ++tasks_;
      } catch (const std::exception& error) {
        reply.type = Type::kError;
        reply.text = error.what();
      }
      send_(std::move(reply));
      --running_;
    });
  }

  struct Kept {
    std::shared_ptr<const void> value;
    std::uint64_t tick = 0;
  };
  std::function<void(Message)> send_;
  const RemoteHandlers& handlers_;
  int threads_;
  ThreadSetters setters_;
  std::string host_;
  std::unique_ptr<tbb::task_arena> arena_;
  std::mutex mutex_;
  std::map<std::string, Kept> contexts_;
  std::uint64_t tick_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> configured_{false};
  std::atomic<int> running_{0};
  std::atomic<int> tasks_{0};
};

}  // namespace

struct Session::Impl {
  int rank = 0;
  int size = 1;
  bool initialized = false;
  Channel channel;
  std::thread pump;
  std::atomic<bool> quit{false};
  std::function<void(int, Message)> deliver;  ///< set before the pump starts
  std::function<void()> every_loop;           ///< rank 0: silence checks; workers: heartbeats
  std::shared_ptr<MpiLanes> lanes;
  std::mutex deliver_mutex;  ///< deliver and every_loop change while the pump runs
  std::vector<std::pair<int, Message>> early;  ///< rank 0: deaths reported before Lanes()
  pid_t child = 0;             ///< a worker rank's MPI process: its compute process
  int child_fd = -1;           ///< the socket to the other process of the pair
  bool compute_child = false;  ///< this is a worker rank's compute process

  /// A worker rank: forks its compute process, joined to this one by a socket pair. In the child,
  /// sets compute_child; the child dies with this process (mpirun ending the job).
  void ForkCompute() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      throw std::runtime_error("MPI rank " + std::to_string(rank) + ": socketpair: " + std::strerror(errno));
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t keeper = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("MPI rank " + std::to_string(rank) + ": fork: " + std::strerror(errno));
    if (pid == 0) {
      ::close(fds[0]);
      // The signal follows the forking thread: the main thread, which lives until the process ends.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != keeper) ::_exit(1);
      compute_child = true;
      child_fd = fds[1];
      return;
    }
    ::close(fds[1]);
    child = pid;
    child_fd = fds[0];
  }

  void StartPump() {
    pump = std::thread([this] {
      while (!quit.load()) {
        std::function<void(int, Message)> to;
        std::function<void()> tick;
        {
          std::lock_guard<std::mutex> lock(deliver_mutex);
          to = deliver;
          tick = every_loop;
        }
        const bool busy = channel.Pump([&](int source, Message message) {
          if (to) {
            to(source, std::move(message));
          } else if (message.type == Type::kDied) {  // before Lanes(): handed over there
            std::lock_guard<std::mutex> lock(deliver_mutex);
            early.emplace_back(source, std::move(message));
          }
        });
        if (tick) tick();
        if (!busy) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      // What is queued still goes out (a shutdown), for a little while.
      const Clock::time_point until = Clock::now() + std::chrono::seconds(5);
      while ((channel.Pump([](int, Message) {}) || channel.Sending()) && Clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
  }
  void StopPump() {
    quit = true;
    if (pump.joinable()) pump.join();
  }
};

Session::Session(int* argc, char*** argv) : impl_(std::make_unique<Impl>()) {
  if (LaunchedSize() <= 1 && !std::getenv("PMIX_RANK")) return;
  Supervise(LaunchedRank());
  // A worker rank forks its compute process before MPI exists in it: the child holds no MPI state (no
  // threads, sockets or registered memory of the MPI library) and never calls MPI.
  if (const int launched_rank = LaunchedRank(); launched_rank > 0) {
    impl_->rank = launched_rank;
    impl_->ForkCompute();
    if (impl_->compute_child) {
      impl_->size = std::max(2, LaunchedSize());
      return;
    }
  }
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
  impl_->initialized = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &impl_->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &impl_->size);
  if (provided < MPI_THREAD_SERIALIZED) {
    if (impl_->rank == 0) spdlog::error("the MPI library does not support MPI_THREAD_SERIALIZED");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (impl_->child != 0 && impl_->rank == 0) {  // the launcher's variable named another rank: no worker here
    ::kill(impl_->child, SIGKILL);
    ::waitpid(impl_->child, nullptr, 0);
    ::close(impl_->child_fd);
    impl_->child = 0;
    impl_->child_fd = -1;
  }
  if (impl_->size > 1 && impl_->rank == 0) impl_->StartPump();
}

Session::~Session() {
  impl_->StopPump();
  if (impl_->initialized) MPI_Finalize();
}

int Session::rank() const { return impl_->rank; }
int Session::size() const { return impl_->size; }

std::shared_ptr<RemoteLanes> Session::Lanes(int threads_default, double rank_timeout, const std::atomic<bool>* stop) {
  if (impl_->size <= 1 || impl_->rank != 0) return nullptr;
  if (!impl_->lanes) {
    auto lanes = std::make_shared<MpiLanes>(impl_->channel, rank_timeout);
    lanes->WatchStop(stop);
    {
      std::lock_guard<std::mutex> lock(impl_->deliver_mutex);
      impl_->deliver = [lanes](int source, Message message) { lanes->Deliver(source, std::move(message)); };
      impl_->every_loop = [lanes] { lanes->CheckSilence(); };
      for (auto& [source, message] : impl_->early) lanes->Deliver(source, std::move(message));
      impl_->early.clear();
    }
    impl_->lanes = lanes;  // before Configure: if a rank never answers, Finish must know
    lanes->Configure(impl_->size - 1, threads_default);
    spdlog::info(
        "MPI: {} ranks; rank 0 runs the pipeline, {} worker thread(s) on ranks 1-{} run AdaRound's chunks and blocks",
        impl_->size, lanes->lanes(), impl_->size - 1);
  }
  return impl_->lanes;
}

namespace {

/// The compute process of a worker rank (Impl::ForkCompute): runs what comes through `fd`, sends its
/// answers and a heartbeat every second back, and never calls MPI. Returns its exit code.
int ComputeProcess(int fd, const RemoteHandlers& handlers, int threads, const ThreadSetters& setters, int rank) {
  KillPoint("worker-start");
  Pipe pipe(fd);
  // The hello's host is filled in by the rank's MPI process.
  Worker worker([&pipe](Message message) { pipe.Send(message); }, handlers, threads, setters, "");
  std::atomic<bool> done{false};
  std::thread heartbeat([&] {
    while (!done.load()) {
      Message beat;
      beat.type = Type::kHeartbeat;
      if (!pipe.Send(beat)) return;
      const Clock::time_point next = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                         std::chrono::duration<double>(kHeartbeatSeconds));
      while (!done.load() && Clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  Message message;
  while (!worker.shutdown() && pipe.Receive(&message)) worker.Deliver(std::move(message));
  while (worker.running() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  done = true;
  heartbeat.join();
  if (worker.configured()) spdlog::debug("MPI rank {}: {} task(s) run", rank, worker.tasks());
  spdlog::default_logger()->flush();
  return worker.shutdown() ? 0 : 1;
}

}  // namespace

int Session::Serve(const RemoteHandlers& handlers, int threads, const ThreadSetters& setters) {
  // The blocks run in a child process that this one watches: if it dies (a signal, the out-of-memory
  // killer), this rank tells rank 0, which fails the run naming the rank and its tasks (exit 1) instead
  // of mpirun ending the job with the signal. Forked in the constructor; here when the launcher did not
  // name the rank.
  if (!impl_->compute_child && impl_->child == 0) impl_->ForkCompute();
  if (impl_->compute_child) {
    // Ctrl-C, scancel and mpirun signal the rank's process group: the rank's MPI process takes them, and
    // this one dies with it (PR_SET_PDEATHSIG), so an interrupted run is not reported as a death here.
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGTERM, SIG_IGN);
    std::signal(SIGHUP, SIG_IGN);
    const int code = ComputeProcess(impl_->child_fd, handlers, threads, setters, impl_->rank);
    // No exit handlers: after a fork behind MPI_Init they would be MPI's, and none is needed here.
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  }
  char host_name[MPI_MAX_PROCESSOR_NAME + 1] = {0};
  int length = 0;
  MPI_Get_processor_name(host_name, &length);
  const std::string host = host_name;
  const pid_t child = impl_->child;
  Pipe pipe(impl_->child_fd);
  std::atomic<bool> shutdown{false};
  std::atomic<double> shutdown_at{0};  // seconds on the steady clock
  auto now = [] { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); };
  // The tasks this rank runs, for its keeper to name should this process die (Supervise).
  std::mutex running_mutex;
  std::map<std::uint64_t, std::string> running;
  auto note = [&](std::uint64_t id, const std::string* task) {
    std::lock_guard<std::mutex> lock(running_mutex);
    if (task) running[id] = *task;
    else running.erase(id);
    std::string text;
    for (const auto& entry : running) text += (text.empty() ? "" : ", ") + entry.second;
    SayDoing(text);
  };
  {
    std::lock_guard<std::mutex> lock(impl_->deliver_mutex);
    impl_->deliver = [&](int, Message message) {
      if (message.type == Type::kShutdown && !shutdown.exchange(true)) shutdown_at = now();
      if (message.type == Type::kRequest) {
        note(message.id, &message.text);
        KillPoint("rank-task");
      }
      pipe.Send(message);  // false once the child is gone: what it would have run fails below
    };
    // A child that does not end within a while of the shutdown would keep this rank, and rank 0 in
    // MPI_Finalize, waiting.
    impl_->every_loop = [&] {
      if (shutdown.load() && now() - shutdown_at.load() > kShutdownSeconds) {
        ::kill(child, SIGKILL);
        shutdown_at = now() + 1e9;
      }
    };
  }
  // The pump uses `pipe` and `shutdown`: it stops before they go, whatever happens below.
  struct StopPump {
    Impl& impl;
    ~StopPump() {
      impl.StopPump();
      std::lock_guard<std::mutex> lock(impl.deliver_mutex);
      impl.deliver = nullptr;
      impl.every_loop = nullptr;
    }
  } stop_pump{*impl_};
  impl_->StartPump();
  // Everything the child says goes to rank 0, heartbeats included: a child that hangs is silent.
  Message message;
  while (pipe.Receive(&message)) {
    if (message.type == Type::kHello) message.text = host;
    if (message.type == Type::kReply || message.type == Type::kError || message.type == Type::kNeedContext)
      note(message.id, nullptr);
    impl_->channel.Post(0, std::move(message));
  }
  int status = 0;
  pid_t waited = 0;
  while ((waited = ::waitpid(child, &status, 0)) < 0 && errno == EINTR) {
  }
  const std::string how = waited < 0 ? std::string("could not be waited for: ") + std::strerror(errno)
                                     : DescribeStatus(status);
  if (shutdown.load()) {
    if (waited < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      spdlog::warn("MPI rank {} ({}): after the shutdown its compute process {}", impl_->rank, host, how);
  } else {
    // Ended unasked, even with code 0: rank 0 fails the tasks it gave this rank and ends the run; until
    // then this rank keeps answering.
    Message died;
    died.type = Type::kDied;
    died.text = how;
    spdlog::error("MPI rank {} ({}): its compute process {}", impl_->rank, host, how);
    impl_->channel.Post(0, std::move(died));
    while (!shutdown.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;  // the job's exit code is rank 0's
}

int Session::Finish(int code) {
  if (impl_->size <= 1 || impl_->rank != 0) return code;
  if (impl_->lanes) {
    std::istringstream summary(impl_->lanes->Summary());
    for (std::string line; std::getline(summary, line);) spdlog::info("{}", line);
  }
  const bool hung = impl_->lanes && impl_->lanes->hung();
  if (hung || code == static_cast<int>(ExitCode::kInterrupted)) {
    std::fflush(stdout);
    std::fflush(stderr);
    // A silent rank would keep MPI_Finalize waiting: the job ends here.
    MPI_Abort(MPI_COMM_WORLD, hung ? 1 : code);
  }
  for (int rank = 1; rank < impl_->size; ++rank) {
    Message shutdown;
    shutdown.type = Type::kShutdown;
    impl_->channel.Post(rank, std::move(shutdown));
  }
  impl_->StopPump();
  return code;
}

#endif

}  // namespace adaflow::mpi
