// Configs of a model with several inputs whose data does not fit them: each is exit 2 with a message that
// names the data set and the model input (or the forward's arguments), before any result is written.

#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include <filesystem>

#include "common/error.h"
#include "src/data/dataset.h"
#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

/// `tensor` as a NumPy .npy file (format 1.0, C order).
void WriteNpy(const std::string& path, const torch::Tensor& tensor) {
  const torch::Tensor data = tensor.contiguous();
  std::string shape;
  for (auto size : data.sizes()) shape += std::to_string(size) + ", ";
  std::string header = std::string("{'descr': '") + (data.is_floating_point() ? "<f4" : "<i8") +
                       "', 'fortran_order': False, 'shape': (" + shape + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xFF);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  bytes.append(static_cast<const char*>(data.data_ptr()), data.nbytes());
  WriteTextFile(path, bytes);
}

/// Writes `tensor` (int64 or float32) as dataset `name` of the open HDF5 file.
void WriteHdf5(hid_t file, const std::string& name, const torch::Tensor& tensor) {
  const torch::Tensor data = tensor.contiguous();
  std::vector<hsize_t> dims(data.sizes().begin(), data.sizes().end());
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t type = data.is_floating_point() ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64;
  const hid_t set = H5Dcreate2(file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data_ptr());
  H5Dclose(set);
  H5Sclose(space);
}

TEST(MultiInputDataTest, HdfFiveAndNpyFoldersGiveEachInputItsArrayAndLabelsPerToken) {
  // The token data (tests/data/token_lm) read from its .npy folder, written to HDF5 under other names and
  // read back through the `inputs` map: the same tensors, int64, and labels [N, T].
  const std::vector<TensorSpec> inputs = {{"input_ids", {1, 12}, "int64"}, {"attention_mask", {1, 12}, "int64"}};
  data::NpyDataOptions npy;
  npy.folder = SourcePath("tests/data/token_lm");
  npy.num_samples = 40;
  npy.batch_size = 16;
  const auto from_npy = data::LoadNpy("calibration", npy, inputs);
  ASSERT_EQ(from_npy->size(), 40);
  EXPECT_EQ(from_npy->num_batches(), 3);
  EXPECT_EQ(from_npy->input(0).scalar_type(), torch::kInt64);
  EXPECT_EQ(from_npy->labels().sizes(), (std::vector<std::int64_t>{40, 12}));
  EXPECT_EQ(from_npy->GetBatch(2).inputs.at(1).size(0), 8);

  TempDir dir;
  const std::string path = dir / "tokens.h5";
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const auto all = data::LoadNpy("all", data::NpyDataOptions{{0, 96, 1.0, {}, {}}, npy.folder, {}, "labels"}, inputs);
  WriteHdf5(file, "tokens", all->input(0));
  WriteHdf5(file, "attention_mask", all->input(1));
  WriteHdf5(file, "next_token", all->labels());
  WriteHdf5(file, "mask_float", all->input(1).to(torch::kFloat32));
  H5Fclose(file);
  data::Hdf5DataOptions hdf5;
  hdf5.file = path;
  hdf5.inputs = {{"input_ids", "tokens"}};
  hdf5.labels = "next_token";
  hdf5.num_samples = 40;
  hdf5.batch_size = 16;
  const auto from_hdf5 = data::LoadHdf5("calibration", hdf5, inputs);
  for (std::size_t index = 0; index < 2; ++index)
    EXPECT_TRUE(torch::equal(from_hdf5->input(index), from_npy->input(index))) << index;
  EXPECT_TRUE(torch::equal(from_hdf5->labels(), from_npy->labels()));
  hdf5.inputs = {{"input_ids", "tokens"}, {"attention_mask", "mask_float"}};
  try {
    data::LoadHdf5("calibration", hdf5, inputs);
    ADD_FAILURE() << "a float array read for an int64 input";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("model input 'attention_mask' is int64, but '" + path + ":mask_float' holds floats"),
              std::string::npos) << error.what();
  }
  hdf5.inputs = {{"input_ids", "tokens"}, {"attention_mask", "mask"}};
  try {
    data::LoadHdf5("calibration", hdf5, inputs);
    ADD_FAILURE() << "a missing dataset accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("data set 'calibration': '" + path + "' has no dataset 'mask' (model input 'attention_mask')"),
              std::string::npos) << error.what();
  }
}

