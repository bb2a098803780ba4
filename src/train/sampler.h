// Which training examples each rank reads at each step. The global batch of step s covers
// positions s * batch ... s * batch + batch - 1 of an endless sequence of epochs, each epoch a
// fresh shuffle of the training split (the epoch-order stream of common/random.h), so a run's
// data order depends on (seed, step) alone: it survives a resume and a change of rank count.
// The global batch is cut into grad_accum micro-batches, and each micro-batch across the ranks.
#pragma once

#include <cstdint>
#include <vector>

namespace slimfit::train {

class EpochSampler {
 public:
  EpochSampler() = default;
  EpochSampler(std::vector<int64_t> train_indices, int64_t batch, int64_t grad_accum,
               uint64_t seed);

  // The examples rank `rank` of `world` reads for micro-batch `micro` of `step`.
  std::vector<int64_t> indices(int64_t step, int64_t micro, int rank, int world);
  int64_t size() const { return int64_t(train_indices_.size()); }

 private:
  std::vector<int64_t> train_indices_;
  int64_t batch_ = 0;
  int64_t grad_accum_ = 1;
  uint64_t seed_ = 0;
  std::vector<std::vector<int64_t>> epoch_orders_;  // made as the positions reach them
};

}  // namespace slimfit::train
