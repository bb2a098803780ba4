// Data-parallel training on 2 ranks against 1 rank (issue 5's tests). Every rank also runs the
// single-process reference itself, so the comparison needs no second job.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include "comm/mpi_c.h"

#include "ckpt/h5.h"
#include "comm/communicator.h"
#include "comm/self_communicator.h"
#include "common/error.h"
#include "coord/coordinator.h"
#include "sched/units.h"
#include "train/trainer.h"

namespace {

using slimfit::train::TrainConfig;
using slimfit::train::Trainer;

TrainConfig tiny(int64_t steps, int64_t batch) {
  TrainConfig c;
  c.model = "bert-tiny";
  c.data = "synthetic:4000";
  c.steps = steps;
  c.batch = batch;
  c.seq_len = 16;
  c.lr = 1e-3;
  c.warmup_steps = 2;
  c.freeze_ratio = 0.8;
  c.dropout = 0.0;
  c.seed = 3;
  c.log_every = 1000;
  c.max_eval = 32;
  c.compress = std::getenv("SLIMFIT_TEST_NO_COMPRESS") == nullptr;
  return c;
}

// Max over ranks of a local value; every rank gets it.
double max_over_ranks(slimfit::comm::Communicator& comm, double v) {
  at::Tensor t = at::tensor({v}, at::kDouble);
  comm.all_reduce_max(t);
  return t.item<double>();
}

// ||a - b|| / ||a|| over all parameters. (Per tensor, a max-relative figure is meaningless for
// tensors whose true gradient is zero, such as attention key biases: softmax ignores them, so
// Adam turns rounding noise into steps of size lr there.) `where` gets the tensor with the
// largest absolute difference.
double max_relative_difference(Trainer& a, Trainer& b, std::string* where = nullptr) {
  double diff_sq = 0.0, norm_sq = 0.0, worst = -1.0;
  auto pa = a.model().named_parameters(), pb = b.model().named_parameters();
  for (const auto& item : pa) {
    const at::Tensor x = item.value().detach().to(at::kDouble);
    const at::Tensor y = pb[item.key()].detach().to(at::kDouble);
    diff_sq += (x - y).pow(2).sum().item<double>();
    norm_sq += x.pow(2).sum().item<double>();
    const double d = (x - y).abs().max().item<double>();
    if (d > worst && where) *where = item.key();
    worst = std::max(worst, d);
  }
  return std::sqrt(diff_sq / norm_sq);
}

// Note [N ranks against 1]. What the tests below hold data-parallel training to (note
// [coordinator rule] in coord/coordinator.h):
//   1. every rank trains the same mask and holds the same weights;
//   2. the score N ranks combine from their shards is the single-process score of the same
//      weights, to double rounding (kRescoreTolerance): each run rescores every trained unit from
//      whole tensors and compares;
//   3. the mask is what the policy picks from those scores (the other inputs of the policy, its
//      step, staleness and random state, are those of one process);
//   4. against one process with the global batch, training the same masks: losses within 1e-5
//      and weights within 1e-4, relative.
// What is not promised is that one process would have picked the same masks. N ranks sum the
// gradient in another order, so their weights differ from one process's in the last bits, and
// the relative score (note [score] in sched/dynamics.h) divides each element's change by its
// weight: an element near zero turns that rounding into a large change of the unit's score
// (measured here: up to 73% relative for one unit, on OpenBLAS's AVX2 kernels; which steps and
// units depends on the processor). Two units whose scores are that close can swap, and then the
// runs train different units for good. The norm score is better conditioned but not immune:
// Adam scales an element whose gradient is mostly rounding noise to a step of about lr, so its
// change is noise too (measured here: 5.6e-4 relative). So the one-process run (the follower)
// trains the N-rank run's masks (the leader's), and every step at which its own choice differs is
// printed with the units and scores.
constexpr double kRescoreTolerance = 1e-12;

// The scheduler's state before a step's decision, and the mask that decision chose.
struct Decision {
  slimfit::sched::IlsState state;
  std::vector<uint8_t> own;
};

// The masks a leader trained, by step, for a follower.
std::map<int64_t, std::vector<uint8_t>> masks_of(const std::map<int64_t, Decision>& decisions) {
  std::map<int64_t, std::vector<uint8_t>> masks;
  for (const auto& [step, d] : decisions) masks[step] = d.own;
  return masks;
}

// Records every decision and rescores every trained unit from whole tensors (point 2 above);
// given a leader's masks, trains those instead of its own choice.
class ReplayTrainer : public Trainer {
 public:
  ReplayTrainer(TrainConfig c, slimfit::comm::Communicator* comm,
                std::map<int64_t, std::vector<uint8_t>> follow = {})
      : Trainer(std::move(c), comm), follow_(std::move(follow)) {}

