#include "src/io/activation_cache.h"

#include <hdf5.h>

#include <cerrno>
#include <filesystem>

#include "common/disk.h"
#include "common/error.h"
#include "common/kill_point.h"
#include "src/io/hdf5_lock.h"

namespace adaflow::io {
namespace {

/// IEEE 754 half precision, built from float32 (HDF5 1.10 has no predefined half type).
hid_t HalfType() {
  const hid_t type = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(type, 15, 10, 5, 0, 10);
  H5Tset_precision(type, 16);
  H5Tset_size(type, 2);
  H5Tset_ebias(type, 15);
  return type;
}

/// Whether a dataset is stored as half precision: then values are converted by LibTorch (vectorized,
/// round to nearest even) and moved as they are stored; HDF5's own float/half conversion is a slow
/// software path.
bool IsHalf(hid_t dataset) {
  const hid_t type = H5Dget_type(dataset);
  const bool half = H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 2;
  H5Tclose(type);
  return half;
}

/// The memory type values move in: the stored type for half (no HDF5 conversion), native float otherwise.
/// The caller closes it.
hid_t MemoryType(bool half) { return half ? HalfType() : H5Tcopy(H5T_NATIVE_FLOAT); }

std::string DatasetPath(const std::string& layer, const std::string& name) { return "/layers/" + layer + "/" + name; }

void WriteStringAttribute(hid_t object, const std::string& name, const std::string& value) {
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, std::max<std::size_t>(1, value.size()));
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attribute = H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attribute, type, value.c_str());
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
}

// HDF5 closes the files still open when the process exits; after a failed write (a full disk) its
// close path crashes (HDF5 1.10), turning a clear error into a segfault. Every store closes its own
// file, so that exit-time pass is turned off, before the library's first use.
const bool kNoCloseAtExit = H5dont_atexit() >= 0;

}  // namespace

std::mutex& Hdf5Mutex() {
  static std::mutex mutex;
  return mutex;
}

