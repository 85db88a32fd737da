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

const Schema<IdxDataOptions>& IdxDataSchema();
const Schema<ImageFolderDataOptions>& ImageFolderDataSchema();
const Schema<Hdf5DataOptions>& Hdf5DataSchema();
const Schema<RandomDataOptions>& RandomDataSchema();

void RegisterDataTypes(StageRegistry& registry);

/// Loads data set `name` (calibration, evaluation) of the config: binds its options, reads it, checks
/// one sample against model.input_shape. Loaded sets are shared within the process (same name, type and
/// options give the same object). Throws InputError naming the data set and file.
std::shared_ptr<const data::Dataset> LoadDataSet(const PipelineSpec& spec, const std::string& name);

}  // namespace adaflow
