// Codecs (ops/codecs.h): exact byte counts, known bit layouts, round-trip fidelity per format
// and dtype, and identical bytes from the CPU (ATen) and CUDA (kernel) paths.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "common/error.h"
#include "ops/codecs.h"

namespace {

using slimfit::ops::Codec;
namespace ops = slimfit::ops;

double sqnr_db(const at::Tensor& ref, const at::Tensor& got) {
  const at::Tensor r = ref.to(at::kDouble), g = got.to(at::kDouble);
  const double err = (r - g).pow(2).sum().item<double>();
  if (err == 0) return std::numeric_limits<double>::infinity();
  return 10 * std::log10(r.pow(2).sum().item<double>() / err);
}

// Round-trip SQNR bounds on the inputs below (randn for signed codecs, softmax rows of 64 for
// probability codecs).
constexpr double kRoundTripInt8FixedDb = 30;  // step 1/16 on N(0,1): measured ~41 dB
constexpr double kRoundTripInt8ScaledDb = 38;
constexpr double kRoundTripInt4FixedDb = 12;  // step 1/2, range -4..3.5: measured ~14.8 dB
constexpr double kRoundTripInt4ScaledDb = 15;
constexpr double kRoundTripProbDb = 25;
constexpr double kRoundTripTopK10Db = 2;  // 10% largest of N(0,1): measured 2.6 dB

struct RoundTripCase {
  Codec codec;
  double min_sqnr_db;
  bool probs;
};

class RoundTrip : public ::testing::TestWithParam<std::tuple<RoundTripCase, at::ScalarType>> {};

TEST_P(RoundTrip, BytesShapeDtypeAndFidelity) {
  const auto [c, dtype] = GetParam();
  torch::manual_seed(3);
  const std::vector<int64_t> shape = {3, 5, 67};  // odd row length and odd count
  at::Tensor x = c.probs ? at::softmax(at::randn(shape) * 3, -1) : at::randn(shape);
  x = x.to(dtype);
  const ops::Packed p = ops::pack(x, c.codec);
  EXPECT_EQ(p.nbytes(), ops::packed_bytes(c.codec, shape, dtype));
  const at::Tensor y = ops::unpack(p);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_EQ(y.scalar_type(), dtype);
  const double db = sqnr_db(x, y);
  EXPECT_GE(db, c.min_sqnr_db) << ops::codec_name(c.codec);
  // Packing what was unpacked is a fixed point for the integer codecs.
  if (c.codec != Codec::kTopK10 && dtype == at::kFloat) {
    EXPECT_TRUE(at::equal(ops::unpack(ops::pack(y, c.codec)), y)) << ops::codec_name(c.codec);
  }
}

const RoundTripCase kRoundTripCases[] = {
    {Codec::kLossless, std::numeric_limits<double>::infinity(), false},
    {Codec::kInt8Fixed, kRoundTripInt8FixedDb, false},
    {Codec::kInt8Row, kRoundTripInt8ScaledDb, false},
    {Codec::kInt8Block, kRoundTripInt8ScaledDb, false},
    {Codec::kInt4Fixed, kRoundTripInt4FixedDb, false},
    {Codec::kInt4Row, kRoundTripInt4ScaledDb - 3, false},  // row absmax of 67 Gaussians
    {Codec::kInt4Block, kRoundTripInt4ScaledDb, false},
    {Codec::kUint8Prob256, kRoundTripProbDb, true},
    {Codec::kUint8Prob255, kRoundTripProbDb, true},
    {Codec::kUint8ProbSqrt, kRoundTripProbDb, true},
    {Codec::kTopK10, kRoundTripTopK10Db, false},
};

INSTANTIATE_TEST_SUITE_P(Codecs, RoundTrip,
                         ::testing::Combine(::testing::ValuesIn(kRoundTripCases),
                                            ::testing::Values(at::kFloat, at::kBFloat16,
                                                              at::kHalf)),
                         [](const auto& info) {
                           return std::string(ops::codec_name(std::get<0>(info.param).codec)) +
                                  "_" + c10::toString(std::get<1>(info.param));
                         });

TEST(Codecs, ByteCountsFollowTheFormat) {
  // 21 elements in rows of 7.
  const std::vector<int64_t> s = {3, 7};
  EXPECT_EQ(ops::packed_bytes(Codec::kLossless, s, at::kFloat), 84);
  EXPECT_EQ(ops::packed_bytes(Codec::kLossless, s, at::kBFloat16), 42);
  EXPECT_EQ(ops::packed_bytes(Codec::kInt8Fixed, s, at::kFloat), 21);
  EXPECT_EQ(ops::packed_bytes(Codec::kInt8Row, s, at::kFloat), 21 + 3 * 4);
  EXPECT_EQ(ops::packed_bytes(Codec::kInt8Block, s, at::kFloat), 21 + 1 * 4);
  EXPECT_EQ(ops::packed_bytes(Codec::kInt4Fixed, s, at::kFloat), 11);
  EXPECT_EQ(ops::packed_bytes(Codec::kInt4Row, s, at::kFloat), 11 + 12);
  EXPECT_EQ(ops::packed_bytes(Codec::kUint8ProbSqrt, s, at::kFloat), 21);
  EXPECT_EQ(ops::packed_bytes(Codec::kTopK10, s, at::kFloat), 3 * 1 * (4 + 4));
  EXPECT_EQ(ops::packed_bytes(Codec::kTopK10, {2, 768}, at::kFloat), 2 * 77 * 8);
  EXPECT_EQ(ops::packed_bytes(Codec::kGeluDeriv2, s, at::kFloat), 6);
  EXPECT_EQ(ops::packed_bytes(Codec::kGeluDeriv3, s, at::kFloat), 9);
}

TEST(Codecs, Int4FixedLayoutIsTwoNibblesPerByteLowFirst) {
  // Reference GELU format: 1 fraction bit, range -4..3.5; an odd count pads the last high nibble.
  at::Tensor x = torch::tensor({-4.0f, -0.5f, 0.0f, 3.5f, 1.25f, 100.0f, -100.0f});
  const ops::Packed p = ops::pack(x, Codec::kInt4Fixed);
  ASSERT_EQ(p.data.numel(), 4);
  ASSERT_EQ(p.data.scalar_type(), at::kByte);
  // codes: -8, -1, 0, 7, 2 (1.25*2 = 2.5 rounds half to even), 7 (clamped), -8 (clamped)
  const std::vector<int> want = {0xF8, 0x70, 0x72, 0x08};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(p.data[i].item<int>(), want[i]) << "byte " << i;
  EXPECT_TRUE(
      at::equal(ops::unpack(p), torch::tensor({-4.0f, -0.5f, 0.0f, 3.5f, 1.0f, 3.5f, -4.0f})));
}

TEST(Codecs, Int8FixedAndProbabilityCodes) {
  at::Tensor x = torch::tensor({0.03125f, -8.0f, 7.9375f, 9.0f, 0.09375f});
  const ops::Packed p = ops::pack(x, Codec::kInt8Fixed);
  ASSERT_EQ(p.data.scalar_type(), at::kChar);
  const std::vector<int> want = {0, -128, 127, 127, 2};  // half-to-even: 0.5 -> 0, 1.5 -> 2
  for (int i = 0; i < 5; ++i) EXPECT_EQ(p.data[i].item<int>(), want[i]);

  at::Tensor probs = torch::tensor({0.0f, 1.0f, 0.25f, 1.0f / 512});
  EXPECT_TRUE(at::equal(ops::pack(probs, Codec::kUint8Prob256).data,
                        torch::tensor({0, 255, 64, 0}, at::kByte)));
  EXPECT_TRUE(at::equal(ops::pack(probs, Codec::kUint8Prob255).data,
                        torch::tensor({0, 255, 64, 0}, at::kByte)));
  EXPECT_TRUE(at::equal(ops::pack(probs, Codec::kUint8ProbSqrt).data,
                        torch::tensor({0, 255, 128, 11}, at::kByte)));
  EXPECT_EQ(ops::unpack(ops::pack(probs, Codec::kUint8Prob255))[1].item<float>(), 1.0f);
}

TEST(Codecs, RowScaleIsAbsmaxOver127AndZeroRowsSurvive) {
  at::Tensor x = torch::tensor({{0.0f, 0.0f, 0.0f}, {1.0f, -2.54f, 0.02f}});
  const ops::Packed p = ops::pack(x, Codec::kInt8Row);
  ASSERT_EQ(p.aux.numel(), 2);
  EXPECT_EQ(p.aux[0].item<float>(), 1.0f);
  EXPECT_EQ(p.aux[1].item<float>(), 2.54f / 127.0f);
  EXPECT_EQ(p.data[4].item<int>(), -127);  // flat codes
  EXPECT_TRUE(at::equal(ops::unpack(p)[0], torch::zeros({3})));
}

TEST(Codecs, TopKKeepsLargestPerRowWithInt32Indices) {
  at::Tensor x = torch::zeros({2, 20});
  x[0][3] = 5;
  x[0][17] = -6;
  x[1][0] = 1;
  x[1][19] = 2;
  x[1][5] = 0.5;
  const ops::Packed p = ops::pack(x, Codec::kTopK10);  // k = 2 per row
  EXPECT_EQ(p.aux.scalar_type(), at::kInt);
  EXPECT_EQ(p.aux.sizes(), (at::IntArrayRef{2, 2}));
  at::Tensor want = x.clone();
  want[1][5] = 0;
  EXPECT_TRUE(at::equal(ops::unpack(p), want));
}

TEST(Codecs, MaskBitsRoundTripOddCount) {
  torch::manual_seed(1);
  at::Tensor m = at::rand({3, 7, 5}) > 0.3;  // 105 elements
  at::Tensor bits = ops::pack_mask_bits(m);
  EXPECT_EQ(bits.numel(), 14);
  EXPECT_EQ(bits.scalar_type(), at::kByte);
  EXPECT_TRUE(at::equal(ops::unpack_mask_bits(bits, m.sizes()), m));
  at::Tensor one = torch::tensor({true, false, false, true, false, false, false, false, true});
  at::Tensor b = ops::pack_mask_bits(one);
  EXPECT_EQ(b[0].item<int>(), 0x09);
  EXPECT_EQ(b[1].item<int>(), 0x01);
}

// The derivative codes approximate gelu'(x) = Phi(x) + x phi(x).
constexpr double kGeluDeriv2Db = 15;  // Lloyd-Max design value 17.6 dB under N(0,1)
constexpr double kGeluDeriv3Db = 21;  // design value 23.8 dB

TEST(Codecs, GeluDerivativeCodeApproximatesGeluPrime) {
  torch::manual_seed(2);
  at::Tensor x = at::randn({4001});
  at::Tensor ones = at::ones_like(x);
  at::Tensor exact = at::gelu_backward(ones, x);
  for (auto [c, bound] : {std::pair{Codec::kGeluDeriv2, kGeluDeriv2Db},
                          std::pair{Codec::kGeluDeriv3, kGeluDeriv3Db}}) {
    const ops::Packed p = ops::pack(x, c);
    EXPECT_EQ(p.nbytes(), ops::packed_bytes(c, x.sizes(), at::kFloat));
    at::Tensor approx = ops::gelu_grad_from_code(p, ones);
    EXPECT_GE(sqnr_db(exact, approx), bound) << ops::codec_name(c);
    // Every value is one of the levels.
    const auto levels = ops::gelu_derivative_levels(c);
    at::Tensor lv = torch::tensor(levels);
    EXPECT_TRUE((approx.unsqueeze(1) == lv.unsqueeze(0)).any(1).all().item<bool>());
    EXPECT_THROW(ops::unpack(p), slimfit::Error);
  }
}

TEST(Codecs, NamesRoundTripAndUnknownNameThrows) {
  for (int i = 0; i <= static_cast<int>(Codec::kGeluDeriv3); ++i) {
    const auto c = static_cast<Codec>(i);
    EXPECT_EQ(ops::parse_codec(ops::codec_name(c)), c);
  }
  EXPECT_THROW(ops::parse_codec("int7"), slimfit::Error);
  EXPECT_THROW(ops::pack(torch::ones({3}, at::kInt), Codec::kInt8Row), slimfit::Error);
}

// The ATen fallback packs in chunks (note [ATen chunking]); the bytes must not depend on the
// chunk size. Odd element counts, rows that straddle chunks and a chunk smaller than a row.
TEST(Codecs, ChunkedAtenPackingIsByteIdentical) {
  torch::manual_seed(11);
  const ops::CpuCodecs path = ops::set_cpu_codecs(ops::CpuCodecs::kAten);
  for (int i = 0; i <= static_cast<int>(Codec::kGeluDeriv3); ++i) {
    const auto c = static_cast<Codec>(i);
    if (c == Codec::kLossless || c == Codec::kTopK10) continue;
    for (const std::vector<int64_t>& shape :
         {std::vector<int64_t>{3, 37, 129}, std::vector<int64_t>{5, 1001}}) {
      at::Tensor x = torch::randn(shape) * 3;
      if (std::string(ops::codec_name(c)).rfind("uint8_prob", 0) == 0) x = x.softmax(-1);
      const int64_t before = ops::set_aten_pack_chunk(int64_t{1} << 40);  // one shot
      const ops::Packed whole = ops::pack(x, c);
      for (int64_t chunk : {int64_t{8}, int64_t{100}, int64_t{4096}}) {
        ops::set_aten_pack_chunk(chunk);
        const ops::Packed parts = ops::pack(x, c);
        EXPECT_TRUE(at::equal(parts.data, whole.data))
            << ops::codec_name(c) << " chunk " << chunk << " shape " << x.sizes();
        EXPECT_EQ(parts.aux.defined(), whole.aux.defined()) << ops::codec_name(c);
        if (whole.aux.defined()) {
          EXPECT_TRUE(at::equal(parts.aux, whole.aux)) << ops::codec_name(c) << " chunk " << chunk;
        }
        EXPECT_EQ(parts.nbytes(), ops::packed_bytes(c, x.sizes(), x.scalar_type()));
        // Decoding in chunks gives the one-shot values exactly.
        const at::Tensor grad = torch::randn(shape);
        const bool gelu = c == Codec::kGeluDeriv2 || c == Codec::kGeluDeriv3;
        const at::Tensor got = gelu ? ops::gelu_grad_from_code(whole, grad) : ops::unpack(whole);
        ops::set_aten_pack_chunk(int64_t{1} << 40);
        const at::Tensor want = gelu ? ops::gelu_grad_from_code(whole, grad) : ops::unpack(whole);
        EXPECT_TRUE(at::equal(got, want)) << ops::codec_name(c) << " decode, chunk " << chunk;
        EXPECT_EQ(got.sizes(), x.sizes());
      }
      ops::set_aten_pack_chunk(before);
    }
  }
  ops::set_cpu_codecs(path);
  EXPECT_THROW(ops::set_aten_pack_chunk(0), slimfit::Error);
}

// ---- CPU loops against the ATen composition ----------------------------------------------------
// The single-pass loops (ops/cpu/codec_loops.h) must give the ATen composition's bytes and values
// exactly, at 1 and 2 threads, for every integer and GELU code and every float dtype: odd counts
// and rows, rows of 1, an all-zero row, NaN (both signs), ±inf and -0 (note [codec NaN]),
// non-contiguous inputs, and sizes above the threshold where the loops go parallel.

// Bitwise equality, with NaN equal to NaN whatever its payload (ATen's own bf16 conversions
// differ there between their vector and scalar paths).
bool same_values(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
  const at::Tensor af = a.to(at::kFloat), bf = b.to(at::kFloat);
  if (!at::equal(af.isnan(), bf.isnan())) return false;
  const at::Tensor ai = af.masked_fill(af.isnan(), 0).view(at::kInt);
  const at::Tensor bi = bf.masked_fill(bf.isnan(), 0).view(at::kInt);
  return at::equal(ai, bi);  // also tells -0 from +0
}

struct Coded {
  ops::Packed packed;
  at::Tensor decoded;  // unpack(), or gelu_grad_from_code(grad)
};

Coded code_with(ops::CpuCodecs path, const at::Tensor& x, Codec c, const at::Tensor& grad) {
  const ops::CpuCodecs before = ops::set_cpu_codecs(path);
  Coded r;
  r.packed = ops::pack(x, c);
  const bool gelu = c == Codec::kGeluDeriv2 || c == Codec::kGeluDeriv3;
  r.decoded = gelu ? ops::gelu_grad_from_code(r.packed, grad) : ops::unpack(r.packed);
  ops::set_cpu_codecs(before);
  return r;
}

// randn (softmax rows for the probability codes) with an all-zero row and special values.
at::Tensor codec_input(const std::vector<int64_t>& shape, Codec c, at::ScalarType dtype) {
  const bool probs = std::string(ops::codec_name(c)).rfind("uint8_prob", 0) == 0;
  at::Tensor x = torch::randn(shape) * 3;
  if (probs) x = x.softmax(-1);
  at::Tensor flat = x.view({-1});
  const int64_t n = flat.numel();
  if (shape.size() > 1 && shape[0] > 1) x.select(0, 1).zero_();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::pair<int64_t, float>> specials = {
      {n / 7, nan}, {n / 5, -nan}, {n / 3, inf}, {n / 2, -inf}, {n - 1, -0.f}, {n / 11, -0.25f}};
  if (n > 64) {
    for (auto [i, v] : specials) flat[i] = v;
  }
  return x.to(dtype);
}

TEST(Codecs, CpuLoopsMatchAtenByteForByteAtOneAndTwoThreads) {
  const std::vector<std::vector<int64_t>> shapes = {{3, 5, 67}, {5, 1001}, {40, 1031},
                                                    {6, 3, 1},  {0, 7},    {2, 64, 384}};
  const int threads = at::get_num_threads();
  for (int i = 0; i <= static_cast<int>(Codec::kGeluDeriv3); ++i) {
    const auto c = static_cast<Codec>(i);
    if (c == Codec::kLossless || c == Codec::kTopK10) continue;
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
      for (const auto& shape : shapes) {
        torch::manual_seed(21 + i);
        const at::Tensor x = codec_input(shape, c, dtype);
        const at::Tensor grad = codec_input(shape, Codec::kInt8Row, dtype);
        const std::string what = std::string(ops::codec_name(c)) + " " + c10::toString(dtype) +
                                 " " + c10::str(x.sizes());
        const Coded want = code_with(ops::CpuCodecs::kAten, x, c, grad);
        for (int t : {1, 2}) {
          at::set_num_threads(t);
          const Coded got = code_with(ops::CpuCodecs::kLoops, x, c, grad);
          EXPECT_TRUE(at::equal(got.packed.data, want.packed.data)) << what << ", threads " << t;
          EXPECT_EQ(got.packed.data.scalar_type(), want.packed.data.scalar_type()) << what;
          ASSERT_EQ(got.packed.aux.defined(), want.packed.aux.defined()) << what;
          if (want.packed.aux.defined()) {  // NaN scales too: compare the bits
            const at::Tensor diff = got.packed.aux.view(at::kInt) != want.packed.aux.view(at::kInt);
            EXPECT_FALSE(diff.any().item<bool>())
                << what << ", threads " << t << ": "
                << got.packed.aux.masked_select(diff).view(at::kInt) << " vs "
                << want.packed.aux.masked_select(diff).view(at::kInt);
          }
          EXPECT_TRUE(same_values(got.decoded, want.decoded)) << what << " decode, threads " << t;
        }
        at::set_num_threads(threads);
      }
    }
  }
  // A non-contiguous input packs as its contiguous copy.
  const at::Tensor x = torch::randn({129, 67}).t();
  for (Codec c : {Codec::kInt8Row, Codec::kInt4Row, Codec::kGeluDeriv3}) {
    const Coded want = code_with(ops::CpuCodecs::kAten, x, c, x);
    const Coded got = code_with(ops::CpuCodecs::kLoops, x, c, x);
    EXPECT_TRUE(at::equal(got.packed.data, want.packed.data)) << ops::codec_name(c);
    EXPECT_TRUE(same_values(got.decoded, want.decoded)) << ops::codec_name(c);
  }
}

