#include "ops/codecs.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "common/error.h"
#include "ops/cpu/codec_loops.h"

#if defined(SLIMFIT_WITH_TORCH_CUDA) && defined(SLIMFIT_WITH_CUDA_KERNELS)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "ops/cuda/codec_kernels.h"
#define SLIMFIT_CODEC_CUDA 1
#endif

namespace slimfit::ops {
namespace {

thread_local std::int64_t tl_saved_bytes = 0;

// Note [gelu derivative code]. gelu'(x) = Phi(x) + x phi(x) is quantized in the *derivative*
// domain with Lloyd-Max levels for x ~ N(0, 1) (20001-point grid on [-10, 10], 500 iterations).
// The level thresholds map back to breakpoints in x (gelu' falls on (-inf, -sqrt2], rises on
// [-sqrt2, sqrt2], falls on [sqrt2, inf)), so the code is an exact comparison of x with a few
// fp32 constants, identical on CPU and CUDA. interval i = #{breakpoints b : x > b}.
// Measured derivative SQNR under N(0,1): 2 bits 17.6 dB, 3 bits 23.8 dB.
struct GeluTable {
  std::vector<float> breaks;
  std::vector<std::uint8_t> codes;  // code of each interval (breaks.size() + 1)
  std::vector<float> levels;        // gelu' value of each code
};

const GeluTable& gelu_table(Codec c) {
  static const GeluTable two{{-0.498603103f, 0.000245073892f, 0.49892006f},
                             {0, 1, 2, 3},
                             {-0.0462912864f, 0.313023621f, 0.68736746f, 1.04629129f}};
  static const GeluTable three{
      {-2.94330514f, -0.784787451f, -0.47280733f, -0.224835299f, 0.000489639671f, 0.225811803f,
       0.473797327f, 0.785625601f, 2.9336761f},
      {1, 0, 1, 2, 3, 4, 5, 6, 7, 6},
      {-0.0911883056f, 0.0635597318f, 0.235440149f, 0.41175205f, 0.589029302f, 0.76525915f,
       0.936995177f, 1.09131314f}};
  return c == Codec::kGeluDeriv2 ? two : three;
}

bool is_gelu_code(Codec c) { return c == Codec::kGeluDeriv2 || c == Codec::kGeluDeriv3; }

std::int64_t numel_of(at::IntArrayRef shape) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}
std::int64_t row_len(at::IntArrayRef shape) { return shape.empty() ? 1 : shape.back(); }
std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
std::int64_t topk_k(std::int64_t h) { return h == 0 ? 0 : ceil_div(h, 10); }

// Integer codecs share one description, used by the ATen path, the CPU loops and the kernels.
using IntSpec = cpu::QuantSpec;

bool int_spec(Codec c, IntSpec* s) {
  switch (c) {
    case Codec::kInt8Fixed:
      *s = {0, 8, -128, 127, 16.f, 0};
      return true;
    case Codec::kInt8Row:
      *s = {1, 8, -127, 127, 1.f, 0};
      return true;
    case Codec::kInt8Block:
      *s = {1, 8, -127, 127, 1.f, kCodecBlock};
      return true;
    case Codec::kInt4Fixed:
      *s = {0, 4, -8, 7, 2.f, 0};
      return true;
    case Codec::kInt4Row:
      *s = {1, 4, -7, 7, 1.f, 0};
      return true;
    case Codec::kInt4Block:
      *s = {1, 4, -7, 7, 1.f, kCodecBlock};
      return true;
    case Codec::kUint8Prob256:
      *s = {2, 8, 0, 255, 1.f, 0};
      return true;
    case Codec::kUint8Prob255:
      *s = {3, 8, 0, 255, 1.f, 0};
      return true;
    case Codec::kUint8ProbSqrt:
      *s = {4, 8, 0, 255, 1.f, 0};
      return true;
    default:
      return false;
  }
}

std::int64_t group_of(const IntSpec& s, at::IntArrayRef shape) {
  return s.group > 0 ? s.group : std::max<std::int64_t>(row_len(shape), 1);
}

// The bytes an integer code of n elements fills, and for absmax codes its fp32 scales, one per
// `group` elements, on the device and with the options of `like`.
void allocate_int(Packed& p, const IntSpec& s, std::int64_t n, std::int64_t group,
                  const at::TensorOptions& like) {
  p.data = at::empty({s.bits == 8 ? n : ceil_div(n, 2)},
                     like.dtype(s.bits == 8 && s.qmin < 0 ? at::kChar : at::kByte));
  if (s.mode == 1) p.aux = at::empty({ceil_div(n, group)}, like.dtype(at::kFloat));
}

void check_float(const at::Tensor& x, const char* what) {
  const auto t = x.scalar_type();
  SLIMFIT_CHECK(t == at::kFloat || t == at::kHalf || t == at::kBFloat16, what,
                ": expected a float32, bfloat16 or float16 tensor, got ", t,
                "; convert the tensor before packing it");
}

// ---- ATen bit packing ----------------------------------------------------------------------

// codes: flat integer tensor with values in [0, 2^bits); bits in {1, 2, 4}.
at::Tensor pack_groups(const at::Tensor& codes, int bits) {
  const std::int64_t per = 8 / bits, n = codes.numel(), m = ceil_div(n, per);
  at::Tensor c = at::constant_pad_nd(codes.to(at::kInt), {0, m * per - n}).view({m, per});
  at::Tensor weights = at::empty({per}, codes.options().dtype(at::kInt));
  {
    at::Tensor w = at::empty({per}, at::TensorOptions().dtype(at::kInt));
    for (std::int64_t j = 0; j < per; ++j) w.data_ptr<int>()[j] = 1 << (bits * j);
    weights = w.to(codes.device());
  }
  return (c * weights).sum(1, false, at::kInt).to(at::kByte);
}

at::Tensor unpack_groups(const at::Tensor& bytes, std::int64_t n, int bits) {
  const std::int64_t per = 8 / bits;
  at::Tensor shifts = at::arange(per, bytes.options().dtype(at::kInt)) * bits;
  at::Tensor b = bytes.to(at::kInt).unsqueeze(1);  // (m, 1)
  at::Tensor v = b.__rshift__(shifts).bitwise_and((1 << bits) - 1);
  return v.reshape({-1}).narrow(0, 0, n);
}

// ---- ATen integer codecs -------------------------------------------------------------------

at::Tensor scales_aten(const at::Tensor& xf, const IntSpec& s, std::int64_t group) {
  const std::int64_t n = xf.numel(), groups = ceil_div(n, group);
  at::Tensor padded = at::constant_pad_nd(xf.abs(), {0, groups * group - n}).view({groups, group});
  at::Tensor scale = padded.amax(1) / static_cast<float>(s.qmax);
  return at::where(scale == 0, at::ones_like(scale), scale);
}

// group: the absmax scale's group (mode 1), in flat elements.
Packed pack_int_aten(const at::Tensor& x, const IntSpec& s, std::int64_t group, Packed p) {
  at::Tensor xf = x.reshape({-1}).to(at::kFloat);
  const std::int64_t n = xf.numel();
  at::Tensor v;
  switch (s.mode) {
    case 0:
      v = xf * s.mul;
      break;
    case 1: {
      p.aux = scales_aten(xf, s, group);
      at::Tensor per_elem = p.aux.repeat_interleave(group).narrow(0, 0, n);
      v = xf / per_elem;
      break;
    }
    case 2:
      v = xf * 256.f;
      break;
    case 3:
      v = xf * 255.f;
      break;
    default:
      v = xf.sqrt() * 255.f;
  }
  at::Tensor q = v.round().clamp(s.qmin, s.qmax).to(at::kInt);
  if (s.bits == 8) {
    p.data = q.to(s.qmin < 0 ? at::kChar : at::kByte);
  } else {
    p.data = pack_groups(q.bitwise_and(0xF), 4);
  }
  return p;
}

// group: the absmax scale's group (mode 1), in flat elements.
at::Tensor unpack_int_aten(const Packed& p, const IntSpec& s, std::int64_t group) {
  const std::int64_t n = numel_of(p.shape);
  at::Tensor q;
  if (s.bits == 8) {
    q = p.data.to(at::kInt);
  } else {
    at::Tensor nib = unpack_groups(p.data, n, 4);
    q = nib - (nib >= 8).to(at::kInt) * 16;
  }
  at::Tensor y;
  switch (s.mode) {
    case 0:
      y = q.to(at::kFloat) / s.mul;
      break;
    case 1: {
      y = q.to(at::kFloat) * p.aux.repeat_interleave(group).narrow(0, 0, n);
      break;
    }
    default: {
      // 256-entry table computed in double, as the kernel does.
      at::Tensor table = at::empty({256}, at::TensorOptions().dtype(at::kFloat));
      for (int i = 0; i < 256; ++i) {
        const double r = i / (s.mode == 2 ? 256.0 : 255.0);
        table.data_ptr<float>()[i] = static_cast<float>(s.mode == 4 ? r * r : r);
      }
      y = table.to(q.device()).index_select(0, q.to(at::kLong));
    }
  }
  return y.to(p.dtype).view(p.shape);
}

// ---- GELU derivative code (ATen) -----------------------------------------------------------

at::Tensor gelu_codes_aten(const at::Tensor& x, Codec c) {
  const GeluTable& t = gelu_table(c);
  auto opts = at::TensorOptions().device(x.device());
  at::Tensor breaks =
      at::tensor(at::ArrayRef<float>(t.breaks), at::TensorOptions().dtype(at::kFloat)).to(opts);
  std::vector<std::int64_t> codes64(t.codes.begin(), t.codes.end());
  at::Tensor codes = at::tensor(codes64, at::TensorOptions().dtype(at::kLong)).to(opts);
  at::Tensor idx = at::bucketize(x.reshape({-1}).to(at::kFloat), breaks);  // #{b : b < x}
  return codes.index_select(0, idx);
}

at::Tensor pack_gelu_aten(const at::Tensor& x, Codec c) {
  at::Tensor codes = gelu_codes_aten(x, c);
  if (c == Codec::kGeluDeriv2) return pack_groups(codes, 2);
  std::vector<at::Tensor> planes;
  for (int k = 0; k < 3; ++k) planes.push_back(pack_groups(codes.__rshift__(k).bitwise_and(1), 1));
  return at::cat(planes);
}

// ---- Chunked ATen packing ------------------------------------------------------------------
// Note [ATen chunking]: the ATen fallback (CPU) builds its codes through full-size int32 and
// int64 temporaries: for the 3-bit GELU code about 9x the fp32 input's bytes are alive at once,
// which made a compressed forward's peak higher than the stock one on small models. pack()
// therefore packs the flat input in chunks of tl_aten_chunk elements and writes each chunk's
// bytes into place. Chunks start at multiples of 8 elements (whole bytes of 1-, 2- and 4-bit
// codes) and of the scale group (absmax codecs), so the result equals one-shot packing byte for
// byte (test Codecs.ChunkedAtenPackingIsByteIdentical).

thread_local std::int64_t tl_aten_chunk = std::int64_t{1} << 16;

// The largest multiple of `unit` (>= 1) not above the chunk size, and at least `unit`.
std::int64_t chunk_of(std::int64_t unit) {
  return std::max<std::int64_t>(unit, tl_aten_chunk / unit * unit);
}

at::Tensor pack_gelu_chunked(const at::Tensor& x, Codec c) {
  const at::Tensor flat = x.reshape({-1});
  const std::int64_t n = flat.numel();
  if (n <= tl_aten_chunk) return pack_gelu_aten(flat, c);
  const std::int64_t chunk = chunk_of(8);
  at::Tensor out =
      at::empty({packed_bytes(c, x.sizes(), x.scalar_type())}, x.options().dtype(at::kByte));
  const std::int64_t plane = ceil_div(n, 8);
  for (std::int64_t start = 0; start < n; start += chunk) {
    const std::int64_t len = std::min(chunk, n - start);
    const at::Tensor bytes = pack_gelu_aten(flat.narrow(0, start, len), c);
    if (c == Codec::kGeluDeriv2) {
      out.narrow(0, start / 4, bytes.numel()).copy_(bytes);
      continue;
    }
    const std::int64_t chunk_plane = ceil_div(len, 8);  // the chunk's own three bit planes
    for (int k = 0; k < 3; ++k) {
      out.narrow(0, k * plane + start / 8, chunk_plane)
          .copy_(bytes.narrow(0, k * chunk_plane, chunk_plane));
    }
  }
  return out;
}

Packed pack_int_chunked(const at::Tensor& x, const IntSpec& s, Packed p) {
  const at::Tensor flat = x.reshape({-1});
  const std::int64_t n = flat.numel();
  const std::int64_t group = s.mode == 1 ? group_of(s, x.sizes()) : 1;
  if (n <= tl_aten_chunk) return pack_int_aten(flat, s, group, std::move(p));
  const std::int64_t chunk = chunk_of(8 * group);
  const int per_byte = s.bits == 8 ? 1 : 2;
  allocate_int(p, s, n, group, x.options());
  for (std::int64_t start = 0; start < n; start += chunk) {
    const std::int64_t len = std::min(chunk, n - start);
    Packed q = pack_int_aten(flat.narrow(0, start, len), s, group, Packed{});
    p.data.narrow(0, start / per_byte, q.data.numel()).copy_(q.data);
    if (s.mode == 1) p.aux.narrow(0, start / group, q.aux.numel()).copy_(q.aux);
  }
  return p;
}

at::Tensor gelu_apply_aten(const Packed& p, const at::Tensor& grad) {
  const std::int64_t n = numel_of(p.shape);
  at::Tensor codes;
  if (p.codec == Codec::kGeluDeriv2) {
    codes = unpack_groups(p.data, n, 2);
  } else {
    const std::int64_t plane = ceil_div(n, 8);
    codes = at::zeros({n}, p.data.options().dtype(at::kInt));
    for (int k = 0; k < 3; ++k)
      codes = codes + unpack_groups(p.data.narrow(0, k * plane, plane), n, 1).__lshift__(k);
  }
  const GeluTable& t = gelu_table(p.codec);
  at::Tensor levels =
      at::tensor(at::ArrayRef<float>(t.levels), at::TensorOptions().dtype(at::kFloat))
          .to(grad.device());
  at::Tensor d = levels.index_select(0, codes.to(at::kLong)).view(p.shape);
  return (grad.to(at::kFloat) * d).to(grad.scalar_type());
}

// The decoding side of note [ATen chunking]: chunk by chunk into the output, so the int32/int64
// temporaries of the backward pass stay small as well.
Packed chunk_of_packed(const Packed& p, std::int64_t start, std::int64_t len, int bits,
                       std::int64_t group) {
  Packed q;
  q.codec = p.codec;
  q.dtype = p.dtype;
  q.shape = {len};
  if (p.codec == Codec::kGeluDeriv3) {  // three bit planes of ceil(n/8) bytes each
    const std::int64_t plane = ceil_div(numel_of(p.shape), 8), bytes = ceil_div(len, 8);
    q.data =
        at::cat({p.data.narrow(0, start / 8, bytes), p.data.narrow(0, plane + start / 8, bytes),
                 p.data.narrow(0, 2 * plane + start / 8, bytes)});
    return q;
  }
  const std::int64_t per_byte = 8 / bits;
  q.data = p.data.narrow(0, start / per_byte, ceil_div(len, per_byte));
  if (p.aux.defined()) q.aux = p.aux.narrow(0, start / group, ceil_div(len, group));
  return q;
}

at::Tensor unpack_int_chunked(const Packed& p, const IntSpec& s) {
  const std::int64_t n = numel_of(p.shape);
  const std::int64_t group = s.mode == 1 ? group_of(s, p.shape) : 1;
  if (n <= tl_aten_chunk) return unpack_int_aten(p, s, group);
  const std::int64_t chunk = chunk_of(8 * group);
  at::Tensor out = at::empty({n}, p.data.options().dtype(p.dtype));
  for (std::int64_t start = 0; start < n; start += chunk) {
    const std::int64_t len = std::min(chunk, n - start);
    out.narrow(0, start, len)
        .copy_(unpack_int_aten(chunk_of_packed(p, start, len, s.bits, group), s, group));
  }
  return out.view(p.shape);
}

at::Tensor gelu_apply_chunked(const Packed& p, const at::Tensor& grad) {
  const std::int64_t n = numel_of(p.shape);
  if (n <= tl_aten_chunk) return gelu_apply_aten(p, grad);
  const std::int64_t chunk = chunk_of(8);
  const int bits = p.codec == Codec::kGeluDeriv2 ? 2 : 1;
  const at::Tensor g = grad.reshape({-1});
  at::Tensor out = at::empty({n}, grad.options());
  for (std::int64_t start = 0; start < n; start += chunk) {
    const std::int64_t len = std::min(chunk, n - start);
    out.narrow(0, start, len)
        .copy_(gelu_apply_aten(chunk_of_packed(p, start, len, bits, 1), g.narrow(0, start, len)));
  }
  return out.view(grad.sizes());
}

// ---- CPU loops -----------------------------------------------------------------------------
// One pass per tensor (ops/cpu/codec_loops.h); the ATen composition above stays as their
// reference (set_cpu_codecs) and for devices without kernels.

thread_local CpuCodecs tl_cpu_codecs = CpuCodecs::kLoops;

bool use_loops(const at::Tensor& t) { return t.is_cpu() && tl_cpu_codecs == CpuCodecs::kLoops; }

cpu::Elem loop_elem(at::ScalarType t) {
  switch (t) {
    case at::kHalf:
      return cpu::Elem::kF16;
    case at::kBFloat16:
      return cpu::Elem::kBF16;
    default:
      return cpu::Elem::kF32;
  }
}

cpu::GeluCode loop_table(Codec c) {
  const GeluTable& t = gelu_table(c);
  return {static_cast<int>(t.breaks.size()), t.breaks.data(), t.codes.data(), t.levels.data()};
}

Packed pack_int_loops(const at::Tensor& x, IntSpec s, Packed p) {
  const std::int64_t n = x.numel();
  if (s.mode == 1) s.group = group_of(s, x.sizes());
  allocate_int(p, s, n, s.group, x.options());
  cpu::quantize_pack(x.data_ptr(), loop_elem(p.dtype), n, s,
                     s.mode == 1 ? p.aux.data_ptr<float>() : nullptr,
                     static_cast<std::uint8_t*>(p.data.data_ptr()), at::get_num_threads());
  return p;
}

at::Tensor unpack_int_loops(const Packed& p, IntSpec s) {
  if (s.mode == 1) s.group = group_of(s, p.shape);
  const at::Tensor data = p.data.contiguous();
  const at::Tensor aux = s.mode == 1 ? p.aux.contiguous() : at::Tensor();
  at::Tensor y = at::empty(p.shape, data.options().dtype(p.dtype));
  cpu::unpack_dequantize(static_cast<const std::uint8_t*>(data.data_ptr()),
                         s.mode == 1 ? aux.data_ptr<float>() : nullptr, y.numel(), s, y.data_ptr(),
                         loop_elem(p.dtype), at::get_num_threads());
  return y;
}

at::Tensor pack_gelu_loops(const at::Tensor& x, Codec c) {
  at::Tensor out =
      at::empty({packed_bytes(c, x.sizes(), x.scalar_type())}, x.options().dtype(at::kByte));
  cpu::gelu_code_pack(x.data_ptr(), loop_elem(x.scalar_type()), x.numel(),
                      c == Codec::kGeluDeriv2 ? 2 : 3, loop_table(c), out.data_ptr<std::uint8_t>(),
                      at::get_num_threads());
  return out;
}

at::Tensor gelu_apply_loops(const Packed& p, const at::Tensor& grad) {
  const at::Tensor data = p.data.contiguous();
  at::Tensor out = at::empty(grad.sizes(), grad.options());
  cpu::gelu_code_apply(data.data_ptr<std::uint8_t>(), grad.numel(),
                       p.codec == Codec::kGeluDeriv2 ? 2 : 3, loop_table(p.codec), grad.data_ptr(),
                       out.data_ptr(), loop_elem(grad.scalar_type()), at::get_num_threads());
  return out;
}

at::Tensor pack_mask_loops(const at::Tensor& mask_in) {
  const auto t = mask_in.scalar_type();
  const bool floating = t == at::kFloat || t == at::kHalf || t == at::kBFloat16;
  const at::Tensor mask =
      (floating || t == at::kBool ? mask_in : mask_in.to(at::kBool)).contiguous();
  const std::int64_t n = mask.numel();
  at::Tensor out = at::empty({ceil_div(n, 8)}, mask.options().dtype(at::kByte));
  if (floating) {
    cpu::pack_nonzero_bits(mask.data_ptr(), loop_elem(t), n, out.data_ptr<std::uint8_t>(),
                           at::get_num_threads());
  } else {
    cpu::pack_mask_bits(mask.data_ptr<bool>(), n, out.data_ptr<std::uint8_t>(),
                        at::get_num_threads());
  }
  return out;
}

// ---- CUDA kernels --------------------------------------------------------------------------

#ifdef SLIMFIT_CODEC_CUDA
int gelu_bits(Codec c) { return c == Codec::kGeluDeriv2 ? 2 : 3; }
cuda::ElemType elem_type(at::ScalarType t) {
  switch (t) {
    case at::kHalf:
      return cuda::ElemType::kF16;
    case at::kBFloat16:
      return cuda::ElemType::kBF16;
    default:
      return cuda::ElemType::kF32;
  }
}
cuda::QuantParams quant_params(const IntSpec& s, at::IntArrayRef shape) {
  return {static_cast<cuda::QuantMode>(s.mode), s.bits, s.qmin, s.qmax, s.mul, group_of(s, shape)};
}
cuda::GeluCodeTable kernel_table(Codec c) {
  const GeluTable& t = gelu_table(c);
  cuda::GeluCodeTable k{};
  k.num_breaks = static_cast<int>(t.breaks.size());
  for (size_t i = 0; i < t.breaks.size(); ++i) k.breaks[i] = t.breaks[i];
  for (size_t i = 0; i < t.codes.size(); ++i) k.codes[i] = t.codes[i];
  for (size_t i = 0; i < t.levels.size(); ++i) k.levels[i] = t.levels[i];
  return k;
}
void check_cuda(cudaError_t e, const char* what) {
  SLIMFIT_CHECK(e == cudaSuccess, "CUDA codec kernel ", what, " failed: ", cudaGetErrorString(e));
}
#endif

bool use_kernels(const at::Tensor& x) {
#ifdef SLIMFIT_CODEC_CUDA
  return x.is_cuda();
#else
  (void)x;
  return false;
#endif
}

}  // namespace

