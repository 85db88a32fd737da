#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/options.h"
#include "pipeline/stage_registry.h"

namespace adaflow {

enum class ExportFormat { kTorchScript, kAimet061, kAimet100, kOnnx, kOnnxQdq };
inline const EnumNames<ExportFormat> kExportFormatNames = {{"torchscript", ExportFormat::kTorchScript},
                                                           {"aimet_0.6.1", ExportFormat::kAimet061},
                                                           {"aimet_1.0.0", ExportFormat::kAimet100},
                                                           {"onnx", ExportFormat::kOnnx},
                                                           {"onnx_qdq", ExportFormat::kOnnxQdq}};

/// `type: export` — the quantized model (weights on their grid) and its encodings.
/// Help, default and range of each field: GetSchema() (`adaflow describe export`), declared once.
struct ExportOptions {
  std::vector<ExportFormat> formats = {ExportFormat::kTorchScript, ExportFormat::kAimet061};
  bool evaluate = true;
  bool int4_weights = false;
};

void RegisterExportStage(StageRegistry& registry);

}  // namespace adaflow
