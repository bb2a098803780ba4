#include "train/sampler.h"

#include <utility>

#include "common/random.h"

namespace slimfit::train {

EpochSampler::EpochSampler(std::vector<int64_t> train_indices, int64_t batch, int64_t grad_accum,
                           uint64_t seed)
    : train_indices_(std::move(train_indices)), batch_(batch), grad_accum_(grad_accum),
      seed_(seed) {}

std::vector<int64_t> EpochSampler::indices(int64_t step, int64_t micro, int rank, int world) {
  const int64_t n = size();
  const int64_t micro_batch = batch_ / grad_accum_;
  const int64_t local = micro_batch / world;
  std::vector<int64_t> out;
  out.reserve(size_t(local));
  for (int64_t j = 0; j < local; ++j) {
    const int64_t position = step * batch_ + micro * micro_batch + rank * local + j;
    const int64_t epoch = position / n;
    while (int64_t(epoch_orders_.size()) <= epoch) {
      uint64_t state = seed_ * 1000003ull + epoch_orders_.size();
      epoch_orders_.push_back(shuffled_range(n, [&](int64_t bound) {
        return static_cast<int64_t>(splitmix64(state) % uint64_t(bound));
      }));
    }
    out.push_back(train_indices_[size_t(epoch_orders_[size_t(epoch)][size_t(position % n)])]);
  }
  return out;
}

}  // namespace slimfit::train
