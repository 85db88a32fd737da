#pragma once
// What `adaflow run --dry-run` reports a run will need: the shapes of every layer's input and output for
// one sample, found with one forward pass of the model on zeros, and the calibration set's size.

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/pipeline_spec.h"

namespace adaflow {

struct LayerShapes {
  std::string name;
  std::vector<std::int64_t> weight;
  std::vector<std::int64_t> input;   ///< one sample, [1, …]
  std::vector<std::int64_t> target;  ///< one sample, [1, …]
};

struct ModelShapes {
  std::vector<LayerShapes> layers;
  std::int64_t samples = 0;  ///< calibration samples
  std::int64_t batch_size = 1;  ///< the calibration set's batch size
};

/// Loads the model (BatchNorm folded) and the calibration set of `spec`; InputError as the stages give.
ModelShapes ProbeShapes(const PipelineSpec& spec);

/// "12.3 GiB", "840 MiB"
std::string FormatBytes(double bytes);

}  // namespace adaflow
