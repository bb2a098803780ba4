// CUDA codec kernels; see codec_kernels.h for the contract and ops/codecs.h for the layouts.
#include "ops/cuda/codec_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace slimfit::ops::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float load(const void* p, ElemType t, std::int64_t i) {
  switch (t) {
    case ElemType::kF16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case ElemType::kBF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

__device__ __forceinline__ void store(void* p, ElemType t, std::int64_t i, float v) {
  switch (t) {
    case ElemType::kF16:
      static_cast<__half*>(p)[i] = __float2half_rn(v);
      break;
    case ElemType::kBF16:
      static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
      break;
    default:
      static_cast<float*>(p)[i] = v;
  }
}

unsigned grid_for(std::int64_t work) {
  std::int64_t blocks = (work + kThreads - 1) / kThreads;
  if (blocks < 1) blocks = 1;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;
  return static_cast<unsigned>(blocks);
}

// One block per group: scale = absmax / qmax, or 1 for an all-zero group.
__global__ void absmax_scale_kernel(const void* x, ElemType t, std::int64_t n, std::int64_t group,
                                    float qmax, float* scales) {
  __shared__ float red[kThreads];
  const std::int64_t g = blockIdx.x;
  const std::int64_t begin = g * group;
  std::int64_t end = begin + group;
  if (end > n) end = n;
  float m = 0.f;
  for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    m = fmaxf(m, fabsf(load(x, t, i)));
  red[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const float scale = __fdiv_rn(red[0], qmax);
    scales[g] = scale == 0.f ? 1.f : scale;
  }
}

__device__ __forceinline__ int quantize_one(float x, std::int64_t i, const QuantParams& p,
                                            const float* scales) {
  float v;
  switch (p.mode) {
    case QuantMode::kFixed:
      v = __fmul_rn(x, p.mul);
      break;
    case QuantMode::kAbsmax:
      v = __fdiv_rn(x, scales[i / p.group]);
      break;
    case QuantMode::kProb256:
      v = __fmul_rn(x, 256.f);
      break;
    case QuantMode::kProb255:
      v = __fmul_rn(x, 255.f);
      break;
    default:
      v = __fmul_rn(__fsqrt_rn(x), 255.f);
  }
  v = rintf(v);
  v = fminf(fmaxf(v, static_cast<float>(p.qmin)), static_cast<float>(p.qmax));
  return static_cast<int>(v);
}

__device__ __forceinline__ float dequantize_one(int q, std::int64_t i, const QuantParams& p,
                                                const float* scales) {
  switch (p.mode) {
    case QuantMode::kFixed:
      return __fdiv_rn(static_cast<float>(q), p.mul);
    case QuantMode::kAbsmax:
      return __fmul_rn(static_cast<float>(q), scales[i / p.group]);
    case QuantMode::kProb256:
      return static_cast<float>(static_cast<double>(q) / 256.0);
    case QuantMode::kProb255:
      return static_cast<float>(static_cast<double>(q) / 255.0);
    default: {
      const double r = static_cast<double>(q) / 255.0;
      return static_cast<float>(r * r);
    }
  }
}

// One thread per output byte.
__global__ void quantize_pack_kernel(const void* x, ElemType t, std::int64_t n, QuantParams p,
                                     const float* scales, std::uint8_t* out) {
  const std::int64_t nbytes = p.bits == 8 ? n : (n + 1) / 2;
  for (std::int64_t b = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       b < nbytes; b += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    if (p.bits == 8) {
      out[b] = static_cast<std::uint8_t>(quantize_one(load(x, t, b), b, p, scales) & 0xFF);
    } else {
      const std::int64_t i0 = 2 * b;
      const int lo = quantize_one(load(x, t, i0), i0, p, scales) & 0xF;
      const int hi = i0 + 1 < n ? (quantize_one(load(x, t, i0 + 1), i0 + 1, p, scales) & 0xF) : 0;
      out[b] = static_cast<std::uint8_t>(lo | (hi << 4));
    }
  }
}

// One thread per element.
__global__ void unpack_dequantize_kernel(const std::uint8_t* in, const float* scales,
                                         std::int64_t n, QuantParams p, void* y, ElemType t) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    int q;
    if (p.bits == 8) {
      q = p.qmin < 0 ? static_cast<int>(static_cast<std::int8_t>(in[i])) : static_cast<int>(in[i]);
    } else {
      const int nib = (in[i / 2] >> (4 * (i & 1))) & 0xF;
      q = nib >= 8 ? nib - 16 : nib;
    }
    store(y, t, i, dequantize_one(q, i, p, scales));
  }
}

__device__ __forceinline__ int gelu_code(float x, const GeluCodeTable& tab) {
  int idx = 0;
  for (int k = 0; k < tab.num_breaks; ++k) idx += x > tab.breaks[k] ? 1 : 0;
  return tab.codes[idx];
}

