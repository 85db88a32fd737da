#pragma once
// Options of each data set type, as plain structs (the YAML schemas live in stages/data/).

#include <cstdint>
#include <string>
#include <vector>

namespace adaflow::data {

/// `type: idx` — MNIST / Fashion-MNIST IDX files, gzip or plain.
/// Help, default and range of each field: its schema in stages/data/data_types.cpp (`adaflow describe <type>`).
struct IdxDataOptions {
  std::string images;
  std::string labels;
  int num_samples = 0;
  int batch_size = 32;
  double scale = 1.0;
  std::vector<double> mean;
  std::vector<double> std;
};

/// `type: image_folder` — one subfolder of JPEG/PNG images per class.
/// Help, default and range of each field: its schema in stages/data/data_types.cpp (`adaflow describe <type>`).
struct ImageFolderDataOptions {
  std::string root;
  int num_samples = 0;
  int batch_size = 32;
  int resize = 256;
  int crop = 224;
  double scale = 1.0 / 255.0;
  std::vector<double> mean = {0.485, 0.456, 0.406};
  std::vector<double> std = {0.229, 0.224, 0.225};
};

/// `type: hdf5` — an N×C×H×W float dataset and optional labels in one HDF5 file.
/// Help, default and range of each field: its schema in stages/data/data_types.cpp (`adaflow describe <type>`).
struct Hdf5DataOptions {
  std::string file;
  std::string images = "images";
  std::string labels = "labels";
  int num_samples = 0;
  int batch_size = 32;
  double scale = 1.0;
  std::vector<double> mean;
  std::vector<double> std;
};

/// `type: random` — normally distributed inputs from the run's seed, for benchmarks.
/// Help, default and range of each field: its schema in stages/data/data_types.cpp (`adaflow describe <type>`).
struct RandomDataOptions {
  std::vector<std::int64_t> shape;
  int num_samples = 64;
  int batch_size = 32;
};

}  // namespace adaflow::data