std::int64_t Packed::nbytes() const {
  std::int64_t b = 0;
  if (data.defined()) b += data.numel() * static_cast<std::int64_t>(data.element_size());
  if (aux.defined()) b += aux.numel() * static_cast<std::int64_t>(aux.element_size());
  return b;
}

std::int64_t packed_bytes(Codec codec, at::IntArrayRef shape, at::ScalarType dtype) {
  const std::int64_t n = numel_of(shape);
  const std::int64_t h = row_len(shape);
  const std::int64_t rows = h == 0 ? 0 : n / h;
  IntSpec s{};
  if (int_spec(codec, &s)) {
    std::int64_t b = s.bits == 8 ? n : ceil_div(n, 2);
    if (s.mode == 1) b += 4 * ceil_div(n, group_of(s, shape));
    return b;
  }
  switch (codec) {
    case Codec::kLossless:
      return n * static_cast<std::int64_t>(c10::elementSize(dtype));
    case Codec::kTopK10:
      return rows * topk_k(h) * (static_cast<std::int64_t>(c10::elementSize(dtype)) + 4);
    case Codec::kGeluDeriv2:
      return ceil_div(n, 4);
    case Codec::kGeluDeriv3:
      return 3 * ceil_div(n, 8);
    default:
      SLIMFIT_ASSERT(false);
  }
  return 0;
}