TEST(Codecs, CpuMaskBitsMatchAtenAndDropoutNoise) {
  const int threads = at::get_num_threads();
  torch::manual_seed(5);
  for (int64_t n : {int64_t{1}, int64_t{105}, int64_t{70001}}) {
    at::Tensor noise = at::empty({n}).bernoulli_(0.9).div_(0.9);
    if (n > 100) {
      noise[3] = std::numeric_limits<float>::quiet_NaN();  // to(bool): set
      noise[4] = -0.f;                                     // to(bool): clear
    }
    const ops::CpuCodecs before = ops::set_cpu_codecs(ops::CpuCodecs::kAten);
    const at::Tensor want = ops::pack_mask_bits(noise.to(at::kBool));
    ops::set_cpu_codecs(before);
    for (int t : {1, 2}) {
      at::set_num_threads(t);
      for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kHalf, at::kBool}) {
        EXPECT_TRUE(at::equal(ops::pack_mask_bits(noise.to(dtype)), want)) << dtype << " " << n;
      }
      EXPECT_TRUE(at::equal(ops::unpack_mask_bits(want, noise.sizes()), noise.to(at::kBool)));
      // The dropout backward's grad * noise, with the noise rebuilt from the bits.
      const at::Tensor grad = torch::randn({n});
      const at::Tensor kept = noise.to(at::kBool).to(at::kFloat).div_(1 - 0.1);
      at::Tensor fresh = at::empty({n}).bernoulli_(0.9);
      fresh.div_(1 - 0.1);  // as the plain dropout builds its noise
      EXPECT_TRUE(same_values(
          ops::scale_by_mask_bits(grad, ops::pack_mask_bits(fresh), 1.0f / float(1 - 0.1)),
          grad.mul(fresh)));
      EXPECT_TRUE(
          same_values(ops::scale_by_mask_bits(grad, want, 1.0f / float(1 - 0.1)), grad.mul(kept)));
    }
  }
  at::set_num_threads(threads);
}

