// Building blocks shared by BERT and ViT: parameter holders whose registered names ("weight",
// "bias") give Hugging Face's dotted paths, and the multi-head self-attention both use.
//
// Every op that keeps tensors for backward goes through ops/functional.h with the model's shared
// OpsConfig (see the contract there), so SlimFit can swap compressed Functions in. Each holder
// initialises itself as Hugging Face does, drawing from the global torch generator in
// construction order (deterministic for a given seed).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "ops/functional.h"

namespace slimfit::models {

// nn.Linear: weight (out, in) ~ N(0, std), bias (out) = 0.
class DenseImpl : public torch::nn::Module {
 public:
  DenseImpl(int64_t in, int64_t out, double std);
  // x: (..., in) -> (..., out)
  at::Tensor forward(const at::Tensor& x, const ops::OpsConfig& cfg,
                     ops::LinearRole role = ops::LinearRole::kGeneric);
  at::Tensor weight, bias;
};
TORCH_MODULE(Dense);

// nn.LayerNorm: weight (H) = 1, bias (H) = 0.
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t hidden, double eps);
  // x: (..., H) -> (..., H)
  at::Tensor forward(const at::Tensor& x, const ops::OpsConfig& cfg);
  at::Tensor weight, bias;
  double eps;
};
TORCH_MODULE(LayerNorm);

// nn.Embedding: weight (num, dim) ~ N(0, std), row padding_idx (if >= 0) zero; that row also
// gets no gradient, as with nn.Embedding(padding_idx=...).
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num, int64_t dim, double std, int64_t padding_idx = -1);
  // ids: (...) int64 -> (..., dim)
  at::Tensor forward(const at::Tensor& ids);
  at::Tensor weight;
  int64_t padding_idx;
};
TORCH_MODULE(Embedding);

// softmax(q kᵀ/√D + mask) v over `heads` heads, for projections already applied.
// q, k, v: (B, L, H); additive_mask: (B, 1, 1, L) or undefined -> (B, L, H)
at::Tensor multi_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                int64_t heads, const at::Tensor& additive_mask, double dropout_p,
                                bool training, const ops::OpsConfig& cfg);

// Hugging Face's extended attention mask (transformers 4.30): (1 - mask) * finfo(dtype).min.
// mask: (B, L) with 1 = token, 0 = padding -> (B, 1, 1, L) of `dtype`
at::Tensor extended_attention_mask(const at::Tensor& mask, at::ScalarType dtype);

}  // namespace slimfit::models
