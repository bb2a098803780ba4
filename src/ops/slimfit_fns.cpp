#include "ops/slimfit_fns.h"

#include <ATen/ATen.h>
#include <ATen/ExpandUtils.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <string>

#include "common/error.h"
#include "ops/codecs.h"

namespace slimfit::ops::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A Packed travels as two saved tensors (data, aux) plus metadata in ctx->saved_data.
void keep(AutogradContext* ctx, variable_list& saved, const std::string& key, const Packed& p) {
  ctx->saved_data[key + ".codec"] = static_cast<int64_t>(p.codec);
  ctx->saved_data[key + ".dtype"] = static_cast<int64_t>(p.dtype);
  ctx->saved_data[key + ".shape"] = p.shape;
  ctx->saved_data[key + ".index"] = static_cast<int64_t>(saved.size());
  saved.push_back(p.data);
  saved.push_back(p.aux);
  add_saved_bytes(p.nbytes());
}

Packed restore(AutogradContext* ctx, const variable_list& saved, const std::string& key) {
  Packed p;
  p.codec = static_cast<Codec>(ctx->saved_data[key + ".codec"].toInt());
  p.dtype = static_cast<at::ScalarType>(ctx->saved_data[key + ".dtype"].toInt());
  p.shape = ctx->saved_data[key + ".shape"].toIntVector();
  const auto i = static_cast<size_t>(ctx->saved_data[key + ".index"].toInt());
  p.data = saved[i];
  p.aux = saved[i + 1];
  return p;
}

// An activation kept as it is (counted), or a weight kept by reference (not counted).
void keep_tensor(variable_list& saved, const at::Tensor& t, bool count) {
  saved.push_back(t);
  if (count && t.defined()) add_saved_bytes(t.numel() * static_cast<int64_t>(t.element_size()));
}

bool requires_grad(const at::Tensor& t) { return t.defined() && t.requires_grad(); }

// ---- Linear --------------------------------------------------------------------------------
// libtorch 1.13's Function::apply cannot take an undefined tensor argument (it records the
// device of every input), so an absent optional tensor (bias, mask) travels as a 0-element one.
at::Tensor or_empty(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t : at::empty({0}, like.options().requires_grad(false));
}
at::Tensor absent_if_empty(const at::Tensor& t) {
  return t.defined() && t.numel() > 0 ? t : at::Tensor();
}

// Backward mirrors autograd's addmm/mm formulas so a lossless input gives identical gradients.
struct LinearFn : torch::autograd::Function<LinearFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias_or_empty, Codec codec) {
    const at::Tensor bias = absent_if_empty(bias_or_empty);
    at::Tensor out = at::linear(x, weight, bias);
    variable_list saved;
    keep_tensor(saved, weight, false);
    const bool weight_trains = weight.requires_grad();
    ctx->saved_data["weight_trains"] = weight_trains;
    ctx->saved_data["x_shape"] = x.sizes().vec();
    ctx->saved_data["bias_shape"] = bias.defined() ? bias.sizes().vec() : std::vector<int64_t>{};
    if (weight_trains) keep(ctx, saved, "x", pack(x, codec));  // frozen: nothing about x
    ctx->save_for_backward(saved);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& weight = saved[0];  // (out, in)
    const auto x_shape = ctx->saved_data["x_shape"].toIntVector();
    const at::Tensor g2d = grads[0].reshape({-1, weight.size(0)});  // (N, out)
    at::Tensor grad_x, grad_w, grad_b;
    if (ctx->needs_input_grad(0)) grad_x = g2d.mm(weight).view(x_shape);  // (N, in)
    if (ctx->needs_input_grad(1) && ctx->saved_data["weight_trains"].toBool()) {
      const at::Tensor x2d = unpack(restore(ctx, saved, "x")).reshape({-1, weight.size(1)});
      // gᵀx, as autograd's addmm backward computes it for the row-major weight: a contiguous
      // (out, in) gradient, which AccumulateGrad keeps without the copy that (xᵀg)ᵀ needed.
      grad_w = g2d.t().mm(x2d);  // (out, in)
    }
    if (ctx->needs_input_grad(2))
      grad_b = at::sum_to(grads[0], ctx->saved_data["bias_shape"].toIntVector());
    return {grad_x, grad_w, grad_b, at::Tensor()};
  }
};

