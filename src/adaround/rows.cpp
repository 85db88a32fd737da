#include "src/adaround/rows.h"

namespace adaflow::adaround {

Rows::Rows(std::shared_ptr<const io::ActivationCache> store, std::string layer, std::string name)
    : store_(std::move(store)), layer_(std::move(layer)), name_(std::move(name)) {
  shape_ = store_->Shape(layer_, name_);
}

std::int64_t Rows::size() const { return store_ ? shape_.at(0) : tensor_.size(0); }

std::int64_t Rows::numel() const {
  if (!store_) return tensor_.numel();
  std::int64_t count = 1;
  for (auto dim : shape_) count *= dim;
  return count;
}

torch::Tensor Rows::Slice(std::int64_t start, std::int64_t count) const {
  return store_ ? store_->Read(layer_, name_, start, count) : tensor_.narrow(0, start, count);
}

torch::Tensor Rows::Gather(const torch::Tensor& indices) const {
  return store_ ? store_->Gather(layer_, name_, indices) : tensor_.index_select(0, indices);
}

torch::Tensor Rows::All() const { return store_ ? store_->Read(layer_, name_) : tensor_; }

}  // namespace adaflow::adaround
