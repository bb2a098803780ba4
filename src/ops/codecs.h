// Codecs for the activations SlimFit keeps for backward: quantize or prune on the forward pass,
// restore on the backward pass. CPU tensors go to the single-pass OpenMP loops of
// ops/cpu/codec_loops.h; CUDA tensors go to the fused kernels in ops/cuda/ when the libtorch has
// CUDA (SLIMFIT_WITH_TORCH_CUDA) and the kernels were built (SLIMFIT_WITH_CUDA_KERNELS);
// otherwise a composition of ATen ops runs on any device. All three give the same bytes.
//
// Note [codec formats]. A packed tensor is `data` (+ `aux`) plus the original shape and dtype.
// All codes are over the flattened, contiguous tensor; "row" = the last dimension.
//   kLossless      data = x itself (no copy)                               elem_size B/elem
//   kInt8Fixed     data int8 q = clamp(rint(x * 16), -128, 127); x ~ q / 16        1 B/elem
//   kInt8Row       data int8 q = clamp(rint(x / s), -127, 127); aux fp32 s per row,
//                  s = absmax(row) / 127 (1 if the row is all zero)      1 B/elem + 4 B/row
//   kInt8Block     as kInt8Row with one s per kCodecBlock flat elements  1 B/elem + 4 B/block
//   kInt4Fixed     q = clamp(rint(x * 2), -8, 7) as a nibble; element 2i in the low nibble of
//                  byte i, element 2i+1 in the high one (0 for an odd count)  ceil(n/2) B
//   kInt4Row/Block q = clamp(rint(x / s), -7, 7), s = absmax / 7; nibbles as kInt4Fixed
//   kUint8Prob256  data uint8 q = clamp(rint(p * 256), 0, 255); p ~ q / 256         1 B/elem
//   kUint8Prob255  q = rint(p * 255); p ~ q / 255                                   1 B/elem
//   kUint8ProbSqrt q = rint(sqrt(p) * 255); p ~ (q / 255)^2                         1 B/elem
//   kTopK10        k = ceil(H / 10) largest |x| per row of H: data = values (x's dtype),
//                  aux = int32 column indices, both (rows, k), indices ascending
//   kGeluDeriv2/3  codes of gelu'(x) (see ops/codecs.cpp, note [gelu derivative code]):
//                  2 bits: four per byte, element 4i+j at bits 2j of byte i; 3 bits: three bit
//                  planes of ceil(n/8) bytes, bit k of element 8i+j at bit j of plane k byte i
// Rounding is half-to-even in fp32; CPU and CUDA produce identical bytes (top-k: identical
// unless |x| ties at the k-th value). Restored values are cast back to the input dtype.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "ops/format.h"

namespace slimfit::ops {

struct Packed {
  at::Tensor data;  // codes or values
  at::Tensor aux;   // scales (fp32), indices (int32) or undefined
  Codec codec = Codec::kLossless;
  at::ScalarType dtype = at::kFloat;
  std::vector<std::int64_t> shape;

