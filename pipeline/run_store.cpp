#include "pipeline/run_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "pipeline/content_hash.h"
#include "common/disk.h"
#include "common/error.h"
#include "common/kill_point.h"

namespace adaflow {
namespace fs = std::filesystem;
namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kPreviousManifest = "manifest.json.prev";
constexpr const char* kDamagedManifest = "manifest.json.damaged";
constexpr const char* kLockFile = ".lock";
constexpr int kManifestVersion = 1;

std::string NowUtc() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

void WriteFully(int fd, const std::string& bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      ThrowWriteError(path, errno, "cannot write '" + path + "'");
    }
    done += static_cast<std::size_t>(wrote);
  }
}

}  // namespace

RunStore::RunStore(std::string dir, Open open) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec == std::errc::no_space_on_device) throw DiskFullError(dir_);
  if (ec) throw InputError("cannot create run directory '" + dir_ + "': " + ec.message());
  const std::string lock_path = PathFor(kLockFile);
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw InputError("cannot open lock file '" + lock_path + "': " + std::strerror(errno));
  // flock is released by the kernel when the holder dies, so a killed run never leaves a stale lock.
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    std::ifstream in(lock_path);
    std::string pid;
    std::getline(in, pid);
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw InputError("run directory '" + dir_ + "' is in use by another adaflow run" +
                     (pid.empty() ? "" : " (pid " + pid + ")") +
                     "; wait for it to finish, or pass --run-dir to use another directory");
  }
  // The pid is informational (the lock is the flock): a failure to write it (a full disk) is no error.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) == 0) {
    try {
      WriteFully(lock_fd_, pid, lock_path);
    } catch (const std::exception&) {
    }
  }
  try {
    RemoveTemporaryFiles();
    Load(open);
  } catch (...) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
}

RunStore::~RunStore() {
  if (lock_fd_ >= 0) {
    if (::ftruncate(lock_fd_, 0) != 0) {
      // The pid is informational; the lock itself goes with the descriptor.
    }
    ::flock(lock_fd_, LOCK_UN);
    ::close(lock_fd_);
  }
}

std::string RunStore::PathFor(const std::string& name) const { return (fs::path(dir_) / name).string(); }

void RunStore::RemoveTemporaryFiles() const {
  // WriteAtomic's temporary files (<name>.tmp.<pid>.<n>) left by a killed run: the lock says no run is
  // writing now. Only that exact form, and only where adaflow writes (the run directory and one level
  // of subdirectories), so nothing of the user's is touched.
  static const std::regex temporary(R"(.+\.tmp\.[0-9]+\.[0-9]+)");
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it.depth() >= 1) it.disable_recursion_pending();
    std::error_code ignored;
    if (it->is_regular_file(ignored) && std::regex_match(it->path().filename().string(), temporary))
      fs::remove(it->path(), ignored);
  }
}

void RunStore::WriteAtomic(const std::string& name, const std::string& bytes) const {
  static std::atomic<unsigned> counter{0};
  const std::string path = PathFor(name);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) ThrowWriteError(path, ec.value(), "cannot create the directory of '" + path + "'");
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) ThrowWriteError(path, errno, "cannot create '" + temp + "'");
  try {
    // Errors name the file being written, not its temporary name.
    WriteFully(fd, bytes, path);
    if (::fsync(fd) != 0) ThrowWriteError(path, errno, "cannot flush '" + temp + "'");
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  ::close(fd);
  KillPoint("write:" + name);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error_number = errno;
    ::unlink(temp.c_str());
    ThrowWriteError(path, error_number, "cannot rename '" + temp + "' to '" + path + "'");
  }
}

namespace {

/// A relative path that names a file below the directory it is relative to (not the directory itself).
bool InsideRunDir(const std::string& path) {
  const std::filesystem::path relative(path);
  if (relative.empty() || relative.is_absolute() || !relative.has_filename()) return false;
  for (const auto& part : relative)
    if (part == ".." || part == ".") return false;
  return true;
}

/// The nodes of a manifest file; throws std::runtime_error saying what is wrong when it does not parse.
std::map<std::string, RunStore::Entry> ReadManifest(const std::string& path, bool* other_version) {
  std::ifstream in(path);
  std::map<std::string, RunStore::Entry> nodes;
  try {
    nlohmann::json json;
    in >> json;
    if (!json.is_object() || json.value("format", "") != "adaflow-manifest")
      throw std::runtime_error("not an adaflow manifest");
    if (json.value("version", 0) != kManifestVersion) {
      *other_version = true;  // another format: nothing in it can be trusted, so everything is recomputed
      return nodes;
    }
    for (const auto& [id, node] : json.at("nodes").items()) {
      RunStore::Entry entry;
      entry.key = node.at("key").get<std::string>();
      entry.seconds = node.value("seconds", 0.0);
      entry.cpu_seconds = node.value("cpu_seconds", 0.0);
      entry.finished = node.value("finished", "");
      for (const auto& file : node.at("files")) {
        const auto path = file.at("path").get<std::string>();
        // `--fresh` deletes what the manifest records: only files inside the run directory.
        if (!InsideRunDir(path)) throw std::runtime_error("node '" + id + "' records '" + path + "', outside the run directory");
        const auto& size = file.at("size");
        if (!size.is_number_unsigned()) throw std::runtime_error("node '" + id + "': the size of '" + path + "' is not a byte count");
        entry.files.push_back({path, size.get<std::uint64_t>(), file.at("hash").get<std::string>()});
      }
      nodes[id] = std::move(entry);
    }
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(error.what());
  }
  return nodes;
}

}  // namespace

