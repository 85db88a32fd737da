// `npy` data sets (a folder of NumPy .npy arrays) and the assembly of a data set of several model inputs,
// which the hdf5 type shares.

#include <algorithm>
#include <map>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/error.h"
#include "src/data/dataset.h"
#include "src/data/multi_input.h"

namespace adaflow::data {
namespace {

/// The value of `key` in a .npy header dict ("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }").
std::string HeaderField(const std::string& header, const std::string& key, const std::string& path,
                        const std::string& data_set) {
  const std::regex pattern("'" + key + "'\\s*:\\s*('[^']*'|True|False|\\([^)]*\\))");
  std::smatch match;
  if (!std::regex_search(header, match, pattern))
    throw InputError("data set '" + data_set + "': '" + path + "' is not a .npy file (its header has no '" + key + "')");
  std::string value = match[1];
  if (value.front() == '\'') value = value.substr(1, value.size() - 2);
  return value;
}

}  // namespace

torch::Tensor ReadNpy(const std::string& path, const std::string& data_set) {
  const std::string where = "data set '" + data_set + "': '" + path + "'";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(where + " cannot be opened");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw InputError(where + " is not a .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_length = 0, header_start = 0;
  if (major == 1) {
    header_length = static_cast<unsigned char>(bytes[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw InputError(where + " is truncated (in its header)");
    for (int b = 3; b >= 0; --b) header_length = (header_length << 8) | static_cast<unsigned char>(bytes[8 + b]);
    header_start = 12;
  } else {
    throw InputError(where + " has .npy format version " + std::to_string(major) + "; versions 1 to 3 are read");
  }
  if (bytes.size() < header_start + header_length) throw InputError(where + " is truncated (in its header)");
  const std::string header = bytes.substr(header_start, header_length);
  const std::string descr = HeaderField(header, "descr", path, data_set);
  if (HeaderField(header, "fortran_order", path, data_set) == "True")
    throw InputError(where + " is stored in Fortran order; save it with np.ascontiguousarray first");
  std::vector<std::int64_t> shape;
  std::stringstream dims(HeaderField(header, "shape", path, data_set).substr(1));
  for (std::string dim; std::getline(dims, dim, ',');) {
    dim.erase(std::remove_if(dim.begin(), dim.end(), [](char c) { return c == ' ' || c == ')'; }), dim.end());
    if (dim.empty()) continue;
    std::size_t used = 0;
    long long size = -1;
    try {
      size = std::stoll(dim, &used);
    } catch (const std::exception&) {
    }
    if (size < 0 || used != dim.size() || size > (std::int64_t{1} << 40))
      throw InputError(where + " has a damaged header (shape entry '" + dim + "')");
    shape.push_back(size);
  }
  static const std::map<std::string, c10::ScalarType> kTypes = {
      {"|b1", torch::kBool},   {"|u1", torch::kUInt8},  {"|i1", torch::kInt8},   {"<i2", torch::kInt16},
      {"<i4", torch::kInt32},  {"<i8", torch::kInt64},  {"<f4", torch::kFloat32}, {"<f8", torch::kFloat64},
      {"<f2", torch::kFloat16}};
  const auto type = kTypes.find(descr);
  if (type == kTypes.end())
    throw InputError(where + " holds elements of type '" + descr +
                     "'; little-endian bool, integer and float arrays are read (np.asarray(x, '<f4') converts)");
  std::int64_t elements = 1;
  for (std::int64_t dim : shape) {
    if (dim != 0 && elements > (std::int64_t{1} << 40) / dim) throw InputError(where + " has a damaged header (its shape is too large)");
    elements *= dim;
  }
  const std::size_t data_start = header_start + header_length;
  const std::size_t need = static_cast<std::size_t>(elements) * c10::elementSize(type->second);
  if (bytes.size() - data_start < need)
    throw InputError(where + " is truncated: its header says " + std::to_string(elements) + " elements (" +
                     std::to_string(need) + " bytes), the file has " + std::to_string(bytes.size() - data_start));
  torch::Tensor tensor = torch::empty(shape, type->second);
  std::memcpy(tensor.data_ptr(), bytes.data() + data_start, need);
  return tensor;
}

std::shared_ptr<Dataset> AssembleInputs(const std::string& name, const SampleOptions& options,
                                        const std::map<std::string, std::string>& mapping, const std::string& labels,
                                        const std::vector<TensorSpec>& model_inputs, const ArrayReader& read) {
  std::vector<TensorSpec> wanted = model_inputs;
  if (wanted.empty()) wanted.push_back(TensorSpec{"input", {}, "float32"});
  std::string names;
  for (const auto& input : wanted) names += (names.empty() ? "" : ", ") + input.name;
  for (const auto& [input, array] : mapping)
    if (std::none_of(wanted.begin(), wanted.end(), [&](const TensorSpec& spec) { return spec.name == input; }))
      throw InputError("data set '" + name + "': inputs maps '" + input + "', which is not a model input (" + names + ")");
  auto rows_of = [&](const torch::Tensor& tensor, const std::string& array) {
    const std::int64_t rows = tensor.dim() > 0 ? tensor.size(0) : 0;
    if (options.num_samples > rows)
      throw InputError("data set '" + name + "': num_samples is " + std::to_string(options.num_samples) + ", but " +
                       array + " has " + std::to_string(rows) + " rows");
    return tensor.narrow(0, 0, options.num_samples > 0 ? options.num_samples : rows);
  };
  std::vector<std::string> arrays;
  std::vector<torch::Tensor> inputs;
  for (const auto& input : wanted) {
    const auto mapped = mapping.find(input.name);
    const std::string array = mapped != mapping.end() ? mapped->second : input.name;
    ArrayRead got;
    try {
      got = read(array);
    } catch (const InputError& error) {
      throw InputError(std::string(error.what()) + " (model input '" + input.name + "')");
    }
    if (got.values.dim() < 1) throw InputError("data set '" + name + "': '" + got.where + "' is a scalar, not N samples");
    torch::Tensor values = rows_of(got.values, "'" + got.where + "'");
    if (input.integer()) {
      if (values.is_floating_point())
        throw InputError("data set '" + name + "': model input '" + input.name + "' is " + input.dtype + ", but '" +
                         got.where + "' holds floats");
      values = values.to(torch::kInt64).contiguous();
    } else {
      values = Normalize(values.to(torch::kFloat32), options, name);
    }
    arrays.push_back(got.where);
    inputs.push_back(values);
  }
  torch::Tensor label_values;
  if (!labels.empty()) {
    const ArrayRead got = read(labels);
    if (got.values.is_floating_point())
      throw InputError("data set '" + name + "': labels '" + got.where + "' hold floats; labels are integers");
    if (got.values.dim() < 1 || got.values.size(0) < inputs[0].size(0))
      throw InputError("data set '" + name + "': labels '" + got.where + "' have " +
                       std::to_string(got.values.dim() ? got.values.size(0) : 0) + " rows, fewer than the " +
                       std::to_string(inputs[0].size(0)) + " samples");
    label_values = got.values.narrow(0, 0, inputs[0].size(0)).to(torch::kInt64).contiguous();
  }
  auto data = std::make_shared<Dataset>(name, arrays, inputs, label_values, options.batch_size);
  if (!model_inputs.empty()) data->CheckInputs(model_inputs);
  return data;
}

std::shared_ptr<Dataset> LoadNpy(const std::string& name, const NpyDataOptions& options,
                                 const std::vector<TensorSpec>& model_inputs) {
  std::error_code ec;
  if (!std::filesystem::is_directory(options.folder, ec))
    throw InputError("data set '" + name + "': folder '" + options.folder + "' does not exist");
  const ArrayReader read = [&](const std::string& array) {
    const std::string path = (std::filesystem::path(options.folder) / (array + ".npy")).string();
    if (!std::filesystem::is_regular_file(path, ec)) {
      std::vector<std::string> there;
      for (const auto& entry : std::filesystem::directory_iterator(options.folder, ec))
        if (entry.path().extension() == ".npy") there.push_back(entry.path().stem().string());
      std::sort(there.begin(), there.end());
      std::string list;
      for (const auto& stem : there) list += (list.empty() ? "" : ", ") + stem;
      throw InputError("data set '" + name + "': '" + path + "' does not exist (arrays in '" + options.folder +
                       "': " + (list.empty() ? "none" : list) + ")");
    }
    return ArrayRead{ReadNpy(path, name), path};
  };
  return AssembleInputs(name, options, options.inputs, options.labels, model_inputs, read);
}

}  // namespace adaflow::data