// ---- LayerNorm -----------------------------------------------------------------------------
struct LayerNormFn : torch::autograd::Function<LayerNormFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias_or_empty, double eps, Codec frozen_codec) {
    const at::Tensor bias = absent_if_empty(bias_or_empty);
    const int64_t h = x.size(-1);
    auto [out, mean, rstd] = at::native_layer_norm(x, {h}, weight, bias, eps);
    const bool exact = requires_grad(weight) || frozen_codec == Codec::kLossless;
    ctx->saved_data["exact"] = exact;
    ctx->saved_data["has_bias"] = bias.defined();
    variable_list saved;
    keep_tensor(saved, weight, false);
    keep_tensor(saved, bias, false);
    if (exact) {  // what plain autograd keeps
      keep_tensor(saved, x, true);
      keep_tensor(saved, mean, true);
      keep_tensor(saved, rstd, true);
    } else if (x.requires_grad() && fused_layer_norm_cpu(x, frozen_codec)) {
      // The same bytes in one pass over x: x̂ is never materialised.
      keep(ctx, saved, "xhat", pack_layer_norm_xhat(x, mean, rstd, frozen_codec));
      keep_tensor(saved, rstd, true);  // fp32 already
    } else if (x.requires_grad()) {
      // Frozen weight: backward needs only the normalised output and rstd per row.
      const at::Tensor rstd32 = rstd.to(at::kFloat);  // (..., 1)
      const at::Tensor xhat = ((x.to(at::kFloat) - mean.to(at::kFloat)) * rstd32).to(x.dtype());
      keep(ctx, saved, "xhat", pack(xhat, frozen_codec));
      keep_tensor(saved, rstd32, true);
    }  // frozen weight, x without grad: only the bias trains, and its grad needs nothing
    ctx->save_for_backward(saved);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& weight = saved[0];
    const at::Tensor& grad = grads[0];
    at::Tensor grad_x, grad_w, grad_b;
    if (ctx->saved_data["exact"].toBool()) {
      const at::Tensor& x = saved[2];
      std::tie(grad_x, grad_w, grad_b) = at::native_layer_norm_backward(
          grad, x, {x.size(-1)}, saved[3], saved[4], weight, saved[1],
          {ctx->needs_input_grad(0), ctx->needs_input_grad(1), ctx->needs_input_grad(2)});
    } else {
      if (ctx->needs_input_grad(0)) {  // x̂ and rstd are kept only then
        const Packed packed = restore(ctx, saved, "xhat");
        const at::Tensor& rstd = saved[4];  // (..., 1)
        if (fused_layer_norm_cpu(grad, packed.codec) && packed.dtype == at::kFloat) {
          grad_x = layer_norm_backward_from_code(packed, rstd, grad, weight);
        } else {
          const at::Tensor xhat = unpack(packed).to(at::kFloat);  // (..., H)
          at::Tensor g = grad.to(at::kFloat);
          if (weight.defined()) g = g * weight.to(at::kFloat);
          const at::Tensor proj = (g * xhat).mean(-1, true);
          grad_x = (rstd * (g - g.mean(-1, true) - xhat * proj)).to(grad.scalar_type());
        }
      }
      if (ctx->needs_input_grad(2) && ctx->saved_data["has_bias"].toBool())
        grad_b = at::sum_to(grad, saved[1].sizes());
    }
    return {grad_x, ctx->needs_input_grad(1) ? grad_w : at::Tensor(),
            ctx->needs_input_grad(2) ? grad_b : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// ---- GELU ----------------------------------------------------------------------------------
struct GeluFn : torch::autograd::Function<GeluFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, Codec codec) {
    variable_list saved;
    keep(ctx, saved, "x", pack(x, codec));
    ctx->save_for_backward(saved);
    return at::gelu(x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Packed p = restore(ctx, ctx->get_saved_variables(), "x");
    if (p.codec == Codec::kGeluDeriv2 || p.codec == Codec::kGeluDeriv3)
      return {gelu_grad_from_code(p, grads[0]), at::Tensor()};
    return {at::gelu_backward(grads[0], unpack(p)), at::Tensor()};
  }
};

// ---- Dropout -------------------------------------------------------------------------------
// Mirrors at::dropout: CUDA uses the fused native_dropout; elsewhere the mask is
// empty_like(x).bernoulli_(1 - p).div_(1 - p), so the RNG stream and the output match the
// plain op bit for bit. The mask is kept as bits and the noise rebuilt with the same ops.
bool fused_dropout(const at::Tensor& x, double p) {
  return x.is_cuda() && p > 0 && p < 1 && x.numel() > 0;
}

// The value the noise holds where an element is kept: at::dropout's noise.div_(1 - p) of a 1.
float keep_scale(double p) { return 1.0f / static_cast<float>(1.0 - p); }

struct DropoutState {
  at::Tensor out, bits;
};

DropoutState dropout_forward(const at::Tensor& x, double p) {
  if (fused_dropout(x, p)) {
    auto [out, mask] = at::native_dropout(x, p, true);
    return {out, pack_mask_bits(mask)};
  }
  if (fused_dropout_cpu(x) && x.is_contiguous() && p > 0 && p < 1) {
    // The noise's Bernoulli draws as bytes: the same generator calls in the same order, so the
    // same mask; noise = draw / (1 - p), x * noise and the bits then take one pass, not three.
    const at::Tensor keep = at::empty(x.sizes(), x.options().dtype(at::kByte)).bernoulli_(1 - p);
    auto [out, bits] = dropout_apply_bits(x, keep, keep_scale(p));
    return {out, bits};
  }
  at::Tensor noise = at::empty_like(x).bernoulli_(1 - p);
  noise.div_(1 - p);
  at::Tensor out = x.mul(noise);
  return {out, pack_mask_bits(noise)};  // bits of noise != 0
}

// grad * noise, as the plain op's backward computes it.
at::Tensor dropout_backward(const at::Tensor& grad, const at::Tensor& bits, double p,
                            at::ScalarType dtype) {
  if (grad.is_cpu() && grad.scalar_type() == at::kFloat && dtype == at::kFloat) {
    // One pass; noise = mask.to(float) / float(1 - p) holds exactly this value where kept.
    return scale_by_mask_bits(grad, bits, keep_scale(p));
  }
  const at::Tensor mask = unpack_mask_bits(bits, grad.sizes());
  if (fused_dropout(grad, p)) return at::native_dropout_backward(grad, mask, 1.0 / (1.0 - p));
  at::Tensor noise = mask.to(dtype);
  noise.div_(1 - p);
  return grad.mul(noise);
}

struct DropoutFn : torch::autograd::Function<DropoutFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double p) {
    DropoutState s = dropout_forward(x, p);
    ctx->saved_data["p"] = p;
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    variable_list saved;
    keep_tensor(saved, s.bits, true);
    ctx->save_for_backward(saved);
    return s.out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {dropout_backward(grads[0], ctx->get_saved_variables()[0],
                             ctx->saved_data["p"].toDouble(), dtype),
            at::Tensor()};
  }
};

