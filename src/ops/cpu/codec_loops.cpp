// CPU codec loops; see codec_loops.h for the contract and ops/codecs.h for the layouts.
// Compiled with OpenMP (CMakeLists.txt), without the precompiled torch headers.
#include "ops/cpu/codec_loops.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace slimfit::ops::cpu {
namespace {

// Below this many elements a call runs on the calling thread (ATen's grain size).
constexpr std::int64_t kMinParallel = 32768;
// Elements per unit of work where the format has no scale group (a multiple of 8, so a unit
// owns whole bytes of every bit width).
constexpr std::int64_t kUnit = 4096;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// body(first, last) over consecutive blocks of [0, units). Units never share an output byte or a
// scale, so the result does not depend on the thread count or on which thread runs a block.
// Threads claim blocks of about kBlockElems elements from a shared counter rather than one fixed
// share each: on a loaded machine (OpenBLAS's worker threads keep spinning beside ours for a while
// after every GEMM) a thread the OS deschedules delays only the block in its hands, where a fixed
// share made the whole call wait for the slowest thread. The team is the runtime's default
// (at::set_num_threads sets it): a num_threads clause makes GOMP rebuild its pool
// (pytorch/pytorch#32008), which cost seconds per call here when it alternated with libtorch's
// own regions.
constexpr std::int64_t kBlockElems = 1 << 15;

template <typename F>
void for_units(std::int64_t units, std::int64_t unit_elems, int threads, const F& body) {
  if (threads <= 1 || units < 2 || units * unit_elems < kMinParallel) {
    if (units > 0) body(std::int64_t{0}, units);
    return;
  }
  const std::int64_t per_block =
      std::max<std::int64_t>(1, kBlockElems / std::max<std::int64_t>(unit_elems, 1));
  const std::int64_t blocks = ceil_div(units, per_block);
  std::atomic<std::int64_t> next{0};
#pragma omp parallel
  {
    for (std::int64_t b = next.fetch_add(1, std::memory_order_relaxed); b < blocks;
         b = next.fetch_add(1, std::memory_order_relaxed))
      body(b * per_block, std::min(units, (b + 1) * per_block));
  }
}

// f(T{}) with T the element type named by t.
template <typename F>
void dispatch(Elem t, const F& f) {
  switch (t) {
    case Elem::kF16:
      f(c10::Half{});
      break;
    case Elem::kBF16:
      f(c10::BFloat16{});
      break;
    default:
      f(float{});
  }
}

// Note [codec NaN]. The ATen composition keeps NaN through round and clamp (ATen's clamp
// propagates it) and converts it to int32 with cvttss2si, which gives INT32_MIN: every code
// byte or nibble of a NaN is 0. An absmax group holding a NaN gets a NaN scale (amax propagates
// NaN; its bits come out as the canonical quiet NaN, 0x7fc00000, whatever the input NaN's
// payload, as measured on bf16 inputs), so the whole group codes to 0. ±inf clamps to the ends of
// the range; an inf absmax makes the group's finite values 0 and its infs NaN, hence 0 as well.
constexpr float kRound = 12582912.f;  // 1.5 * 2^23: (v + kRound) - kRound = rint(v), |v| < 2^22

inline int to_code(float v, float lo, float hi) {
  v = v == v ? v : 0.f;
  v = std::min(std::max(v, lo), hi);  // integer bounds: clamping first rounds the same
  return static_cast<int>((v + kRound) - kRound);
}

template <int kMode>
inline float scaled(float x, float mul, float scale) {
  if constexpr (kMode == 0) return x * mul;
  if constexpr (kMode == 1) return x / scale;
  if constexpr (kMode == 2) return x * 256.f;
  if constexpr (kMode == 3) return x * 255.f;
  return std::sqrt(x) * 255.f;
}

// absmax(group) / qmax, 1 for an all-zero group, the quiet NaN if the group holds a NaN. The
// maximum is taken over the bit patterns of |x|, which order as the values do for non-negative
// floats and put every NaN above inf: an integer maximum, which vectorizes where a float one
// (with NaN to track) does not.
template <typename T>
float absmax_scale(const T* x, std::int64_t n, float qmax) {
  std::uint32_t m = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(x[i]);
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    u &= 0x7fffffffu;
    m = u > m ? u : m;
  }
  if (m > 0x7f800000u) return std::numeric_limits<float>::quiet_NaN();
  float a;
  std::memcpy(&a, &m, 4);
  const float s = a / qmax;
  return s == 0.f ? 1.f : s;
}

