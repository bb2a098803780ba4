#include "train/adamw.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

namespace slimfit::train {

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> named_params, AdamWOptions options)
    : options_(options) {
  slots_.reserve(named_params.size());
  for (auto& [name, param] : named_params) slots_.push_back(Slot{name, param, {}, {}, 0});
}

void AdamW::init_state() {
  for (Slot& s : slots_) {
    if (!s.exp_avg.defined()) s.exp_avg = at::zeros_like(s.param);
    if (!s.exp_avg_sq.defined()) s.exp_avg_sq = at::zeros_like(s.param);
  }
}

void AdamW::step(double lr) {
  c10::NoGradGuard no_grad;
  for (Slot& s : slots_) {
    const at::Tensor& grad = s.param.grad();
    if (!grad.defined()) continue;
    if (!s.exp_avg.defined()) s.exp_avg = at::zeros_like(s.param);
    if (!s.exp_avg_sq.defined()) s.exp_avg_sq = at::zeros_like(s.param);
    ++s.step;
    at::Tensor p = s.param;  // shares storage: in-place updates reach the parameter
    p.mul_(1.0 - lr * options_.weight_decay);
    s.exp_avg.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
    s.exp_avg_sq.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
    const double bias1 = 1.0 - std::pow(options_.beta1, double(s.step));
    const double bias2 = 1.0 - std::pow(options_.beta2, double(s.step));
    at::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bias2)).add_(options_.eps);
    p.addcdiv_(s.exp_avg, denom, -lr / bias1);
  }
}

void AdamW::release_grads() {
  for (Slot& s : slots_) s.param.mutable_grad() = at::Tensor();
}

int64_t AdamW::state_bytes() const {
  int64_t bytes = 0;
  for (const Slot& s : slots_) {
    if (s.exp_avg.defined()) bytes += s.exp_avg.nbytes();
    if (s.exp_avg_sq.defined()) bytes += s.exp_avg_sq.nbytes();
  }
  return bytes;
}

}  // namespace slimfit::train
