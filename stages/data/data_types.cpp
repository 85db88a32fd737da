#include "stages/data/data_types.h"

#include <utility>
#include <vector>

#include "pipeline/stage_context.h"
#include "pipeline/pipeline_spec.h"
#include "stages/stage_common.h"

namespace adaflow {
namespace {

/// The SampleOptions fields of an image data set's schema, in two groups so that each type places its
/// own options between them.
template <class O>
void AddSampling(Schema<O>& s) {
  s.Int("num_samples", &O::num_samples, "samples to use; 0 = all").Min(0);
  s.Int("batch_size", &O::batch_size, "samples per batch").Min(1);
}

template <class O>
void AddNormalization(Schema<O>& s, const char* scale_help) {
  s.Float("scale", &O::scale, scale_help);
  s.FloatList("mean", &O::mean, "per-channel mean subtracted after scaling");
  s.FloatList("std", &O::std, "per-channel std divided by after the mean").Min(1e-12);
}

}  // namespace

const Schema<IdxDataOptions>& IdxDataSchema() {
  static const Schema<IdxDataOptions> schema = [] {
    using O = IdxDataOptions;
    Schema<O> s("idx");
    s.Path("images", &O::images, "IDX images file (.gz or plain)").Required().MustExist();
    s.Path("labels", &O::labels, "IDX labels file; empty = unlabelled");
    AddSampling(s);
    AddNormalization(s, "pixel scale applied first (1/255 maps bytes to [0, 1])");
    return s;
  }();
  return schema;
}

const Schema<ImageFolderDataOptions>& ImageFolderDataSchema() {
  static const Schema<ImageFolderDataOptions> schema = [] {
    using O = ImageFolderDataOptions;
    Schema<O> s("image_folder");
    s.Path("root", &O::root, "folder with one subfolder of JPEG/PNG images per class").Required().MustExist();
    AddSampling(s);
    s.Int("resize", &O::resize, "shorter side resized to this many pixels").Min(1);
    s.Int("crop", &O::crop, "center crop size").Min(1);
    AddNormalization(s, "pixel scale applied first");
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
    s.String("labels", &O::labels, "dataset of N integer labels (or N x T, one per token); empty = unlabelled");
    s.StringMap("inputs", &O::inputs,
                "model input: dataset, for a model of several inputs (default: the dataset named as the input)");
    AddSampling(s);
    AddNormalization(s, "value scale applied first (float inputs)");
    return s;
  }();
  return schema;
}

const Schema<NpyDataOptions>& NpyDataSchema() {
  static const Schema<NpyDataOptions> schema = [] {
    using O = NpyDataOptions;
    Schema<O> s("npy");
    s.Path("folder", &O::folder, "folder of .npy arrays (np.save), N rows each").Required().MustExist();
    s.StringMap("inputs", &O::inputs, "model input: array (file stem); default: the array named as the input");
    s.String("labels", &O::labels, "array of N integer labels (or N x T, one per token; -100 = ignored); empty = unlabelled");
    AddSampling(s);
    AddNormalization(s, "value scale applied first (float inputs)");
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

/// A loader for the registry: reads the set with `read`, then checks one sample against the model's
/// input shape, naming the files the samples came from.
template <class Options, class Read>
DataTypeDef::Loader MakeLoader(const Schema<Options>& schema, Read read) {
  return [&schema, read](const DataSetSpec& set, const PipelineSpec& spec) -> ArtifactPtr {
    auto artifact = std::make_shared<DataSetArtifact>();
    const std::vector<TensorSpec> inputs = spec.FindSection("model") ? ModelInputsOf(spec) : std::vector<TensorSpec>{};
    artifact->data = read(set.name, schema.Bind(set.options), static_cast<std::uint64_t>(spec.seed), inputs);
    if (!inputs.empty()) {
      try {
        artifact->data->CheckInputs(inputs);
      } catch (const InputError& error) {
        std::string files;
        for (const auto& [option, path] : PathOptions(set))
          if (option != "labels") files += (files.empty() ? "" : ", ") + path;
        throw InputError(std::string(error.what()) + (files.empty() ? "" : " (read from " + files + ")"));
      }
    }
    return artifact;
  };
}

}  // namespace

void RegisterDataTypes(StageRegistry& registry) {
  registry.AddDataType({"idx", "MNIST/Fashion-MNIST IDX images and labels, gzip or plain", &IdxDataSchema().erased(),
                        MakeLoader(IdxDataSchema(), [](const std::string& name, const IdxDataOptions& o, std::uint64_t, const auto&) {
                          return data::LoadIdx(name, o);
                        })});
  registry.AddDataType({"image_folder", "class subfolders of JPEG/PNG images; resize, center crop, mean/std",
                        &ImageFolderDataSchema().erased(),
                        MakeLoader(ImageFolderDataSchema(),
                                   [](const std::string& name, const ImageFolderDataOptions& o, std::uint64_t,
                                      const auto&) {
                                     return data::LoadImageFolder(name, o);
                                   })});
  registry.AddDataType({"hdf5", "an N x C x H x W float dataset, or one dataset per model input, and labels in an HDF5 file",
                        &Hdf5DataSchema().erased(),
                        MakeLoader(Hdf5DataSchema(), [](const std::string& name, const Hdf5DataOptions& o, std::uint64_t,
                                                        const std::vector<TensorSpec>& inputs) {
                          return data::LoadHdf5(name, o, inputs);
                        })});
  registry.AddDataType({"npy", "a folder of .npy arrays: one per model input (token ids, masks, features) and labels",
                        &NpyDataSchema().erased(),
                        MakeLoader(NpyDataSchema(), [](const std::string& name, const NpyDataOptions& o, std::uint64_t,
                                                       const std::vector<TensorSpec>& inputs) {
                          return data::LoadNpy(name, o, inputs);
                        })});
  registry.AddDataType({"random", "normally distributed inputs from the run's seed (benchmarks)",
                        &RandomDataSchema().erased(),
                        MakeLoader(RandomDataSchema(), [](const std::string& name, const RandomDataOptions& o,
                                                          std::uint64_t seed, const auto&) {
                          return data::MakeRandom(name, o, seed);
                        })});
}

std::shared_ptr<const data::Dataset> LoadDataSet(const PipelineSpec& spec, const std::string& name) {
  const auto artifact = std::dynamic_pointer_cast<const DataSetArtifact>(LoadDataSetArtifact(spec, name));
  return std::shared_ptr<const data::Dataset>(artifact, artifact->data.get());
}

std::shared_ptr<const data::Dataset> RunDataSet(const StageContext& ctx, const std::string& name) {
  const auto artifact = ctx.DataSet<DataSetArtifact>(name);
  // Aliasing: the caller's pointer keeps the run's artifact alive, so other stages share it meanwhile.
  return std::shared_ptr<const data::Dataset>(artifact, artifact->data.get());
}

}  // namespace adaflow