  std::map<int64_t, Decision> decisions;  // by step
  double worst_rescore = 0.0;             // the largest relative difference of point 2
  int64_t rescored = 0;                   // scores checked against whole-tensor rescoring

  // Checks the last step's scores (call after run()).
  void finish() { check_rescore(); }

 protected:
  std::vector<uint8_t> decide_mask(int64_t step) override {
    check_rescore();  // the previous step's scores are in the scheduler now
    Decision d{scheduler().state(), Trainer::decide_mask(step)};
    const auto it = follow_.find(step);
    std::vector<uint8_t> mask = it == follow_.end() ? d.own : it->second;
    decisions[step] = d;
    rescore_.begin_step(params(), mask);
    rescore_step_ = step;
    rescore_mask_ = mask;
    return mask;
  }

 private:
  std::vector<at::Tensor> params() const {
    std::vector<at::Tensor> out;
    for (const auto& u : units()) out.push_back(u.param);
    return out;
  }
  void check_rescore() {
    if (rescore_step_ < 0) return;
    const int64_t step = std::exchange(rescore_step_, -1);
    const std::vector<double> whole =
        rescore_.end_step(params(), slimfit::sched::parse_score_kind(config().score));
    if (lr_at(step) == 0.0) return;  // the scheduler keeps the old scores
    const std::vector<double>& scores = scheduler().state().scores;
    for (size_t u = 0; u < whole.size(); ++u) {
      if (!rescore_mask_[u]) continue;
      const double d = std::abs(scores[u] - whole[u]);
      if (whole[u] != 0) worst_rescore = std::max(worst_rescore, d / std::abs(whole[u]));
      ++rescored;
      EXPECT_LE(d, kRescoreTolerance * std::abs(whole[u]))
          << "step " << step << ", unit " << u << " (" << units()[u].name << "): combined score "
          << scores[u] << ", whole-tensor score " << whole[u];
    }
  }

