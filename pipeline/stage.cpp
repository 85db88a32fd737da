#include "pipeline/stage.h"

#include "pipeline/run_store.h"

namespace adaflow {

const char* PortTypeName(PortType type) {
  switch (type) {
    case PortType::kModel: return "Model";
    case PortType::kLayerSet: return "LayerSet";
    case PortType::kActivationCache: return "ActivationCache";
    case PortType::kEncodings: return "Encodings";
    case PortType::kMetrics: return "Metrics";
  }
  return "?";
}

ArtifactPtr StageOutputs::Find(PortType type) const {
  auto it = values_.find(type);
  return it == values_.end() ? nullptr : it->second;
}

StageContext::StageContext(std::string id, std::string type, std::string key, const PipelineSpec& spec,
                           RunStore& store, std::shared_ptr<spdlog::logger> log, int threads,
                           const std::atomic<bool>* stop)
    : id_(std::move(id)),
      type_(std::move(type)),
      key_(std::move(key)),
      spec_(spec),
      store_(store),
      log_(std::move(log)),
      threads_(threads),
      stop_(stop) {}

std::string StageContext::WriteFile(const std::string& name, const std::string& bytes) {
  store_.WriteAtomic(name, bytes);
  RecordFile(name);
  return store_.PathFor(name);
}

std::string StageContext::PathFor(const std::string& name) const { return store_.PathFor(name); }

void StageContext::RecordFile(const std::string& name) {
  for (const auto& file : files_)
    if (file == name) return;
  files_.push_back(name);
}

}  // namespace adaflow
