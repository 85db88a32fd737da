// `hdf5` data sets: an N × … float dataset (any numeric type, converted) and optional N integer labels.

#include <hdf5.h>

#include <filesystem>
#include <mutex>

#include "common/error.h"
#include "src/data/dataset.h"
#include "src/data/multi_input.h"
#include "src/io/hdf5_lock.h"

namespace adaflow::data {
namespace {

/// Closes an HDF5 handle at scope exit.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

std::vector<hsize_t> Dims(hid_t dataset) {
  Handle space(H5Dget_space(dataset), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

/// Reads the first `rows` rows of `dataset` converted to `memory_type`.
void ReadRows(hid_t dataset, hid_t memory_type, const std::vector<hsize_t>& dims, hsize_t rows, void* out) {
  Handle file_space(H5Dget_space(dataset), H5Sclose);
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  count[0] = rows;
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  Handle memory_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
  if (H5Dread(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, out) < 0)
    throw std::runtime_error("read failed");
}

/// `path` opened read-only; InputError naming data set `name` when it is missing, not HDF5 or damaged.
hid_t OpenFile(const std::string& name, const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported here, not printed by the library
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError("data set '" + name + "': '" + path + "' does not exist");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError("data set '" + name + "': '" + path + "' is not an HDF5 file");
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    throw InputError("data set '" + name + "': cannot open '" + path + "': an HDF5 file that is damaged or truncated");
  return file;
}

}  // namespace

std::shared_ptr<Dataset> LoadHdf5(const std::string& name, const Hdf5DataOptions& options) {
  std::lock_guard<std::mutex> lock(io::Hdf5Mutex());
  const std::string& path = options.file;
  Handle file(OpenFile(name, path), H5Fclose);
  auto open = [&](const std::string& dataset) {
    if (H5Lexists(file.get(), dataset.c_str(), H5P_DEFAULT) <= 0)
      throw InputError("data set '" + name + "': '" + path + "' has no dataset '" + dataset + "'");
    return H5Dopen2(file.get(), dataset.c_str(), H5P_DEFAULT);
  };
  Handle images(open(options.images), H5Dclose);
  const auto dims = Dims(images.get());
  if (dims.size() < 2)
    throw InputError("data set '" + name + "': '" + path + ":" + options.images + "' must be N x ... (rank >= 2)");
  hsize_t rows = dims[0];
  if (options.num_samples > 0) {
    if (static_cast<hsize_t>(options.num_samples) > rows)
      throw InputError("data set '" + name + "': num_samples is " + std::to_string(options.num_samples) + ", but '" +
                       path + ":" + options.images + "' has " + std::to_string(rows) + " rows");
    rows = static_cast<hsize_t>(options.num_samples);
  }
  std::vector<std::int64_t> shape(dims.begin(), dims.end());
  shape[0] = static_cast<std::int64_t>(rows);
  torch::Tensor inputs = torch::empty(shape, torch::kFloat32);
  try {
    ReadRows(images.get(), H5T_NATIVE_FLOAT, dims, rows, inputs.data_ptr<float>());
  } catch (const std::runtime_error&) {
    throw InputError("data set '" + name + "': cannot read '" + path + ":" + options.images +
                     "' as numbers (is it damaged or of a non-numeric type?)");
  }
  torch::Tensor labels;
  if (!options.labels.empty()) {
    Handle label_set(open(options.labels), H5Dclose);
    const auto label_dims = Dims(label_set.get());
    if (label_dims.size() != 1 || label_dims[0] != dims[0])
      throw InputError("data set '" + name + "': '" + path + ":" + options.labels + "' must hold " +
                       std::to_string(dims[0]) + " labels (one per row of '" + options.images + "')");
    labels = torch::empty({static_cast<std::int64_t>(rows)}, torch::kInt64);
    try {
      ReadRows(label_set.get(), H5T_NATIVE_INT64, label_dims, rows, labels.data_ptr<std::int64_t>());
    } catch (const std::runtime_error&) {
      throw InputError("data set '" + name + "': cannot read '" + path + ":" + options.labels + "' as integers");
    }
  }
  return std::make_shared<Dataset>(name, Normalize(inputs, options, name), labels,
                                   options.batch_size);
}

std::shared_ptr<Dataset> LoadHdf5(const std::string& name, const Hdf5DataOptions& options,
                                  const std::vector<TensorSpec>& model_inputs) {
  const bool one_float_input = model_inputs.size() <= 1 && (model_inputs.empty() || !model_inputs[0].integer());
  if (one_float_input && options.inputs.empty()) return LoadHdf5(name, options);
  std::lock_guard<std::mutex> lock(io::Hdf5Mutex());
  const std::string& path = options.file;
  Handle file(OpenFile(name, path), H5Fclose);
  const ArrayReader read = [&](const std::string& array) {
    const std::string where = path + ":" + array;
    if (H5Lexists(file.get(), array.c_str(), H5P_DEFAULT) <= 0)
      throw InputError("data set '" + name + "': '" + path + "' has no dataset '" + array + "'");
    Handle dataset(H5Dopen2(file.get(), array.c_str(), H5P_DEFAULT), H5Dclose);
    Handle type(H5Dget_type(dataset.get()), H5Tclose);
    const H5T_class_t kind = H5Tget_class(type.get());
    if (kind != H5T_INTEGER && kind != H5T_FLOAT)
      throw InputError("data set '" + name + "': '" + where + "' holds neither integers nor floats");
    const auto dims = Dims(dataset.get());
    if (dims.empty()) throw InputError("data set '" + name + "': '" + where + "' is a scalar, not N samples");
    const std::vector<std::int64_t> shape(dims.begin(), dims.end());
    const bool integer = kind == H5T_INTEGER;
    torch::Tensor values = torch::empty(shape, integer ? torch::kInt64 : torch::kFloat32);
    try {
      ReadRows(dataset.get(), integer ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT, dims, dims[0], values.data_ptr());
    } catch (const std::runtime_error&) {
      throw InputError("data set '" + name + "': cannot read '" + where + "' (is it damaged?)");
    }
    return ArrayRead{values, where};
  };
  return AssembleInputs(name, options, options.inputs, options.labels, model_inputs, read);
}

}  // namespace adaflow::data