// Elements [first, last) of x: first is a multiple of `group` and, for 4 bits, even.
template <typename T, int kMode, int kBits>
void quantize_range(const T* x, std::int64_t first, std::int64_t last, const QuantSpec& s,
                    std::int64_t group, float* scales, std::uint8_t* out) {
  const float lo = static_cast<float>(s.qmin), hi = static_cast<float>(s.qmax);
  int low = 0;  // the pending low nibble (4 bits)
  for (std::int64_t g = first; g < last; g += group) {
    const std::int64_t end = std::min(last, g + group);
    float scale = 1.f;
    if constexpr (kMode == 1) {
      scale = absmax_scale(x + g, end - g, hi);
      scales[g / group] = scale;
    }
    for (std::int64_t i = g; i < end; ++i) {
      const int q = to_code(scaled<kMode>(static_cast<float>(x[i]), s.mul, scale), lo, hi);
      if constexpr (kBits == 8) {
        out[i] = static_cast<std::uint8_t>(q);
      } else if ((i & 1) == 0) {
        low = q & 0xF;
      } else {
        out[i >> 1] = static_cast<std::uint8_t>(low | ((q & 0xF) << 4));
      }
    }
  }
  if constexpr (kBits == 4) {
    if (last & 1) out[last >> 1] = static_cast<std::uint8_t>(low);  // odd count: high nibble 0
  }
}

// The decoded value of each uint8 probability code, computed in double as the ATen path does.
std::array<float, 256> prob_table(int mode) {
  std::array<float, 256> t{};
  for (int i = 0; i < 256; ++i) {
    const double r = i / (mode == 2 ? 256.0 : 255.0);
    t[i] = static_cast<float>(mode == 4 ? r * r : r);
  }
  return t;
}

template <typename T, int kMode, int kBits>
void dequantize_range(const std::uint8_t* in, const float* scales, std::int64_t first,
                      std::int64_t last, const QuantSpec& s, std::int64_t group, const float* table,
                      T* y) {
  for (std::int64_t g = first; g < last; g += group) {
    const std::int64_t end = std::min(last, g + group);
    const float scale = kMode == 1 ? scales[g / group] : 1.f;
    for (std::int64_t i = g; i < end; ++i) {
      int q;
      if constexpr (kBits == 8) {
        q = kMode <= 1 ? static_cast<int>(static_cast<std::int8_t>(in[i])) : in[i];
      } else {
        const int nib = (in[i >> 1] >> ((i & 1) * 4)) & 0xF;
        q = nib >= 8 ? nib - 16 : nib;
      }
      float v;
      if constexpr (kMode == 0) {
        v = static_cast<float>(q) / s.mul;
      } else if constexpr (kMode == 1) {
        v = static_cast<float>(q) * scale;
      } else {
        v = table[q];
      }
      y[i] = static_cast<T>(v);
    }
  }
}

// f(std::integral_constant<int, mode>, std::integral_constant<int, bits>) for the spec's pair.
template <typename F>
void dispatch_spec(const QuantSpec& s, const F& f) {
  using M0 = std::integral_constant<int, 0>;
  using M1 = std::integral_constant<int, 1>;
  using B4 = std::integral_constant<int, 4>;
  using B8 = std::integral_constant<int, 8>;
  switch (s.mode) {
    case 0:
      return s.bits == 8 ? f(M0{}, B8{}) : f(M0{}, B4{});
    case 1:
      return s.bits == 8 ? f(M1{}, B8{}) : f(M1{}, B4{});
    case 2:
      return f(std::integral_constant<int, 2>{}, B8{});
    case 3:
      return f(std::integral_constant<int, 3>{}, B8{});
    default:
      return f(std::integral_constant<int, 4>{}, B8{});
  }
}

