#include "train/adamw.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>

namespace slimfit::train {

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> named_params, AdamWOptions options)
    : options_(options) {
  slots_.reserve(named_params.size());
  for (auto& [name, param] : named_params) slots_.push_back(Slot{name, param, {}, {}, 0, 0});
}

void AdamW::init_state() {
  for (Slot& s : slots_) {
    if (!s.exp_avg.defined()) s.exp_avg = at::zeros_like(s.param);
    if (!s.exp_avg_sq.defined()) s.exp_avg_sq = at::zeros_like(s.param);
  }
}

bool AdamW::coasts(const Slot& s) const {
  return options_.coast && s.step > 0 &&
         (options_.coast_window <= 0 || s.idle < options_.coast_window);
}

void AdamW::step(double lr) {
  c10::NoGradGuard no_grad;
  for (Slot& s : slots_) {
    const at::Tensor& grad = s.param.grad();
    if (grad.defined()) {
      update(s, grad, lr);
      s.idle = 0;
      continue;
    }
    if (coasts(s)) update(s, at::Tensor(), lr);
    if (s.step > 0) ++s.idle;
  }
}

void AdamW::update(Slot& s, const at::Tensor& grad, double lr) {
  // The update runs over chunks of at most kChunk elements, so its only temporary (the
  // denominator) stays small: 1 MiB in fp32, not a copy of the largest parameter. A coasting
  // update (no gradient) has the same temporaries.
  constexpr int64_t kChunk = int64_t(1) << 18;
  if (!s.exp_avg.defined()) s.exp_avg = at::zeros_like(s.param);
  if (!s.exp_avg_sq.defined()) s.exp_avg_sq = at::zeros_like(s.param);
  ++s.step;
  const double bias1 = 1.0 - std::pow(options_.beta1, double(s.step));
  const double bias2 = 1.0 - std::pow(options_.beta2, double(s.step));
  // Flat views share storage: in-place updates reach the parameter and its state.
  const at::Tensor p = s.param.detach().view({-1});
  const at::Tensor g = grad.defined() ? grad.reshape({-1}) : at::Tensor();
  const at::Tensor m = s.exp_avg.view({-1}), v = s.exp_avg_sq.view({-1});
  for (int64_t begin = 0; begin < p.numel(); begin += kChunk) {
    const int64_t end = std::min(p.numel(), begin + kChunk);
    at::Tensor pc = p.slice(0, begin, end);
    at::Tensor mc = m.slice(0, begin, end), vc = v.slice(0, begin, end);
    pc.mul_(1.0 - lr * options_.weight_decay);
    mc.mul_(options_.beta1);
    vc.mul_(options_.beta2);
    if (g.defined()) {  // with a zero gradient these adds would change nothing
      const at::Tensor gc = g.slice(0, begin, end);
      mc.add_(gc, 1.0 - options_.beta1);
      vc.addcmul_(gc, gc, 1.0 - options_.beta2);
    }
    at::Tensor denom = vc.sqrt();
    denom.div_(std::sqrt(bias2)).add_(options_.eps);
    pc.addcdiv_(mc, denom, -lr / bias1);
  }
}

void AdamW::release_grads() {
  for (Slot& s : slots_) s.param.mutable_grad() = at::Tensor();
}

int64_t AdamW::place_state() {
  if (!offload_) return 0;
  int64_t moved = 0;
  auto to_host = [](const at::Tensor& t) {
    at::Tensor host = at::empty(t.sizes(), t.options().device(at::kCPU).pinned_memory(true));
    host.copy_(t, /*non_blocking=*/true);
    return host;
  };
  for (Slot& s : slots_) {
    if (!s.exp_avg.defined() || s.param.device().is_cpu()) continue;
    const bool want_device = s.param.requires_grad() || coasts(s);
    if (want_device == !s.exp_avg.device().is_cpu()) continue;
    for (at::Tensor* t : {&s.exp_avg, &s.exp_avg_sq}) {
      *t = want_device ? t->to(s.param.device(), /*non_blocking=*/true) : to_host(*t);
      moved += t->nbytes();
    }
  }
  return moved;
}

int64_t AdamW::device_state_bytes() const {
  int64_t bytes = 0;
  for (const Slot& s : slots_) {
    if (s.exp_avg.defined() && !s.exp_avg.device().is_cpu()) bytes += s.exp_avg.nbytes();
    if (s.exp_avg_sq.defined() && !s.exp_avg_sq.device().is_cpu()) bytes += s.exp_avg_sq.nbytes();
  }
  return bytes;
}

int64_t AdamW::resident_state_bytes() const {
  if (!offload_) return state_bytes();
  int64_t bytes = 0;
  for (const Slot& s : slots_) {
    if (!s.exp_avg.defined() || !(s.param.requires_grad() || coasts(s))) continue;
    bytes += s.exp_avg.nbytes() + s.exp_avg_sq.nbytes();
  }
  return bytes;
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
