// ILS scheduler and training-dynamics scores (note [ILS policy]).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "common/error.h"
#include "common/random.h"
#include "sched/dynamics.h"
#include "sched/ils.h"
#include "train/sampler.h"

namespace {

using slimfit::sched::IlsOptions;
using slimfit::sched::IlsScheduler;

int64_t count(const std::vector<uint8_t>& mask) {
  int64_t n = 0;
  for (uint8_t m : mask) n += m;
  return n;
}

TEST(Ils, TrainsExactlyTMinusFloorRTUnitsPerStep) {
  for (int64_t t : {1, 7, 102, 100}) {
    for (double r : {0.0, 0.5, 0.75, 0.8, 0.9, 0.95}) {
      IlsScheduler s(t, IlsOptions{r, 0, 0.0, 3, {}});
      const int64_t m = t - int64_t(std::floor(r * t));
      for (int step = 0; step < 30; ++step) {
        const auto mask = s.next_mask();
        ASSERT_EQ(count(mask), m) << "t=" << t << " r=" << r << " step=" << step;
        std::vector<double> scores(t);
        for (int64_t u = 0; u < t; ++u) scores[u] = 1e-3 * double((u * 7919) % 13 + 1);
        s.update(mask, scores, 1e-4);
      }
    }
  }
}

TEST(Ils, EveryUnitTrainsOnceBeforeRealScoresTakeOver) {
  const int64_t t = 102;
  IlsScheduler s(t, IlsOptions{0.9, 0, 0.0, 11, {}});
  const int64_t m = s.num_trainable();
  std::vector<int> trained(t, 0);
  const int64_t rounds = (t + m - 1) / m;
  for (int64_t step = 0; step < rounds; ++step) {
    const auto mask = s.next_mask();
    for (int64_t u = 0; u < t; ++u) trained[u] += mask[u];
    // Real scores are tiny next to the initial ones.
    s.update(mask, std::vector<double>(t, 1e-5), 1e-4);
  }
  // Every unit once; the last round's spare slots go to the lowest-index trained units.
  int64_t twice = 0;
  for (int64_t u = 0; u < t; ++u) {
    EXPECT_GE(trained[u], 1) << "unit " << u;
    EXPECT_LE(trained[u], 2) << "unit " << u;
    twice += trained[u] == 2;
  }
  EXPECT_EQ(twice, rounds * m - t);
}

TEST(Ils, HighestScoresTrainAndFrozenUnitsComeBack) {
  const int64_t t = 10;
  IlsScheduler s(t, IlsOptions{0.8, 1000, 0.0, 5, {}});  // m = 2; staleness out of the way
  for (int step = 0; step < 5; ++step) {                 // the initial round
    const auto mask = s.next_mask();
    std::vector<double> scores(t);
    for (int64_t u = 0; u < t; ++u) scores[u] = 0.1 * double(u + 1);  // unit 9 highest
    s.update(mask, scores, 1e-4);
  }
  auto mask = s.next_mask();
  EXPECT_TRUE(mask[9] && mask[8]);
  // Their new scores drop below the stale ones of units 7 and 6.
  std::vector<double> scores(t, 0.0);
  scores[9] = scores[8] = 0.01;
  s.update(mask, scores, 1e-4);
  mask = s.next_mask();
  EXPECT_TRUE(mask[7] && mask[6]);
  EXPECT_FALSE(mask[9] || mask[8]);
}

TEST(Ils, NoStarvationWithZeroLrFirstStepZeroAndNonFiniteScores) {
  const int64_t t = 40;
  IlsScheduler s(t, IlsOptions{0.9, 0, 0.0, 1, {}});
  std::vector<int64_t> trained(t, 0), last(t, -1);
  int64_t worst_gap = 0;
  for (int64_t step = 0; step < 400; ++step) {
    const auto mask = s.next_mask();
    std::vector<double> scores(t);
    for (int64_t u = 0; u < t; ++u) {
      // Adversarial: half of the units always report a zero change (the reference's lr=0 or
      // dead-unit trap), one a NaN (zero weight), one an inf.
      scores[u] = u < t / 2 ? 0.0 : 1e-3 * double(u);
    }
    scores[t - 1] = std::numeric_limits<double>::quiet_NaN();
    scores[t - 2] = std::numeric_limits<double>::infinity();
    const double lr = step == 0 ? 0.0 : 1e-4;  // warm-up starts at lr = 0
    s.update(mask, scores, lr);
    for (int64_t u = 0; u < t; ++u) {
      if (!mask[u]) continue;
      if (step > 0) ++trained[u];
      if (last[u] >= 0) worst_gap = std::max(worst_gap, step - last[u]);
      last[u] = step;
    }
  }
  for (int64_t u = 0; u < t; ++u) {
    EXPECT_GE(trained[u], 2) << "unit " << u << " starved";
    EXPECT_TRUE(std::isfinite(s.state().scores[u])) << "unit " << u;
  }
  // A unit waits at most the staleness bound plus the steps needed to serve the other
  // starving units in its queue.
  EXPECT_LE(worst_gap, s.staleness_bound() + t);
}

TEST(Ils, ZeroLrStepKeepsTheUnitsTurn) {
  const int64_t t = 10;
  IlsScheduler s(t, IlsOptions{0.8, 0, 0.0, 2, {}});
  const auto first = s.next_mask();
  s.update(first, std::vector<double>(t, 0.0), /*lr=*/0.0);
  const auto second = s.next_mask();
  EXPECT_EQ(first, second);  // nothing moved at lr = 0, so the same units get their turn
}

TEST(Ils, DeterministicAndRestorable) {
  const int64_t t = 30;
  IlsOptions o{0.8, 0, 0.2, 42, {0}};
  IlsScheduler a(t, o), b(t, o);
  std::vector<std::vector<uint8_t>> masks;
  slimfit::sched::IlsState saved;
  for (int64_t step = 0; step < 40; ++step) {
    const auto ma = a.next_mask();
    EXPECT_EQ(ma, b.next_mask());
    if (step >= 20) masks.push_back(ma);
    EXPECT_TRUE(ma[0]);  // always trains
    std::vector<double> scores(t);
    for (int64_t u = 0; u < t; ++u) scores[u] = std::sin(double(step * t + u)) + 1.5;
    a.update(ma, scores, 1e-4);
    b.update(ma, scores, 1e-4);
    if (step == 19) saved = a.state();
  }
  IlsScheduler c(t, o);
  c.restore(saved);
  for (int64_t step = 20; step < 40; ++step) {
    const auto mc = c.next_mask();
    EXPECT_EQ(mc, masks[step - 20]) << "step " << step;
    std::vector<double> scores(t);
    for (int64_t u = 0; u < t; ++u) scores[u] = std::sin(double(step * t + u)) + 1.5;
    c.update(mc, scores, 1e-4);
  }
}

TEST(Ils, RejectsBadOptions) {
  EXPECT_THROW(IlsScheduler(10, IlsOptions{1.0, 0, 0.0, 0, {}}), slimfit::Error);
  EXPECT_THROW(IlsScheduler(10, IlsOptions{0.5, 0, 1.0, 0, {}}), slimfit::Error);
  EXPECT_THROW(IlsScheduler(10, IlsOptions{0.9, 0, 0.0, 0, {1, 2}}), slimfit::Error);  // m = 1
  EXPECT_THROW(IlsScheduler(10, IlsOptions{0.5, 0, 0.0, 0, {10}}), slimfit::Error);
  IlsScheduler s(10, IlsOptions{0.5, 0, 0.0, 0, {}});
  slimfit::sched::IlsState wrong;
  wrong.scores.resize(3);
  wrong.last_trained.resize(3);
  EXPECT_THROW(s.restore(wrong), slimfit::Error);
}

// Byte budget (note [memory budget]): 20 units, unit 0 (say, a word-embedding table) costs 50,
// units 1..6 share a group input of 4 and cost 1 each, the rest cost 5. At r = 0.8, 4 units train
// by count; the budget is the greedy worst case of 4 units: classifier (unit 19) + 50 + 5 + 5.
TEST(Ils, ByteBudgetIsNeverExceededAndTrainsMoreCheapUnits) {
  const int64_t t = 20;
  slimfit::sched::UnitCosts costs;
  costs.unit.assign(t, 5.0);
  costs.group.assign(t, -1);
  costs.unit[0] = 50.0;
  costs.group_cost = {4.0};
  for (int64_t u = 1; u <= 6; ++u) costs.unit[u] = 1.0, costs.group[u] = 0;
  IlsOptions o{0.8, 0, 0.0, 5, {19}};
  o.costs = costs;
  o.budget = slimfit::sched::worst_case_cost(costs, 4, o.always_train);
  EXPECT_EQ(o.budget, 5.0 + 50.0 + 5.0 + 5.0);
  IlsScheduler s(t, o);
  std::vector<int64_t> last(t, -1);
  int64_t max_gap = 0, total = 0;
  uint64_t rng = 99;
  for (int64_t step = 0; step < 300; ++step) {
    const auto mask = s.next_mask();
    EXPECT_LE(slimfit::sched::mask_cost(costs, mask), o.budget) << "step " << step;
    EXPECT_EQ(mask[19], 1) << "always-train unit, step " << step;
    total += count(mask);
    std::vector<double> scores(t);
    for (int64_t u = 0; u < t; ++u) {
      if (mask[u]) max_gap = std::max(max_gap, step - last[u]), last[u] = step;
      scores[u] = slimfit::sched::uniform01(rng);
    }
    s.update(mask, scores, 1e-4);
  }
  // More than the 4 units a count would train, on average; no unit starves (the bound, plus the
  // steps a fuller set of stale units can take).
  EXPECT_GT(double(total) / 300.0, 6.0);
  for (int64_t u = 0; u < t; ++u) EXPECT_GE(last[u], 300 - 2 * s.staleness_bound()) << u;
  EXPECT_LE(max_gap, 2 * s.staleness_bound());

  IlsOptions explore = o;
  explore.exploration = 0.1;
  EXPECT_THROW(IlsScheduler(t, explore), slimfit::Error);
  IlsOptions small = o;
  small.budget = 20.0;  // cannot train unit 0 next to the classifier
  EXPECT_THROW(IlsScheduler(t, small), slimfit::Error);
}

// The partials of a unit that moves from `before` to `after`, tracked in `shards` shards and added
// up as the coordinator adds the ranks' (note [coordinator rule]).
slimfit::sched::DynamicsTracker::Partial shard_partials(const at::Tensor& before,
                                                        const at::Tensor& after, int shards,
                                                        slimfit::sched::ScoreKind kind) {
  slimfit::sched::DynamicsTracker tracker;
  slimfit::sched::DynamicsTracker::Partial total;
  at::Tensor w = before.clone();
  for (int shard = 0; shard < shards; ++shard) {
    w.copy_(before);
    tracker.begin_step({w}, {1}, shard, shards);
    w.copy_(after);
    const auto p = tracker.end_step_partial({w}, kind)[0];
    total.sum += p.sum, total.count += p.count;
    total.delta_sq += p.delta_sq, total.weight_sq += p.weight_sq;
  }
  return total;
}

TEST(Dynamics, ScoreIsMeanRelativeChangeAndFiniteForZeroWeights) {
  at::Tensor w1 = at::tensor({1.0f, -2.0f, 4.0f, 0.5f});
  at::Tensor w2 = at::tensor({0.0f, 1.0f});  // a zero weight
  at::Tensor w3 = at::ones({3});             // frozen this step
  slimfit::sched::DynamicsTracker tracker;
  tracker.begin_step({w1, w2, w3}, {1, 1, 0});
  EXPECT_EQ(tracker.snapshot_bytes(), int64_t(w1.nbytes() + w2.nbytes()));  // trainable only
  w1.copy_(at::tensor({1.1f, -2.0f, 3.0f, 0.5f}));
  w2.copy_(at::tensor({0.0f, 1.5f}));
  const auto scores = tracker.end_step({w1, w2, w3});
  EXPECT_NEAR(scores[0], (0.1 / 1.0 + 0.0 + 1.0 / 4.0 + 0.0) / 4.0, 1e-6);
  EXPECT_NEAR(scores[1], 0.5 / 2.0, 1e-6);  // 0 -> 0 contributes 0, not NaN
  EXPECT_EQ(scores[2], 0.0);
  EXPECT_EQ(tracker.snapshot_bytes(), 0);

  tracker.begin_step({w2}, {1});
  w2.copy_(at::tensor({1e-3f, 1.5f}));  // a zero weight that moves: large but finite
  const auto s2 = tracker.end_step({w2});
  EXPECT_TRUE(std::isfinite(s2[0]));
  EXPECT_GT(s2[0], 1e6);
}

TEST(Dynamics, NormScoreIsTheRelativeChangeOfTheWholeTensorAndShardsCombine) {
  using slimfit::sched::DynamicsTracker;
  using slimfit::sched::ScoreKind;
  const at::Tensor before = at::tensor({1.0f, -2.0f, 4.0f, 1e-6f});
  const at::Tensor after = at::tensor({1.1f, -2.0f, 3.0f, 2e-6f});
  at::Tensor w = before.clone();
  DynamicsTracker tracker;
  tracker.begin_step({w}, {1});
  w.copy_(after);
  const double norm = tracker.end_step({w}, ScoreKind::kNorm)[0];
  const double expected =
      std::sqrt(0.01 + 1.0 + 1e-12) / std::sqrt(1.0 + 4.0 + 16.0 + 1e-12);  // |dW| / |W|
  EXPECT_NEAR(norm, expected, 1e-6 * expected);
  // The near-zero element's 100% change dominates the relative score, not the norm score.
  w.copy_(before);
  tracker.begin_step({w}, {1});
  w.copy_(after);
  EXPECT_GT(tracker.end_step({w}, ScoreKind::kRelative)[0], 0.25);
  // Two shards' partials add up to the one-shard score.
  EXPECT_NEAR(
      DynamicsTracker::score(shard_partials(before, after, 2, ScoreKind::kNorm), ScoreKind::kNorm),
      norm, 1e-12 * norm);
  EXPECT_EQ(slimfit::sched::parse_score_kind("norm"), ScoreKind::kNorm);
  EXPECT_THROW(slimfit::sched::parse_score_kind("l2"), slimfit::Error);
}

// Note [coordinator rule]: N ranks' shards of a unit combine to the whole tensor's score to double
// rounding, for both scores, at the size of a real unit (a float norm of 3 million elements was
// good to about 1e-5 only).
TEST(Dynamics, ShardsOfALargeUnitCombineToDoubleRounding) {
  using slimfit::sched::DynamicsTracker;
  using slimfit::sched::ScoreKind;
  at::manual_seed(4);
  const at::Tensor before = at::randn({3000, 1024}) * 0.02;
  const at::Tensor after = before + at::randn({3000, 1024}) * 1e-3;
  for (ScoreKind kind : {ScoreKind::kRelative, ScoreKind::kNorm}) {
    const DynamicsTracker::Partial whole = shard_partials(before, after, 1, kind);
    for (int shards : {2, 3}) {
      const DynamicsTracker::Partial total = shard_partials(before, after, shards, kind);
      EXPECT_EQ(total.count, whole.count);
      const double a = DynamicsTracker::score(total, kind), b = DynamicsTracker::score(whole, kind);
      EXPECT_NEAR(a, b, 1e-12 * b) << shards << " shards, kind " << int(kind);
    }
  }
}

// Why N ranks need not pick one process's masks (note [coordinator rule]): a weight that has just
// crossed zero is the difference of two values near 1e-3, so its value in two runs that round
// differently can differ by one ulp of 1e-3, here 1.2e-10 against 2.3e-10. The relative score
// divides that element's change by it, so the unit's score differs by half, and a unit scored
// between the two takes its turn in one run and not in the other; the norm score does not
// notice.
TEST(Dynamics, OneRoundingOfANearZeroWeightMovesTheRelativeScoreNotTheNorm) {
  using slimfit::sched::DynamicsTracker;
  using slimfit::sched::ScoreKind;
  at::manual_seed(5);
  const at::Tensor a = at::randn({4096}) * 0.02;
  const float ulp = std::nextafter(1e-3f, 1.0f) - 1e-3f;
  at::Tensor b = a.clone();
  a[0] = ulp, b[0] = 2 * ulp;
  const at::Tensor step = at::full({4096}, 1e-3f);
  std::map<ScoreKind, std::vector<double>> scores;
  for (const at::Tensor& before : {a, b}) {
    for (ScoreKind kind : {ScoreKind::kRelative, ScoreKind::kNorm}) {
      at::Tensor w = before.clone();
      DynamicsTracker tracker;
      tracker.begin_step({w}, {1});
      w.sub_(step);
      scores[kind].push_back(tracker.end_step({w}, kind)[0]);
    }
  }
  const auto relative = [](const std::vector<double>& s) { return std::abs(s[0] - s[1]) / s[1]; };
  EXPECT_GT(relative(scores[ScoreKind::kRelative]), 0.4);
  EXPECT_LT(relative(scores[ScoreKind::kNorm]), 1e-9);
  // Two units, one of which trains: unit 1 scores halfway between the two runs' unit 0.
  const std::vector<double>& s = scores[ScoreKind::kRelative];
  std::vector<std::vector<uint8_t>> masks;
  for (double unit0 : s) {
    IlsScheduler scheduler(2, {0.5, 0, 0.0, 1, {}});
    scheduler.restore({1, {unit0, (s[0] + s[1]) / 2}, {0, 0}, scheduler.state().rng_state});
    masks.push_back(scheduler.next_mask());
  }
  EXPECT_NE(masks[0], masks[1]);
}

}  // namespace