// Elements per loop group and per unit of work for an integer spec: an absmax unit is one
// scale group, or two when 4-bit groups have an odd length (a byte would straddle them).
std::int64_t loop_group(const QuantSpec& s) { return s.mode == 1 ? s.group : kUnit; }
std::int64_t unit_of(const QuantSpec& s) {
  const std::int64_t g = loop_group(s);
  return s.bits == 4 && (g & 1) ? 2 * g : g;
}

// Codes of x[0, len) into c, len <= kUnit. table[idx] with idx = #{k : !(breaks[k] >= x)} is
// taken as table[0] XOR the steps table[k] ^ table[k + 1] of every break below x (the XORs
// telescope to table[idx]): one vectorized loop, with no table lookup per element.
template <typename T, int kBreaks>
void gelu_codes(const T* x, std::int64_t len, const GeluCode& t, std::uint8_t* c) {
  float breaks[kBreaks];
  int step[kBreaks];
  for (int k = 0; k < kBreaks; ++k) {
    breaks[k] = t.breaks[k];
    step[k] = t.codes[k] ^ t.codes[k + 1];
  }
  const int first = t.codes[0];
  for (std::int64_t i = 0; i < len; ++i) {
    const float v = static_cast<float>(x[i]);
    int code = first;
    for (int k = 0; k < kBreaks; ++k) code ^= breaks[k] >= v ? 0 : step[k];  // NaN: above all
    c[i] = static_cast<std::uint8_t>(code);
  }
}

// Bit b of each of 8 bytes (little-endian in u) -> one byte, byte j at bit j.
inline std::uint8_t gather_bits(std::uint64_t u, int b) {
  return static_cast<std::uint8_t>((((u >> b) & 0x0101010101010101ULL) * 0x0102040810204080ULL) >>
                                   56);
}

inline std::uint64_t load8(const std::uint8_t* p) {
  std::uint64_t u;
  std::memcpy(&u, p, 8);
  return u;
}

// The eight bools of a mask byte, bit j -> byte j.
const std::array<std::uint64_t, 256>& spread_table() {
  static const std::array<std::uint64_t, 256> t = [] {
    std::array<std::uint64_t, 256> r{};
    for (int b = 0; b < 256; ++b)
      for (int j = 0; j < 8; ++j) r[b] |= std::uint64_t((b >> j) & 1) << (8 * j);
    return r;
  }();
  return t;
}

// For each kUnit block of x: codes(block, len, c) writes one code byte per element into c, then
// emit(octet, w) gets the codes of each 8 elements as one little-endian word (0 past the end).
template <typename T, typename Codes, typename Emit>
void for_code_octets(const T* x, std::int64_t n, int threads, const Codes& codes,
                     const Emit& emit) {
  for_units(ceil_div(n, kUnit), kUnit, threads, [&](std::int64_t u0, std::int64_t u1) {
    std::uint8_t c[kUnit + 8];
    for (std::int64_t u = u0; u < u1; ++u) {
      const std::int64_t first = u * kUnit, len = std::min(kUnit, n - first);
      codes(x + first, len, c);
      std::fill(c + len, c + len + 8, std::uint8_t{0});  // the padding codes of an odd tail
      for (std::int64_t o = 0; 8 * o < len; ++o) emit(first / 8 + o, load8(c + 8 * o));
    }
  });
}

// The dropout factor of each element of a mask (keep_scale where its bit is set, else 0): the
// eight factors of a mask byte are looked up whole, so an 8-wide multiply needs no bit
// extraction and vectorizes.
class MaskFactors {
 public:
  explicit MaskFactors(float keep_scale) : keep_scale_(keep_scale) {
    for (int b = 0; b < 256; ++b)
      for (int k = 0; k < 8; ++k) f_[b][k] = ((b >> k) & 1) ? keep_scale : 0.f;
  }
  // out[i - first] = value(i) * factor(i) for i in [first, last): whole mask bytes eight at a
  // time, the elements before the first and after the last whole byte one by one.
  template <typename Value>
  void scale(const std::uint8_t* bits, std::int64_t first, std::int64_t last, const Value& value,
             float* out) const {
    std::int64_t i = first;
    for (; i < last && (i & 7) != 0; ++i) out[i - first] = value(i) * of_element(bits, i);
    for (; i + 8 <= last; i += 8) {
      const float* f = f_[bits[i >> 3]];
      float* o = out + (i - first);
      float v[8];
      for (int k = 0; k < 8; ++k) v[k] = value(i + k);
      for (int k = 0; k < 8; ++k) o[k] = v[k] * f[k];
    }
    for (; i < last; ++i) out[i - first] = value(i) * of_element(bits, i);
  }