Packed pack(const at::Tensor& x_in, Codec codec) {
  Packed p;
  p.codec = codec;
  p.dtype = x_in.scalar_type();
  p.shape = x_in.sizes().vec();
  if (codec == Codec::kLossless) {
    p.data = x_in;
    return p;
  }
  check_float(x_in, "slimfit::ops::pack");
  at::Tensor x = x_in.contiguous();
  [[maybe_unused]] const std::int64_t n = x.numel();
  if (codec == Codec::kTopK10) {
    const std::int64_t h = row_len(p.shape), k = topk_k(h);
    at::Tensor rows = x.reshape({-1, h});
    // Selection on fp32 magnitudes (exact for every input dtype; CPU topk lacks fp16).
    at::Tensor idx = std::get<1>(rows.abs().to(at::kFloat).topk(k, 1, true, true));
    idx = std::get<0>(idx.sort(1));
    p.data = rows.gather(1, idx);
    p.aux = idx.to(at::kInt);
    return p;
  }
  if (is_gelu_code(codec)) {
    if (use_kernels(x)) {
#ifdef SLIMFIT_CODEC_CUDA
      c10::cuda::CUDAGuard guard(x.device());
      p.data = at::empty({packed_bytes(codec, p.shape, p.dtype)}, x.options().dtype(at::kByte));
      check_cuda(cuda::gelu_code_pack(x.data_ptr(), elem_type(p.dtype), n, gelu_bits(codec),
                                      kernel_table(codec), p.data.data_ptr<std::uint8_t>(),
                                      c10::cuda::getCurrentCUDAStream()),
                 "gelu_code_pack");
#endif
    } else {
      p.data = use_loops(x) ? pack_gelu_loops(x, codec) : pack_gelu_chunked(x, codec);
    }
    return p;
  }
  IntSpec s{};
  SLIMFIT_ASSERT(int_spec(codec, &s));
  if (use_kernels(x)) {
#ifdef SLIMFIT_CODEC_CUDA
    c10::cuda::CUDAGuard guard(x.device());
    const auto qp = quant_params(s, p.shape);
    allocate_int(p, s, n, qp.group, x.options());
    check_cuda(cuda::quantize_pack(x.data_ptr(), elem_type(p.dtype), n, qp,
                                   s.mode == 1 ? p.aux.data_ptr<float>() : nullptr,
                                   static_cast<std::uint8_t*>(p.data.data_ptr()),
                                   c10::cuda::getCurrentCUDAStream()),
               "quantize_pack");
#endif
    return p;
  }
  if (use_loops(x)) return pack_int_loops(x, s, std::move(p));
  return pack_int_chunked(x, s, std::move(p));
}