  // Bytes held by data and aux.
  std::int64_t nbytes() const;
};

// Packs x (fp32, bf16 or fp16). kGeluDeriv* packs the code of gelu'(x).
Packed pack(const at::Tensor& x, Codec codec);
// Restores the tensor (shape and dtype of the packed input). Not for kGeluDeriv*.
at::Tensor unpack(const Packed& p);
// kGeluDeriv*: grad * gelu'(x) with gelu' read from the code, in grad's dtype.
at::Tensor gelu_grad_from_code(const Packed& p, const at::Tensor& grad);

// The bytes pack() keeps for a tensor of this shape and dtype (the formulas of the table above).
std::int64_t packed_bytes(Codec codec, at::IntArrayRef shape, at::ScalarType dtype);

// The chunk (flat elements) in which the ATen (CPU) fallback of pack() works, this thread; the
// bytes do not depend on it (note [ATen chunking] in codecs.cpp). Returns the previous value.
std::int64_t set_aten_pack_chunk(std::int64_t elements);

// Which implementation packs CPU tensors, this thread: the single-pass loops (the default) or the
// ATen composition, kept as their reference for the tests. Returns the previous value.
enum class CpuCodecs { kLoops, kAten };
CpuCodecs set_cpu_codecs(CpuCodecs path);

// Boolean mask (any dtype; x != 0) <-> 1 bit per element (element j of byte i at bit j), ceil(n/8)
// bytes.
at::Tensor pack_mask_bits(const at::Tensor& mask);
at::Tensor unpack_mask_bits(const at::Tensor& bits, at::IntArrayRef shape);
// grad * (bit i ? keep_scale : 0), one pass: the dropout backward's grad * noise with the noise
// rebuilt from its bits (fp32 CPU only; keep_scale = 1.0f / float(1 - p) as the noise holds it).
at::Tensor scale_by_mask_bits(const at::Tensor& grad, const at::Tensor& bits, float keep_scale);

// ---- Fused CPU steps of the SlimFit ops ------------------------------------------------------
// Where the loops pack CPU tensors (set_cpu_codecs), fp32 ops fuse the element-wise steps around
// a codec into its pass (ops/cpu/codec_loops.h, "Fused op loops"); ops/slimfit_fns.cpp calls
// these when the matching predicate holds and the ATen composition otherwise.

// Dropout's forward from the Bernoulli draws as uint8 0/1 (`keep`, x's shape): {x * noise, mask
// bits}, bit-identical to x.mul(noise) with noise = keep / (1 - p) (keep_scale = 1.0f / float(1 -
// p)).
bool fused_dropout_cpu(const at::Tensor& x);
std::pair<at::Tensor, at::Tensor> dropout_apply_bits(const at::Tensor& x, const at::Tensor& keep,
                                                     float keep_scale);

// Attention's backward from a uint8 probability code: the dropped probabilities probs * noise
// (noise from `bits`; undefined bits: no dropout), and the scores' gradient
// softmax_backward(grad * noise, probs) / scale, each in one pass.
bool fused_probs_cpu(const Packed& probs, const at::Tensor& grad);
at::Tensor unpack_probs_dropped(const Packed& probs, const at::Tensor& bits, float keep_scale);
at::Tensor softmax_backward_from_code(const Packed& probs, const at::Tensor& bits, float keep_scale,
                                      const at::Tensor& grad, double scale);

// A frozen LayerNorm's x̂ = (x - mean) * rstd packed per row (int8_row, or int4_row on rows of
// even length) in one pass, the same bytes as pack(x̂, codec); and its input gradient
// rstd * (g - mean(g) - x̂ * mean(g x̂)), g = grad * weight, from those codes.
bool fused_layer_norm_cpu(const at::Tensor& x, Codec codec);
Packed pack_layer_norm_xhat(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& rstd,
                            Codec codec);
at::Tensor layer_norm_backward_from_code(const Packed& xhat, const at::Tensor& rstd,
                                         const at::Tensor& grad, const at::Tensor& weight);

// The Lloyd-Max levels of gelu'(x) for kGeluDeriv2 (4) or kGeluDeriv3 (8), for documentation
// and tests.
std::vector<float> gelu_derivative_levels(Codec codec);

// Saved-activation tally: the SlimFit Functions add the bytes of every activation tensor they
// hand to ctx->save_for_backward (weights kept by reference are not activations and are not
// counted). Thread-local; the forward pass runs on the caller's thread.
std::int64_t saved_bytes_tally();
void add_saved_bytes(std::int64_t bytes);

// Reads the tally's growth over a scope: `SavedBytesScope s; y = op(...); s.bytes()`.
class SavedBytesScope {
 public:
  SavedBytesScope() : start_(saved_bytes_tally()) {}
  std::int64_t bytes() const { return saved_bytes_tally() - start_; }

 private:
  std::int64_t start_;
};

}  // namespace slimfit::ops