// The fused CPU steps (ops/codecs.h) against the codecs and ATen ops they fuse, at one and two
// threads: bit-identical where they compute the same elements (dropout's output and bits, the
// dropped probabilities, a frozen LayerNorm's x-hat bytes), within float rounding where they sum
// a row in another order (the softmax and LayerNorm backward).
TEST(Codecs, FusedCpuStepsMatchWhatTheyFuse) {
  const int threads = at::get_num_threads();
  const float keep_scale = 1.0f / float(1 - 0.1);
  for (int t : {1, 2}) {
    at::set_num_threads(t);
    // Dropout: Bernoulli draws into bytes consume the generator as at::dropout's float noise.
    for (int64_t n : {int64_t{13}, int64_t{70001}}) {
      const at::Tensor x = torch::randn({n});
      torch::manual_seed(7);
      at::Tensor noise = at::empty({n}).bernoulli_(1 - 0.1);
      noise.div_(1 - 0.1);
      torch::manual_seed(7);
      const at::Tensor keep = at::empty({n}, at::kByte).bernoulli_(1 - 0.1);
      const auto [out, bits] = ops::dropout_apply_bits(x, keep, keep_scale);
      EXPECT_TRUE(same_values(out, x.mul(noise))) << n << ", threads " << t;
      EXPECT_TRUE(at::equal(bits, ops::pack_mask_bits(noise))) << n << ", threads " << t;
    }
    // Attention: rows of 16 take whole mask bytes, rows of 17 straddle them.
    for (int64_t L : {int64_t{16}, int64_t{17}, int64_t{128}}) {
      const std::vector<int64_t> shape = {2, 3, L, L};
      const at::Tensor probs = torch::randn(shape).softmax(-1);
      const at::Tensor grad = torch::randn(shape);
      const at::Tensor bits = ops::pack_mask_bits(at::empty(shape).bernoulli_(0.9));
      const double scale = std::sqrt(32.0);
      for (Codec c : {Codec::kUint8Prob256, Codec::kUint8Prob255, Codec::kUint8ProbSqrt}) {
        const std::string what = c10::str(ops::codec_name(c), " L ", L, ", threads ", t);
        const ops::Packed p = ops::pack(probs, c);
        ASSERT_TRUE(ops::fused_probs_cpu(p, grad)) << what;
        const at::Tensor decoded = ops::unpack(p);
        EXPECT_TRUE(same_values(ops::unpack_probs_dropped(p, bits, keep_scale),
                                ops::scale_by_mask_bits(decoded, bits, keep_scale)))
            << what;
        EXPECT_TRUE(same_values(ops::unpack_probs_dropped(p, at::Tensor(), 0.f), decoded)) << what;
        const at::Tensor dropped = ops::scale_by_mask_bits(grad, bits, keep_scale);
        const at::Tensor want =
            at::_softmax_backward_data(dropped, decoded, -1, at::kFloat) / scale;
        const at::Tensor got = ops::softmax_backward_from_code(p, bits, keep_scale, grad, scale);
        EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-7))
            << what << ": max difference " << (got - want).abs().max().item<float>();
        const at::Tensor want_nodrop =
            at::_softmax_backward_data(grad, decoded, -1, at::kFloat) / scale;
        EXPECT_TRUE(at::allclose(ops::softmax_backward_from_code(p, at::Tensor(), 0.f, grad, scale),
                                 want_nodrop, 1e-5, 1e-7))
            << what << " without dropout";
      }
    }
    // Frozen LayerNorm, with and without a weight.
    for (Codec c : {Codec::kInt8Row, Codec::kInt4Row}) {
      for (int64_t h : {int64_t{96}, int64_t{384}}) {
        const std::string what = c10::str(ops::codec_name(c), " H ", h, ", threads ", t);
        const at::Tensor x = torch::randn({5, 7, h}) * 2 + 0.5;
        const at::Tensor w = torch::rand({h}) + 0.5;
        const auto stats = at::native_layer_norm(x, {h}, w, torch::randn({h}), 1e-5);
        const at::Tensor &mean = std::get<1>(stats), &rstd = std::get<2>(stats);
        ASSERT_TRUE(ops::fused_layer_norm_cpu(x, c)) << what;
        const ops::Packed want = ops::pack((x - mean) * rstd, c);
        const ops::Packed got = ops::pack_layer_norm_xhat(x, mean, rstd, c);
        EXPECT_TRUE(at::equal(got.data, want.data)) << what;
        EXPECT_TRUE(at::equal(got.aux, want.aux)) << what;
        const at::Tensor grad = torch::randn({5, 7, h}), xhat = ops::unpack(want);
        for (const at::Tensor& weight : {w, at::Tensor()}) {
          const at::Tensor g = weight.defined() ? grad * weight : grad;
          const at::Tensor expect =
              rstd * (g - g.mean(-1, true) - xhat * (g * xhat).mean(-1, true));
          const at::Tensor dx = ops::layer_norm_backward_from_code(got, rstd, grad, weight);
          EXPECT_TRUE(at::allclose(dx, expect, 1e-5, 1e-6))
              << what << (weight.defined() ? "" : " without weight") << ": max difference "
              << (dx - expect).abs().max().item<float>();
        }
      }
    }
  }
  at::set_num_threads(threads);
  // Where they do not apply, the ops take the composition.
  const at::Tensor odd = torch::randn({4, 7});
  EXPECT_FALSE(ops::fused_layer_norm_cpu(odd, Codec::kInt4Row));  // a byte would straddle rows
  EXPECT_TRUE(ops::fused_layer_norm_cpu(odd, Codec::kInt8Row));
  EXPECT_FALSE(ops::fused_layer_norm_cpu(odd.to(at::kBFloat16), Codec::kInt8Row));
  EXPECT_FALSE(ops::fused_layer_norm_cpu(odd, Codec::kTopK10));
  EXPECT_FALSE(ops::fused_dropout_cpu(odd.to(at::kHalf)));
  EXPECT_FALSE(ops::fused_probs_cpu(ops::pack(odd.softmax(-1), Codec::kInt8Row), odd));
  EXPECT_FALSE(ops::fused_probs_cpu(
      ops::pack(odd.softmax(-1).to(at::kBFloat16), Codec::kUint8ProbSqrt), odd));
  const ops::CpuCodecs before = ops::set_cpu_codecs(ops::CpuCodecs::kAten);
  EXPECT_FALSE(ops::fused_dropout_cpu(odd));
  EXPECT_FALSE(ops::fused_layer_norm_cpu(odd, Codec::kInt8Row));
  ops::set_cpu_codecs(before);
  const at::Tensor none = torch::rand({2, 3, 0, 0});  // no rows: nothing to do, no division
  EXPECT_EQ(ops::softmax_backward_from_code(ops::pack(none, Codec::kUint8ProbSqrt), at::Tensor(),
                                            0.f, none, 1.0)
                .numel(),
            0);
  EXPECT_THROW(ops::softmax_backward_from_code(ops::pack(odd.softmax(-1), Codec::kUint8ProbSqrt),
                                               at::Tensor(), 0.f, torch::randn({4, 8}), 1.0),
               slimfit::Error);
}