CpuCodecs set_cpu_codecs(CpuCodecs path) { return std::exchange(tl_cpu_codecs, path); }

std::int64_t set_aten_pack_chunk(std::int64_t elements) {
  SLIMFIT_CHECK(elements > 0, "set_aten_pack_chunk: chunk must be positive, got ", elements);
  return std::exchange(tl_aten_chunk, elements);
}

at::Tensor unpack(const Packed& p) {
  SLIMFIT_CHECK(!is_gelu_code(p.codec), "slimfit::ops::unpack: ", codec_name(p.codec),
                " stores gelu'(x), not x; use gelu_grad_from_code");
  if (p.codec == Codec::kLossless) return p.data;
  if (p.codec == Codec::kTopK10) {
    const std::int64_t h = row_len(p.shape);
    at::Tensor out =
        at::zeros({numel_of(p.shape) / std::max<std::int64_t>(h, 1), h}, p.data.options());
    out.scatter_(1, p.aux.to(at::kLong), p.data);
    return out.view(p.shape);
  }
  IntSpec s{};
  SLIMFIT_ASSERT(int_spec(p.codec, &s));
  if (use_kernels(p.data)) {
#ifdef SLIMFIT_CODEC_CUDA
    c10::cuda::CUDAGuard guard(p.data.device());
    at::Tensor y = at::empty(p.shape, p.data.options().dtype(p.dtype));
    check_cuda(cuda::unpack_dequantize(static_cast<const std::uint8_t*>(p.data.data_ptr()),
                                       s.mode == 1 ? p.aux.data_ptr<float>() : nullptr, y.numel(),
                                       quant_params(s, p.shape), y.data_ptr(), elem_type(p.dtype),
                                       c10::cuda::getCurrentCUDAStream()),
               "unpack_dequantize");
    return y;
#endif
  }
  if (use_loops(p.data)) return unpack_int_loops(p, s);
  return unpack_int_chunked(p, s);
}

