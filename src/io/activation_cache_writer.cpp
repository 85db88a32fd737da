#include "src/io/activation_cache_writer.h"

#include <algorithm>

#include "common/error.h"

namespace adaflow::io {
namespace {

std::vector<model::ValueRef> CapturedValues(const model::LayerGraph& layers) {
  std::vector<model::ValueRef> refs;
  for (const auto& layer : layers.layers) {
    refs.push_back(layer.input);
    refs.push_back(layer.activation_output);
  }
  return refs;
}

}  // namespace

ActivationCacheWriter::ActivationCacheWriter(std::shared_ptr<const model::Model> model,
                                             const model::LayerGraph& layers, const data::Dataset& data)
    : layers_(layers), data_(data), capture_(std::move(model), CapturedValues(layers)) {
  for (const auto& value : capture_.Run(data.Slice(0, 1).inputs)) shapes_.push_back(value.sizes().vec());
  // The cache and AdaRound hold a layer's data by sample: dimension 0 must be the batch.
  for (std::size_t index = 0; index < shapes_.size(); ++index) {
    if (!shapes_[index].empty() && shapes_[index][0] == 1) continue;
    const model::Layer& layer = layers.layers[index / 2];
    throw InputError("layer '" + layer.name + "': its " + (index % 2 == 0 ? "input" : "output") + " is " +
                     model::ShapeString(shapes_[index]) +
                     " for one sample, so its first dimension is not the batch (an op before it folds the batch "
                     "into another dimension, as nn.MultiheadAttention's traced slow path does); the activation "
                     "cache and AdaRound need the batch first");
  }
}

double ActivationCacheWriter::SampleBytes() const {
  double bytes = 0;
  for (const auto& shape : shapes_) {
    double count = 4.0;
    for (auto dim : shape) count *= static_cast<double>(dim);
    bytes += count;
  }
  return bytes;
}

void ActivationCacheWriter::Write(ActivationCache& store, std::int64_t piece, StoreDtype dtype, const std::string& key,
                                  const std::function<void(std::int64_t done)>& progress,
                                  const std::atomic<bool>* stop) const {
  const std::int64_t samples = data_.size();
  for (std::size_t index = 0; index < layers_.layers.size(); ++index) {
    for (std::size_t side = 0; side < 2; ++side) {
      std::vector<std::int64_t> shape = shapes_[2 * index + side];
      shape[0] = samples;
      store.Create(layers_.layers[index].name, side == 0 ? "input" : "target", shape, dtype, "fp", key);
    }
  }
  piece = std::max<std::int64_t>(1, piece);
  for (std::int64_t start = 0; start < samples; start += piece) {
    if (stop && stop->load()) throw Interrupted("caching stopped");
    const std::int64_t count = std::min(piece, samples - start);
    const auto values = capture_.Run(data_.Slice(start, count).inputs);
    for (std::size_t index = 0; index < layers_.layers.size(); ++index) {
      store.WriteRows(layers_.layers[index].name, "input", start, values[2 * index]);
      store.WriteRows(layers_.layers[index].name, "target", start, values[2 * index + 1]);
    }
    if (progress) progress(start + count);
  }
}

}  // namespace adaflow::io
