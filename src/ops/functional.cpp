#include "ops/functional.h"

#include <ATen/ATen.h>

#include <cmath>

namespace slimfit::ops {

// Plain libtorch path (cfg.slimfit == false). The SlimFit Functions live in ops/*_fn.cpp.

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                  const OpsConfig& cfg, LinearRole role) {
  return at::linear(x, weight, bias);
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, const OpsConfig& cfg) {
  return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

at::Tensor gelu(const at::Tensor& x, const OpsConfig& cfg) { return at::gelu(x); }

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& additive_mask, double dropout_p, bool training,
                     const OpsConfig& cfg) {
  // (B, h, L, D) x (B, h, D, L) -> (B, h, L, L)
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(q.size(-1)));
  if (additive_mask.defined()) scores = scores + additive_mask;
  at::Tensor probs = at::softmax(scores, -1);
  probs = dropout(probs, dropout_p, training, cfg);
  return at::matmul(probs, v);  // (B, h, L, D)
}

at::Tensor dropout(const at::Tensor& x, double p, bool training, const OpsConfig& cfg) {
  if (!training || p == 0.0) return x;
  return at::dropout(x, p, training);
}

}  // namespace slimfit::ops
