#include "sched/dynamics.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "common/error.h"

namespace slimfit::sched {

void DynamicsTracker::begin_step(const std::vector<at::Tensor>& params,
                                 const std::vector<uint8_t>& mask) {
  SLIMFIT_ASSERT(params.size() == mask.size());
  c10::NoGradGuard no_grad;
  before_.assign(params.size(), at::Tensor());
  for (size_t i = 0; i < params.size(); ++i) {
    if (mask[i]) before_[i] = params[i].detach().clone();
  }
}

std::vector<double> DynamicsTracker::end_step(const std::vector<at::Tensor>& params) {
  SLIMFIT_ASSERT(params.size() == before_.size());
  c10::NoGradGuard no_grad;
  std::vector<double> scores(params.size(), 0.0);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!before_[i].defined()) continue;
    const at::Tensor& before = before_[i];
    const at::Tensor ratio =
        (params[i].detach() - before).abs_().div_(before.abs().clamp_min_(kTiny));
    scores[i] = ratio.mean(at::kDouble).item<double>();
    before_[i] = at::Tensor();
  }
  before_.clear();
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
