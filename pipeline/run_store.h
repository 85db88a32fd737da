#pragma once
// The run directory: atomic writes, the manifest of finished nodes (stages, and sub-nodes such as
// "adaround/layers.0.conv1") keyed by content key, and the lock that keeps a second run out.
//
// manifest.json:
//   {"format": "adaflow-manifest", "version": 1,
//    "nodes": {"load": {"key": "3f2a…", "seconds": 0.4, "cpu_seconds": 0.5, "finished": "2026-11-26T21:00:00Z",
//                       "files": [{"path": "model.pt", "size": 1234, "hash": "9c1e…"}]}}}
// manifest.json.prev is the manifest before its last write (a hard link, no copy).

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace adaflow {

class RunStore {
 public:
  struct FileRecord {
    std::string path;  ///< relative to the run dir
    std::uint64_t size = 0;
    std::string hash;
  };
  struct Entry {
    std::string key;
    double seconds = 0;
    double cpu_seconds = 0;  ///< process CPU time (user + system) while the node ran; 0 when not measured
    std::string finished;
    std::vector<FileRecord> files;
  };

  enum class Open {
    kResume,  ///< a damaged manifest is rebuilt from manifest.json.prev, else an InputError
    kFresh,   ///< `--fresh`: as kResume, but with no readable earlier copy the run starts over
  };

  /// Creates the directory if needed, takes the lock (throws InputError naming the holder's pid when
  /// another run has it) and reads the manifest. A damaged manifest is kept as manifest.json.damaged and
  /// rebuilt from the copy before its last write (manifest.json.prev; every node is verified before
  /// reuse anyway); without one, kResume throws InputError and kFresh starts over.
  explicit RunStore(std::string dir, Open open = Open::kResume);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& dir() const { return dir_; }
  std::string PathFor(const std::string& name) const;

  /// Writes to a temp file in the same directory, flushes it to disk, then renames over `name`: a
  /// reader sees the old file or the new one, never half of one. Thread-safe.
  void WriteAtomic(const std::string& name, const std::string& bytes) const;

  /// True when `node_id` finished with exactly `key` and every file it recorded still verifies
  /// (exists, same size, same hash). Thread-safe.
  bool IsDone(const std::string& node_id, const std::string& key) const;
  std::optional<Entry> Find(const std::string& node_id) const;

  /// Records a finished node (hashing its files) and rewrites the manifest atomically. Thread-safe.
  void MarkDone(const std::string& node_id, const std::string& key, const std::vector<std::string>& files,
                double seconds, double cpu_seconds = 0);

  /// Forgets `node_id` and every sub-node "node_id/…".
  void Forget(const std::string& node_id);

  /// `--fresh`: forgets every node and deletes the files they recorded.
  void Clear();

  std::vector<std::string> NodeIds() const;

  /// What opening the store repaired (a damaged manifest), for the run's log; empty when nothing.
  const std::string& repair_note() const { return repair_note_; }

 private:
  void RemoveTemporaryFiles() const;
  void Load(Open open);
  void SaveLocked() const;

  std::string dir_;
  int lock_fd_ = -1;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> nodes_;
  std::string repair_note_;
};

}  // namespace adaflow
