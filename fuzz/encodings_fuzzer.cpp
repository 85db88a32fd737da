// The AIMET encodings reader (versions 0.6.1 and 1.0.0), checked against the example model (batch
// norm folded, as quant_sim sees it) so that the per-layer checks run too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "fuzz/fuzz_support.h"
#include "src/io/aimet_encodings.h"
#include "src/model/batch_norm_fold.h"
#include "src/model/layers.h"
#include "src/model/model.h"
#include "src/model/torch_runtime.h"

namespace {

struct Example {
  std::shared_ptr<adaflow::model::Model> fp;
  adaflow::model::LayerGraph layers;
};

const Example& GetExample() {
  static const Example example = [] {
    adaflow::SetIntraOpThreads(1);
    adaflow::SetBlasThreads(1);
    Example loaded;
    loaded.fp = adaflow::model::FoldBatchNorm(
        *adaflow::model::Model::Load(ADAFLOW_SOURCE_DIR "/examples/models/resnet8_fmnist.pt", {1, 1, 28, 28}));
    loaded.layers = adaflow::model::DiscoverLayers(*loaded.fp);
    return loaded;
  }();
  return example;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  GetExample();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = adaflow::fuzz::ScratchDir() + "/fuzz.encodings";
  adaflow::fuzz::WriteBytes(path, data, size);
  try {
    for (const auto& [name, entries] : adaflow::io::ParseParamEncodings(path))
      (void)adaflow::io::ParamEntryEncodings(entries, name);
  } catch (const adaflow::InputError&) {
  }
  try {
    (void)adaflow::io::ReadParamEncodings(path, GetExample().layers, *GetExample().fp);
  } catch (const adaflow::InputError&) {
  }
  return 0;
}
