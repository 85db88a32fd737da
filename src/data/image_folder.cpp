// `image_folder` data sets: <root>/<class>/<image> with classes in sorted order as labels
// (torchvision's ImageFolder convention). Each image is decoded to RGB (stb_image), its shorter side
// resized to `resize` (stb_image_resize), center-cropped to `crop`, scaled and normalized.

#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "src/data/dataset.h"

namespace adaflow::data {
namespace {

namespace fs = std::filesystem;

bool IsImage(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

/// Decodes, resizes the shorter side to `resize`, center-crops `crop` × `crop`: HWC RGB bytes.
std::vector<unsigned char> LoadImage(const std::string& path, int resize, int crop, const std::string& name) {
  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load(path.c_str(), &width, &height, &channels, 3);
  if (!pixels)
    // stb tries each format in turn and keeps the last one's complaint ("bad png sig" for a damaged
    // JPEG), so it is given as a detail only.
    throw InputError("data set '" + name + "': cannot decode '" + path +
                     "': not a readable JPEG, PNG or BMP image (damaged or truncated?; decoder: " +
                     stbi_failure_reason() + ")");
  const double factor = static_cast<double>(resize) / std::min(width, height);
  const int new_width = width <= height ? resize : static_cast<int>(std::lround(width * factor));
  const int new_height = height < width ? resize : static_cast<int>(std::lround(height * factor));
  std::vector<unsigned char> resized(static_cast<std::size_t>(new_width) * new_height * 3);
  const int ok = stbir_resize_uint8(pixels, width, height, 0, resized.data(), new_width, new_height, 0, 3);
  stbi_image_free(pixels);
  if (!ok) throw InputError("data set '" + name + "': cannot resize '" + path + "'");
  if (new_width < crop || new_height < crop)
    throw InputError("data set '" + name + "': crop " + std::to_string(crop) + " is larger than '" + path +
                     "' resized to " + std::to_string(new_width) + "x" + std::to_string(new_height));
  const int top = static_cast<int>(std::lround((new_height - crop) / 2.0));
  const int left = static_cast<int>(std::lround((new_width - crop) / 2.0));
  std::vector<unsigned char> cropped(static_cast<std::size_t>(crop) * crop * 3);
  for (int row = 0; row < crop; ++row)
    std::copy_n(resized.data() + ((static_cast<std::size_t>(top + row) * new_width + left) * 3),
                static_cast<std::size_t>(crop) * 3, cropped.data() + static_cast<std::size_t>(row) * crop * 3);
  return cropped;
}

}  // namespace

std::shared_ptr<Dataset> LoadImageFolder(const std::string& name, const ImageFolderDataOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(options.root, ec))
    throw InputError("data set '" + name + "': '" + options.root + "' is not a folder");
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(options.root))
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  std::sort(classes.begin(), classes.end());
  std::vector<std::pair<std::string, std::int64_t>> files;
  for (std::size_t label = 0; label < classes.size(); ++label) {
    std::vector<std::string> images;
    for (const auto& entry : fs::directory_iterator(fs::path(options.root) / classes[label]))
      if (entry.is_regular_file() && IsImage(entry.path())) images.push_back(entry.path().string());
    std::sort(images.begin(), images.end());
    for (auto& image : images) files.emplace_back(std::move(image), static_cast<std::int64_t>(label));
  }
  if (files.empty())
    throw InputError("data set '" + name + "': '" + options.root +
                     "' has no class subfolders with .jpg, .jpeg, .png or .bmp images");
  // A subset takes evenly spaced images, so every class is represented.
  std::vector<std::size_t> chosen;
  const std::size_t total = files.size();
  const std::size_t count = options.num_samples > 0 ? std::min<std::size_t>(options.num_samples, total) : total;
  for (std::size_t idx = 0; idx < count; ++idx) chosen.push_back(idx * total / count);

  const int crop = options.crop;
  torch::Tensor pixels = torch::empty({static_cast<std::int64_t>(count), 3, crop, crop}, torch::kUInt8);
  torch::Tensor labels = torch::empty({static_cast<std::int64_t>(count)}, torch::kInt64);
  for (std::size_t idx = 0; idx < count; ++idx) {
    const auto& [path, label] = files[chosen[idx]];
    const auto hwc = LoadImage(path, options.resize, crop, name);
    pixels[static_cast<std::int64_t>(idx)] =
        torch::from_blob(const_cast<unsigned char*>(hwc.data()), {crop, crop, 3}, torch::kUInt8).permute({2, 0, 1});
    labels[static_cast<std::int64_t>(idx)] = label;
  }
  return std::make_shared<Dataset>(name, Normalize(pixels.to(torch::kFloat32), options, name),
                                   labels, options.batch_size);
}

}  // namespace adaflow::data
