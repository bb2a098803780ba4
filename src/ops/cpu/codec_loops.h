// CPU codec loops: the CPU counterpart of ops/cuda/codec_kernels.h. Raw pointers, no torch
// headers; ops/codecs.cpp calls them for CPU tensors.
//
// Each call is one pass over the tensor, split over `threads` OpenMP threads in blocks of units
// that own whole output bytes and whole scale groups (the threads claim the blocks in turn), so
// the bytes do not depend on the thread count. The arithmetic is the ATen composition's in
// ops/codecs.cpp operation for operation (fp32 multiply, IEEE division and sqrt, round half to
// even, clamp), including what it does with NaN (note [codec NaN] in codec_loops.cpp). The ATen
// composition stays as the reference (ops::set_codec_path) and the tests compare the two byte for
// byte. Layouts: note [codec formats] in ops/codecs.h.
#pragma once

#include <cstdint>

namespace slimfit::ops::cpu {

enum class Elem : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

// How an integer codec turns a value into its code (the mode numbers of cuda::QuantMode).
struct QuantSpec {
  int mode;            // 0 fixed (x * mul), 1 absmax, 2 prob256, 3 prob255, 4 probsqrt
  int bits;            // 8 (one code per byte) or 4 (two per byte, low nibble first)
  int qmin, qmax;      // clamp range of the code
  float mul;           // mode 0: 2^fraction_bits
  std::int64_t group;  // mode 1: elements per scale (flat); 0 = one row (resolved by the caller)
};

// scales: ceil(n / group) floats (mode 1 only, else null). out: ceil(n * bits / 8) bytes.
void quantize_pack(const void* x, Elem t, std::int64_t n, const QuantSpec& s, float* scales,
                   std::uint8_t* out, int threads);
// y: n elements of type t.
void unpack_dequantize(const std::uint8_t* in, const float* scales, std::int64_t n,
                       const QuantSpec& s, void* y, Elem t, int threads);

// GELU derivative codes: interval i = #{k : !(breaks[k] >= x)} (NaN above every break), code =
// codes[i]. bits 2: four codes per byte; bits 3: three bit planes of ceil(n / 8) bytes.
struct GeluCode {
  int num_breaks;
  const float* breaks;
  const std::uint8_t* codes;
  const float* levels;
};
void gelu_code_pack(const void* x, Elem t, std::int64_t n, int bits, const GeluCode& table,
                    std::uint8_t* out, int threads);
// out[i] = grad[i] * levels[code[i]] in fp32, stored as t.
void gelu_code_apply(const std::uint8_t* in, std::int64_t n, int bits, const GeluCode& table,
                     const void* grad, void* out, Elem t, int threads);

// One bit per element (element j of byte i at bit j) for mask[i] != 0. out: ceil(n / 8) bytes.
void pack_mask_bits(const bool* mask, std::int64_t n, std::uint8_t* out, int threads);
// The same from a float mask (x != 0, so NaN is set), as x.to(bool) would give.
void pack_nonzero_bits(const void* x, Elem t, std::int64_t n, std::uint8_t* out, int threads);
void unpack_mask_bits(const std::uint8_t* in, std::int64_t n, bool* mask, int threads);
// out[i] = grad[i] * (bit i ? keep_scale : 0) in fp32: the dropout backward's grad * noise.
void mask_bits_scale(const std::uint8_t* in, std::int64_t n, float keep_scale, const float* grad,
                     float* out, int threads);

// ---- Fused op loops (fp32) -------------------------------------------------------------------
// Not codecs but the few element-wise steps of an op around one, fused into the same pass so that
// a compressed op reads and writes its large tensors fewer times than the stock op does
// (ops/slimfit_fns.cpp). Outputs that the stock op also computes are bit-identical to it;
// reductions (the softmax and LayerNorm backward sums) run in row order, so they differ from
// ATen's vectorised order in the last bits.

// Dropout's forward from its Bernoulli draws as bytes (keep[i] = 0 or 1):
// out[i] = x[i] * (keep[i] ? keep_scale : 0), as x * noise with noise = keep / (1 - p), and the
// draws as bits (pack_mask_bits' layout). out may alias x.
void dropout_keep_apply(const std::uint8_t* keep, const float* x, std::int64_t n, float keep_scale,
                        float* out, std::uint8_t* bits, int threads);

// Probabilities from uint8 codes (QuantSpec mode 2, 3 or 4), times the dropout noise if bits is
// not null: out[i] = p(code[i]) * (bit i ? keep_scale : 0). Equals unpack_dequantize followed by
// mask_bits_scale.
void prob_decode(const std::uint8_t* codes, int mode, const std::uint8_t* bits, float keep_scale,
                 std::int64_t n, float* out, int threads);

// Softmax's backward through dropout, from the probabilities' codes, over rows of `len`:
// g = grad * (bit ? keep_scale : 0) (grad alone if bits is null), p = p(code),
// out = p * (g - sum_row(g * p)) / scale. out may alias grad.
void softmax_backward_codes(const std::uint8_t* codes, int mode, const std::uint8_t* bits,
                            float keep_scale, const float* grad, std::int64_t rows,
                            std::int64_t len, float scale, float* out, int threads);

// Frozen LayerNorm's forward keep: x̂ = (x - mean) * rstd per row of `len` (the bytes of packing
// that x̂ with quantize_pack), for an absmax spec whose group is the row (s.group == len; 4-bit
// rows of even length).
void layer_norm_xhat_pack(const float* x, const float* mean, const float* rstd, std::int64_t rows,
                          std::int64_t len, const QuantSpec& s, float* scales, std::uint8_t* out,
                          int threads);
// Its backward: x̂ from those codes, g = grad * weight (grad if weight is null),
// out = rstd * ((g - mean(g)) - x̂ * mean(g * x̂)) per row. out may alias grad.
void layer_norm_backward_codes(const std::uint8_t* in, const float* scales, const QuantSpec& s,
                               const float* rstd, const float* grad, const float* weight,
                               std::int64_t rows, std::int64_t len, float* out, int threads);

}  // namespace slimfit::ops::cpu
