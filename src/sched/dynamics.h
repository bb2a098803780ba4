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

  // Snapshots the units with mask[i] == 1. params[i] is unit i's weight tensor.
  void begin_step(const std::vector<at::Tensor>& params, const std::vector<uint8_t>& mask);
  // Scores of the snapshotted units (others 0), and releases the snapshots.
  std::vector<double> end_step(const std::vector<at::Tensor>& params);
  int64_t snapshot_bytes() const;

 private:
  std::vector<at::Tensor> before_;
};

}  // namespace slimfit::sched