void RunStore::Load(Open open) {
  const std::string path = PathFor(kManifest);
  if (!fs::exists(path)) return;
  bool other_version = false;
  std::string damage;
  try {
    nodes_ = ReadManifest(path, &other_version);
    return;
  } catch (const std::runtime_error& error) {
    damage = error.what();
  }
  // A damaged manifest (the disk, a hand edit) is set aside and rebuilt from the one before the last
  // write; every node it lists is still verified against its files' sizes and hashes before reuse, so
  // at worst the last finished step runs again.
  const std::string previous = PathFor(kPreviousManifest), damaged = PathFor(kDamagedManifest);
  std::map<std::string, Entry> recovered;
  bool recovered_ok = false;
  if (fs::exists(previous)) {
    try {
      recovered = ReadManifest(previous, &other_version);
      recovered_ok = true;
    } catch (const std::runtime_error&) {
    }
  }
  if (!recovered_ok && open != Open::kFresh)
    throw InputError("'" + path + "' is damaged (" + damage + ") and no earlier copy (" + kPreviousManifest +
                     ") can be read; rerun with --fresh to start this run over");
  std::error_code ec;
  fs::rename(path, damaged, ec);
  if (ec) throw InputError("cannot set aside the damaged '" + path + "': " + ec.message());
  nodes_ = std::move(recovered);
  repair_note_ = "'" + path + "' was damaged (" + damage + "); kept as " + kDamagedManifest + ", " +
                 (recovered_ok ? "rebuilt from " + std::string(kPreviousManifest) + " (" +
                                     std::to_string(nodes_.size()) + " finished nodes, each verified before reuse)"
                               : std::string("starting over (--fresh)"));
  SaveLocked();
}

void RunStore::SaveLocked() const {
  nlohmann::json nodes = nlohmann::json::object();
  for (const auto& [id, entry] : nodes_) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& file : entry.files) files.push_back({{"path", file.path}, {"size", file.size}, {"hash", file.hash}});
    nodes[id] = {{"key", entry.key}, {"seconds", entry.seconds}, {"finished", entry.finished}, {"files", files}};
    if (entry.cpu_seconds > 0) nodes[id]["cpu_seconds"] = entry.cpu_seconds;
  }
  const nlohmann::json json = {{"format", "adaflow-manifest"}, {"version", kManifestVersion}, {"nodes", nodes}};
  // The manifest being replaced stays as manifest.json.prev (a second name for the same file, no copy),
  // so a manifest damaged later can be rebuilt from it.
  const std::string path = PathFor(kManifest), previous = PathFor(kPreviousManifest);
  const std::string link = previous + ".tmp";
  ::unlink(link.c_str());
  if (::link(path.c_str(), link.c_str()) == 0 && ::rename(link.c_str(), previous.c_str()) != 0) ::unlink(link.c_str());
  WriteAtomic(kManifest, json.dump(1) + "\n");
}

bool RunStore::IsDone(const std::string& node_id, const std::string& key) const {
  const std::optional<Entry> entry = Find(node_id);
  if (!entry || entry->key != key) return false;
  for (const auto& file : entry->files) {
    const std::string path = PathFor(file.path);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) != file.size) return false;
    try {
      if (HashFile(path) != file.hash) return false;
    } catch (const InputError&) {
      return false;
    }
  }
  return true;
}

std::optional<RunStore::Entry> RunStore::Find(const std::string& node_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

void RunStore::MarkDone(const std::string& node_id, const std::string& key, const std::vector<std::string>& files,
                        double seconds, double cpu_seconds) {
  Entry entry;
  entry.key = key;
  entry.seconds = seconds;
  entry.cpu_seconds = cpu_seconds;
  entry.finished = NowUtc();
  for (const auto& file : files) {
    const std::string path = PathFor(file);
    entry.files.push_back({file, static_cast<std::uint64_t>(fs::file_size(path)), HashFile(path)});
  }
  std::lock_guard<std::mutex> lock(mutex_);
  nodes_[node_id] = std::move(entry);
  SaveLocked();
}

void RunStore::Forget(const std::string& node_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->first == node_id || it->first.rfind(node_id + "/", 0) == 0) it = nodes_.erase(it);
    else ++it;
  }
  SaveLocked();
}

void RunStore::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, entry] : nodes_) {
    for (const auto& file : entry.files) {
      std::error_code ec;
      fs::remove(PathFor(file.path), ec);
    }
  }
  nodes_.clear();
  SaveLocked();
}

std::vector<std::string> RunStore::NodeIds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> ids;
  for (const auto& [id, entry] : nodes_) ids.push_back(id);
  return ids;
}

}  // namespace adaflow