TEST(MultiInputConfigTest, BadMappingsExitTwoNamingTheInputAndTheDataSet) {
  TempDir dir;
  const std::string folder = dir / "arrays";
  std::filesystem::create_directories(folder);
  torch::manual_seed(0);
  WriteNpy(folder + "/input_ids.npy", torch::randint(1, 40, {16, 12}, torch::kInt64));
  WriteNpy(folder + "/ids_10.npy", torch::randint(1, 40, {16, 10}, torch::kInt64));
  WriteNpy(folder + "/mask_float.npy", torch::ones({16, 12}));
  WriteNpy(folder + "/labels.npy", torch::randint(0, 40, {16, 12}, torch::kInt64));
  // A .npy file written here reads back as written.
  const torch::Tensor mask = torch::ones({16, 12}, torch::kInt64);
  WriteNpy(folder + "/attention_mask.npy", mask);
  EXPECT_TRUE(torch::equal(data::ReadNpy(folder + "/attention_mask.npy", "check"), mask));

  const std::string inputs =
      "  inputs:\n    - {name: input_ids, shape: [1, 12], dtype: int64}\n"
      "    - {name: attention_mask, shape: [1, 12], dtype: int64}\n";
  struct Case {
    std::string name, model, data, expected;
  };
  const std::vector<Case> cases = {
      {"missing array", inputs, "{type: npy, folder: " + folder + ", inputs: {attention_mask: mask}}",
       "data set 'calibration': '" + folder + "/mask.npy' does not exist (arrays in '" + folder +
           "': attention_mask, ids_10, input_ids, labels, mask_float) (model input 'attention_mask')"},
      {"dtype", inputs, "{type: npy, folder: " + folder + ", inputs: {attention_mask: mask_float}}",
       "data set 'calibration': model input 'attention_mask' is int64, but '" + folder + "/mask_float.npy' holds floats"},
      {"shape", inputs, "{type: npy, folder: " + folder + ", inputs: {input_ids: ids_10}}",
       "data set 'calibration': model input 'input_ids' reads '" + folder + "/ids_10.npy', whose samples have shape [10]; "
       "the input [1, 12] expects [12]"},
      {"unknown input", inputs, "{type: npy, folder: " + folder + ", inputs: {token_ids: input_ids}}",
       "data set 'calibration': inputs maps 'token_ids', which is not a model input (input_ids, attention_mask)"},
      {"one array for two inputs", inputs, "{type: random, shape: [12], num_samples: 16}",
       "data set 'calibration' gives 1 input array(s), but the model has 2 inputs (input_ids, attention_mask)"},
      {"one input declared", "  input_shape: [1, 12]\n", "{type: npy, folder: " + folder + "}",
       "forward takes 2 input(s) (input_ids, attention_mask), but the config declares 1"},
  };
  for (const Case& item : cases) {
    SCOPED_TRACE(item.name);
    const std::string config = dir / "config.yaml";
    WriteTextFile(config, "name: bad\nseed: 0\nthreads: 1\nmodel:\n  path: " + SourcePath("tests/models/token_lm_traced.pt") +
                              "\n" + item.model + "data:\n  calibration: " + item.data +
                              "\nstages:\n  - {id: load, type: load_model}\n  - {id: prepare, type: prepare}\n"
                              "  - {id: cache, type: cache_activations}\n");
    const CommandResult result = RunCli("run " + config + " --run-dir " + (dir / "run"));
    EXPECT_EQ(result.exit_code, 2) << result.output;
    EXPECT_NE(result.output.find(item.expected), std::string::npos) << "expected: " << item.expected << "\ngot: " << result.output;
  }
}

}  // namespace
}  // namespace adaflow::testing
