// SlimFit autograd Functions (ops/functional.h with cfg.slimfit): forward bit-identical to the
// plain op, every gradient within a stated SQNR of plain autograd, lossless settings exactly
// equal, saved bytes exactly as the formats imply, and a frozen Linear keeping no input.
// Table-driven over op × format × dtype × device (CUDA cases skip without a CUDA libtorch).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "ops/codecs.h"
#include "ops/functional.h"

namespace {

namespace ops = slimfit::ops;
using ops::Codec;
using ops::OpsConfig;

constexpr double kInf = std::numeric_limits<double>::infinity();

double sqnr_db(const at::Tensor& ref, const at::Tensor& got) {
  const at::Tensor r = ref.to(at::kDouble), g = got.to(at::kDouble);
  const double err = (r - g).pow(2).sum().item<double>();
  if (err == 0) return kInf;
  return 10 * std::log10(r.pow(2).sum().item<double>() / err);
}

// Gradient SQNR bounds (dB) against plain autograd in the same dtype, on the shapes below.
// Each is a few dB under the value measured on fp32 (ops/FORMATS.md).
constexpr double kSqnrLinearInt8RowDb = 35;    // weight grad, FFN-down input int8 per row
constexpr double kSqnrLinearInt8FixedDb = 25;  // reference: fixed point, clips |x| > 8
constexpr double kSqnrLnInt8RowDb = 30;        // frozen LN input grad, int8 x̂ per row
constexpr double kSqnrLnInt4RowDb = 18;        // frozen LN input grad, 4-bit x̂ per row
constexpr double kSqnrLnTopK10Db = 3;          // reference: top 10% of x̂
constexpr double kSqnrGeluInt4FixedDb = 8;     // reference: 4-bit input, step 0.5
constexpr double kSqnrGeluInt4BlockDb = 14;    // 4-bit input, absmax per 64
constexpr double kSqnrGeluDeriv2Db = 12;       // 2-bit derivative code
constexpr double kSqnrGeluDeriv3Db = 18;       // 3-bit derivative code
constexpr double kSqnrAttnInt8Db = 22;         // Q, K, V int8 + probs uint8
constexpr double kSqnrAttnReferenceDb = 15;    // reference fixed-point formats
constexpr double kBf16SlackDb = 6;             // bf16 rounding noise in both runs

enum class Op {
  kLinear,
  kLinearFfnDown,
  kLinearFrozen,
  kLayerNorm,
  kLayerNormFrozen,
  kGelu,
  kAttention,
  kAttentionDropout,
  kDropout
};

const char* op_name(Op op) {
  switch (op) {
    case Op::kLinear:
      return "Linear";
    case Op::kLinearFfnDown:
      return "LinearFfnDown";
    case Op::kLinearFrozen:
      return "LinearFrozen";
    case Op::kLayerNorm:
      return "LayerNorm";
    case Op::kLayerNormFrozen:
      return "LayerNormFrozen";
    case Op::kGelu:
      return "Gelu";
    case Op::kAttention:
      return "Attention";
    case Op::kAttentionDropout:
      return "AttentionDropout";
    default:
      return "Dropout";
  }
}

struct Inputs {
  std::vector<at::Tensor> leaves;  // differentiable inputs, in a fixed order
  at::Tensor mask;                 // attention only
};

// Builds the op's inputs (leaf tensors) on `device` in `dtype`. Frozen ops mark their weight.
Inputs make_inputs(Op op, at::ScalarType dtype, at::Device device) {
  torch::manual_seed(11);
  auto leaf = [&](at::Tensor t, bool grad = true) {
    return t.to(dtype).to(device).detach().requires_grad_(grad);
  };
  Inputs in;
  switch (op) {
    case Op::kLinear:
    case Op::kLinearFfnDown:
    case Op::kLinearFrozen:
      in.leaves = {leaf(at::randn({4, 9, 64})),
                   leaf(at::randn({48, 64}) * 0.1, op != Op::kLinearFrozen), leaf(at::randn({48}))};
      break;
    case Op::kLayerNorm:
    case Op::kLayerNormFrozen:
      in.leaves = {leaf(at::randn({4, 9, 96}) * 2 + 0.5),
                   leaf(at::rand({96}) + 0.5, op == Op::kLayerNorm), leaf(at::randn({96}))};
      break;
    case Op::kGelu:
      in.leaves = {leaf(at::randn({4, 9, 101}))};
      break;
    case Op::kAttention:
    case Op::kAttentionDropout: {
      const int64_t B = 2, H = 3, L = 17, D = 16;
      in.leaves = {leaf(at::randn({B, H, L, D})), leaf(at::randn({B, H, L, D})),
                   leaf(at::randn({B, H, L, D}))};
      at::Tensor m = at::zeros({B, 1, 1, L});
      m.index_put_({1, 0, 0, at::indexing::Slice(12, L)}, -10000.0);
      in.mask = m.to(dtype).to(device);
      break;
    }
    case Op::kDropout:
      in.leaves = {leaf(at::randn({4, 9, 64}))};
  }
  return in;
}

at::Tensor run_op(Op op, const Inputs& in, const OpsConfig& cfg) {
  const auto& t = in.leaves;
  switch (op) {
    case Op::kLinear:
    case Op::kLinearFrozen:
      return ops::linear(t[0], t[1], t[2], cfg);
    case Op::kLinearFfnDown:
      return ops::linear(t[0], t[1], t[2], cfg, ops::LinearRole::kFfnDown);
    case Op::kLayerNorm:
    case Op::kLayerNormFrozen:
      return ops::layer_norm(t[0], t[1], t[2], 1e-5, cfg);
    case Op::kGelu:
      return ops::gelu(t[0], cfg);
    case Op::kAttention:
      return ops::attention(t[0], t[1], t[2], in.mask, 0.0, true, cfg);
    case Op::kAttentionDropout:
      return ops::attention(t[0], t[1], t[2], in.mask, 0.1, true, cfg);
    default:
      return ops::dropout(t[0], 0.2, true, cfg);
  }
}

struct RunResult {
  at::Tensor out;
  std::vector<at::Tensor> grads;
  int64_t saved_bytes = 0;
};

RunResult run_with_grads(Op op, at::ScalarType dtype, at::Device device, const OpsConfig& cfg) {
  Inputs in = make_inputs(op, dtype, device);
  torch::manual_seed(99);  // same dropout masks in the plain and SlimFit runs
  RunResult r;
  ops::SavedBytesScope scope;
  r.out = run_op(op, in, cfg);
  r.saved_bytes = scope.bytes();
  torch::manual_seed(5);
  at::Tensor grad_out = at::randn(r.out.sizes()).to(dtype).to(device);
  r.out.backward(grad_out);
  for (auto& l : in.leaves) r.grads.push_back(l.grad());
  return r;
}

// What the format implies the op keeps, in bytes (see ops/codecs.h, note [codec formats]).
int64_t expected_saved_bytes(Op op, at::ScalarType dtype, at::Device device, const OpsConfig& cfg) {
  Inputs in = make_inputs(op, dtype, device);
  const auto& t = in.leaves;
  const int64_t es = static_cast<int64_t>(c10::elementSize(dtype));
  switch (op) {
    case Op::kLinear:
      return ops::packed_bytes(cfg.linear_input, t[0].sizes(), dtype);
    case Op::kLinearFfnDown:
      return ops::packed_bytes(cfg.ffn_down_input, t[0].sizes(), dtype);
    case Op::kLinearFrozen:
      return 0;
    case Op::kLayerNorm:
    case Op::kLayerNormFrozen: {
      const int64_t rows = t[0].numel() / t[0].size(-1);
      auto stats =
          at::native_layer_norm(t[0].detach(), {t[0].size(-1)}, t[1].detach(), t[2].detach(), 1e-5);
      const int64_t stat_bytes = static_cast<int64_t>(std::get<1>(stats).element_size());
      if (op == Op::kLayerNorm || cfg.ln_frozen == Codec::kLossless)
        return t[0].numel() * es + 2 * rows * stat_bytes;
      return ops::packed_bytes(cfg.ln_frozen, t[0].sizes(), dtype) + rows * 4;
    }
    case Op::kGelu:
      return ops::packed_bytes(cfg.gelu, t[0].sizes(), dtype);
    case Op::kAttention:
    case Op::kAttentionDropout: {
      const auto s = t[0].sizes();
      const std::vector<int64_t> ps = {s[0], s[1], s[2], s[2]};
      int64_t b = 2 * ops::packed_bytes(cfg.attn_qk, s, dtype) +
                  ops::packed_bytes(cfg.attn_v, s, dtype) +
                  ops::packed_bytes(cfg.attn_probs, ps, dtype);
      if (op == Op::kAttentionDropout) b += (s[0] * s[1] * s[2] * s[2] + 7) / 8;
      return b;
    }
    default:
      return (t[0].numel() + 7) / 8;
  }
}

struct OpCase {
  std::string name;
  Op op;
  OpsConfig cfg;
  double min_sqnr_db;  // every gradient; kInf = exactly equal
};

OpsConfig with(std::function<void(OpsConfig&)> f) {
  OpsConfig c;
  c.slimfit = true;
  f(c);
  return c;
}

std::vector<OpCase> op_cases() {
  const OpsConfig lossless = OpsConfig::lossless(), reference = OpsConfig::reference();
  std::vector<OpCase> cases;
  for (Op op :
       {Op::kLinear, Op::kLinearFfnDown, Op::kLinearFrozen, Op::kLayerNorm, Op::kLayerNormFrozen,
        Op::kGelu, Op::kAttention, Op::kAttentionDropout, Op::kDropout})
    cases.push_back({std::string(op_name(op)) + "_lossless", op, lossless, kInf});
  cases.push_back({"Linear_default", Op::kLinear, with([](OpsConfig&) {}), kInf});
  cases.push_back({"LinearFrozen_default", Op::kLinearFrozen, with([](OpsConfig&) {}), kInf});
  cases.push_back({"LinearFfnDown_int8row", Op::kLinearFfnDown,
                   with([](OpsConfig& c) { c.ffn_down_input = Codec::kInt8Row; }),
                   kSqnrLinearInt8RowDb});
  cases.push_back(
      {"LinearFfnDown_reference", Op::kLinearFfnDown, reference, kSqnrLinearInt8FixedDb});
  cases.push_back({"LayerNorm_default", Op::kLayerNorm, with([](OpsConfig&) {}), kInf});
  cases.push_back({"LayerNormFrozen_int8row", Op::kLayerNormFrozen,
                   with([](OpsConfig& c) { c.ln_frozen = Codec::kInt8Row; }), kSqnrLnInt8RowDb});
  cases.push_back({"LayerNormFrozen_int4row", Op::kLayerNormFrozen,
                   with([](OpsConfig& c) { c.ln_frozen = Codec::kInt4Row; }), kSqnrLnInt4RowDb});
  cases.push_back(
      {"LayerNormFrozen_default", Op::kLayerNormFrozen, with([](OpsConfig&) {}), kSqnrLnInt4RowDb});
  cases.push_back({"Gelu_default", Op::kGelu, with([](OpsConfig&) {}), kSqnrGeluDeriv3Db});
  cases.push_back({"LayerNormFrozen_reference", Op::kLayerNormFrozen, reference, kSqnrLnTopK10Db});
  cases.push_back({"Gelu_reference", Op::kGelu, reference, kSqnrGeluInt4FixedDb});
  cases.push_back({"Gelu_int4block", Op::kGelu,
                   with([](OpsConfig& c) { c.gelu = Codec::kInt4Block; }), kSqnrGeluInt4BlockDb});
  cases.push_back({"Gelu_deriv2", Op::kGelu,
                   with([](OpsConfig& c) { c.gelu = Codec::kGeluDeriv2; }), kSqnrGeluDeriv2Db});
  cases.push_back({"Gelu_deriv3", Op::kGelu,
                   with([](OpsConfig& c) { c.gelu = Codec::kGeluDeriv3; }), kSqnrGeluDeriv3Db});
  cases.push_back({"Attention_default", Op::kAttention, with([](OpsConfig&) {}), kSqnrAttnInt8Db});
  cases.push_back({"AttentionDropout_default", Op::kAttentionDropout, with([](OpsConfig&) {}),
                   kSqnrAttnInt8Db});
  cases.push_back(
      {"AttentionDropout_reference", Op::kAttentionDropout, reference, kSqnrAttnReferenceDb});
  cases.push_back({"Dropout_default", Op::kDropout, with([](OpsConfig&) {}), kInf});
  return cases;
}

using Param = std::tuple<OpCase, at::ScalarType, bool /*cuda*/>;
class SlimfitOp : public ::testing::TestWithParam<Param> {};

TEST_P(SlimfitOp, ForwardExactGradsBoundedBytesExact) {
  const auto& [c, dtype, cuda] = GetParam();
  if (cuda && !torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device / CUDA libtorch";
  const at::Device device = cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  OpsConfig plain;
  RunResult ref;
  try {
    ref = run_with_grads(c.op, dtype, device, plain);
  } catch (const c10::Error&) {
    GTEST_SKIP() << "plain libtorch op unsupported for " << dtype << " on " << device;
  }
  EXPECT_EQ(ref.saved_bytes, 0);  // the plain path never touches the tally
  const RunResult got = run_with_grads(c.op, dtype, device, c.cfg);

  EXPECT_TRUE(at::equal(ref.out, got.out)) << "forward must be bit-identical";
  ASSERT_EQ(ref.grads.size(), got.grads.size());
  const double bound =
      c.min_sqnr_db == kInf || dtype == at::kFloat ? c.min_sqnr_db : c.min_sqnr_db - kBf16SlackDb;
  for (size_t i = 0; i < ref.grads.size(); ++i) {
    ASSERT_EQ(ref.grads[i].defined(), got.grads[i].defined()) << "grad " << i;
    if (!ref.grads[i].defined()) continue;
    if (bound == kInf) {
      EXPECT_TRUE(at::equal(ref.grads[i], got.grads[i]))
          << "grad " << i << " differs, SQNR " << sqnr_db(ref.grads[i], got.grads[i]) << " dB";
    } else {
      EXPECT_GE(sqnr_db(ref.grads[i], got.grads[i]), bound) << "grad " << i;
    }
  }
  EXPECT_EQ(got.saved_bytes, expected_saved_bytes(c.op, dtype, device, c.cfg));
}

INSTANTIATE_TEST_SUITE_P(Ops, SlimfitOp,
                         ::testing::Combine(::testing::ValuesIn(op_cases()),
                                            ::testing::Values(at::kFloat, at::kBFloat16, at::kHalf),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + "_" +
                                  c10::toString(std::get<1>(info.param)) +
                                  (std::get<2>(info.param) ? "_cuda" : "_cpu");
                         });

// A frozen Linear keeps no copy of its input: the tally says 0 and the input's storage dies
// with the last user reference, while a trainable one keeps it alive.
TEST(SlimfitLinear, FrozenKeepsNoInput) {
  OpsConfig cfg;
  cfg.slimfit = true;
  for (bool trainable : {false, true}) {
    at::Tensor leaf = torch::randn({8, 32}, torch::requires_grad());
    at::Tensor w = torch::randn({16, 32}).requires_grad_(trainable);
    at::Tensor b = torch::zeros({16}, torch::requires_grad());
    at::Tensor x = leaf * 2.0;  // non-leaf: only our Function could keep it alive
    c10::weak_intrusive_ptr<c10::StorageImpl> storage(x.storage().getWeakStorageImpl());
    ops::SavedBytesScope scope;
    at::Tensor y = ops::linear(x, w, b, cfg);
    EXPECT_EQ(scope.bytes(), trainable ? x.numel() * 4 : 0);
    x.reset();
    EXPECT_EQ(storage.expired(), !trainable) << "trainable=" << trainable;
    y.sum().backward();
    EXPECT_TRUE(leaf.grad().defined());
    EXPECT_EQ(w.grad().defined(), trainable);
    EXPECT_TRUE(b.grad().defined());
  }
}

TEST(SlimfitOps, OffIsPlainAndNoGradModeSavesNothing) {
  OpsConfig cfg;
  EXPECT_FALSE(cfg.slimfit);
  cfg.slimfit = true;
  at::Tensor x = torch::randn({4, 8}, torch::requires_grad());
  torch::NoGradGuard no_grad;
  ops::SavedBytesScope scope;
  at::Tensor y = ops::gelu(x, cfg);
  EXPECT_EQ(scope.bytes(), 0);
  EXPECT_FALSE(y.requires_grad());
}

// A frozen LayerNorm whose input needs no gradient keeps nothing: only its bias trains.
TEST(SlimfitLayerNorm, FrozenWithoutInputGradKeepsNothing) {
  OpsConfig cfg;
  cfg.slimfit = true;
  at::Tensor x = torch::randn({4, 32});
  at::Tensor w = torch::ones({32});
  at::Tensor b = torch::zeros({32}, torch::requires_grad());
  ops::SavedBytesScope scope;
  at::Tensor y = ops::layer_norm(x, w, b, 1e-5, cfg);
  EXPECT_EQ(scope.bytes(), 0);
  EXPECT_TRUE(at::equal(y, at::layer_norm(x, {32}, w, b, 1e-5)));
  y.backward(torch::ones_like(y));
  EXPECT_TRUE(at::equal(b.grad(), torch::full({32}, 4.0f)));
}

TEST(SlimfitOps, GeluCodeOutsideGeluThrows) {
  OpsConfig cfg;
  cfg.slimfit = true;
  cfg.ln_frozen = Codec::kGeluDeriv3;
  at::Tensor x = torch::randn({4, 32}, torch::requires_grad());
  EXPECT_THROW(ops::layer_norm(x, torch::ones({32}), torch::zeros({32}), 1e-5, cfg),
               slimfit::Error);
}

// Prints the per-format gradient SQNR table of ops/FORMATS.md (fp32, CPU).
TEST(SlimfitOps, FormatTable) {
  struct Row {
    const char* op;
    Op which;
    Codec codec;
    std::function<void(OpsConfig&, Codec)> set;
    int grad;  // which gradient the format affects
  };
  auto lin = [](OpsConfig& c, Codec k) { c.ffn_down_input = k; };
  auto ln = [](OpsConfig& c, Codec k) { c.ln_frozen = k; };
  auto ge = [](OpsConfig& c, Codec k) { c.gelu = k; };
  auto qk = [](OpsConfig& c, Codec k) {
    c.attn_qk = k;
    c.attn_v = k;
  };
  auto pr = [](OpsConfig& c, Codec k) { c.attn_probs = k; };
  const std::vector<Row> rows = {
      {"Linear(FFN down) input -> dW", Op::kLinearFfnDown, Codec::kInt8Fixed, lin, 1},
      {"Linear(FFN down) input -> dW", Op::kLinearFfnDown, Codec::kInt8Row, lin, 1},
      {"Linear(FFN down) input -> dW", Op::kLinearFfnDown, Codec::kInt8Block, lin, 1},
      {"Linear(FFN down) input -> dW", Op::kLinearFfnDown, Codec::kInt4Block, lin, 1},
      {"LayerNorm frozen x̂ -> dx", Op::kLayerNormFrozen, Codec::kTopK10, ln, 0},
      {"LayerNorm frozen x̂ -> dx", Op::kLayerNormFrozen, Codec::kInt8Row, ln, 0},
      {"LayerNorm frozen x̂ -> dx", Op::kLayerNormFrozen, Codec::kInt4Row, ln, 0},
      {"LayerNorm frozen x̂ -> dx", Op::kLayerNormFrozen, Codec::kInt4Block, ln, 0},
      {"GELU -> dx", Op::kGelu, Codec::kInt4Fixed, ge, 0},
      {"GELU -> dx", Op::kGelu, Codec::kInt4Row, ge, 0},
      {"GELU -> dx", Op::kGelu, Codec::kInt4Block, ge, 0},
      {"GELU -> dx", Op::kGelu, Codec::kInt8Row, ge, 0},
      {"GELU -> dx", Op::kGelu, Codec::kGeluDeriv2, ge, 0},
      {"GELU -> dx", Op::kGelu, Codec::kGeluDeriv3, ge, 0},
      {"Attention Q,K,V (probs lossless) -> dQ", Op::kAttention, Codec::kInt8Fixed, qk, 0},
      {"Attention Q,K,V (probs lossless) -> dQ", Op::kAttention, Codec::kInt8Row, qk, 0},
      {"Attention Q,K,V (probs lossless) -> dQ", Op::kAttention, Codec::kInt8Block, qk, 0},
      {"Attention Q,K,V (probs lossless) -> dQ", Op::kAttention, Codec::kInt4Block, qk, 0},
      {"Attention probs (QKV lossless) -> dQ", Op::kAttention, Codec::kUint8Prob256, pr, 0},
      {"Attention probs (QKV lossless) -> dQ", Op::kAttention, Codec::kUint8Prob255, pr, 0},
      {"Attention probs (QKV lossless) -> dQ", Op::kAttention, Codec::kUint8ProbSqrt, pr, 0},
  };
  std::printf("| op -> gradient | format | bytes/elem | SQNR dB (all grads min) |\n");
  std::printf("| --- | --- | --- | --- |\n");
  for (const Row& r : rows) {
    OpsConfig cfg = OpsConfig::lossless();
    r.set(cfg, r.codec);
    const RunResult ref = run_with_grads(r.which, at::kFloat, at::kCPU, {});
    const RunResult got = run_with_grads(r.which, at::kFloat, at::kCPU, cfg);
    double min_db = kInf;
    for (size_t i = 0; i < ref.grads.size(); ++i)
      if (ref.grads[i].defined()) min_db = std::min(min_db, sqnr_db(ref.grads[i], got.grads[i]));
    Inputs in = make_inputs(r.which, at::kFloat, at::kCPU);
    const at::Tensor& x = in.leaves[0];
    std::vector<int64_t> shape = x.sizes().vec();
    const bool probs = r.codec == Codec::kUint8Prob256 || r.codec == Codec::kUint8Prob255 ||
                       r.codec == Codec::kUint8ProbSqrt;
    if (probs) shape.back() = shape[2];  // (B, h, L, L)
    const double n = static_cast<double>(c10::multiply_integers(shape));
    std::printf("| %s | %s | %.4f | %.1f |\n", r.op, ops::codec_name(r.codec),
                ops::packed_bytes(r.codec, shape, at::kFloat) / n, min_db);
  }
}

}  // namespace

// Not a check: forward + backward time of each op at MiniLM's shapes (batch 32, seq 128: 12 heads
// of 32, hidden 384, FFN 1536), plain libtorch against the SlimFit defaults, interleaved, best of
// 5, at libtorch's thread count. Where compression costs its time, op by op.
// Run: test_slimfit_ops --gtest_also_run_disabled_tests --gtest_filter='*OpSpeed*'
TEST(SlimfitOps, DISABLED_OpSpeedAtMiniLmShapes) {
  const int64_t B = 32, H = 12, L = 128, D = 32, W = 384, F = 1536;
  struct Row {
    const char* what;
    std::function<at::Tensor(const OpsConfig&, const std::vector<at::Tensor>&)> run;
    std::vector<std::vector<int64_t>> shapes;  // the leaves; the first gets the op's gradient
    bool frozen_weight = false;
  };
  const at::Tensor mask = at::zeros({B, 1, 1, L});
  const std::vector<Row> rows = {
      {"attention + dropout 0.1",
       [&](const OpsConfig& c, const std::vector<at::Tensor>& t) {
         return ops::attention(t[0], t[1], t[2], mask, 0.1, true, c);
       },
       {{B, H, L, D}, {B, H, L, D}, {B, H, L, D}}},
      {"dropout 0.1 (B, L, 384)",
       [](const OpsConfig& c, const std::vector<at::Tensor>& t) {
         return ops::dropout(t[0], 0.1, true, c);
       },
       {{B, L, W}}},
      {"GELU (B, L, 1536)",
       [](const OpsConfig& c, const std::vector<at::Tensor>& t) { return ops::gelu(t[0], c); },
       {{B, L, F}}},
      {"FFN down 1536 -> 384",
       [](const OpsConfig& c, const std::vector<at::Tensor>& t) {
         return ops::linear(t[0], t[1], t[2], c, ops::LinearRole::kFfnDown);
       },
       {{B, L, F}, {W, F}, {W}}},
      {"FFN down, kept lossless",
       [](const OpsConfig& c, const std::vector<at::Tensor>& t) {
         OpsConfig k = c;
         k.ffn_down_input = Codec::kLossless;
         return ops::linear(t[0], t[1], t[2], k, ops::LinearRole::kFfnDown);
       },
       {{B, L, F}, {W, F}, {W}}},
      {"LayerNorm 384, frozen",
       [](const OpsConfig& c, const std::vector<at::Tensor>& t) {
         return ops::layer_norm(t[0], t[1], t[2], 1e-12, c);
       },
       {{B, L, W}, {W}, {W}},
       true},
      {"LayerNorm 384, trains",
       [](const OpsConfig& c, const std::vector<at::Tensor>& t) {
         return ops::layer_norm(t[0], t[1], t[2], 1e-12, c);
       },
       {{B, L, W}, {W}, {W}}},
  };
  OpsConfig slim;
  slim.slimfit = true;
  std::printf("threads %d\n%-28s %10s %10s %10s\n", at::get_num_threads(), "op (fwd + bwd)",
              "plain ms", "slimfit ms", "ratio");
  for (const Row& r : rows) {
    std::vector<at::Tensor> leaves;
    for (size_t i = 0; i < r.shapes.size(); ++i)
      leaves.push_back(torch::randn(r.shapes[i]).requires_grad_(!(r.frozen_weight && i == 1)));
    const at::Tensor grad = torch::randn(r.run(OpsConfig{}, leaves).sizes());
    double best[2] = {1e30, 1e30};
    for (int round = 0; round < 5; ++round) {
      for (int arm = 0; arm < 2; ++arm) {
        const auto t0 = std::chrono::steady_clock::now();
        r.run(arm == 0 ? OpsConfig{} : slim, leaves).backward(grad);
        best[arm] = std::min(best[arm], std::chrono::duration<double, std::milli>(
                                            std::chrono::steady_clock::now() - t0)
                                            .count());
        for (auto& l : leaves)
          if (l.grad().defined()) l.mutable_grad().reset();
      }
    }
    std::printf("%-28s %10.2f %10.2f %10.3f\n", r.what, best[0], best[1], best[1] / best[0]);
  }
}
