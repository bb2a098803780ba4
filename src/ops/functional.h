// The op layer the models call. Every op of BERT and ViT that keeps tensors for backward goes
// through here, so SlimFit can swap in its compressed autograd Functions.
//
// Contract:
//  - cfg.slimfit == false: each op is exactly the plain libtorch op (bit-identical forward and
//    backward). This is the baseline.
//  - cfg.slimfit == true: the forward is still exact; only what is saved for backward changes
//    (compressed static activations, nothing saved for a frozen weight's input).
//  - A unit is frozen when its weight tensor has requires_grad() == false. This is read on every
//    call, so the scheduler can flip units each step without rebuilding anything.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "ops/format.h"

namespace slimfit::ops {

// Saved-tensor formats: see ops/codecs.h for the byte layouts (note [codec formats]).
// The defaults are the formats with the best measured gradient fidelity at equal or fewer bytes
// than the reference's (table and reasons in ops/FORMATS.md, printed by test_slimfit_ops'
// SlimfitOps.FormatTable).
struct OpsConfig {
  bool slimfit = false;                      // false: plain libtorch ops (the baseline).
  Codec linear_input = Codec::kLossless;     // trainable Linear (kGeneric): its input
  Codec ffn_down_input = Codec::kInt8Row;    // trainable FFN down-projection: its input
  Codec ln_frozen = Codec::kInt4Row;         // frozen LayerNorm: normalised output (+ fp32 rstd)
  Codec gelu = Codec::kGeluDeriv3;           // GELU: its input, or a code of gelu'(input)
  Codec attn_qk = Codec::kInt8Row;           // attention: Q and K
  Codec attn_v = Codec::kInt8Row;            // attention: V
  Codec attn_probs = Codec::kUint8ProbSqrt;  // attention: softmax probabilities (before dropout)

  // The formats of the authors' reference code (FORMATS.md, "(reference)"), with slimfit on.
  static OpsConfig reference() {
    OpsConfig c;
    c.slimfit = true;
    c.linear_input = Codec::kLossless;
    c.ffn_down_input = Codec::kInt8Fixed;
    c.ln_frozen = Codec::kTopK10;
    c.gelu = Codec::kInt4Fixed;
    c.attn_qk = c.attn_v = Codec::kInt8Fixed;
    c.attn_probs = Codec::kUint8Prob256;
    return c;
  }
  // SlimFit Functions that keep everything exactly: gradients equal the plain ones bit for bit
  // (frozen Linears still keep nothing about their input).
  static OpsConfig lossless() {
    OpsConfig c;
    c.slimfit = true;
    c.linear_input = c.ffn_down_input = c.ln_frozen = c.gelu = Codec::kLossless;
    c.attn_qk = c.attn_v = c.attn_probs = Codec::kLossless;
    return c;
  }
};

// One OpsConfig is shared by every layer of a model; changing it switches all of them.
using OpsConfigHandle = std::shared_ptr<OpsConfig>;

// Where a Linear sits; the FFN down-projection may keep its (4x wider) input as int8.
enum class LinearRole { kGeneric, kFfnDown };

// x: (..., in), weight: (out, in), bias: (out) or undefined -> (..., out)
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                  const OpsConfig& cfg, LinearRole role = LinearRole::kGeneric);

// Normalises over the last dimension. x: (..., H), weight/bias: (H)
at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                      double eps, const OpsConfig& cfg);

// Exact (erf) GELU, as Hugging Face's "gelu".
at::Tensor gelu(const at::Tensor& x, const OpsConfig& cfg);

// Scaled dot-product attention core: softmax(q kᵀ / sqrt(D) + mask) v, with dropout on the
// probabilities. q, k, v: (B, heads, L, D); additive_mask: broadcastable to (B, heads, L, L)
// or undefined -> (B, heads, L, D)
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& additive_mask, double dropout_p, bool training,
                     const OpsConfig& cfg);

at::Tensor dropout(const at::Tensor& x, double p, bool training, const OpsConfig& cfg);

}  // namespace slimfit::ops
