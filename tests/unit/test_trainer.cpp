// The single-process trainer: freeze masks, gradients, resume, failures (issue 4's tests).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "ckpt/h5.h"
#include "common/error.h"
#include "train/config.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
using slimfit::train::TrainConfig;
using slimfit::train::Trainer;

std::string temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "slimfit_test_trainer";
  fs::create_directories(dir);
  return (dir / name).string();
}

TrainConfig tiny(int64_t steps) {
  TrainConfig c;
  c.model = "bert-tiny";
  c.data = "synthetic:2000";
  c.steps = steps;
  c.batch = 8;
  c.seq_len = 32;
  c.lr = 1e-3;
  c.warmup_steps = 2;
  c.freeze_ratio = 0.9;
  c.seed = 7;
  c.log_every = 1000;
  c.compress = std::getenv("SLIMFIT_TEST_NO_COMPRESS") == nullptr;
  c.max_eval = 64;
  return c;
}

std::map<std::string, at::Tensor> weights_of(Trainer& t) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : t.model().named_parameters())
    out[item.key()] = item.value().detach().clone();
  return out;
}

TEST(Trainer, OnlyTheScheduledUnitsTrainAndChange) {
  TrainConfig c = tiny(3);
  c.warmup_steps = 0;
  c.budget = "units";  // exactly m per step
  Trainer t(c);
  const int64_t units = int64_t(t.units().size());
  const int64_t m = units - int64_t(std::floor(0.9 * double(units)));
  auto before = weights_of(t);
  t.run();
  auto after = weights_of(t);
  // Run the same 3 steps one at a time to see each step's effect.
  ASSERT_EQ(t.records().size(), 3u);
  for (const auto& r : t.records()) {
    int64_t trained = 0;
    for (uint8_t x : r.mask) trained += x;
    EXPECT_EQ(trained, m);
  }
  for (size_t i = 0; i < t.units().size(); ++i) {
    const std::string& name = t.units()[i].name;
    bool ever = false;
    for (const auto& r : t.records()) ever = ever || r.mask[i];
    EXPECT_EQ(!at::equal(before[name], after[name]), ever) << name;
    EXPECT_FALSE(t.units()[i].param.grad().defined()) << name << ": gradient not released";
  }
}

TEST(Trainer, LossFallsAndEveryUnitTrains) {
  TrainConfig c = tiny(120);
  // bert-tiny from random weights with 3 of 22 units training per step. With coasting, frozen
  // units keep moving (about 10 steps' worth per trained step), so a lower rate learns than
  // with frozen_update=none (which needs 5e-3; 5e-3 with coasting overshoots to 55%). Measured
  // at 2e-3: last-20 / first-20 loss 0.035 (1 thread) and 0.016 (2 threads), 100% accuracy;
  // 1e-3 was marginal (0.14 and 0.53: the trajectory depends on the thread count).
  c.lr = 2e-3;
  c.metrics = temp_path("metrics.h5");
  c.budget = "units";  // exactly m per step
  Trainer t(c);
  const auto s = t.run();
  double first = 0, last = 0;
  for (int i = 0; i < 20; ++i) first += t.records()[i].loss, last += t.records()[100 + i].loss;
  EXPECT_LT(last, 0.5 * first) << "first-20 mean " << first / 20 << ", last-20 " << last / 20;
  EXPECT_GE(s.final_accuracy, 90.0);
  EXPECT_EQ(s.steps, 120);
  // The metrics file: exactly t - floor(r t) per row, every unit at least twice.
  auto f = slimfit::h5::File::open(c.metrics);
  const at::Tensor mask = f.read_tensor("/steps/trainable_mask");
  ASSERT_EQ(mask.size(0), 120);
  ASSERT_EQ(mask.size(1), int64_t(t.units().size()));
  EXPECT_EQ(f.read_strings("/units/names").size(), t.units().size());
  const at::Tensor per_step = mask.to(at::kLong).sum(1);
  const int64_t m = mask.size(1) - int64_t(std::floor(0.9 * double(mask.size(1))));
  EXPECT_TRUE(per_step.eq(m).all().item<bool>());
  EXPECT_GE(mask.to(at::kLong).sum(0).min().item<int64_t>(), 2);
}

// Resume with coasting on (the default), unbounded and with a window short enough that units
// stop coasting mid-run, so the idle counts in the checkpoint matter.
class ResumeTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(ResumeTest, ResumeIsBitIdenticalToAStraightRun) {
  // One pair of files per case: ctest runs the cases in parallel.
  const std::string window = std::to_string(GetParam());
  const std::string ck_a = temp_path("straight_w" + window + ".h5"),
                    ck_b = temp_path("split_w" + window + ".h5");
  TrainConfig a = tiny(30);
  ASSERT_EQ(a.frozen_update, "coast");
  a.coast_steps = GetParam();
  a.checkpoint = ck_a;
  Trainer straight(a);
  straight.run();