ActivationCache::ActivationCache(std::string path, bool create) : path_(std::move(path)) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (create) {
    errno = 0;  // HDF5 keeps no error number of its own: a failed write leaves the system's
    file_ = H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file_ < 0) ThrowWriteError(path_, errno, "cannot create HDF5 file '" + path_ + "'");
    H5Gclose(H5Gcreate2(file_, "/layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    return;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path_, ec)) throw InputError("activation cache '" + path_ + "' does not exist");
  if (H5Fis_hdf5(path_.c_str()) <= 0 || (file_ = H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
    throw InputError("activation cache '" + path_ + "' is damaged (not a readable HDF5 file); rerun with --fresh");
}

ActivationCache::~ActivationCache() {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  if (file_ >= 0) H5Fclose(file_);
}

void ActivationCache::Write(const std::string& layer, const std::string& name, const torch::Tensor& values,
                            StoreDtype dtype, const std::string& source, const std::string& key) {
  Create(layer, name, values.sizes().vec(), dtype, source, key);
  WriteRows(layer, name, 0, values);
  Flush();
}

void ActivationCache::Create(const std::string& layer, const std::string& name, const std::vector<std::int64_t>& shape,
                             StoreDtype dtype, const std::string& source, const std::string& key) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  const std::string group_path = "/layers/" + layer;
  if (H5Lexists(file_, group_path.c_str(), H5P_DEFAULT) <= 0)
    H5Gclose(H5Gcreate2(file_, group_path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  std::vector<hsize_t> dims(shape.begin(), shape.end()), chunk = dims;
  chunk[0] = 1;  // chunked by sample: a row range reads only its samples
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t properties = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(properties, static_cast<int>(chunk.size()), chunk.data());
  const hid_t file_type = dtype == StoreDtype::kFloat16 ? HalfType() : H5Tcopy(H5T_IEEE_F32LE);
  const std::string path = DatasetPath(layer, name);
  errno = 0;
  const hid_t dataset = H5Dcreate2(file_, path.c_str(), file_type, space, H5P_DEFAULT, properties, H5P_DEFAULT);
  bool closed = true;
  if (dataset >= 0) {
    WriteStringAttribute(dataset, "source", source);
    WriteStringAttribute(dataset, "key", key);
    closed = H5Dclose(dataset) >= 0;
  }
  const int error_number = errno;
  H5Tclose(file_type);
  H5Pclose(properties);
  H5Sclose(space);
  if (dataset < 0 || !closed) ThrowWriteError(path_, error_number, "cannot create '" + path + "' in '" + path_ + "'");
}

void ActivationCache::WriteRows(const std::string& layer, const std::string& name, std::int64_t start,
                                const torch::Tensor& rows) {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  const std::string path = DatasetPath(layer, name);
  const hid_t dataset = H5Dopen2(file_, path.c_str(), H5P_DEFAULT);
  if (dataset < 0) throw std::runtime_error("no dataset '" + path + "' in '" + path_ + "'");
  const bool half = IsHalf(dataset);
  const torch::Tensor data = rows.detach().to(half ? torch::kHalf : torch::kFloat32).contiguous();
  const hid_t file_space = H5Dget_space(dataset);
  std::vector<hsize_t> offset(static_cast<std::size_t>(data.dim()), 0), extent(data.sizes().begin(), data.sizes().end());
  offset[0] = static_cast<hsize_t>(start);
  H5Sselect_hyperslab(file_space, H5S_SELECT_SET, offset.data(), nullptr, extent.data(), nullptr);
  const hid_t memory_space = H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr);
  const hid_t memory_type = MemoryType(half);
  errno = 0;
  const herr_t status = H5Dwrite(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, data.data_ptr());
  int error_number = errno;
  H5Tclose(memory_type);
  H5Sclose(memory_space);
  H5Sclose(file_space);
  // Closing the dataset may write what HDF5 still caches of it.
  const bool closed = H5Dclose(dataset) >= 0;
  if (status >= 0 && !closed) error_number = errno;
  if (status < 0 || !closed) ThrowWriteError(path_, error_number, "cannot write '" + path + "' to '" + path_ + "'");
  KillPoint("hdf5:" + std::filesystem::path(path_).filename().string());
}

void ActivationCache::Flush() {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  errno = 0;
  if (H5Fflush(file_, H5F_SCOPE_GLOBAL) < 0) ThrowWriteError(path_, errno, "cannot flush '" + path_ + "'");
}

void ActivationCache::Close() {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  if (file_ < 0) return;
  errno = 0;
  const herr_t status = H5Fclose(file_);
  file_ = -1;
  if (status < 0) ThrowWriteError(path_, errno, "cannot close '" + path_ + "'");
}

bool ActivationCache::Has(const std::string& layer, const std::string& name) const {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  const std::string group = "/layers/" + layer;
  return H5Lexists(file_, group.c_str(), H5P_DEFAULT) > 0 &&
         H5Lexists(file_, DatasetPath(layer, name).c_str(), H5P_DEFAULT) > 0;
}

std::vector<std::int64_t> ActivationCache::Shape(const std::string& layer, const std::string& name) const {
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  const hid_t dataset = H5Dopen2(file_, DatasetPath(layer, name).c_str(), H5P_DEFAULT);
  if (dataset < 0) throw InputError("activation cache '" + path_ + "' has no " + DatasetPath(layer, name));
  const hid_t space = H5Dget_space(dataset);
  std::vector<hsize_t> dims(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  H5Sclose(space);
  H5Dclose(dataset);
  return std::vector<std::int64_t>(dims.begin(), dims.end());
}

torch::Tensor ActivationCache::ReadRuns(const std::string& layer, const std::string& name,
                                        const std::vector<std::pair<std::int64_t, std::int64_t>>& runs) const {
  std::vector<std::int64_t> shape = Shape(layer, name);
  std::lock_guard<std::mutex> lock(Hdf5Mutex());
  const hid_t dataset = H5Dopen2(file_, DatasetPath(layer, name).c_str(), H5P_DEFAULT);
  const hid_t file_space = H5Dget_space(dataset);
  std::vector<hsize_t> offset(shape.size(), 0), extent(shape.begin(), shape.end());
  H5Sselect_none(file_space);
  std::int64_t rows = 0;
  for (const auto& [start, count] : runs) {
    if (start < 0 || count < 0 || start + count > shape[0]) {
      H5Sclose(file_space);
      H5Dclose(dataset);
      throw std::out_of_range("activation cache read out of range");
    }
    offset[0] = static_cast<hsize_t>(start);
    extent[0] = static_cast<hsize_t>(count);
    H5Sselect_hyperslab(file_space, H5S_SELECT_OR, offset.data(), nullptr, extent.data(), nullptr);
    rows += count;
  }
  extent[0] = static_cast<hsize_t>(rows);
  const hid_t memory_space = H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr);
  shape[0] = rows;
  const bool half = IsHalf(dataset);
  torch::Tensor out = torch::empty(shape, half ? torch::kHalf : torch::kFloat32);
  const hid_t memory_type = MemoryType(half);
  const herr_t status = H5Dread(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, out.data_ptr());
  H5Tclose(memory_type);
  H5Sclose(memory_space);
  H5Sclose(file_space);
  H5Dclose(dataset);
  if (status < 0)
    throw InputError("activation cache '" + path_ + "' is damaged (reading " + DatasetPath(layer, name) +
                     " failed); rerun with --fresh");
  return half ? out.to(torch::kFloat32) : out;
}

torch::Tensor ActivationCache::Read(const std::string& layer, const std::string& name, std::int64_t start,
                                    std::int64_t count) const {
  if (count < 0) count = Shape(layer, name)[0] - start;
  return ReadRuns(layer, name, {{start, count}});
}

torch::Tensor ActivationCache::Gather(const std::string& layer, const std::string& name,
                                      const torch::Tensor& indices) const {
  // HDF5 returns a selection in file order: read the sorted unique rows, then put them in order.
  const auto [unique, inverse] = at::_unique(indices.to(torch::kInt64).contiguous(), /*sorted=*/true,
                                             /*return_inverse=*/true);
  std::vector<std::pair<std::int64_t, std::int64_t>> runs;
  const std::int64_t* rows = unique.data_ptr<std::int64_t>();
  for (std::int64_t idx = 0; idx < unique.numel(); ++idx) runs.emplace_back(rows[idx], 1);
  return ReadRuns(layer, name, runs).index_select(0, inverse);
}

}  // namespace adaflow::io
