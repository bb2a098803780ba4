// CPU codec loops: the CPU counterpart of ops/cuda/codec_kernels.h. Raw pointers, no torch
// headers; ops/codecs.cpp calls them for CPU tensors.
//
// Each call is one pass over the tensor, split over `threads` OpenMP threads with a static
// schedule on units that own whole output bytes and whole scale groups, so the bytes do not
// depend on the thread count. The arithmetic is the ATen composition's in ops/codecs.cpp
// operation for operation (fp32 multiply, IEEE division and sqrt, round half to even, clamp),
// including what it does with NaN (note [codec NaN] in codec_loops.cpp). The ATen composition
// stays as the reference (ops::set_codec_path) and the tests compare the two byte for byte.
// Layouts: note [codec formats] in ops/codecs.h.
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

}  // namespace slimfit::ops::cpu
