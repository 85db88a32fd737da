#include "stages/data/data_types.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <vector>
#include <utility>

#include "pipeline/pipeline_spec.h"

namespace adaflow {

const Schema<IdxDataOptions>& IdxDataSchema() {
  static const Schema<IdxDataOptions> schema = [] {
    using O = IdxDataOptions;
    Schema<O> s("idx");
    s.Path("images", &O::images, "IDX images file (.gz or plain)").Required().MustExist();
    s.Path("labels", &O::labels, "IDX labels file; empty = unlabelled");
    s.Int("num_samples", &O::num_samples, "samples to use; 0 = all").Min(0);
    s.Int("batch_size", &O::batch_size, "samples per batch").Min(1);
    s.Float("scale", &O::scale, "pixel scale applied first (1/255 maps bytes to [0, 1])");
    s.FloatList("mean", &O::mean, "per-channel mean subtracted after scaling");
    s.FloatList("std", &O::std, "per-channel std divided by after the mean").Min(1e-12);
    return s;
  }();
  return schema;
}

const Schema<ImageFolderDataOptions>& ImageFolderDataSchema() {
  static const Schema<ImageFolderDataOptions> schema = [] {
    using O = ImageFolderDataOptions;
    Schema<O> s("image_folder");
    s.Path("root", &O::root, "folder with one subfolder of JPEG/PNG images per class").Required().MustExist();
    s.Int("num_samples", &O::num_samples, "samples to use; 0 = all").Min(0);
    s.Int("batch_size", &O::batch_size, "samples per batch").Min(1);
    s.Int("resize", &O::resize, "shorter side resized to this many pixels").Min(1);
    s.Int("crop", &O::crop, "center crop size").Min(1);
    s.Float("scale", &O::scale, "pixel scale applied first");
    s.FloatList("mean", &O::mean, "per-channel mean subtracted after scaling");
    s.FloatList("std", &O::std, "per-channel std divided by after the mean").Min(1e-12);
    return s;
  }();
  return schema;
}

const Schema<Hdf5DataOptions>& Hdf5DataSchema() {
  static const Schema<Hdf5DataOptions> schema = [] {
    using O = Hdf5DataOptions;
    Schema<O> s("hdf5");
    s.Path("file", &O::file, "HDF5 file").Required().MustExist();
    s.String("images", &O::images, "dataset of N x C x H x W floats");
    s.String("labels", &O::labels, "dataset of N integer labels; empty = unlabelled");
    s.Int("num_samples", &O::num_samples, "samples to use; 0 = all").Min(0);
    s.Int("batch_size", &O::batch_size, "samples per batch").Min(1);
    s.Float("scale", &O::scale, "value scale applied first");
    s.FloatList("mean", &O::mean, "per-channel mean subtracted after scaling");
    s.FloatList("std", &O::std, "per-channel std divided by after the mean").Min(1e-12);
    return s;
  }();
  return schema;
}

const Schema<RandomDataOptions>& RandomDataSchema() {
  static const Schema<RandomDataOptions> schema = [] {
    using O = RandomDataOptions;
    Schema<O> s("random");
    s.Int64List("shape", &O::shape, "shape of one sample, without the batch dimension").Required().Min(1);
    s.Int("num_samples", &O::num_samples, "number of samples").Min(1);
    s.Int("batch_size", &O::batch_size, "samples per batch").Min(1);
    return s;
  }();
  return schema;
}

void RegisterDataTypes(StageRegistry& registry) {
  registry.AddDataType({"idx", "MNIST/Fashion-MNIST IDX images and labels, gzip or plain", &IdxDataSchema().erased()});
  registry.AddDataType({"image_folder", "class subfolders of JPEG/PNG images; resize, center crop, mean/std",
                        &ImageFolderDataSchema().erased()});
  registry.AddDataType({"hdf5", "an N x C x H x W float dataset and optional labels in an HDF5 file",
                        &Hdf5DataSchema().erased()});
  registry.AddDataType({"random", "normally distributed inputs from the run's seed (benchmarks)",
                        &RandomDataSchema().erased()});
}

namespace {

/// The data set's file options that are set: (option name, path).
std::vector<std::pair<std::string, std::string>> PathOptions(const DataSetSpec& set) {
  std::vector<std::pair<std::string, std::string>> paths;
  for (const auto& option : set.schema->specs()) {
    const auto* path = std::get_if<std::string>(&set.options.Get(option.name));
    if (option.type == OptionType::kPath && path && !path->empty()) paths.emplace_back(option.name, *path);
  }
  return paths;
}

}  // namespace

std::shared_ptr<const data::Dataset> LoadDataSet(const PipelineSpec& spec, const std::string& name) {
  const DataSetSpec* set = spec.FindData(name);
  if (!set) throw InputError("the config has no 'data: " + name + ":' section");
  static std::mutex mutex;
  // Weak: a data set stays in RAM while a stage holds it and is loaded again by a later stage, so the
  // calibration set (588 MiB at 1024 × 3 × 224 × 224) is not held beside AdaRound's budget.
  static std::map<std::string, std::weak_ptr<const data::Dataset>> cache;
  std::string key = name + "|" + set->type + "|" + set->schema->Canonical(set->options) + "|" +
                    std::to_string(spec.seed);
  // Size and modification time too, so a file rewritten within one process is read again (the
  // content keys of the run hash the contents; this in-process cache need not do it again).
  for (const auto& [option, path] : PathOptions(*set)) {
    std::error_code ec;
    key += "|" + std::to_string(std::filesystem::file_size(path, ec)) + ":" +
           std::to_string(std::filesystem::last_write_time(path, ec).time_since_epoch().count());
  }
  std::lock_guard<std::mutex> lock(mutex);
  auto found = cache.find(key);
  if (found != cache.end())
    if (auto held = found->second.lock()) return held;
  std::shared_ptr<const data::Dataset> loaded;
  if (set->type == "idx") {
    loaded = data::LoadIdx(name, IdxDataSchema().Bind(set->options));
  } else if (set->type == "image_folder") {
    loaded = data::LoadImageFolder(name, ImageFolderDataSchema().Bind(set->options));
  } else if (set->type == "hdf5") {
    loaded = data::LoadHdf5(name, Hdf5DataSchema().Bind(set->options));
  } else if (set->type == "random") {
    loaded = data::MakeRandom(name, RandomDataSchema().Bind(set->options), static_cast<std::uint64_t>(spec.seed));
  } else {
    throw InputError("data set '" + name + "': type '" + set->type + "' cannot be read by this version of adaflow");
  }
  if (spec.has_model) {
    try {
      loaded->CheckSampleShape(spec.model.input_shape);
    } catch (const InputError& error) {
      // Name the files the samples came from.
      std::string files;
      for (const auto& [option, path] : PathOptions(*set))
        if (option != "labels") files += (files.empty() ? "" : ", ") + path;
      throw InputError(std::string(error.what()) + (files.empty() ? "" : " (read from " + files + ")"));
    }
  }
  cache[key] = loaded;
  return loaded;
}

}  // namespace adaflow
