#pragma once
// Options of each data set type, as plain structs (the YAML schemas live in stages/data/).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace adaflow::data {

/// What the image data sets share: how many samples, in batches of how many, and the per-channel
/// normalization (x * scale - mean) / std applied as they are read.
struct SampleOptions {
  int num_samples = 0;
  int batch_size = 32;
  double scale = 1.0;
  std::vector<double> mean;
  std::vector<double> std;
};

/// `type: idx` — MNIST / Fashion-MNIST IDX files, gzip or plain.
/// Help, default and range of each field: its schema in stages/data/data_types.cpp (`adaflow describe <type>`).
struct IdxDataOptions : SampleOptions {
  std::string images;
  std::string labels;
};

/// `type: image_folder` — one subfolder of JPEG/PNG images per class; bytes scaled to [0, 1] and
/// normalized with the ImageNet mean and std unless set.
/// Help, default and range of each field: its schema in stages/data/data_types.cpp (`adaflow describe <type>`).
struct ImageFolderDataOptions : SampleOptions {
  ImageFolderDataOptions() : SampleOptions{0, 32, 1.0 / 255.0, {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}} {}
  std::string root;
  int resize = 256;
  int crop = 224;
};

/// `type: hdf5` — an N×C×H×W float dataset and optional labels in one HDF5 file.
/// Help, default and range of each field: its schema in stages/data/data_types.cpp (`adaflow describe <type>`).
struct Hdf5DataOptions : SampleOptions {
  std::string file;
  std::string images = "images";
  std::string labels = "labels";
  std::map<std::string, std::string> inputs;  ///< model input → dataset, for a model of several inputs
};

/// `type: npy` — a folder of .npy arrays (NumPy's own format), one per model input, and labels.
/// Help, default and range of each field: its schema in stages/data/data_types.cpp (`adaflow describe <type>`).
struct NpyDataOptions : SampleOptions {
  std::string folder;
  std::map<std::string, std::string> inputs;  ///< model input → array (file stem); default: the input's name
  std::string labels = "labels";
};

/// `type: random` — normally distributed inputs from the run's seed, for benchmarks.
/// Help, default and range of each field: its schema in stages/data/data_types.cpp (`adaflow describe <type>`).
struct RandomDataOptions {
  std::vector<std::int64_t> shape;
  int num_samples = 64;
  int batch_size = 32;
};

}  // namespace adaflow::data
