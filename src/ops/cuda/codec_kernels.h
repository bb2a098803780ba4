// CUDA codec kernels: raw pointers and a stream, no torch headers, so they build with nvcc
// against any libtorch (Debian's is CPU-only). ops/codecs.cpp calls them for CUDA tensors when
// SLIMFIT_WITH_TORCH_CUDA and SLIMFIT_WITH_CUDA_KERNELS are both defined.
//
// Each kernel quantizes and packs (or unpacks and dequantizes) in one pass. The arithmetic is
// written to match the ATen CPU path in ops/codecs.cpp operation for operation (fp32 math, IEEE
// division and sqrt, round-half-even), so both paths give identical bytes for identical input.
// See note [codec formats] in ops/codecs.h for the layouts.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace slimfit::ops::cuda {

enum class ElemType : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

// How a value becomes an integer code before clamping to [qmin, qmax].
enum class QuantMode : int {
  kFixed = 0,     // v = x * mul (mul = 2^fraction_bits)
  kAbsmax = 1,    // v = x / scale[group], scale = absmax(group) / qmax (1 if absmax == 0)
  kProb256 = 2,   // v = x * 256
  kProb255 = 3,   // v = x * 255
  kProbSqrt = 4,  // v = sqrt(x) * 255
};

struct QuantParams {
  QuantMode mode;
  int bits;            // 8 (one value per byte) or 4 (two per byte, low nibble first)
  int qmin, qmax;      // clamp range of the integer code
  float mul;           // kFixed: 2^fraction_bits
  std::int64_t group;  // kAbsmax: elements per scale (flat, contiguous)
};

// scales: ceil(n / group) floats, written here (kAbsmax only; may be null otherwise).
// out: ceil(n * bits / 8) bytes.
cudaError_t quantize_pack(const void* x, ElemType t, std::int64_t n, const QuantParams& p,
                          float* scales, std::uint8_t* out, cudaStream_t stream);
// y: n elements of type t.
cudaError_t unpack_dequantize(const std::uint8_t* in, const float* scales, std::int64_t n,
                              const QuantParams& p, void* y, ElemType t, cudaStream_t stream);

// GELU derivative codes (few-bit backward). bits 2: four codes per byte; bits 3: three bit planes
// of ceil(n / 8) bytes each. breaks/codes: the x breakpoints and the code of each interval.
struct GeluCodeTable {
  int num_breaks;
  float breaks[16];
  std::uint8_t codes[17];
  float levels[8];
};
cudaError_t gelu_code_pack(const void* x, ElemType t, std::int64_t n, int bits,
                           const GeluCodeTable& table, std::uint8_t* out, cudaStream_t stream);
// grad_in[i] = grad[i] * levels[code[i]] (fp32 math, stored as t).
cudaError_t gelu_code_apply(const std::uint8_t* in, std::int64_t n, int bits,
                            const GeluCodeTable& table, const void* grad, void* grad_in, ElemType t,
                            cudaStream_t stream);

// One bit per element, element j of byte i at bit j. out: ceil(n / 8) bytes.
cudaError_t pack_mask_bits(const bool* mask, std::int64_t n, std::uint8_t* out,
                           cudaStream_t stream);
cudaError_t unpack_mask_bits(const std::uint8_t* in, std::int64_t n, bool* mask,
                             cudaStream_t stream);

}  // namespace slimfit::ops::cuda
