#include "stages/export/export_stage.h"

#include "stages/stage_common.h"

namespace adaflow {

const Schema<ExportOptions>& ExportStage::GetSchema() {
  static const Schema<ExportOptions> schema = [] {
    Schema<ExportOptions> s("export");
    s.EnumList("formats", &ExportOptions::formats,
               {{"torchscript", ExportFormat::kTorchScript}, {"aimet_0.6.1", ExportFormat::kAimet061},
                {"aimet_1.0.0", ExportFormat::kAimet100}},
               "output formats");
    return s;
  }();
  return schema;
}

std::unique_ptr<Stage> ExportStage::Make(const Options& options, const PipelineSpec&) {
  if (options.formats.empty()) throw InputError("'formats' must name at least one format");
  return std::make_unique<ExportStage>(options);
}

StageOutputs ExportStage::Run(const StageInputs&, StageContext&) { ThrowNotAvailable("export"); }

void RegisterExportStage(StageRegistry& registry) {
  registry.Add(DefineStage<ExportStage>("export", "write the rounded model and its encodings",
                                        {{PortType::kModel}, {PortType::kEncodings, /*optional=*/true}}, {}));
}

}  // namespace adaflow