// bits 2: one thread per output byte (4 elements). bits 3: one thread per 8 elements.
__global__ void gelu_code_pack_kernel(const void* x, ElemType t, std::int64_t n, int bits,
                                      GeluCodeTable tab, std::uint8_t* out) {
  const std::int64_t per = bits == 2 ? 4 : 8;
  const std::int64_t groups = (n + per - 1) / per;
  for (std::int64_t g = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       g < groups; g += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    int planes[3] = {0, 0, 0};
    int byte = 0;
    for (int j = 0; j < per; ++j) {
      const std::int64_t i = g * per + j;
      const int c = i < n ? gelu_code(load(x, t, i), tab) : 0;
      if (bits == 2) {
        byte |= c << (2 * j);
      } else {
        for (int k = 0; k < 3; ++k) planes[k] |= ((c >> k) & 1) << j;
      }
    }
    if (bits == 2) {
      out[g] = static_cast<std::uint8_t>(byte);
    } else {
      for (int k = 0; k < 3; ++k) out[k * groups + g] = static_cast<std::uint8_t>(planes[k]);
    }
  }
}

__global__ void gelu_code_apply_kernel(const std::uint8_t* in, std::int64_t n, int bits,
                                       GeluCodeTable tab, const void* grad, void* grad_in,
                                       ElemType t) {
  const std::int64_t plane = (n + 7) / 8;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    int c;
    if (bits == 2) {
      c = (in[i / 4] >> (2 * (i & 3))) & 3;
    } else {
      c = 0;
      for (int k = 0; k < 3; ++k) c |= ((in[k * plane + i / 8] >> (i & 7)) & 1) << k;
    }
    store(grad_in, t, i, __fmul_rn(load(grad, t, i), tab.levels[c]));
  }
}

__global__ void pack_mask_bits_kernel(const bool* mask, std::int64_t n, std::uint8_t* out) {
  const std::int64_t nbytes = (n + 7) / 8;
  for (std::int64_t b = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       b < nbytes; b += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    int byte = 0;
    for (int j = 0; j < 8; ++j) {
      const std::int64_t i = 8 * b + j;
      if (i < n && mask[i]) byte |= 1 << j;
    }
    out[b] = static_cast<std::uint8_t>(byte);
  }
}

__global__ void unpack_mask_bits_kernel(const std::uint8_t* in, std::int64_t n, bool* mask) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    mask[i] = ((in[i / 8] >> (i & 7)) & 1) != 0;
  }
}

}  // namespace

cudaError_t quantize_pack(const void* x, ElemType t, std::int64_t n, const QuantParams& p,
                          float* scales, std::uint8_t* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (p.mode == QuantMode::kAbsmax) {
    const std::int64_t groups = (n + p.group - 1) / p.group;
    absmax_scale_kernel<<<static_cast<unsigned>(groups), kThreads, 0, stream>>>(
        x, t, n, p.group, static_cast<float>(p.qmax), scales);
  }
  const std::int64_t nbytes = p.bits == 8 ? n : (n + 1) / 2;
  quantize_pack_kernel<<<grid_for(nbytes), kThreads, 0, stream>>>(x, t, n, p, scales, out);
  return cudaGetLastError();
}

cudaError_t unpack_dequantize(const std::uint8_t* in, const float* scales, std::int64_t n,
                              const QuantParams& p, void* y, ElemType t, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  unpack_dequantize_kernel<<<grid_for(n), kThreads, 0, stream>>>(in, scales, n, p, y, t);
  return cudaGetLastError();
}

cudaError_t gelu_code_pack(const void* x, ElemType t, std::int64_t n, int bits,
                           const GeluCodeTable& table, std::uint8_t* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const std::int64_t groups = (n + (bits == 2 ? 3 : 7)) / (bits == 2 ? 4 : 8);
  gelu_code_pack_kernel<<<grid_for(groups), kThreads, 0, stream>>>(x, t, n, bits, table, out);
  return cudaGetLastError();
}

cudaError_t gelu_code_apply(const std::uint8_t* in, std::int64_t n, int bits,
                            const GeluCodeTable& table, const void* grad, void* grad_in, ElemType t,
                            cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  gelu_code_apply_kernel<<<grid_for(n), kThreads, 0, stream>>>(in, n, bits, table, grad, grad_in,
                                                               t);
  return cudaGetLastError();
}

cudaError_t pack_mask_bits(const bool* mask, std::int64_t n, std::uint8_t* out,
                           cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  pack_mask_bits_kernel<<<grid_for((n + 7) / 8), kThreads, 0, stream>>>(mask, n, out);
  return cudaGetLastError();
}

cudaError_t unpack_mask_bits(const std::uint8_t* in, std::int64_t n, bool* mask,
                             cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  unpack_mask_bits_kernel<<<grid_for(n), kThreads, 0, stream>>>(in, n, mask);
  return cudaGetLastError();
}

}  // namespace slimfit::ops::cuda
