#include "src/data/dataset.h"

#include <ATen/CPUGeneratorImpl.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <sstream>

#include "common/error.h"

namespace adaflow::data {
namespace {

std::string Shape(const std::vector<std::int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (std::size_t idx = 0; idx < shape.size(); ++idx) out << (idx ? ", " : "") << shape[idx];
  return out.str() + "]";
}

/// The whole file, decompressed when it is gzip (zlib reads plain files unchanged).
std::string ReadMaybeGzip(const std::string& path, const std::string& name) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError("data set '" + name + "': '" + path + "' does not exist");
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw InputError("data set '" + name + "': cannot open '" + path + "'");
  std::string bytes;
  char buffer[1 << 16];
  int got = 0;
  while ((got = gzread(file, buffer, sizeof(buffer))) > 0) bytes.append(buffer, static_cast<std::size_t>(got));
  int status = Z_OK;
  const char* message = gzerror(file, &status);
  const bool failed = got < 0 || (status != Z_OK && status != Z_STREAM_END);
  const std::string reason = failed ? std::string(message) : std::string();
  gzclose(file);
  if (failed) throw InputError("data set '" + name + "': '" + path + "' is damaged (" + reason + ")");
  return bytes;
}

struct Idx {
  std::vector<std::int64_t> dims;
  std::string bytes;  ///< all of it, header included
  std::size_t data_offset = 0;
};

Idx ReadIdx(const std::string& path, const std::string& name) {
  Idx idx;
  idx.bytes = ReadMaybeGzip(path, name);
  const auto* raw = reinterpret_cast<const unsigned char*>(idx.bytes.data());
  if (idx.bytes.empty()) throw InputError("data set '" + name + "': '" + path + "' is empty");
  if (idx.bytes.size() < 4 || raw[0] != 0 || raw[1] != 0)
    throw InputError("data set '" + name + "': '" + path + "' is not an IDX file (bad magic number)");
  if (raw[2] != 0x08)
    throw InputError("data set '" + name + "': '" + path + "' holds IDX type 0x" + std::to_string(raw[2]) +
                     "; only unsigned bytes (0x08) are supported");
  const int ndims = raw[3];
  if (ndims < 1 || idx.bytes.size() < 4 + 4 * static_cast<std::size_t>(ndims))
    throw InputError("data set '" + name + "': '" + path + "' has a truncated IDX header");
  // The product of the sizes, saturated: a damaged header may describe more than 2^63 bytes.
  std::int64_t total = 1;
  bool beyond_int64 = false;
  for (int dim = 0; dim < ndims; ++dim) {
    const unsigned char* p = raw + 4 + 4 * dim;
    const std::int64_t size = (std::int64_t{p[0]} << 24) | (std::int64_t{p[1]} << 16) | (std::int64_t{p[2]} << 8) | p[3];
    idx.dims.push_back(size);
    if (size != 0 && total > std::numeric_limits<std::int64_t>::max() / size) beyond_int64 = true;
    else total *= size;
  }
  if (std::find(idx.dims.begin(), idx.dims.end(), 0) != idx.dims.end()) beyond_int64 = false, total = 0;
  idx.data_offset = 4 + 4 * static_cast<std::size_t>(ndims);
  const std::size_t have = idx.bytes.size() - idx.data_offset;
  if (beyond_int64 || have < static_cast<std::size_t>(total))
    throw InputError("data set '" + name + "': '" + path + "' is truncated: its header " + Shape(idx.dims) +
                     " needs " + (beyond_int64 ? "more than 2^63" : std::to_string(total)) +
                     " bytes of data, the file has " + std::to_string(have));
  return idx;
}

}  // namespace

Dataset::Dataset(std::string name, torch::Tensor inputs, torch::Tensor labels, std::int64_t batch_size)
    : Dataset(std::move(name), {"input"}, {std::move(inputs)}, std::move(labels), batch_size) {}

Dataset::Dataset(std::string name, std::vector<std::string> arrays, std::vector<torch::Tensor> inputs,
                 torch::Tensor labels, std::int64_t batch_size)
    : name_(std::move(name)), arrays_(std::move(arrays)), inputs_(std::move(inputs)), labels_(std::move(labels)),
      batch_size_(batch_size) {
  if (batch_size_ < 1) throw InputError("data set '" + name_ + "': batch_size must be >= 1");
  if (inputs_.empty() || arrays_.size() != inputs_.size()) throw std::logic_error("a data set needs one name per input");
  for (std::size_t index = 0; index < inputs_.size(); ++index) {
    if (inputs_[index].dim() < 1 || inputs_[index].size(0) == 0) throw InputError("data set '" + name_ + "' is empty");
    if (inputs_[index].size(0) != inputs_[0].size(0))
      throw InputError("data set '" + name_ + "': '" + arrays_[index] + "' has " + std::to_string(inputs_[index].size(0)) +
                       " rows, but '" + arrays_[0] + "' has " + std::to_string(inputs_[0].size(0)));
  }
}

std::vector<std::int64_t> Dataset::sample_shape(std::size_t index) const {
  auto shape = inputs_.at(index).sizes().vec();
  shape.erase(shape.begin());
  return shape;
}

Batch Dataset::GetBatch(std::int64_t index) const {
  const std::int64_t start = index * batch_size_;
  return Slice(start, std::min(batch_size_, size() - start));
}

Batch Dataset::Slice(std::int64_t start, std::int64_t count) const {
  Batch batch;
  for (const auto& input : inputs_) batch.inputs.push_back(input.narrow(0, start, count));
  if (labels_.defined()) batch.labels = labels_.narrow(0, start, count);
  return batch;
}

