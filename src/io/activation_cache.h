#pragma once
// The HDF5 activation cache (DESIGN §7): /layers/<name>/<dataset> as N × … arrays, chunked by sample,
// with attributes `source` (fp | quant) and `key` (the content key that produced it). float32, or
// IEEE float16 on request (converted back to float32 on read). One file per run; every call holds the
// process's HDF5 lock (hdf5_lock.h: the library is not thread-safe in Debian's build).

#include <torch/script.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/enum_names.h"

namespace adaflow::io {

enum class StoreDtype { kFloat32, kFloat16 };
inline const EnumNames<StoreDtype> kStoreDtypeNames = {{"float32", StoreDtype::kFloat32}, {"float16", StoreDtype::kFloat16}};

class ActivationCache {
 public:
  /// Creates a new file (truncating) when `create`, else opens an existing one read-only. Throws
  /// InputError naming the file when it is missing or not a readable HDF5 file.
  ActivationCache(std::string path, bool create);
  ~ActivationCache();
  ActivationCache(const ActivationCache&) = delete;
  ActivationCache& operator=(const ActivationCache&) = delete;

  const std::string& path() const { return path_; }

  /// Writes `/layers/<layer>/<name>`; flushes the file.
  void Write(const std::string& layer, const std::string& name, const torch::Tensor& values, StoreDtype dtype,
             const std::string& source, const std::string& key);
  /// Creates `/layers/<layer>/<name>` of `shape` ([N, …], chunked by sample) to fill with WriteRows.
  void Create(const std::string& layer, const std::string& name, const std::vector<std::int64_t>& shape,
              StoreDtype dtype, const std::string& source, const std::string& key);
  /// Writes samples [start, start + rows.size(0)) of a dataset made by Create.
  void WriteRows(const std::string& layer, const std::string& name, std::int64_t start, const torch::Tensor& rows);
  /// Flushes everything written so far to the file.
  void Flush();
  /// Closes the file, throwing (DiskFull when out of space) if what it still held cannot be written;
  /// a writer calls it before it treats the file as complete. The destructor closes quietly.
  void Close();
  bool Has(const std::string& layer, const std::string& name) const;
  std::vector<std::int64_t> Shape(const std::string& layer, const std::string& name) const;
  /// Samples [start, start + count) as float32 (count −1: to the end).
  torch::Tensor Read(const std::string& layer, const std::string& name, std::int64_t start = 0,
                     std::int64_t count = -1) const;
  /// The samples at `indices` (int64, any order, repeats allowed), in that order, in one read.
  torch::Tensor Gather(const std::string& layer, const std::string& name, const torch::Tensor& indices) const;

 private:
  /// The rows of the ascending, non-overlapping runs (start, count), concatenated.
  torch::Tensor ReadRuns(const std::string& layer, const std::string& name,
                         const std::vector<std::pair<std::int64_t, std::int64_t>>& runs) const;

  std::string path_;
  long long file_ = -1;  // hid_t
};

}  // namespace adaflow::io