at::Tensor gelu_grad_from_code(const Packed& p, const at::Tensor& grad_in) {
  SLIMFIT_CHECK(is_gelu_code(p.codec), "gelu_grad_from_code: expected a GELU derivative code, got ",
                codec_name(p.codec));
  at::Tensor grad = grad_in.contiguous();
  if (use_kernels(grad)) {
#ifdef SLIMFIT_CODEC_CUDA
    c10::cuda::CUDAGuard guard(grad.device());
    at::Tensor out = at::empty_like(grad);
    check_cuda(
        cuda::gelu_code_apply(p.data.data_ptr<std::uint8_t>(), grad.numel(), gelu_bits(p.codec),
                              kernel_table(p.codec), grad.data_ptr(), out.data_ptr(),
                              elem_type(grad.scalar_type()), c10::cuda::getCurrentCUDAStream()),
        "gelu_code_apply");
    return out;
#endif
  }
  if (use_loops(grad)) return gelu_apply_loops(p, grad);
  return gelu_apply_chunked(p, grad);
}

at::Tensor pack_mask_bits(const at::Tensor& mask_in) {
  if (use_loops(mask_in)) return pack_mask_loops(mask_in);
  at::Tensor mask = mask_in.to(at::kBool).contiguous();
  if (use_kernels(mask)) {
#ifdef SLIMFIT_CODEC_CUDA
    c10::cuda::CUDAGuard guard(mask.device());
    at::Tensor out = at::empty({ceil_div(mask.numel(), 8)}, mask.options().dtype(at::kByte));
    check_cuda(
        cuda::pack_mask_bits(mask.data_ptr<bool>(), mask.numel(), out.data_ptr<std::uint8_t>(),
                             c10::cuda::getCurrentCUDAStream()),
        "pack_mask_bits");
    return out;
#endif
  }
  return pack_groups(mask.reshape({-1}), 1);
}