void Dataset::CheckSampleShape(const std::vector<std::int64_t>& model_input_shape) const {
  if (model_input_shape.empty()) return;
  const std::vector<std::int64_t> expected(model_input_shape.begin() + 1, model_input_shape.end());
  if (sample_shape() != expected)
    throw InputError("data set '" + name_ + "' has samples of shape " + Shape(sample_shape()) +
                     ", but model.input_shape " + Shape(model_input_shape) + " expects " + Shape(expected));
}

void Dataset::CheckInputs(const std::vector<TensorSpec>& model_inputs) const {
  if (model_inputs.empty()) return;
  if (model_inputs.size() == 1 && model_inputs[0].name == "input" && !model_inputs[0].integer() && inputs_.size() == 1)
    return CheckSampleShape(model_inputs[0].shape);
  std::string names;
  for (const auto& input : model_inputs) names += (names.empty() ? "" : ", ") + input.name;
  if (model_inputs.size() != inputs_.size())
    throw InputError("data set '" + name_ + "' gives " + std::to_string(inputs_.size()) + " input array(s), but the model has " +
                     std::to_string(model_inputs.size()) + " inputs (" + names + "): use a data type that maps one " +
                     "array to each (hdf5 or npy, with `inputs:`)");
  for (std::size_t index = 0; index < inputs_.size(); ++index) {
    const TensorSpec& input = model_inputs[index];
    const std::vector<std::int64_t> expected(input.shape.begin() + (input.shape.empty() ? 0 : 1), input.shape.end());
    const std::string what = "data set '" + name_ + "': model input '" + input.name + "' reads '" + arrays_[index] + "'";
    if (!input.shape.empty() && sample_shape(index) != expected)
      throw InputError(what + ", whose samples have shape " + Shape(sample_shape(index)) + "; the input " +
                       Shape(input.shape) + " expects " + Shape(expected));
    const bool integer = !inputs_[index].is_floating_point();
    if (integer != input.integer())
      throw InputError(what + ", which holds " + (integer ? "integers" : "floats") + "; the input is " + input.dtype);
  }
}

torch::Tensor Normalize(torch::Tensor inputs, const SampleOptions& options, const std::string& name) {
  inputs = inputs.mul(options.scale);
  const std::int64_t channels = inputs.dim() >= 2 ? inputs.size(1) : 1;
  auto per_channel = [&](const std::vector<double>& values, const char* key) {
    if (values.size() != 1 && static_cast<std::int64_t>(values.size()) != channels)
      throw InputError("data set '" + name + "': '" + key + "' has " + std::to_string(values.size()) +
                       " values, the data has " + std::to_string(channels) + " channels");
    std::vector<std::int64_t> shape(static_cast<std::size_t>(inputs.dim()), 1);
    shape[1] = static_cast<std::int64_t>(values.size());
    return torch::tensor(std::vector<float>(values.begin(), values.end())).view(shape);
  };
  if (!options.mean.empty()) inputs = inputs - per_channel(options.mean, "mean");
  if (!options.std.empty()) inputs = inputs / per_channel(options.std, "std");
  return inputs.contiguous();
}

std::shared_ptr<Dataset> LoadIdx(const std::string& name, const IdxDataOptions& options) {
  const Idx images = ReadIdx(options.images, name);
  if (images.dims.size() != 3 && images.dims.size() != 4)
    throw InputError("data set '" + name + "': '" + options.images + "' holds an array of shape " +
                     Shape(images.dims) + "; images must be N x H x W or N x C x H x W");
  if (std::find(images.dims.begin(), images.dims.end(), 0) != images.dims.end())
    throw InputError("data set '" + name + "': '" + options.images + "' holds an array of shape " +
                     Shape(images.dims) + (images.dims[0] == 0 ? ": no images" : ": an image size is 0"));
  std::int64_t count = images.dims[0];
  if (options.num_samples > 0) {
    if (options.num_samples > count)
      throw InputError("data set '" + name + "': num_samples is " + std::to_string(options.num_samples) + ", but '" +
                       options.images + "' has only " + std::to_string(count) + " images");
    count = options.num_samples;
  }
  std::vector<std::int64_t> shape = images.dims;
  shape[0] = count;
  if (shape.size() == 3) shape.insert(shape.begin() + 1, 1);  // one channel
  std::int64_t elements = 1;
  for (auto dim : shape) elements *= dim;
  torch::Tensor pixels =
      torch::from_blob(const_cast<char*>(images.bytes.data() + images.data_offset), {elements}, torch::kUInt8)
          .to(torch::kFloat32)
          .view(shape);
  torch::Tensor inputs = Normalize(pixels, options, name);

  torch::Tensor labels;
  if (!options.labels.empty()) {
    const Idx idx = ReadIdx(options.labels, name);
    if (idx.dims.size() != 1 || idx.dims[0] != images.dims[0])
      throw InputError("data set '" + name + "': '" + options.labels + "' holds labels of shape " + Shape(idx.dims) +
                       ", but '" + options.images + "' has " + std::to_string(images.dims[0]) + " images");
    labels = torch::from_blob(const_cast<char*>(idx.bytes.data() + idx.data_offset), {count}, torch::kUInt8)
                 .to(torch::kInt64);
  }
  return std::make_shared<Dataset>(name, inputs, labels, options.batch_size);
}

std::shared_ptr<Dataset> MakeRandom(const std::string& name, const RandomDataOptions& options, std::uint64_t seed) {
  std::vector<std::int64_t> shape{options.num_samples};
  shape.insert(shape.end(), options.shape.begin(), options.shape.end());
  auto generator = at::detail::createCPUGenerator(seed);
  torch::Tensor inputs = at::normal(0.0, 1.0, shape, generator);
  return std::make_shared<Dataset>(name, inputs, torch::Tensor(), options.batch_size);
}

}  // namespace adaflow::data