  TrainConfig b = tiny(30);
  b.coast_steps = GetParam();
  b.checkpoint = ck_b;
  b.stop_after = 15;
  {
    Trainer first_half(b);
    first_half.run();
    EXPECT_EQ(first_half.next_step(), 15);
  }
  b.stop_after = 0;
  b.resume = ck_b;
  Trainer second_half(b);
  second_half.run();
  auto wa = weights_of(straight), wb = weights_of(second_half);
  for (const auto& [name, w] : wa) EXPECT_TRUE(at::equal(w, wb[name])) << name;
  for (int64_t i = 0; i < 15; ++i) {
    EXPECT_EQ(second_half.records()[i].mask, straight.records()[15 + i].mask) << "step " << 15 + i;
  }
  EXPECT_EQ(second_half.scheduler().state().scores, straight.scheduler().state().scores);
}

INSTANTIATE_TEST_SUITE_P(CoastWindow, ResumeTest, ::testing::Values(int64_t{0}, int64_t{3}));

// In the trainer, a unit that trained at step 0 and is frozen at step 1 moves at step 1 with
// frozen_update=coast and stands still with none; a unit that never trained never moves.
TEST(Trainer, FrozenUnitsCoastOnlyAfterTheyTrained) {
  TrainConfig c = tiny(2);
  c.warmup_steps = 0;
  c.dropout = 0.0;
  auto after = [&](const std::string& frozen_update, int64_t steps) {
    TrainConfig x = c;
    x.frozen_update = frozen_update;
    x.steps = steps;
    Trainer t(x);
    t.run();
    return std::make_pair(weights_of(t), t.records());
  };
  const auto [one_step, records] = after("coast", 1);
  const auto [coast, coast_records] = after("coast", 2);
  const auto [none, none_records] = after("none", 2);
  const auto& m0 = coast_records[0].mask;
  const auto& m1 = coast_records[1].mask;
  ASSERT_EQ(m0, none_records[0].mask);
  ASSERT_EQ(m1, none_records[1].mask);
  TrainConfig probe = c;
  Trainer names(probe);
  int64_t coasted = 0;
  for (size_t i = 0; i < names.units().size(); ++i) {
    const std::string& name = names.units()[i].name;
    if (m0[i] && !m1[i]) {  // trained, then frozen
      EXPECT_TRUE(at::equal(none.at(name), one_step.at(name))) << name << " moved with none";
      EXPECT_FALSE(at::equal(coast.at(name), one_step.at(name))) << name << " did not coast";
      ++coasted;
    } else if (!m0[i] && !m1[i]) {  // never trained
      EXPECT_TRUE(at::equal(coast.at(name), one_step.at(name))) << name << " moved untrained";
    }
  }
  EXPECT_GT(coasted, 0);
}

TEST(Trainer, RefusesACheckpointFromAnotherConfig) {
  const std::string ck = temp_path("other.h5");
  TrainConfig a = tiny(2);
  a.checkpoint = ck;
  Trainer(a).run();
  TrainConfig b = tiny(2);
  b.freeze_ratio = 0.5;
  b.resume = ck;
  try {
    Trainer t(b);
    FAIL() << "resumed a checkpoint of another configuration";
  } catch (const slimfit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("freeze_ratio: checkpoint has '0.9"), std::string::npos)
        << e.what();
  }
}

class NanAtStep : public Trainer {
 public:
  NanAtStep(TrainConfig c, int64_t bad_step) : Trainer(std::move(c)), bad_step_(bad_step) {}

 protected:
  at::Tensor compute_loss(const slimfit::models::Batch& batch) override {
    at::Tensor loss = Trainer::compute_loss(batch);
    return next_step() == bad_step_ ? loss * std::nan("") : loss;
  }

 private:
  int64_t bad_step_;
};