at::Tensor unpack_mask_bits(const at::Tensor& bits, at::IntArrayRef shape) {
  const std::int64_t n = numel_of(shape);
  if (use_kernels(bits)) {
#ifdef SLIMFIT_CODEC_CUDA
    c10::cuda::CUDAGuard guard(bits.device());
    at::Tensor out = at::empty(shape, bits.options().dtype(at::kBool));
    check_cuda(cuda::unpack_mask_bits(bits.data_ptr<std::uint8_t>(), n, out.data_ptr<bool>(),
                                      c10::cuda::getCurrentCUDAStream()),
               "unpack_mask_bits");
    return out;
#endif
  }
  if (use_loops(bits)) {
    const at::Tensor in = bits.contiguous();
    at::Tensor out = at::empty(shape, in.options().dtype(at::kBool));
    cpu::unpack_mask_bits(in.data_ptr<std::uint8_t>(), n, out.data_ptr<bool>(),
                          at::get_num_threads());
    return out;
  }
  return unpack_groups(bits, n, 1).to(at::kBool).view(shape);
}

at::Tensor scale_by_mask_bits(const at::Tensor& grad_in, const at::Tensor& bits, float keep_scale) {
  SLIMFIT_CHECK(grad_in.is_cpu() && grad_in.scalar_type() == at::kFloat && bits.is_cpu(),
                "scale_by_mask_bits: expected a float32 CPU gradient and CPU bits, got ",
                grad_in.scalar_type(), " on ", grad_in.device(), " and bits on ", bits.device());
  const at::Tensor grad = grad_in.contiguous(), in = bits.contiguous();
  at::Tensor out = at::empty(grad.sizes(), grad.options());
  cpu::mask_bits_scale(in.data_ptr<std::uint8_t>(), grad.numel(), keep_scale,
                       grad.data_ptr<float>(), out.data_ptr<float>(), at::get_num_threads());
  return out;
}