 private:
  float of_element(const std::uint8_t* bits, std::int64_t i) const {
    return ((bits[i >> 3] >> (i & 7)) & 1) ? keep_scale_ : 0.f;
  }

  float keep_scale_;
  alignas(32) float f_[256][8];
};

// The sum of term(i) over [0, n) in eight interleaved partial sums (a fixed order the compiler
// can vectorize).
template <typename Term>
float row_total(std::int64_t n, const Term& term) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const std::int64_t whole = n / 8 * 8;
  for (std::int64_t i = 0; i < whole; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += term(i + k);
  float s = 0.f;
  for (std::int64_t i = whole; i < n; ++i) s += term(i);
  for (int k = 0; k < 8; ++k) s += acc[k];
  return s;
}

}  // namespace

void quantize_pack(const void* x, Elem t, std::int64_t n, const QuantSpec& s, float* scales,
                   std::uint8_t* out, int threads) {
  const std::int64_t unit = unit_of(s), group = loop_group(s);
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    dispatch_spec(s, [&](auto mode, auto bits) {
      for_units(ceil_div(n, unit), unit, threads, [&](std::int64_t u0, std::int64_t u1) {
        quantize_range<T, decltype(mode)::value, decltype(bits)::value>(
            xt, u0 * unit, std::min(n, u1 * unit), s, group, scales, out);
      });
    });
  });
}

void unpack_dequantize(const std::uint8_t* in, const float* scales, std::int64_t n,
                       const QuantSpec& s, void* y, Elem t, int threads) {
  const std::int64_t unit = unit_of(s), group = loop_group(s);
  const std::array<float, 256> table = prob_table(s.mode);
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    T* yt = static_cast<T*>(y);
    dispatch_spec(s, [&](auto mode, auto bits) {
      for_units(ceil_div(n, unit), unit, threads, [&](std::int64_t u0, std::int64_t u1) {
        dequantize_range<T, decltype(mode)::value, decltype(bits)::value>(
            in, scales, u0 * unit, std::min(n, u1 * unit), s, group, table.data(), yt);
      });
    });
  });
}

void gelu_code_pack(const void* x, Elem t, std::int64_t n, int bits, const GeluCode& table,
                    std::uint8_t* out, int threads) {
  const std::int64_t plane = ceil_div(n, 8), bytes2 = ceil_div(n, 4);
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    const auto codes = [&](const T* xb, std::int64_t len, std::uint8_t* c) {
      if (bits == 2) {
        gelu_codes<T, 3>(xb, len, table, c);
      } else {
        gelu_codes<T, 9>(xb, len, table, c);
      }
    };
    for_code_octets(
        static_cast<const T*>(x), n, threads, codes, [&](std::int64_t at, std::uint64_t w) {
          if (bits == 2) {
            for (int h = 0; h < 2 && 2 * at + h < bytes2; ++h) {
              const auto q = static_cast<std::uint32_t>(w >> (32 * h));
              out[2 * at + h] = static_cast<std::uint8_t>(q | (q >> 6) | (q >> 12) | (q >> 18));
            }
          } else {
            for (int k = 0; k < 3; ++k) out[k * plane + at] = gather_bits(w, k);
          }
        });
  });
}