TEST(Trainer, NanLossStopsAndLeavesTheLastCheckpointIntact) {
  const std::string ck = temp_path("nan.h5");
  fs::remove(ck);
  TrainConfig c = tiny(20);
  c.checkpoint = ck;
  c.checkpoint_every = 5;
  NanAtStep t(c, 7);
  try {
    t.run();
    FAIL() << "a NaN loss did not stop the run";
  } catch (const slimfit::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("non-finite loss"), std::string::npos) << what;
    EXPECT_NE(what.find("at step 7"), std::string::npos) << what;
    EXPECT_NE(what.find("step 5) is intact"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(ck + ".tmp"));
  auto f = slimfit::h5::File::open(ck);
  EXPECT_EQ(f.read_int("/data/next_step"), 5);
  // ... and it resumes.
  TrainConfig r = tiny(20);
  r.resume = ck;
  Trainer resumed(r);
  EXPECT_EQ(resumed.next_step(), 5);
}

TEST(Trainer, InitCopiesWeightsExceptTheSkippedHeadAndRefusesAnotherModel) {
  const std::string ck = temp_path("init.h5");
  TrainConfig a = tiny(3);
  a.checkpoint = ck;
  Trainer first(a);
  first.run();
  const auto trained = weights_of(first);

  TrainConfig b = tiny(3);
  b.seed = 99;  // another fresh initialisation, so copied and fresh tensors differ
  Trainer fresh_run(b);
  const auto fresh = weights_of(fresh_run);
  b.init = ck;
  Trainer from_init(b);
  size_t copied = 0, skipped = 0;
  for (const auto& [name, w] : weights_of(from_init)) {
    if (name.rfind("classifier", 0) == 0) {
      EXPECT_TRUE(at::equal(w, fresh.at(name))) << name;
      EXPECT_FALSE(at::equal(w, trained.at(name))) << name;
      ++skipped;
    } else {
      EXPECT_TRUE(at::equal(w, trained.at(name))) << name;
      ++copied;
    }
  }
  EXPECT_EQ(skipped, 2u);  // classifier.weight and .bias
  EXPECT_GT(copied, 10u);
  // The run starts at step 0 with a fresh optimizer: init is not resume.
  EXPECT_EQ(from_init.next_step(), 0);

  TrainConfig other = tiny(3);
  other.model = "vit-tiny";
  other.init = ck;
  try {
    Trainer t(other);
    FAIL() << "init loaded a checkpoint of another model";
  } catch (const slimfit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no /weights/vit."), std::string::npos) << e.what();
  }
  TrainConfig both = tiny(3);
  both.init = ck;
  both.resume = ck;
  EXPECT_THROW(slimfit::train::validate(both), slimfit::Error);
  TrainConfig missing = tiny(3);
  missing.init = temp_path("no-such-init.h5");
  EXPECT_THROW(Trainer{missing}, slimfit::Error);
}

TEST(Trainer, EvalDataAndClassesPickTheSets) {
  TrainConfig c = tiny(2);
  c.data = "synthetic:400";
  c.eval_data = "synthetic:96";
  c.num_labels = 0;
  Trainer whole(c);
  EXPECT_EQ(whole.train_size(), 400);
  EXPECT_EQ(whole.eval_size(), 96);
  c.classes = "1";  // one label of bert-tiny's two: roughly half of each set
  Trainer one(c);
  EXPECT_GT(one.train_size(), 100);
  EXPECT_LT(one.train_size(), 300);
  EXPECT_EQ(one.model().config().num_labels, 1);
  c.kfold = 3;
  EXPECT_THROW(slimfit::train::validate(c), slimfit::Error);
}

TEST(TrainConfig, RejectsBadKeysAndValues) {
  TrainConfig c;
  EXPECT_THROW(slimfit::train::set_key(c, "lrr", "1e-3", "test"), slimfit::Error);
  EXPECT_THROW(slimfit::train::set_key(c, "batch", "eight", "test"), slimfit::Error);
  EXPECT_THROW(slimfit::train::set_key(c, "compress", "maybe", "test"), slimfit::Error);
  EXPECT_EQ(TrainConfig().frozen_update, "coast");
  TrainConfig w = tiny(10);
  slimfit::train::validate(w);
  EXPECT_EQ(w.coast_window(), 0);  // unbounded
  w.offload_optimizer = true;
  EXPECT_EQ(w.coast_window(), 44);  // offload bounds it (note [optimizer offload])
  w.coast_steps = 10;
  EXPECT_EQ(w.coast_window(), 10);
  slimfit::train::set_key(w, "frozen_update", "stop", "test");
  EXPECT_THROW(slimfit::train::validate(w), slimfit::Error);
  w = tiny(10);
  w.score = "magnitude";
  EXPECT_THROW(slimfit::train::validate(w), slimfit::Error);
  w = tiny(10);
  w.coast_steps = -1;
  EXPECT_THROW(slimfit::train::validate(w), slimfit::Error);
  w = tiny(10);
  w.exploration = 0.1;  // a byte budget (the default) does not explore
  EXPECT_THROW(slimfit::train::validate(w), slimfit::Error);
  w.budget = "units";
  slimfit::train::validate(w);
  w.budget = "bytes";
  EXPECT_THROW(slimfit::train::validate(w), slimfit::Error);
  TrainConfig bad = tiny(10);
  bad.freeze_ratio = 1.0;
  EXPECT_THROW(slimfit::train::validate(bad), slimfit::Error);
  bad = tiny(10);
  bad.kfold = 5;
  bad.fold = 5;
  EXPECT_THROW(slimfit::train::validate(bad), slimfit::Error);
  bad = tiny(0);
  EXPECT_THROW(slimfit::train::validate(bad), slimfit::Error);
  bad = tiny(10);
  bad.model = "no-such-model";
  EXPECT_THROW(Trainer{bad}, slimfit::Error);
  bad = tiny(10);
  bad.data = "no-such-data.h5";
  EXPECT_THROW(Trainer{bad}, slimfit::Error);
  try {
    slimfit::train::set_key(c, "lrr", "1e-3", "cfg.txt:3");
  } catch (const slimfit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cfg.txt:3: unknown key 'lrr'"), std::string::npos);
  }
}

}  // namespace