  std::map<int64_t, std::vector<uint8_t>> follow_;
  slimfit::sched::DynamicsTracker rescore_;
  int64_t rescore_step_ = -1;
  std::vector<uint8_t> rescore_mask_;
};

// Point 3 of note [N ranks against 1], at every step both decided; prints (on rank 0) every step
// at which their own choices differ.
struct Comparison {
  std::vector<int64_t> swaps;   // steps at which their own choices differ
  double worst_relative = 0.0;  // the largest relative score difference (not bounded)
};

Comparison compare_choices(const std::map<int64_t, Decision>& leader, const ReplayTrainer& follower,
                           int rank) {
  Comparison out;
  for (const auto& [step, f] : follower.decisions) {
    const auto it = leader.find(step);
    if (it == leader.end()) continue;
    const Decision& l = it->second;
    const std::vector<double>&ls = l.state.scores, &fs = f.state.scores;
    EXPECT_EQ(ls.size(), fs.size());
    if (ls.size() != fs.size()) continue;
    for (size_t u = 0; u < ls.size(); ++u) {
      const double d = std::abs(ls[u] - fs[u]), scale = std::max(std::abs(ls[u]), std::abs(fs[u]));
      if (scale > 0) out.worst_relative = std::max(out.worst_relative, d / scale);
    }
    slimfit::sched::IlsScheduler probe = follower.scheduler();
    slimfit::sched::IlsState state = f.state;
    state.scores = ls;
    probe.restore(state);
    EXPECT_EQ(probe.next_mask(), l.own)
        << "step " << step << ": the leader's mask is not what the policy picks from its scores";
    if (l.own == f.own) continue;
    out.swaps.push_back(step);
    if (rank != 0) continue;
    std::ostringstream units;
    for (size_t u = 0; u < l.own.size(); ++u) {
      if (l.own[u] == f.own[u]) continue;
      units << "\n  " << (l.own[u] ? "leader" : "follower") << " only: unit " << u << " ("
            << follower.units()[u].name << "), score " << std::setprecision(9) << ls[u]
            << " on the leader, " << fs[u] << " on the follower";
    }
    std::cout << "step " << step << ": one process would have chosen otherwise" << units.str()
              << "\n";
  }
  return out;
}

// With the unit count and with the byte budget (note [memory budget]: its costs are those of
// the global micro-batch, so N ranks spend what one process would), with both scores.
class RanksTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(RanksTest, TwoRanksMatchOneRankWithTheGlobalBatch) {
  auto comm = slimfit::comm::make_communicator("mpi");
  const int n = comm->size();
  const auto [budget, score] = GetParam();
  ASSERT_EQ(tiny(12, 4).frozen_update, "coast");  // frozen units coast on every rank alike
  TrainConfig c = tiny(12, 4 * n);
  c.budget = budget;
  c.score = score;
  TrainConfig mine = c;
  // To see this test fail (issue 21): SLIMFIT_TEST_RANK1_SEED=4 gives rank 1 another seed.
  if (const char* seed = std::getenv("SLIMFIT_TEST_RANK1_SEED"); seed && comm->rank() == 1) {
    mine.seed = std::stoull(seed);
  }
  ReplayTrainer parallel(mine, comm.get());  // per-rank batch 4
  parallel.run();
  parallel.finish();
  slimfit::comm::SelfCommunicator self;
  ReplayTrainer single(c, &self, masks_of(parallel.decisions));  // 1 rank, batch 4n, N ranks' masks
  single.run();
  single.finish();
  EXPECT_GT(parallel.rescored, 0);
  // Weights identical on all ranks: the spread of a checksum over ranks is zero.
  double checksum = 0.0;
  for (const auto& item : parallel.model().named_parameters()) {
    checksum += item.value().detach().to(at::kDouble).sum().item<double>();
  }
  EXPECT_EQ(max_over_ranks(*comm, checksum), -max_over_ranks(*comm, -checksum));
  ASSERT_EQ(parallel.records().size(), single.records().size());
  for (size_t s = 0; s < parallel.records().size(); ++s) {
    const auto& mask = parallel.records()[s].mask;
    const double h = double(slimfit::coord::mask_hash(int64_t(s), mask) % 1000003);
    EXPECT_EQ(max_over_ranks(*comm, h), -max_over_ranks(*comm, -h)) << "step " << s;
    EXPECT_EQ(mask, single.records()[s].mask) << "step " << s << ": the follower did not follow";
    EXPECT_NEAR(parallel.records()[s].loss, single.records()[s].loss,
                1e-5 * std::abs(single.records()[s].loss))
        << "step " << s;
  }
  const Comparison cmp = compare_choices(parallel.decisions, single, comm->rank());
  std::string where;
  const double local = max_relative_difference(parallel, single, &where);
  const double diff = max_over_ranks(*comm, local);
  EXPECT_LE(diff, 1e-4) << "N ranks vs 1 rank, max relative weight difference (rank "
                        << comm->rank() << ": " << local << " at " << where << ")";
  if (comm->rank() == 0) {
    std::cout << n << " ranks against 1, budget=" << budget << ", score=" << score
              << ": combined scores against whole-tensor rescoring " << parallel.worst_rescore
              << " (" << parallel.rescored << " scores); scores against one process's "
              << cmp.worst_relative << "; weights " << diff << "; " << cmp.swaps.size()
              << " step(s) where one process would have chosen otherwise\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Budget, RanksTest,
                         ::testing::Combine(::testing::Values("units", "mean", "worst"),
                                            ::testing::Values("relative", "norm")),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

TEST(DataParallel, CommunicatedBytesAreTheTrainableGradientBytes) {
  auto comm = slimfit::comm::make_communicator("mpi");
  Trainer t(tiny(6, 4 * comm->size()), comm.get());
  t.run();
  // Non-unit parameters (biases, LayerNorm biases) always train.
  int64_t always = 0;
  for (const auto& item : t.model().named_parameters()) {
    if (!slimfit::sched::is_unit(item.key(), item.value())) always += item.value().nbytes();
  }
  for (const auto& r : t.records()) {
    int64_t expected = always;
    for (size_t i = 0; i < t.units().size(); ++i) {
      if (r.mask[i]) expected += t.units()[i].param.nbytes();
    }
    EXPECT_EQ(r.comm_bytes, expected);
  }
  // Frozen run moves far less than an unfrozen one.
  TrainConfig full = tiny(2, 4 * comm->size());
  full.freeze_ratio = 0.0;
  Trainer unfrozen(full, comm.get());
  unfrozen.run();
  EXPECT_LT(5 * t.records().back().comm_bytes, unfrozen.records().back().comm_bytes * 2);
}

TEST(DataParallel, ResumesWithADifferentNumberOfRanks) {
  auto comm = slimfit::comm::make_communicator("mpi");
  const std::string ck = (std::filesystem::temp_directory_path() / "slimfit_dp_resume.h5").string();
  TrainConfig first = tiny(16, 8);
  first.checkpoint = ck;
  first.stop_after = 8;
  std::map<int64_t, Decision> decided;  // by N ranks (steps 0-7), then by 1 rank (8-15)
  {
    ReplayTrainer t(first, comm.get());
    t.run();
    t.finish();
    decided = t.decisions;
  }
  comm->barrier();  // rank 0 has written the checkpoint
  slimfit::comm::SelfCommunicator self;
  TrainConfig resume = tiny(16, 8);
  resume.resume = ck;
  ReplayTrainer resumed(resume, &self);  // 1 rank continues what N ranks started
  EXPECT_EQ(resumed.next_step(), 8);
  resumed.run();
  resumed.finish();
  decided.insert(resumed.decisions.begin(), resumed.decisions.end());
  // The uninterrupted run on 1 rank trains the masks of the two above (note [N ranks against 1]).
  ReplayTrainer straight(tiny(16, 8), &self, masks_of(decided));
  straight.run();
  straight.finish();
  EXPECT_LE(max_relative_difference(resumed, straight), 1e-4);
  ASSERT_EQ(straight.decisions.size(), 16u);
  const Comparison cmp = compare_choices(decided, straight, comm->rank());
  if (comm->rank() == 0) {
    std::cout << "resumed on 1 rank from " << comm->size() << ": scores against one process's "
              << cmp.worst_relative << "; " << cmp.swaps.size()
              << " step(s) where one process would have chosen otherwise\n";
  }
  comm->barrier();
}

// Every column of the metrics file survives a resume (issue 12: control_bytes and
// grad_diversity of the steps before the checkpoint used to be rewritten as 0 and 1).
TEST(DataParallel, TheMetricsFileKeepsEveryColumnAcrossAResume) {
  auto comm = slimfit::comm::make_communicator("mpi");
  const auto dir = std::filesystem::temp_directory_path();
  const std::string ck = (dir / "slimfit_dp_metrics.h5").string();
  const std::string resumed_metrics = (dir / "slimfit_dp_metrics_resumed.h5").string();
  const std::string straight_metrics = (dir / "slimfit_dp_metrics_straight.h5").string();
  TrainConfig first = tiny(8, 8);
  first.checkpoint = ck;
  first.metrics = resumed_metrics;
  first.stop_after = 4;
  Trainer(first, comm.get()).run();
  // Rank 0 writes the checkpoint after the others have left run(): without the barrier rank 1
  // could resume from an older file at that path (the trainer now stops on that, see below).
  comm->barrier();
  TrainConfig second = tiny(8, 8);
  second.resume = ck;
  second.metrics = resumed_metrics;
  Trainer(second, comm.get()).run();
  TrainConfig straight = tiny(8, 8);
  straight.metrics = straight_metrics;
  Trainer(straight, comm.get()).run();
  comm->barrier();  // rank 0 has written both files
  if (comm->rank() == 0) {
    auto a = slimfit::h5::File::open(resumed_metrics),
         b = slimfit::h5::File::open(straight_metrics);
    a.set_kind("metrics file"), b.set_kind("metrics file");
    for (const char* column :
         {"/steps/loss", "/steps/lr", "/steps/trainable_mask", "/steps/comm_bytes",
          "/steps/peak_bytes", "/steps/control_bytes", "/steps/grad_diversity",
          "/steps/offload_bytes", "/steps/resident_bytes"}) {
      const at::Tensor x = a.read_tensor(column), y = b.read_tensor(column);
      ASSERT_EQ(x.sizes(), y.sizes()) << column;
      // On a mismatch: the steps that differ and by how much (the printed tensors round).
      EXPECT_TRUE(at::equal(x, y)) << column << ": steps that differ "
                                   << at::nonzero(x.ne(y)).flatten() << "\nresumed - straight:\n"
                                   << (x.to(at::kDouble) - y.to(at::kDouble)) << "\nresumed:\n"
                                   << x << "\nstraight:\n"
                                   << y;
    }
    // A column that varies on 2 ranks, so the check above can see a lost history.
    const at::Tensor control = b.read_tensor("/steps/control_bytes");
    EXPECT_GT(control.min().item<int64_t>(), 0);
  }
  comm->barrier();
}

// Ranks that resume from different checkpoint contents (here: one run stopped at two steps, as
// when a rank reads an older file at the same path) all stop with the same error before a
// step, instead of training different weights.
TEST(DataParallel, RanksThatResumeFromDifferentCheckpointsAllStop) {
  auto comm = slimfit::comm::make_communicator("mpi");
  const auto dir = std::filesystem::temp_directory_path();
  const std::string ck[2] = {(dir / "slimfit_dp_alike_0.h5").string(),
                             (dir / "slimfit_dp_alike_1.h5").string()};
  for (int k = 0; k < 2; ++k) {
    TrainConfig run = tiny(8, 8);
    run.checkpoint = ck[k];
    run.stop_after = 2 + k;
    Trainer(run, comm.get()).run();
  }
  comm->barrier();  // rank 0 has written both files
  TrainConfig same = tiny(8, 8);
  same.resume = ck[0];
  EXPECT_EQ(Trainer(same, comm.get()).next_step(), 2);  // one file for all: no error
  TrainConfig differ = tiny(8, 8);
  differ.resume = ck[comm->rank() == 0 ? 0 : 1];
  try {
    Trainer t(differ, comm.get());
    ADD_FAILURE() << "rank " << comm->rank() << " resumed without an error";
  } catch (const slimfit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("the ranks read different contents"), std::string::npos)
        << e.what();
  }
  comm->barrier();
  if (comm->rank() == 0) std::filesystem::remove(ck[0]), std::filesystem::remove(ck[1]);
}

// Fault injection: rank 1 receives a flipped mask bit.
class Corrupting : public slimfit::coord::Coordinator {
 public:
  using Coordinator::Coordinator;

 protected:
  void on_received(int64_t& step, std::vector<uint8_t>& mask) override {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 1) mask[0] ^= 1;
  }
};

TEST(Coordinator, MaskDisagreementStopsEveryRankWithTheSameError) {
  auto comm = slimfit::comm::make_communicator("mpi");
  slimfit::sched::IlsScheduler scheduler(10, {0.5, 0, 0.0, 1, {}});
  Corrupting coordinator(*comm, scheduler);
  std::string message;
  try {
    coordinator.decide(0);
  } catch (const slimfit::Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("the ranks disagree on the freeze mask of step 0"), std::string::npos)
      << "rank " << comm->rank() << ": '" << message << "'";
}

}  // namespace
