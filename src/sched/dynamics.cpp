#include "sched/dynamics.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace slimfit::sched {

namespace {

// The sum of squares of a flat tensor, accumulated in double one chunk at a time: a float
// norm of millions of elements is good to about 1e-5 only, so the sums of N ranks' shards would
// not add up to the whole tensor's (note [coordinator rule]); chunks keep the double copy small.
double sum_of_squares(const at::Tensor& flat) {
  constexpr int64_t kChunk = int64_t{1} << 16;
  const int64_t n = flat.numel();
  at::Tensor total = at::zeros({}, flat.options().dtype(at::kDouble));
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const at::Tensor chunk = flat.slice(0, begin, std::min(n, begin + kChunk)).to(at::kDouble);
    total.add_(chunk.mul(chunk).sum());
  }
  return total.item<double>();
}

}  // namespace

at::Tensor DynamicsTracker::slice(const at::Tensor& param) const {
  const at::Tensor flat = param.detach().reshape({-1});
  const int64_t n = flat.numel();
  const int64_t begin = n * shard_index_ / shard_count_,
                end = n * (shard_index_ + 1) / shard_count_;
  return flat.slice(0, begin, end);
}

void DynamicsTracker::begin_step(const std::vector<at::Tensor>& params,
                                 const std::vector<uint8_t>& mask, int shard_index,
                                 int shard_count) {
  SLIMFIT_ASSERT(params.size() == mask.size());
  SLIMFIT_ASSERT(shard_count >= 1 && shard_index >= 0 && shard_index < shard_count);
  c10::NoGradGuard no_grad;
  shard_index_ = shard_index;
  shard_count_ = shard_count;
  before_.assign(params.size(), at::Tensor());
  for (size_t i = 0; i < params.size(); ++i) {
    if (mask[i]) before_[i] = slice(params[i]).clone();
  }
}

std::vector<DynamicsTracker::Partial> DynamicsTracker::end_step_partial(
    const std::vector<at::Tensor>& params, ScoreKind kind) {
  SLIMFIT_ASSERT(params.size() == before_.size());
  c10::NoGradGuard no_grad;
  std::vector<Partial> out(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    if (!before_[i].defined()) continue;
    const at::Tensor& before = before_[i];
    const at::Tensor delta = slice(params[i]) - before;
    out[i].count = delta.numel();
    if (kind == ScoreKind::kNorm) {
      out[i].delta_sq = sum_of_squares(delta);
      out[i].weight_sq = sum_of_squares(before);
    } else {
      const at::Tensor ratio = delta.abs_().div_(before.abs().clamp_min_(kTiny));
      out[i].sum = ratio.sum(at::kDouble).item<double>();
    }
    before_[i] = at::Tensor();
  }
  before_.clear();
  return out;
}

ScoreKind parse_score_kind(const std::string& name) {
  if (name == "relative") return ScoreKind::kRelative;
  if (name == "norm") return ScoreKind::kNorm;
  throw Error(str_cat("score must be relative or norm, got '", name, "'"));
}

double DynamicsTracker::score(const Partial& total, ScoreKind kind) {
  if (total.count == 0) return 0.0;
  if (kind == ScoreKind::kNorm) {
    return std::sqrt(total.delta_sq) / std::max(std::sqrt(total.weight_sq), kTiny);
  }
  return total.sum / double(total.count);
}

std::vector<double> DynamicsTracker::end_step(const std::vector<at::Tensor>& params,
                                              ScoreKind kind) {
  std::vector<double> scores;
  for (const Partial& p : end_step_partial(params, kind)) scores.push_back(score(p, kind));
  return scores;
}

int64_t DynamicsTracker::snapshot_bytes() const {
  int64_t bytes = 0;
  for (const at::Tensor& t : before_) {
    if (t.defined()) bytes += t.nbytes();
  }
  return bytes;
}

}  // namespace slimfit::sched
