#pragma once
// Fills an activation cache: one pass over a data set, every layer's FP input and activated output (its
// target) written as /layers/<name>/{input,target} of an io::ActivationCache. The cache_activations
// stage writes activations.h5 with it; tests and benchmarks make their caches the same way.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "src/data/dataset.h"
#include "src/io/activation_cache.h"
#include "src/model/graph_capture.h"
#include "src/model/layers.h"

namespace adaflow::io {

class ActivationCacheWriter {
 public:
  /// Captures every layer of `layers` (found in `model`). Runs one sample of `data` to learn the shapes.
  ActivationCacheWriter(std::shared_ptr<const model::Model> model, const model::LayerGraph& layers,
                        const data::Dataset& data);

  /// Bytes of one sample's values, float32 (every layer's input and target).
  double SampleBytes() const;

  /// Creates each layer's datasets in `store` and fills them, `piece` samples per forward call. After
  /// each piece, `progress(samples done)`. Throws Interrupted when `stop` is set between pieces.
  void Write(ActivationCache& store, std::int64_t piece, StoreDtype dtype, const std::string& key,
             const std::function<void(std::int64_t done)>& progress = nullptr,
             const std::atomic<bool>* stop = nullptr) const;

 private:
  const model::LayerGraph& layers_;
  const data::Dataset& data_;
  model::GraphCapture capture_;
  std::vector<std::vector<std::int64_t>> shapes_;  ///< one sample: input, target of each layer in turn
};

}  // namespace adaflow::io
