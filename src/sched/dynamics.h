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

#include <string>
#include <vector>

namespace slimfit::sched {

// Note [score]. How a unit's change over its last trained step becomes its score:
//   relative (the reference's): mean(|dW| / max(|W|, kTiny)) over the elements. Near-zero
//     weights dominate it: an element at 1e-6 that moves by 1e-6 counts as much as the rest of
//     the tensor;
//   norm: ||dW|| / max(||W||, kTiny), the relative change of the tensor as a whole.
enum class ScoreKind { kRelative, kNorm };
ScoreKind parse_score_kind(const std::string& name);  // "relative" | "norm"

class DynamicsTracker {
 public:
  static constexpr double kTiny = 1e-12;

  // Per unit, over this shard's elements: their count, and the sum of |dW|/|W| (the relative
  // score) or the sums of dW^2 and W^2 (the norm score); the other score's sums stay 0. Sums over
  // shards combine to double rounding.
  struct Partial {
    double sum = 0.0;
    int64_t count = 0;
    double delta_sq = 0.0;
    double weight_sq = 0.0;
  };

  // Snapshots the units with mask[i] == 1. params[i] is unit i's weight tensor. With
  // shard_count > 1 only shard `shard_index` of each unit's flattened elements is tracked, so
  // N data-parallel ranks share the work and the snapshot memory (note [coordinator rule]).
  void begin_step(const std::vector<at::Tensor>& params, const std::vector<uint8_t>& mask,
                  int shard_index = 0, int shard_count = 1);
  // Scores of the snapshotted units (others 0), and releases the snapshots.
  std::vector<double> end_step(const std::vector<at::Tensor>& params,
                               ScoreKind kind = ScoreKind::kRelative);
  // The score of a unit from its partials summed over all shards.
  static double score(const Partial& total, ScoreKind kind);
  // The shard's partial sums for `kind` (to be added up across shards), and releases the
  // snapshots.
  std::vector<Partial> end_step_partial(const std::vector<at::Tensor>& params, ScoreKind kind);
  int64_t snapshot_bytes() const;

 private:
  // The tracked slice of a unit's flattened elements.
  at::Tensor slice(const at::Tensor& param) const;

  std::vector<at::Tensor> before_;
  int shard_index_ = 0;
  int shard_count_ = 1;
};

}  // namespace slimfit::sched
