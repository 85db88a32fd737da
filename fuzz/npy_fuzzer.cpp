// The .npy reader and the assembly of a two-input data set from it: the input is one .npy file, read as
// the array of both model inputs (int64 token ids and a float feature), and as the labels. A data set that
// loads is read batch by batch.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "fuzz/fuzz_support.h"
#include "src/data/dataset.h"
#include "src/model/torch_runtime.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  adaflow::SetIntraOpThreads(1);
  adaflow::SetBlasThreads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string folder = adaflow::fuzz::ScratchDir() + "/npy";
  std::filesystem::create_directories(folder);
  adaflow::fuzz::WriteBytes(folder + "/a.npy", data, size);
  adaflow::data::NpyDataOptions options;
  options.folder = folder;
  options.inputs = {{"ids", "a"}, {"features", "a"}};
  options.labels = "a";
  options.batch_size = 3;
  for (const char* dtype : {"int64", "float32"}) {
    try {
      const auto set = adaflow::data::LoadNpy("fuzz", options, {{"ids", {}, "int64"}, {"features", {}, dtype}});
      for (std::int64_t batch = 0; batch < set->num_batches(); ++batch) {
        const auto got = set->GetBatch(batch);
        for (const auto& input : got.inputs) (void)input.sum().item<double>();
        if (got.labels.defined()) (void)got.labels.sum().item<std::int64_t>();
      }
    } catch (const adaflow::InputError&) {
    }
  }
  return 0;
}
