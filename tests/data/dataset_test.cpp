#include "src/data/dataset.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <stb_image_write.h>
#include <zlib.h>

#include <filesystem>

#include "common/error.h"
#include "tests/support/test_support.h"

namespace adaflow::data {
namespace {

using adaflow::testing::TempDir;

std::string IdxBytes(const std::vector<std::uint32_t>& dims, const std::vector<unsigned char>& values) {
  std::string bytes = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (std::uint32_t dim : dims)
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((dim >> shift) & 0xFF));
  bytes.append(values.begin(), values.end());
  return bytes;
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

std::string ErrorOf(const IdxDataOptions& options) {
  try {
    LoadIdx("calibration", options);
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 3 images of 2x2: pixel values 0..11; labels 7, 8, 9.
    std::vector<unsigned char> pixels(12);
    for (int idx = 0; idx < 12; ++idx) pixels[idx] = static_cast<unsigned char>(idx * 20);
    WriteGzip(dir_ / "images.gz", IdxBytes({3, 2, 2}, pixels));
    adaflow::testing::WriteTextFile(dir_ / "labels", IdxBytes({3}, {7, 8, 9}));
    options_.images = dir_ / "images.gz";
    options_.labels = dir_ / "labels";
    options_.batch_size = 2;
  }
  TempDir dir_;
  IdxDataOptions options_;
};

TEST_F(IdxTest, ReadsGzipAndPlainFilesScaledAndNormalized) {
  options_.scale = 0.5;
  options_.mean = {10.0};
  options_.std = {2.0};
  const auto data = LoadIdx("calibration", options_);
  EXPECT_EQ(data->size(), 3);
  EXPECT_EQ(data->sample_shape(), (std::vector<std::int64_t>{1, 2, 2}));
  EXPECT_EQ(data->num_batches(), 2);
  EXPECT_EQ(data->GetBatch(1).inputs[0].size(0), 1);
  // pixel 5 is 100: (100·0.5 − 10) / 2 = 20.
  EXPECT_FLOAT_EQ(data->input().flatten()[5].item<float>(), 20.0f);
  EXPECT_EQ(data->labels()[2].item<std::int64_t>(), 9);
  EXPECT_TRUE(data->labelled());
}

TEST_F(IdxTest, NumSamplesTakesTheFirstOnes) {
  options_.num_samples = 2;
  const auto data = LoadIdx("calibration", options_);
  EXPECT_EQ(data->size(), 2);
  EXPECT_EQ(data->labels()[1].item<std::int64_t>(), 8);
  options_.num_samples = 4;
  EXPECT_NE(ErrorOf(options_).find("num_samples is 4, but"), std::string::npos);
}

TEST_F(IdxTest, BadFilesAreClearErrors) {
  adaflow::testing::WriteTextFile(dir_ / "truncated", IdxBytes({3, 2, 2}, {1, 2, 3}));
  options_.images = dir_ / "truncated";
  EXPECT_NE(ErrorOf(options_).find("is truncated: its header [3, 2, 2] needs 12 bytes of data, the file has 3"),
            std::string::npos)
      << ErrorOf(options_);
  adaflow::testing::WriteTextFile(dir_ / "text", "hello world, not IDX");
  options_.images = dir_ / "text";
  EXPECT_NE(ErrorOf(options_).find("is not an IDX file"), std::string::npos) << ErrorOf(options_);
  options_.images = dir_ / "missing.gz";
  EXPECT_NE(ErrorOf(options_).find("does not exist"), std::string::npos);
  options_.images = dir_ / "images.gz";
  adaflow::testing::WriteTextFile(dir_ / "labels2", IdxBytes({2}, {1, 2}));
  options_.labels = dir_ / "labels2";
  EXPECT_NE(ErrorOf(options_).find("holds labels of shape [2], but"), std::string::npos) << ErrorOf(options_);
  options_.labels = "";
  options_.mean = {0.1, 0.2, 0.3};
  EXPECT_NE(ErrorOf(options_).find("'mean' has 3 values, the data has 1 channels"), std::string::npos);
}

TEST_F(IdxTest, SampleShapeMustMatchTheModelInput) {
  const auto data = LoadIdx("evaluation", options_);
  EXPECT_NO_THROW(data->CheckSampleShape({1, 1, 2, 2}));
  try {
    data->CheckSampleShape({1, 3, 2, 2});
    FAIL();
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("samples of shape [1, 2, 2], but model.input_shape [1, 3, 2, 2]"),
              std::string::npos)
        << error.what();
  }
}

TEST(RandomDataTest, SeededAndShaped) {
  RandomDataOptions options;
  options.shape = {3, 4};
  options.num_samples = 10;
  const auto a = MakeRandom("r", options, 7), b = MakeRandom("r", options, 7), c = MakeRandom("r", options, 8);
  EXPECT_EQ(a->sample_shape(), (std::vector<std::int64_t>{3, 4}));
  EXPECT_TRUE(torch::equal(a->input(), b->input()));
  EXPECT_FALSE(torch::equal(a->input(), c->input()));
  EXPECT_FALSE(a->labelled());
}

/// A solid-color RGB PNG.
void WritePng(const std::string& path, int width, int height, unsigned char r, unsigned char g, unsigned char b) {
  std::vector<unsigned char> pixels;
  for (int idx = 0; idx < width * height; ++idx) pixels.insert(pixels.end(), {r, g, b});
  ASSERT_NE(stbi_write_png(path.c_str(), width, height, 3, pixels.data(), width * 3), 0);
}

TEST(ImageFolderTest, ClassesAreSortedSubfoldersAndImagesAreResizedCroppedNormalized) {
  TempDir dir;
  std::filesystem::create_directories(dir / "root/cat");
  std::filesystem::create_directories(dir / "root/ant");
  WritePng(dir / "root/cat/1.png", 12, 8, 255, 0, 0);
  WritePng(dir / "root/cat/2.png", 8, 8, 0, 255, 0);
  WritePng(dir / "root/ant/1.png", 8, 16, 0, 0, 255);
  adaflow::testing::WriteTextFile(dir / "root/cat/notes.txt", "not an image");
  ImageFolderDataOptions options;
  options.root = dir / "root";
  options.resize = 6;
  options.crop = 4;
  const auto data = LoadImageFolder("evaluation", options);
  ASSERT_EQ(data->size(), 3);
  EXPECT_EQ(data->sample_shape(), (std::vector<std::int64_t>{3, 4, 4}));
  // "ant" sorts before "cat": label 0 is the blue image.
  EXPECT_EQ(data->labels()[0].item<std::int64_t>(), 0);
  EXPECT_EQ(data->labels()[1].item<std::int64_t>(), 1);
  // A solid image stays solid through resize and crop: blue channel (1 − 0.406) / 0.225.
  EXPECT_NEAR(data->input()[0][2].mean().item<double>(), (1.0 - 0.406) / 0.225, 1e-4);
  EXPECT_NEAR(data->input()[0][0].mean().item<double>(), (0.0 - 0.485) / 0.229, 1e-4);
  options.crop = 7;  // larger than the resized 6-pixel side
  EXPECT_THROW(LoadImageFolder("evaluation", options), InputError);
  options.root = dir / "nothing";
  EXPECT_THROW(LoadImageFolder("evaluation", options), InputError);
}

TEST(Hdf5DataTest, ReadsInputsAndLabelsAndChecksThem) {
  TempDir dir;
  const std::string path = dir / "data.h5";
  {
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[4] = {5, 1, 2, 2};
    std::vector<double> values(20);
    for (int idx = 0; idx < 20; ++idx) values[idx] = idx * 0.5;
    hid_t space = H5Screate_simple(4, dims, nullptr);
    hid_t set = H5Dcreate2(file, "images", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(set);
    H5Sclose(space);
    const hsize_t label_dims[1] = {5};
    const std::int32_t labels[5] = {4, 3, 2, 1, 0};
    space = H5Screate_simple(1, label_dims, nullptr);
    set = H5Dcreate2(file, "labels", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(set, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
    H5Dclose(set);
    H5Sclose(space);
    H5Fclose(file);
  }
  Hdf5DataOptions options;
  options.file = path;
  options.num_samples = 4;
  const auto data = LoadHdf5("calibration", options);
  EXPECT_EQ(data->size(), 4);
  EXPECT_EQ(data->sample_shape(), (std::vector<std::int64_t>{1, 2, 2}));
  EXPECT_FLOAT_EQ(data->input()[3][0][1][1].item<float>(), 7.5f);
  EXPECT_EQ(data->labels()[0].item<std::int64_t>(), 4);
  options.images = "pixels";
  try {
    LoadHdf5("calibration", options);
    FAIL();
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("has no dataset 'pixels'"), std::string::npos);
  }
  adaflow::testing::WriteTextFile(dir / "fake.h5", "not hdf5");
  options.file = dir / "fake.h5";
  EXPECT_THROW(LoadHdf5("calibration", options), InputError);
}

}  // namespace
}  // namespace adaflow::data
