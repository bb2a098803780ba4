#include "models/layers.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <limits>

#include "common/error.h"

namespace slimfit::models {

DenseImpl::DenseImpl(int64_t in, int64_t out, double std) {
  weight = register_parameter("weight", at::empty({out, in}).normal_(0.0, std));
  bias = register_parameter("bias", at::zeros({out}));
}

at::Tensor DenseImpl::forward(const at::Tensor& x, const ops::OpsConfig& cfg,
                              ops::LinearRole role) {
  return ops::linear(x, weight, bias, cfg, role);
}

LayerNormImpl::LayerNormImpl(int64_t hidden, double eps) : eps(eps) {
  weight = register_parameter("weight", at::ones({hidden}));
  bias = register_parameter("bias", at::zeros({hidden}));
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x, const ops::OpsConfig& cfg) {
  return ops::layer_norm(x, weight, bias, eps, cfg);
}

EmbeddingImpl::EmbeddingImpl(int64_t num, int64_t dim, double std, int64_t padding_idx)
    : padding_idx(padding_idx) {
  at::Tensor w = at::empty({num, dim}).normal_(0.0, std);
  if (padding_idx >= 0) w[padding_idx].zero_();
  weight = register_parameter("weight", w);
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids) {
  return at::embedding(weight, ids, padding_idx);
}

at::Tensor multi_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                int64_t heads, const at::Tensor& additive_mask, double dropout_p,
                                bool training, const ops::OpsConfig& cfg) {
  const int64_t B = q.size(0), L = q.size(1), H = q.size(2);
  // (B, L, H) -> (B, heads, L, D)
  auto split = [&](const at::Tensor& t) {
    return t.view({B, L, heads, H / heads}).transpose(1, 2);
  };
  at::Tensor ctx = ops::attention(split(q), split(k), split(v), additive_mask, dropout_p, training,
                                  cfg);  // (B, heads, L, D)
  return ctx.transpose(1, 2).reshape({B, L, H});
}

at::Tensor extended_attention_mask(const at::Tensor& mask, at::ScalarType dtype) {
  double lowest = 0;
  switch (dtype) {
    case at::kFloat:
      lowest = std::numeric_limits<float>::lowest();
      break;
    case at::kDouble:
      lowest = std::numeric_limits<double>::lowest();
      break;
    case at::kHalf:
      lowest = std::numeric_limits<c10::Half>::lowest();
      break;
    case at::kBFloat16:
      lowest = std::numeric_limits<c10::BFloat16>::lowest();
      break;
    default:
      throw Error(str_cat("attention mask: unsupported activation dtype ", dtype,
                          " (expected a floating type)"));
  }
  // (B, L) -> (B, 1, 1, L)
  return (1.0 - mask.to(dtype)).unsqueeze(1).unsqueeze(2) * lowest;
}

}  // namespace slimfit::models
