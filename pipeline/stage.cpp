#include "pipeline/stage.h"

namespace adaflow {

ArtifactPtr StageOutputs::Find(const std::string& kind) const {
  auto it = values_.find(kind);
  return it == values_.end() ? nullptr : it->second;
}

ArtifactPtr StageInputs::Find(const std::string& port) const {
  auto it = values_.find(port);
  return it == values_.end() ? nullptr : it->second;
}

}  // namespace adaflow
