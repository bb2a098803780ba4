// The SlimFit autograd Functions behind ops/functional.h (cfg.slimfit == true). Each forward is
// the plain op's forward, bit for bit; only what it keeps for backward differs (see
// ops/codecs.h, note [codec formats]). Every kept activation goes through
// ctx->save_for_backward and is added to the saved-bytes tally (ops/codecs.h).
#pragma once

#include <ATen/core/Tensor.h>

#include "ops/format.h"

namespace slimfit::ops::detail {

// Keeps `input_codec`(x) when weight.requires_grad(), nothing about x when it is frozen.
at::Tensor slim_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                       Codec input_codec);

// Trainable weight (or frozen_codec == kLossless): keeps x, mean and rstd (exact, as plain
// autograd). Frozen weight: keeps frozen_codec(normalised output) and rstd per row.
at::Tensor slim_layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           double eps, Codec frozen_codec);

// Keeps codec(x), or for kGeluDeriv* the code of gelu'(x).
at::Tensor slim_gelu(const at::Tensor& x, Codec codec);

// Keeps the dropout mask as 1 bit per element (exact).
at::Tensor slim_dropout(const at::Tensor& x, double p);

struct AttentionCodecs {
  Codec qk, v, probs;
};
// softmax(q kᵀ / sqrt(D) + mask) with dropout, times v. Keeps q, k, v, the probabilities in the
// given codecs and the dropout mask as bits; never an L×L floating-point matrix unless probs is
// kLossless.
at::Tensor slim_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& additive_mask, double dropout_p, bool training,
                          const AttentionCodecs& codecs);

}  // namespace slimfit::ops::detail
