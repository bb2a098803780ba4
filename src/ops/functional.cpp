#include "ops/functional.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "ops/slimfit_fns.h"

namespace slimfit::ops {
namespace {

// SlimFit only changes what is kept for backward; with no graph to build, the plain op runs.
bool builds_graph(std::initializer_list<const at::Tensor*> ts) {
  if (!c10::GradMode::is_enabled()) return false;
  for (const at::Tensor* t : ts)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

}  // namespace

// cfg.slimfit == false: plain libtorch. Otherwise the Functions of ops/slimfit_fns.h.

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                  const OpsConfig& cfg, LinearRole role) {
  if (!cfg.slimfit || !builds_graph({&x, &weight, &bias})) return at::linear(x, weight, bias);
  return detail::slim_linear(x, weight, bias,
                             role == LinearRole::kFfnDown ? cfg.ffn_down_input : cfg.linear_input);
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, const OpsConfig& cfg) {
  if (!cfg.slimfit || !builds_graph({&x, &weight, &bias}))
    return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
  return detail::slim_layer_norm(x, weight, bias, eps, cfg.ln_frozen);
}

at::Tensor gelu(const at::Tensor& x, const OpsConfig& cfg) {
  if (!cfg.slimfit || !builds_graph({&x})) return at::gelu(x);
  return detail::slim_gelu(x, cfg.gelu);
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& additive_mask, double dropout_p, bool training,
                     const OpsConfig& cfg) {
  if (cfg.slimfit && builds_graph({&q, &k, &v}))
    return detail::slim_attention(q, k, v, additive_mask, dropout_p, training,
                                  {cfg.attn_qk, cfg.attn_v, cfg.attn_probs});
  // (B, h, L, D) x (B, h, D, L) -> (B, h, L, L)
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(q.size(-1)));
  if (additive_mask.defined()) scores = scores + additive_mask;
  at::Tensor probs = at::softmax(scores, -1);
  probs = dropout(probs, dropout_p, training, cfg);
  return at::matmul(probs, v);  // (B, h, L, D)
}

at::Tensor dropout(const at::Tensor& x, double p, bool training, const OpsConfig& cfg) {
  if (!training || p == 0.0) return x;
  if (!cfg.slimfit || !builds_graph({&x}) || p >= 1.0) return at::dropout(x, p, training);
  return detail::slim_dropout(x, p);
}

}  // namespace slimfit::ops
