#include "src/io/activation_cache.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include "common/error.h"
#include "src/adaround/rows.h"
#include "src/io/activation_cache_writer.h"
#include "src/model/layers.h"
#include "tests/support/test_support.h"

namespace adaflow::io {
namespace {

using adaflow::testing::TempDir;

/// A string attribute of /layers/<layer>/<name>, read as h5dump users see it ("" when absent).
std::string ReadAttribute(const std::string& file, const std::string& layer, const std::string& name,
                          const std::string& attribute) {
  const hid_t handle = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const std::string path = "/layers/" + layer + "/" + name;
  std::string value;
  if (H5Aexists_by_name(handle, path.c_str(), attribute.c_str(), H5P_DEFAULT) > 0) {
    const hid_t attr = H5Aopen_by_name(handle, path.c_str(), attribute.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    const hid_t type = H5Aget_type(attr);
    value.assign(H5Tget_size(type), '\0');
    H5Aread(attr, type, value.data());
    H5Tclose(type);
    H5Aclose(attr);
  }
  H5Fclose(handle);
  return value.substr(0, value.find('\0'));
}

TEST(ActivationCacheTest, WritesReadsAndGathersRowsWithAttributes) {
  TempDir dir;
  torch::manual_seed(0);
  const torch::Tensor values = torch::randn({6, 2, 3, 3});
  {
    ActivationCache store(dir / "cache.h5", true);
    store.Write("layers.0.conv1", "input", values, StoreDtype::kFloat32, "fp", "abc123");
    store.Write("layers.0.conv1", "half", values, StoreDtype::kFloat16, "fp", "abc123");
  }
  EXPECT_EQ(ReadAttribute(dir / "cache.h5", "layers.0.conv1", "input", "source"), "fp");
  EXPECT_EQ(ReadAttribute(dir / "cache.h5", "layers.0.conv1", "input", "key"), "abc123");
  const auto store = std::make_shared<const ActivationCache>(dir / "cache.h5", false);
  EXPECT_TRUE(store->Has("layers.0.conv1", "input"));
  EXPECT_FALSE(store->Has("layers.0.conv1", "target"));
  EXPECT_FALSE(store->Has("fc", "input"));
  EXPECT_EQ(store->Shape("layers.0.conv1", "input"), (std::vector<std::int64_t>{6, 2, 3, 3}));
  EXPECT_TRUE(torch::equal(store->Read("layers.0.conv1", "input"), values));
  EXPECT_TRUE(torch::equal(store->Read("layers.0.conv1", "input", 2, 3), values.narrow(0, 2, 3)));
  const torch::Tensor indices = torch::tensor({4, 0, 4, 2}, torch::kInt64);
  EXPECT_TRUE(torch::equal(store->Gather("layers.0.conv1", "input", indices), values.index_select(0, indices)));
  // float16 keeps about three decimal digits.
  EXPECT_TRUE(torch::allclose(store->Read("layers.0.conv1", "half"), values, 1e-3, 1e-3));
  // Streamed rows give exactly what rows in RAM give.
  const adaround::Rows streamed(store, "layers.0.conv1", "input"), in_ram(values);
  EXPECT_EQ(streamed.size(), 6);
  EXPECT_TRUE(torch::equal(streamed.Gather(indices), in_ram.Gather(indices)));
  EXPECT_TRUE(torch::equal(streamed.Slice(1, 2), in_ram.Slice(1, 2)));
}

TEST(ActivationCacheTest, MissingOrDamagedFilesAreClearErrors) {
  TempDir dir;
  EXPECT_THROW(ActivationCache(dir / "missing.h5", false), InputError);
  adaflow::testing::WriteTextFile(dir / "damaged.h5", "not an HDF5 file at all");
  try {
    ActivationCache store(dir / "damaged.h5", false);
    FAIL();
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("is damaged"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("--fresh"), std::string::npos);
  }
}

TEST(ActivationCacheWriterTest, ALayerWhoseDataIsNotBatchFirstIsAnErrorNamingIt) {
  // x [N, 3, 4] -> view(-1, 4): the batch folded into the rows -> fc (Linear 4 -> 2).
  torch::manual_seed(0);
  torch::jit::Module fc("Fc");
  fc.register_parameter("weight", torch::randn({2, 4}), false);
  fc.register_parameter("bias", torch::randn({2}), false);
  fc.define("def forward(self, x):\n    return torch.linear(x, self.weight, self.bias)\n");
  torch::jit::Module root("Net");
  root.register_module("fc", fc);
  root.define("def forward(self, x):\n    return self.fc.forward(x.view(-1, 4))\n");
  auto model = std::make_shared<model::Model>(root, "folded");
  const auto layers = model::DiscoverLayers(*model);
  const data::Dataset data("calibration", torch::randn({8, 3, 4}), torch::Tensor(), 4);
  const std::string error =
      adaflow::testing::ErrorMessage<InputError>([&] { ActivationCacheWriter(model, layers, data); });
  EXPECT_NE(error.find("layer 'fc': its input is [3, 4] for one sample, so its first dimension is not the batch"),
            std::string::npos)
      << error;
}

}  // namespace
}  // namespace adaflow::io