// ---- Attention core ------------------------------------------------------------------------
// Forward: the ops of ops::attention in the same order. Backward: autograd's formulas for the
// batched matmuls (bmm on the same 3-d views), the scalar division and softmax.
struct AttentionFn : torch::autograd::Function<AttentionFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const at::Tensor& mask_or_empty, double p,
                            bool training, AttentionCodecs codecs) {
    const double scale = std::sqrt(double(q.size(-1)));
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / scale;  // (B, h, L, L)
    const at::Tensor mask = absent_if_empty(mask_or_empty);
    if (mask.defined()) scores = scores + mask;
    at::Tensor probs = at::softmax(scores, -1);
    const bool drop = training && p != 0.0;
    at::Tensor probs_d = probs;
    variable_list saved;
    if (drop) {
      DropoutState s = dropout_forward(probs, p);
      probs_d = s.out;
      keep_tensor(saved, s.bits, true);
    } else {
      keep_tensor(saved, at::Tensor(), false);
    }
    at::Tensor out = at::matmul(probs_d, v);  // (B, h, L, D)
    ctx->saved_data["drop"] = drop;
    ctx->saved_data["p"] = p;
    ctx->saved_data["scale"] = scale;
    keep(ctx, saved, "q", pack(q, codecs.qk));
    keep(ctx, saved, "k", pack(k, codecs.qk));
    keep(ctx, saved, "v", pack(v, codecs.v));
    keep(ctx, saved, "probs", pack(probs, codecs.probs));
    ctx->save_for_backward(saved);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor q = unpack(restore(ctx, saved, "q"));   // (B, h, L, D)
    const at::Tensor k = unpack(restore(ctx, saved, "k"));   // (B, h, L, D)
    const at::Tensor v = unpack(restore(ctx, saved, "v"));   // (B, h, L, D)
    const Packed probs_code = restore(ctx, saved, "probs");  // (B, h, L, L)
    const bool drop = ctx->saved_data["drop"].toBool();
    const double p = ctx->saved_data["p"].toDouble();
    const double scale = ctx->saved_data["scale"].toDouble();
    const at::Tensor& grad = grads[0];  // (B, h, L, D)
    // A uint8 probability code on CPU: the dropout and softmax steps read the codes directly
    // (two passes over the L x L tensors instead of six); otherwise autograd's composition.
    const bool fused = fused_probs_cpu(probs_code, grad);
    const at::Tensor bits = drop ? saved[0] : at::Tensor();
    const at::Tensor probs = fused ? at::Tensor() : unpack(probs_code);

    // Batched 3-d views as at::matmul builds them.
    auto to3 = [](const at::Tensor& t) { return t.reshape({-1, t.size(-2), t.size(-1)}); };
    const at::Tensor g3 = to3(grad);
    at::Tensor grad_v, grad_q, grad_k;
    if (ctx->needs_input_grad(2)) {
      const at::Tensor probs_d =  // probs * noise: the forward's dropped probs
          fused  ? unpack_probs_dropped(probs_code, bits, drop ? keep_scale(p) : 0.f)
          : drop ? dropout_backward(probs, bits, p, probs.scalar_type())
                 : probs;
      grad_v = to3(probs_d).transpose(1, 2).bmm(g3).view(v.sizes());
    }
    if (ctx->needs_input_grad(0) || ctx->needs_input_grad(1)) {
      at::Tensor grad_pd = g3.bmm(to3(v).transpose(1, 2)).view(probs_code.shape);  // (B, h, L, L)
      at::Tensor grad_s;
      if (fused) {
        grad_s = softmax_backward_from_code(probs_code, bits, drop ? keep_scale(p) : 0.f, grad_pd,
                                            scale);
      } else {
        at::Tensor grad_p =
            drop ? dropout_backward(grad_pd, bits, p, probs.scalar_type()) : grad_pd;
        grad_s = at::_softmax_backward_data(grad_p, probs, -1, probs.scalar_type()) / scale;
      }
      const at::Tensor s3 = to3(grad_s);
      const at::Tensor kt3 = to3(k.transpose(-1, -2));  // (Bh, D, L)
      if (ctx->needs_input_grad(0)) grad_q = s3.bmm(kt3.transpose(1, 2)).view(q.sizes());
      if (ctx->needs_input_grad(1))
        grad_k = to3(q)
                     .transpose(1, 2)
                     .bmm(s3)
                     .view({k.size(0), k.size(1), k.size(3), k.size(2)})
                     .transpose(-1, -2);
    }
    return {grad_q, grad_k, grad_v, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

static void check_value_codec(Codec c, const char* field) {
  SLIMFIT_CHECK(c != Codec::kGeluDeriv2 && c != Codec::kGeluDeriv3, "OpsConfig.", field, " = ",
                codec_name(c), ": GELU derivative codes only fit OpsConfig.gelu; pick a value ",
                "codec such as int8_row");
}

at::Tensor slim_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                       Codec input_codec) {
  check_value_codec(input_codec, "linear_input/ffn_down_input");
  return LinearFn::apply(x, weight, or_empty(bias, x), input_codec);
}

at::Tensor slim_layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           double eps, Codec frozen_codec) {
  check_value_codec(frozen_codec, "ln_frozen");
  return LayerNormFn::apply(x, weight, or_empty(bias, x), eps, frozen_codec);
}

at::Tensor slim_gelu(const at::Tensor& x, Codec codec) { return GeluFn::apply(x, codec); }

at::Tensor slim_dropout(const at::Tensor& x, double p) { return DropoutFn::apply(x, p); }

at::Tensor slim_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& additive_mask, double dropout_p, bool training,
                          const AttentionCodecs& codecs) {
  SLIMFIT_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
                "slimfit attention: expected q, k, v of shape (B, heads, L, D), got q ", q.sizes(),
                ", k ", k.sizes(), ", v ", v.sizes());
  SLIMFIT_CHECK(!additive_mask.defined() || !additive_mask.requires_grad(),
                "slimfit attention: the additive mask gets no gradient; detach it");
  check_value_codec(codecs.qk, "attn_qk");
  check_value_codec(codecs.v, "attn_v");
  check_value_codec(codecs.probs, "attn_probs");
  return AttentionFn::apply(q, k, v, or_empty(additive_mask, q), dropout_p, training, codecs);
}

}  // namespace slimfit::ops::detail