void gelu_code_apply(const std::uint8_t* in, std::int64_t n, int bits, const GeluCode& table,
                     const void* grad, void* out, Elem t, int threads) {
  const std::int64_t plane = ceil_div(n, 8);
  const auto& spread = spread_table();
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    const T* g = static_cast<const T*>(grad);
    T* o = static_cast<T*>(out);
    float levels[8];
    for (int k = 0; k < (bits == 2 ? 4 : 8); ++k) levels[k] = table.levels[k];
    for_units(ceil_div(n, kUnit), kUnit, threads, [&](std::int64_t u0, std::int64_t u1) {
      std::uint8_t c[kUnit];
      for (std::int64_t u = u0; u < u1; ++u) {
        const std::int64_t first = u * kUnit, len = std::min(kUnit, n - first);
        for (std::int64_t j = 0; 8 * j < len; ++j) {  // codes of 8 elements at a time
          const std::int64_t at = first / 8 + j;
          std::uint64_t w;
          if (bits == 2) {
            const std::uint16_t pair = static_cast<std::uint16_t>(
                in[2 * at] | (2 * at + 1 < ceil_div(n, 4) ? in[2 * at + 1] << 8 : 0));
            w = 0;
            for (int e = 0; e < 8; ++e) w |= std::uint64_t((pair >> (2 * e)) & 3) << (8 * e);
          } else {
            w = spread[in[at]] | (spread[in[plane + at]] << 1) | (spread[in[2 * plane + at]] << 2);
          }
          std::memcpy(c + 8 * j, &w, 8);
        }
        for (std::int64_t i = 0; i < len; ++i)
          o[first + i] = static_cast<T>(static_cast<float>(g[first + i]) * levels[c[i]]);
      }
    });
  });
}

void pack_mask_bits(const bool* mask, std::int64_t n, std::uint8_t* out, int threads) {
  const auto* m = reinterpret_cast<const std::uint8_t*>(mask);  // bools are bytes 0 or 1
  for_units(ceil_div(n, 8), 8, threads, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      std::uint8_t c[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::memcpy(c, m + 8 * b, static_cast<size_t>(std::min<std::int64_t>(8, n - 8 * b)));
      out[b] = gather_bits(load8(c), 0);
    }
  });
}

void pack_nonzero_bits(const void* x, Elem t, std::int64_t n, std::uint8_t* out, int threads) {
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    const auto codes = [](const T* xb, std::int64_t len, std::uint8_t* c) {
      for (std::int64_t i = 0; i < len; ++i) c[i] = static_cast<float>(xb[i]) != 0.f;
    };
    for_code_octets(static_cast<const T*>(x), n, threads, codes,
                    [&](std::int64_t at, std::uint64_t w) { out[at] = gather_bits(w, 0); });
  });
}

void unpack_mask_bits(const std::uint8_t* in, std::int64_t n, bool* mask, int threads) {
  const auto& spread = spread_table();
  auto* m = reinterpret_cast<std::uint8_t*>(mask);
  for_units(ceil_div(n, 8), 8, threads, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::uint64_t w = spread[in[b]];
      std::memcpy(m + 8 * b, &w, static_cast<size_t>(std::min<std::int64_t>(8, n - 8 * b)));
    }
  });
}

void mask_bits_scale(const std::uint8_t* in, std::int64_t n, float keep_scale, const float* grad,
                     float* out, int threads) {
  const MaskFactors m(keep_scale);
  for_units(ceil_div(n, kUnit), kUnit, threads, [&](std::int64_t u0, std::int64_t u1) {
    const std::int64_t first = u0 * kUnit;
    m.scale(
        in, first, std::min(n, u1 * kUnit), [&](std::int64_t i) { return grad[i]; }, out + first);
  });
}

