#pragma once
// Options of each data set type, as plain structs (the YAML schemas live in stages/data/).

#include <cstdint>
#include <string>
#include <vector>

namespace adaflow::data {

/// `type: idx` — MNIST / Fashion-MNIST IDX files, gzip or plain.
struct IdxDataOptions {
  /// Images file. Example: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
  std::string images;
  /// Labels file; empty = unlabelled. Default: ""
  std::string labels;
  /// Samples to use from the start of the file; 0 = all. Default: 0
  int num_samples = 0;
  /// Samples per batch. Default: 32
  int batch_size = 32;
  /// Pixel scale applied before mean/std. Example: 0.00392156862745098 (1/255). Default: 1
  double scale = 1.0;
  /// Per-channel mean subtracted after scaling; empty = none.
  std::vector<double> mean;
  /// Per-channel std divided by after the mean; empty = none.
  std::vector<double> std;
};

/// `type: image_folder` — one subfolder of JPEG/PNG images per class.
struct ImageFolderDataOptions {
  /// Root folder with one subfolder per class.
  std::string root;
  int num_samples = 0;
  int batch_size = 32;
  /// Shorter side resized to this many pixels. Default: 256
  int resize = 256;
  /// Center crop size. Default: 224
  int crop = 224;
  double scale = 1.0 / 255.0;
  std::vector<double> mean = {0.485, 0.456, 0.406};
  std::vector<double> std = {0.229, 0.224, 0.225};
};

/// `type: hdf5` — an N×C×H×W float dataset and optional labels in one HDF5 file.
struct Hdf5DataOptions {
  std::string file;
  /// Dataset holding the inputs. Default: images
  std::string images = "images";
  /// Dataset holding integer labels; empty = unlabelled. Default: labels
  std::string labels = "labels";
  int num_samples = 0;
  int batch_size = 32;
  double scale = 1.0;
  std::vector<double> mean;
  std::vector<double> std;
};

/// `type: random` — normally distributed inputs from the run's seed, for benchmarks.
struct RandomDataOptions {
  /// Shape of one sample (without the batch dimension). Example: [3, 224, 224]
  std::vector<std::int64_t> shape;
  int num_samples = 64;
  int batch_size = 32;
};

}  // namespace adaflow::data
