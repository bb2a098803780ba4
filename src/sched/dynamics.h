// Training dynamics: the score of a unit is the mean absolute relative change of its elements
// over the last optimizer step it took part in, mean(|W_before - W_after| / |W_before|).
//
// The reference keeps a full copy of every tracked weight; this tracker snapshots only the
// units that train in the coming step and frees the snapshots when the step is scored, so the
// extra memory is proportional to the trainable units (snapshot_bytes() reports it).
// Elements whose |W_before| is below kTiny use kTiny as the denominator, so a zero weight gives
// a large finite score instead of inf or NaN.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace slimfit::sched {

class DynamicsTracker {
 public:
  static constexpr double kTiny = 1e-12;

  // Per unit: the sum of |dW|/|W| over this shard's elements and their count.
  struct Partial {
    double sum = 0.0;
    int64_t count = 0;
  };

  // Snapshots the units with mask[i] == 1. params[i] is unit i's weight tensor. With
  // shard_count > 1 only shard `shard_index` of each unit's flattened elements is tracked, so
  // N data-parallel ranks share the work and the snapshot memory (note [coordinator rule]).
  void begin_step(const std::vector<at::Tensor>& params, const std::vector<uint8_t>& mask,
                  int shard_index = 0, int shard_count = 1);
  // Scores of the snapshotted units (others 0), and releases the snapshots.
  std::vector<double> end_step(const std::vector<at::Tensor>& params);
  // The shard's partial sums (to be added up across shards), and releases the snapshots.
  std::vector<Partial> end_step_partial(const std::vector<at::Tensor>& params);
  int64_t snapshot_bytes() const;

 private:
  // The tracked slice of a unit's flattened elements.
  at::Tensor slice(const at::Tensor& param) const;

  std::vector<at::Tensor> before_;
  int shard_index_ = 0;
  int shard_count_ = 1;
};

}  // namespace slimfit::sched