void dropout_keep_apply(const std::uint8_t* keep, const float* x, std::int64_t n, float keep_scale,
                        float* out, std::uint8_t* bits, int threads) {
  static_assert(kUnit % 8 == 0, "units own whole mask bytes");
  for_units(ceil_div(n, kUnit), kUnit, threads, [&](std::int64_t u0, std::int64_t u1) {
    const std::int64_t first = u0 * kUnit, last = std::min(n, u1 * kUnit);
    for (std::int64_t b = first / 8; 8 * b < last; ++b) {
      std::uint8_t c[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::memcpy(c, keep + 8 * b, static_cast<size_t>(std::min<std::int64_t>(8, n - 8 * b)));
      bits[b] = gather_bits(load8(c), 0);
    }
    // keep * keep_scale is keep_scale or +0, the noise's two values: the same products.
    for (std::int64_t i = first; i < last; ++i)
      out[i] = x[i] * (static_cast<float>(keep[i]) * keep_scale);
  });
}

void prob_decode(const std::uint8_t* codes, int mode, const std::uint8_t* bits, float keep_scale,
                 std::int64_t n, float* out, int threads) {
  const std::array<float, 256> table = prob_table(mode);
  const MaskFactors m(keep_scale);
  for_units(ceil_div(n, kUnit), kUnit, threads, [&](std::int64_t u0, std::int64_t u1) {
    const std::int64_t first = u0 * kUnit, last = std::min(n, u1 * kUnit);
    const auto prob = [&](std::int64_t i) { return table[codes[i]]; };
    if (bits == nullptr) {
      for (std::int64_t i = first; i < last; ++i) out[i] = prob(i);
    } else {
      m.scale(bits, first, last, prob, out + first);
    }
  });
}

void softmax_backward_codes(const std::uint8_t* codes, int mode, const std::uint8_t* bits,
                            float keep_scale, const float* grad, std::int64_t rows,
                            std::int64_t len, float scale, float* out, int threads) {
  const std::array<float, 256> table = prob_table(mode);
  const MaskFactors m(keep_scale);
  for_units(rows, len, threads, [&](std::int64_t r0, std::int64_t r1) {
    std::vector<float> g(static_cast<size_t>(len)), p(static_cast<size_t>(len));
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t o = r * len;
      for (std::int64_t j = 0; j < len; ++j) p[j] = table[codes[o + j]];
      if (bits == nullptr) {
        std::copy(grad + o, grad + o + len, g.begin());
      } else {
        m.scale(
            bits, o, o + len, [&](std::int64_t i) { return grad[i]; }, g.data());
      }
      const float dot = row_total(len, [&](std::int64_t j) { return g[j] * p[j]; });
      for (std::int64_t j = 0; j < len; ++j) out[o + j] = p[j] * (g[j] - dot) / scale;
    }
  });
}

void layer_norm_xhat_pack(const float* x, const float* mean, const float* rstd, std::int64_t rows,
                          std::int64_t len, const QuantSpec& s, float* scales, std::uint8_t* out,
                          int threads) {
  const std::int64_t row_bytes = len * s.bits / 8;
  for_units(rows, len, threads, [&](std::int64_t r0, std::int64_t r1) {
    std::vector<float> xhat(static_cast<size_t>(len));
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * len;
      const float mu = mean[r], rs = rstd[r];
      for (std::int64_t j = 0; j < len; ++j) xhat[j] = (xr[j] - mu) * rs;
      dispatch_spec(s, [&](auto mode, auto bits) {
        quantize_range<float, decltype(mode)::value, decltype(bits)::value>(
            xhat.data(), 0, len, s, len, scales + r, out + r * row_bytes);
      });
    }
  });
}

void layer_norm_backward_codes(const std::uint8_t* in, const float* scales, const QuantSpec& s,
                               const float* rstd, const float* grad, const float* weight,
                               std::int64_t rows, std::int64_t len, float* out, int threads) {
  const std::int64_t row_bytes = len * s.bits / 8;
  const float inv_len = 1.f / static_cast<float>(len);
  for_units(rows, len, threads, [&](std::int64_t r0, std::int64_t r1) {
    std::vector<float> xhat(static_cast<size_t>(len)), g(static_cast<size_t>(len));
    for (std::int64_t r = r0; r < r1; ++r) {
      dispatch_spec(s, [&](auto mode, auto bits) {
        dequantize_range<float, decltype(mode)::value, decltype(bits)::value>(
            in + r * row_bytes, scales + r, 0, len, s, len, nullptr, xhat.data());
      });
      const float* gr = grad + r * len;
      if (weight == nullptr) {
        std::copy(gr, gr + len, g.begin());
      } else {
        for (std::int64_t j = 0; j < len; ++j) g[j] = gr[j] * weight[j];
      }
      const float g_mean = row_total(len, [&](std::int64_t j) { return g[j]; }) * inv_len;
      const float proj = row_total(len, [&](std::int64_t j) { return g[j] * xhat[j]; }) * inv_len;
      const float rs = rstd[r];
      float* o = out + r * len;
      for (std::int64_t j = 0; j < len; ++j) o[j] = rs * ((g[j] - g_mean) - xhat[j] * proj);
    }
  });
}

}  // namespace slimfit::ops::cpu
