#pragma once
// The data set types of `data: {calibration: {type: …}, evaluation: {type: …}}`.

#include "pipeline/options.h"
#include "src/data/data_options.h"
#include "src/data/dataset.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

using data::IdxDataOptions;
using data::ImageFolderDataOptions;
using data::Hdf5DataOptions;
using data::RandomDataOptions;
using data::NpyDataOptions;

const Schema<IdxDataOptions>& IdxDataSchema();
const Schema<ImageFolderDataOptions>& ImageFolderDataSchema();
const Schema<Hdf5DataOptions>& Hdf5DataSchema();
const Schema<NpyDataOptions>& NpyDataSchema();
const Schema<RandomDataOptions>& RandomDataSchema();

void RegisterDataTypes(StageRegistry& registry);

/// A data set as the run holds it (RunDataSets): what every data type's loader returns.
struct DataSetArtifact : Artifact {
  std::shared_ptr<const data::Dataset> data;
};

/// Data set `name` (calibration, evaluation) of the stage's run: read once per run and shared by its
/// stages while one holds it. Throws InputError naming the data set and file.
std::shared_ptr<const data::Dataset> RunDataSet(const StageContext& ctx, const std::string& name);

/// Reads data set `name` of the config with no run around it (`--dry-run` estimates): binds its options,
/// reads it, checks one sample against model.input_shape. Throws InputError naming the data set and file.
std::shared_ptr<const data::Dataset> LoadDataSet(const PipelineSpec& spec, const std::string& name);

}  // namespace adaflow
