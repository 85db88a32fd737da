// The IDX reader (gzip or plain): the input's first four bytes (little-endian, modulo the rest's
// length + 1) say how many of the remaining bytes are the images file; what follows them is the
// labels file, none when empty. A data set that loads is read batch by batch.
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
  if (size < 4) return 0;
  const std::uint32_t head = data[0] | data[1] << 8 | data[2] << 16 | static_cast<std::uint32_t>(data[3]) << 24;
  const std::size_t rest = size - 4;
  const std::size_t images_size = head % (rest + 1);
  adaflow::data::IdxDataOptions options;
  options.images = adaflow::fuzz::ScratchDir() + "/images.idx";
  adaflow::fuzz::WriteBytes(options.images, data + 4, images_size);
  if (images_size < rest) {
    options.labels = adaflow::fuzz::ScratchDir() + "/labels.idx";
    adaflow::fuzz::WriteBytes(options.labels, data + 4 + images_size, rest - images_size);
  }
  options.batch_size = 7;
  options.scale = 1.0 / 255.0;
  try {
    const auto set = adaflow::data::LoadIdx("fuzz", options);
    for (std::int64_t batch = 0; batch < set->num_batches(); ++batch) {
      const auto got = set->GetBatch(batch);
      (void)got.inputs.at(0).sum().item<float>();
      if (got.labels.defined()) (void)got.labels.sum().item<std::int64_t>();
    }
  } catch (const adaflow::InputError&) {
  }
  return 0;
}
