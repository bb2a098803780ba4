// Data-parallel training on 2 ranks against 1 rank (issue 5's tests). Every rank also runs the
// single-process reference itself, so the comparison needs no second job.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
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

// With the unit count and with the byte budget (note [memory budget]: its costs are those of
// the global micro-batch, so N ranks choose what one process would).
class RanksTest : public ::testing::TestWithParam<const char*> {};

TEST_P(RanksTest, TwoRanksMatchOneRankWithTheGlobalBatch) {
  auto comm = slimfit::comm::make_communicator("mpi");
  const int n = comm->size();
  ASSERT_EQ(tiny(12, 4).frozen_update, "coast");  // frozen units coast on every rank alike
  TrainConfig c = tiny(12, 4 * n);
  c.budget = GetParam();
  Trainer parallel(c, comm.get());  // per-rank batch 4
  parallel.run();
  slimfit::comm::SelfCommunicator self;
  Trainer single(c, &self);  // one rank, batch 4n
  single.run();
  // Weights identical on all ranks: the spread of a checksum over ranks is zero.
  double checksum = 0.0;
  for (const auto& item : parallel.model().named_parameters()) {
    checksum += item.value().detach().to(at::kDouble).sum().item<double>();
  }
  EXPECT_EQ(max_over_ranks(*comm, checksum), -max_over_ranks(*comm, -checksum));
  // Same masks at every step on every rank, and the same as the single process's.
  for (size_t s = 0; s < parallel.records().size(); ++s) {
    const auto& mask = parallel.records()[s].mask;
    const double h = double(slimfit::coord::mask_hash(int64_t(s), mask) % 1000003);
    EXPECT_EQ(max_over_ranks(*comm, h), -max_over_ranks(*comm, -h)) << "step " << s;
    EXPECT_EQ(mask, single.records()[s].mask) << "step " << s;
    EXPECT_NEAR(parallel.records()[s].loss, single.records()[s].loss,
                1e-5 * std::abs(single.records()[s].loss))
        << "step " << s;
  }
  std::string where;
  const double local = max_relative_difference(parallel, single, &where);
  const double diff = max_over_ranks(*comm, local);
  EXPECT_LE(diff, 1e-4) << "N ranks vs 1 rank, max relative weight difference (rank "
                        << comm->rank() << ": " << local << " at " << where << ")";
}

INSTANTIATE_TEST_SUITE_P(Budget, RanksTest, ::testing::Values("units", "mean", "worst"));

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
  {
    Trainer t(first, comm.get());
    t.run();
  }
  comm->barrier();  // rank 0 has written the checkpoint
  slimfit::comm::SelfCommunicator self;
  TrainConfig resume = tiny(16, 8);
  resume.resume = ck;
  Trainer resumed(resume, &self);  // 1 rank continues what N ranks started
  EXPECT_EQ(resumed.next_step(), 8);
  resumed.run();
  Trainer straight(tiny(16, 8), &self);
  straight.run();
  EXPECT_LE(max_relative_difference(resumed, straight), 1e-4);
  for (int64_t s = 0; s < 8; ++s)
    EXPECT_EQ(resumed.records()[s].mask, straight.records()[8 + s].mask);
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