bool fused_dropout_cpu(const at::Tensor& x) {
  return use_loops(x) && x.scalar_type() == at::kFloat;
}

std::pair<at::Tensor, at::Tensor> dropout_apply_bits(const at::Tensor& x_in, const at::Tensor& keep,
                                                     float keep_scale) {
  SLIMFIT_CHECK(fused_dropout_cpu(x_in) && keep.is_cpu() && keep.scalar_type() == at::kByte &&
                    keep.sizes() == x_in.sizes(),
                "dropout_apply_bits: expected a float32 CPU tensor and uint8 draws of its shape");
  const at::Tensor x = x_in.contiguous(), k = keep.contiguous();
  const std::int64_t n = x.numel();
  at::Tensor out = at::empty(x.sizes(), x.options());
  at::Tensor bits = at::empty({ceil_div(n, 8)}, x.options().dtype(at::kByte));
  cpu::dropout_keep_apply(k.data_ptr<std::uint8_t>(), x.data_ptr<float>(), n, keep_scale,
                          out.data_ptr<float>(), bits.data_ptr<std::uint8_t>(),
                          at::get_num_threads());
  return {out, bits};
}

namespace {
// The uint8 probability code's QuantSpec mode (2, 3 or 4) of a float32 tensor kept on the CPU
// loops' path, or 0.
int cpu_prob_mode(const Packed& probs) {
  IntSpec s{};
  const bool ok = probs.data.defined() && use_loops(probs.data) && probs.dtype == at::kFloat &&
                  int_spec(probs.codec, &s) && s.mode >= 2 && !probs.shape.empty();
  return ok ? s.mode : 0;
}
int prob_mode(const Packed& probs) {
  const int mode = cpu_prob_mode(probs);
  SLIMFIT_CHECK(mode != 0,
                "fused attention backward: expected a uint8 probability code of a "
                "float32 CPU tensor, got ",
                codec_name(probs.codec), " of ", probs.dtype);
  return mode;
}
const std::uint8_t* bits_or_null(const at::Tensor& bits) {
  return bits.defined() ? bits.data_ptr<std::uint8_t>() : nullptr;
}
}  // namespace

bool fused_probs_cpu(const Packed& probs, const at::Tensor& grad) {
  return cpu_prob_mode(probs) != 0 && use_loops(grad) && grad.scalar_type() == at::kFloat;
}

at::Tensor unpack_probs_dropped(const Packed& probs, const at::Tensor& bits_in, float keep_scale) {
  const int mode = prob_mode(probs);
  const at::Tensor codes = probs.data.contiguous();
  const at::Tensor bits = bits_in.defined() ? bits_in.contiguous() : bits_in;
  at::Tensor out = at::empty(probs.shape, codes.options().dtype(at::kFloat));
  cpu::prob_decode(codes.data_ptr<std::uint8_t>(), mode, bits_or_null(bits), keep_scale,
                   out.numel(), out.data_ptr<float>(), at::get_num_threads());
  return out;
}