// Not a check: the time of each default format's pack and decode at MiniLM's shapes (batch 32,
// seq 128: 12 heads of 32, FFN 1536), ATen composition against the loops, interleaved, best of 5.
// Run: test_codecs --gtest_also_run_disabled_tests --gtest_filter='*CodecSpeed*'
TEST(Codecs, DISABLED_CodecSpeedAtMiniLmShapes) {
  struct Row {
    const char* what;
    Codec codec;
    std::vector<int64_t> shape;
    int per_layer;
  };
  const std::vector<Row> rows = {
      {"Q, K, V (B, h, L, D)", Codec::kInt8Row, {32, 12, 128, 32}, 3},
      {"probs (B, h, L, L)", Codec::kUint8ProbSqrt, {32, 12, 128, 128}, 1},
      {"GELU input", Codec::kGeluDeriv3, {4096, 1536}, 1},
      {"FFN down input", Codec::kInt8Row, {4096, 1536}, 1},
      {"frozen LayerNorm x-hat", Codec::kInt4Row, {4096, 384}, 2},
  };
  auto best_ms = [](const std::function<void()>& f) {
    double best = 1e30;
    for (int r = 0; r < 5; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      best = std::min(
          best,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  std::printf("threads %d\n%-24s %-15s %10s %10s %10s %10s\n", at::get_num_threads(), "tensor",
              "format", "aten ms", "loops ms", "x faster", "per layer");
  for (const Row& r : rows) {
    at::Tensor x = torch::randn(r.shape);
    if (r.codec == Codec::kUint8ProbSqrt) x = x.softmax(-1);
    const at::Tensor grad = torch::randn(r.shape);
    double ms[2];
    for (ops::CpuCodecs path : {ops::CpuCodecs::kAten, ops::CpuCodecs::kLoops}) {
      ms[path == ops::CpuCodecs::kAten ? 0 : 1] =
          best_ms([&] { code_with(path, x, r.codec, grad); });
    }
    std::printf("%-24s %-15s %10.2f %10.2f %10.2f %10d\n", r.what, ops::codec_name(r.codec), ms[0],
                ms[1], ms[0] / ms[1], r.per_layer);
  }
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{32, 12, 128, 128}, std::vector<int64_t>{4096, 384}}) {
    const at::Tensor noise = at::empty(shape).bernoulli_(0.9).div_(0.9);
    const at::Tensor grad = torch::randn(shape);
    double ms[2];
    for (ops::CpuCodecs path : {ops::CpuCodecs::kAten, ops::CpuCodecs::kLoops}) {
      const ops::CpuCodecs before = ops::set_cpu_codecs(path);
      ms[path == ops::CpuCodecs::kAten ? 0 : 1] = best_ms([&] {
        const at::Tensor bits =
            ops::pack_mask_bits(path == ops::CpuCodecs::kAten ? noise != 0 : noise);
        if (path == ops::CpuCodecs::kAten) {
          grad.mul(ops::unpack_mask_bits(bits, grad.sizes()).to(at::kFloat).div_(0.9));
        } else {
          ops::scale_by_mask_bits(grad, bits, 1.0f / 0.9f);
        }
      });
      ops::set_cpu_codecs(before);
    }
    std::printf("%-24s %-15s %10.2f %10.2f %10.2f\n", c10::str("dropout ", shape).c_str(),
                "mask bits", ms[0], ms[1], ms[0] / ms[1]);
  }
}

// CPU (ATen) and CUDA (kernels) must give the same bytes for the same input.
class CpuCudaBytes : public ::testing::TestWithParam<std::tuple<Codec, at::ScalarType>> {};

TEST_P(CpuCudaBytes, Identical) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device / CUDA libtorch";
  const auto [c, dtype] = GetParam();
  torch::manual_seed(4);
  const bool probs =
      c == Codec::kUint8Prob256 || c == Codec::kUint8Prob255 || c == Codec::kUint8ProbSqrt;
  at::Tensor x = probs ? at::softmax(at::randn({5, 131}) * 3, -1) : at::randn({5, 131}) * 2;
  x = x.to(dtype);
  const ops::Packed cpu = ops::pack(x, c);
  const ops::Packed gpu = ops::pack(x.cuda(), c);
  EXPECT_TRUE(at::equal(cpu.data, gpu.data.cpu())) << ops::codec_name(c);
  if (cpu.aux.defined()) {
    EXPECT_TRUE(at::equal(cpu.aux, gpu.aux.cpu()));
  }
  if (c == Codec::kGeluDeriv2 || c == Codec::kGeluDeriv3) {
    at::Tensor g = at::randn_like(x);
    EXPECT_TRUE(
        at::equal(ops::gelu_grad_from_code(cpu, g), ops::gelu_grad_from_code(gpu, g.cuda()).cpu()));
  } else {
    EXPECT_TRUE(at::equal(ops::unpack(cpu), ops::unpack(gpu).cpu()));
  }
  at::Tensor m = at::rand({1001}) > 0.5;
  EXPECT_TRUE(at::equal(ops::pack_mask_bits(m), ops::pack_mask_bits(m.cuda()).cpu()));
  EXPECT_TRUE(at::equal(ops::unpack_mask_bits(ops::pack_mask_bits(m.cuda()), m.sizes()).cpu(), m));
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, CpuCudaBytes,
    ::testing::Combine(::testing::Values(Codec::kInt8Fixed, Codec::kInt8Row, Codec::kInt8Block,
                                         Codec::kInt4Fixed, Codec::kInt4Row, Codec::kInt4Block,
                                         Codec::kUint8Prob256, Codec::kUint8Prob255,
                                         Codec::kUint8ProbSqrt, Codec::kGeluDeriv2,
                                         Codec::kGeluDeriv3),
                       ::testing::Values(at::kFloat, at::kBFloat16, at::kHalf)),
    [](const auto& info) {
      return std::string(ops::codec_name(std::get<0>(info.param))) + "_" +
             c10::toString(std::get<1>(info.param));
    });

}  // namespace
