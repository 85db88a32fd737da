#pragma once
// One AdaRound layer's result in the run directory, written by its sub-task and read back on resume:
//   adaround/<layer>.weight   the rounded weight, float32, row-major (exactly on the grid)
//   adaround/<layer>.json     {"layer", "bits", "objective", "iterations", "mse_nearest", "mse_adaround",
//                              "seconds", "seconds_prepare", "seconds_optimize", "seconds_finish", "step_macs",
//                              "encoding": {"axis", "per_channel", "channels": [...]}}

#include <torch/script.h>

#include "pipeline/stage.h"
#include "src/model/layers.h"
#include "src/quant/tensor_quant.h"
#include "stages/artifacts.h"

namespace adaflow {

struct LayerResult {
  torch::Tensor weight;
  quant::TensorEncoding encoding;
  LayerReport report;
};

/// Writes both files through the sub-task (atomically); Commit is the caller's.
void WriteLayerResult(SubTask& sub, const model::Layer& layer, const LayerResult& result);

/// Reads them back; InputError naming the file when one is damaged.
LayerResult ReadLayerResult(const SubTask& sub, const model::Layer& layer);

}  // namespace adaflow