// The one splitmix64 (common/random.h) against the published sequence for state 0.
TEST(Random, Splitmix64MatchesTheReferenceSequence) {
  uint64_t state = 0;
  EXPECT_EQ(slimfit::splitmix64(state), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(slimfit::splitmix64(state), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(slimfit::splitmix64(state), 0x06C45D188009454Full);
  EXPECT_EQ(slimfit::splitmix64_mix(0), 0xE220A8397B1DCDAFull);
}

// The epoch order is the one the committed accuracy runs and every resume used: the orders
// below come from a Python transcription of the trainer's shuffle before it moved into
// EpochSampler (Fisher-Yates, swap partner splitmix64 % (i + 1), state seed * 1000003 + epoch).
TEST(Random, EpochOrderIsUnchanged) {
  std::vector<int64_t> identity(10);
  for (int64_t i = 0; i < 10; ++i) identity[size_t(i)] = i;
  slimfit::train::EpochSampler sampler(identity, /*batch=*/10, /*grad_accum=*/1, /*seed=*/7);
  EXPECT_EQ(sampler.indices(0, 0, 0, 1), (std::vector<int64_t>{6, 1, 5, 7, 0, 2, 3, 4, 9, 8}));
  EXPECT_EQ(sampler.indices(1, 0, 0, 1), (std::vector<int64_t>{2, 0, 7, 9, 5, 1, 6, 4, 3, 8}));
  // Two ranks read the two halves of the same global batch.
  EXPECT_EQ(sampler.indices(1, 0, 1, 2), (std::vector<int64_t>{1, 6, 4, 3, 8}));
}
