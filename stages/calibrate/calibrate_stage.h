#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"
#include "src/quant/encoding.h"

namespace adaflow {

/// `type: calibrate` — activation encodings from the calibration data; frozen param encodings kept.
/// Help, default and range of each field: GetSchema() (`adaflow describe calibrate`), declared once.
struct CalibrateOptions {
  quant::Scheme quant_scheme = quant::Scheme::kTfEnhanced;
  double percentile = 100.0;
  int num_batches = 0;
};

/// The stage's option schema (evaluate derives a calibrate stage for its nearest baseline).
const Schema<CalibrateOptions>& CalibrateSchema();

void RegisterCalibrateStage(StageRegistry& registry);

}  // namespace adaflow