at::Tensor softmax_backward_from_code(const Packed& probs, const at::Tensor& bits_in,
                                      float keep_scale, const at::Tensor& grad_in, double scale) {
  const int mode = prob_mode(probs);
  SLIMFIT_CHECK(use_loops(grad_in) && grad_in.scalar_type() == at::kFloat &&
                    grad_in.sizes() == at::IntArrayRef(probs.shape),
                "softmax_backward_from_code: expected a float32 CPU gradient of the "
                "probabilities' shape ",
                at::IntArrayRef(probs.shape), ", got ", grad_in.scalar_type(), " ",
                grad_in.sizes());
  const at::Tensor codes = probs.data.contiguous(), grad = grad_in.contiguous();
  const at::Tensor bits = bits_in.defined() ? bits_in.contiguous() : bits_in;
  const std::int64_t len = row_len(probs.shape), rows = len == 0 ? 0 : grad.numel() / len;
  at::Tensor out = at::empty(grad.sizes(), grad.options());
  cpu::softmax_backward_codes(codes.data_ptr<std::uint8_t>(), mode, bits_or_null(bits), keep_scale,
                              grad.data_ptr<float>(), rows, len, static_cast<float>(scale),
                              out.data_ptr<float>(), at::get_num_threads());
  return out;
}

bool fused_layer_norm_cpu(const at::Tensor& x, Codec codec) {
  return use_loops(x) && x.scalar_type() == at::kFloat && x.dim() > 0 &&
         (codec == Codec::kInt8Row || (codec == Codec::kInt4Row && x.size(-1) % 2 == 0));
}

Packed pack_layer_norm_xhat(const at::Tensor& x_in, const at::Tensor& mean_in,
                            const at::Tensor& rstd_in, Codec codec) {
  SLIMFIT_CHECK(fused_layer_norm_cpu(x_in, codec) && mean_in.scalar_type() == at::kFloat &&
                    rstd_in.scalar_type() == at::kFloat,
                "pack_layer_norm_xhat: expected float32 CPU tensors and int8_row or int4_row, got ",
                codec_name(codec));
  IntSpec s{};
  int_spec(codec, &s);
  const at::Tensor x = x_in.contiguous(), mean = mean_in.contiguous(), rstd = rstd_in.contiguous();
  const std::int64_t len = x.size(-1), rows = x.numel() / std::max<std::int64_t>(len, 1);
  s.group = len;
  Packed p;
  p.codec = codec;
  p.dtype = at::kFloat;
  p.shape = x.sizes().vec();
  allocate_int(p, s, x.numel(), std::max<std::int64_t>(len, 1), x.options());
  cpu::layer_norm_xhat_pack(x.data_ptr<float>(), mean.data_ptr<float>(), rstd.data_ptr<float>(),
                            rows, len, s, p.aux.data_ptr<float>(),
                            static_cast<std::uint8_t*>(p.data.data_ptr()), at::get_num_threads());
  return p;
}

at::Tensor layer_norm_backward_from_code(const Packed& xhat, const at::Tensor& rstd_in,
                                         const at::Tensor& grad_in, const at::Tensor& weight_in) {
  SLIMFIT_CHECK(fused_layer_norm_cpu(grad_in, xhat.codec) && xhat.dtype == at::kFloat &&
                    grad_in.sizes() == at::IntArrayRef(xhat.shape) &&
                    (!weight_in.defined() || weight_in.scalar_type() == at::kFloat),
                "layer_norm_backward_from_code: expected float32 CPU tensors and int8_row or "
                "int4_row, got ",
                codec_name(xhat.codec));
  IntSpec s{};
  int_spec(xhat.codec, &s);
  const at::Tensor data = xhat.data.contiguous(), scales = xhat.aux.contiguous();
  const at::Tensor rstd = rstd_in.contiguous(), grad = grad_in.contiguous();
  const at::Tensor weight = weight_in.defined() ? weight_in.contiguous() : weight_in;
  const std::int64_t len = row_len(xhat.shape),
                     rows = grad.numel() / std::max<std::int64_t>(len, 1);
  s.group = len;
  at::Tensor out = at::empty(grad.sizes(), grad.options());
  cpu::layer_norm_backward_codes(static_cast<const std::uint8_t*>(data.data_ptr()),
                                 scales.data_ptr<float>(), s, rstd.data_ptr<float>(),
                                 grad.data_ptr<float>(),
                                 weight.defined() ? weight.data_ptr<float>() : nullptr, rows, len,
                                 out.data_ptr<float>(), at::get_num_threads());
  return out;
}

std::vector<float> gelu_derivative_levels(Codec codec) {
  SLIMFIT_CHECK(is_gelu_code(codec),
                "gelu_derivative_levels: not a GELU code: ", codec_name(codec));
  return gelu_table(codec).levels;
}

std::int64_t saved_bytes_tally() { return tl_saved_bytes; }
void add_saved_bytes(std::int64_t bytes) { tl_saved_bytes += bytes; }

namespace {
constexpr std::array<const char*, 13> kNames = {
    "lossless", "int8_fixed",  "int8_row",      "int8_block",    "int4_fixed",
    "int4_row", "int4_block",  "uint8_prob256", "uint8_prob255", "uint8_probsqrt",
    "topk10",   "gelu_deriv2", "gelu_deriv3"};
}  // namespace

const char* codec_name(Codec c) { return kNames.at(static_cast<size_t>(c)); }

Codec parse_codec(const std::string& name) {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (name == kNames[i]) return static_cast<Codec>(i);
  std::string all;
  for (auto n : kNames) all += std::string(all.empty() ? "" : ", ") + n;
  SLIMFIT_CHECK(false, "unknown codec '", name, "'; expected one of: ", all);
  return Codec::kLossless;
}

}  // namespace slimfit::ops
