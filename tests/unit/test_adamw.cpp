// AdamW and what frozen units do (note [frozen update] in train/adamw.h): the coasting update
// against a hand-computed AdamW sequence, element for element, and against the optimizer's own
// step with an explicit zero gradient, bit for bit.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "train/adamw.h"

namespace {

using slimfit::train::AdamW;
using slimfit::train::AdamWOptions;

// One parameter tensor, and the AdamW that owns it.
struct One {
  at::Tensor param;
  AdamW optimizer;
  explicit One(AdamWOptions options, std::vector<float> init = {0.5f, -1.25f, 2.0f, 1e-3f, -0.75f})
      : param(at::tensor(init, at::kFloat).set_requires_grad(true)),
        optimizer({{"w", param}}, options) {}
  // One step with gradient `grad` (empty: none, as a frozen unit).
  void step(const std::vector<float>& grad, double lr) {
    if (!grad.empty()) param.mutable_grad() = at::tensor(grad, at::kFloat);
    optimizer.step(lr);
    optimizer.release_grads();
  }
  std::vector<float> values() const {
    const at::Tensor p = param.detach().contiguous();
    return {p.data_ptr<float>(), p.data_ptr<float>() + p.numel()};
  }
};

AdamWOptions coasting(int64_t window = 0) {
  AdamWOptions o;
  o.weight_decay = 0.1;  // large enough that the decay term shows
  o.coast = true;
  o.coast_window = window;
  return o;
}

// The AdamW recurrence written out in double for one element: decoupled decay first, then the
// moments, eps added to the bias-corrected sqrt(v), bias correction by the element's own count.
struct Reference {
  double p, m = 0, v = 0;
  int64_t t = 0;
  void step(double g, double lr, const AdamWOptions& o) {
    ++t;
    p *= 1.0 - lr * o.weight_decay;
    m = o.beta1 * m + (1.0 - o.beta1) * g;
    v = o.beta2 * v + (1.0 - o.beta2) * g * g;
    const double m_hat = m / (1.0 - std::pow(o.beta1, double(t)));
    const double v_hat = v / (1.0 - std::pow(o.beta2, double(t)));
    p -= lr * m_hat / (std::sqrt(v_hat) + o.eps);
  }
};

TEST(AdamW, CoastingFollowsTheHandComputedSequence) {
  const AdamWOptions o = coasting();
  One one(o);
  const std::vector<float> init = one.values();
  std::vector<Reference> ref;
  for (float x : init) ref.push_back(Reference{x});
  // Trained, coasting 3 steps, trained again, coasting 2 steps; lr changes every step.
  const std::vector<std::vector<float>> grads = {{0.3f, -0.2f, 0.05f, 1.0f, -0.6f}, {}, {}, {},
                                                 {-0.1f, 0.4f, 0.2f, -0.3f, 0.25f}, {}, {}};
  for (size_t s = 0; s < grads.size(); ++s) {
    const double lr = 1e-2 * (1.0 + 0.1 * double(s));
    one.step(grads[s], lr);
    for (size_t i = 0; i < ref.size(); ++i)
      ref[i].step(grads[s].empty() ? 0.0 : grads[s][i], lr, o);
    const std::vector<float> got = one.values();
    for (size_t i = 0; i < ref.size(); ++i) {
      EXPECT_NEAR(got[i], ref[i].p, 2e-6 * std::max(1.0, std::abs(ref[i].p)))
          << "step " << s << ", element " << i;
    }
    EXPECT_EQ(one.optimizer.slots()[0].step, int64_t(s + 1)) << "coasting steps count";
  }
  // The coasting steps moved the weights: they are not the trained steps' values.
  One still(AdamWOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, /*coast=*/false});
  still.step(grads[0], 1e-2);
  still.step({}, 1.1e-2);
  One moved(o);
  moved.step(grads[0], 1e-2);
  moved.step({}, 1.1e-2);
  EXPECT_EQ(still.optimizer.slots()[0].step, 1);
  for (size_t i = 0; i < init.size(); ++i) EXPECT_NE(still.values()[i], moved.values()[i]);
}

TEST(AdamW, CoastingIsBitIdenticalToAnExplicitZeroGradient) {
  One coast(coasting()), zero(coasting());
  const std::vector<float> g = {0.3f, -0.2f, 0.05f, 1.0f, -0.6f}, z(5, 0.0f);
  coast.step(g, 1e-2);
  zero.step(g, 1e-2);
  for (int s = 0; s < 5; ++s) {
    coast.step({}, 1e-2);
    zero.step(z, 1e-2);  // PyTorch before 2.0: zero_grad() left a zero gradient in place
    ASSERT_TRUE(at::equal(coast.param, zero.param)) << "step " << s;
    ASSERT_TRUE(at::equal(coast.optimizer.slots()[0].exp_avg, zero.optimizer.slots()[0].exp_avg));
    ASSERT_TRUE(
        at::equal(coast.optimizer.slots()[0].exp_avg_sq, zero.optimizer.slots()[0].exp_avg_sq));
  }
}

TEST(AdamW, NeverTrainedUnitsAndFrozenUpdateNoneStandStill) {
  One coast(coasting());
  const std::vector<float> init = coast.values();
  coast.step({}, 1e-2);  // never trained: nothing to coast on
  EXPECT_EQ(coast.values(), init);
  EXPECT_EQ(coast.optimizer.slots()[0].step, 0);

  AdamWOptions o = coasting();
  o.coast = false;
  One none(o);
  none.step({0.3f, -0.2f, 0.05f, 1.0f, -0.6f}, 1e-2);
  const std::vector<float> after_training = none.values();
  const at::Tensor m = none.optimizer.slots()[0].exp_avg.clone();
  none.step({}, 1e-2);
  EXPECT_EQ(none.values(), after_training);
  EXPECT_TRUE(at::equal(none.optimizer.slots()[0].exp_avg, m));
  EXPECT_EQ(none.optimizer.slots()[0].step, 1);
}

TEST(AdamW, CoastingWindowStopsAUnitWStepsAfterItTrained) {
  One one(coasting(/*window=*/2));
  one.step({0.3f, -0.2f, 0.05f, 1.0f, -0.6f}, 1e-2);
  std::vector<float> last = one.values();
  for (int s = 0; s < 2; ++s) {  // coasts for the window
    EXPECT_TRUE(one.optimizer.coasts(one.optimizer.slots()[0]));
    one.step({}, 1e-2);
    EXPECT_NE(one.values(), last) << "coasting step " << s;
    last = one.values();
  }
  EXPECT_FALSE(one.optimizer.coasts(one.optimizer.slots()[0]));
  one.step({}, 1e-2);  // then stands still
  EXPECT_EQ(one.values(), last);
  EXPECT_EQ(one.optimizer.slots()[0].step, 3);
  EXPECT_EQ(one.optimizer.slots()[0].idle, 3);
  one.step({0.1f, 0.1f, 0.1f, 0.1f, 0.1f}, 1e-2);  // training again opens a new window
  EXPECT_EQ(one.optimizer.slots()[0].idle, 0);
  EXPECT_TRUE(one.optimizer.coasts(one.optimizer.slots()[0]));
}

// With offload (note [optimizer offload]), the moments a GPU run keeps next to the weights are
// those of trainable and coasting parameters; a parameter past its coasting window is parked.
TEST(AdamW, OffloadKeepsTrainableAndCoastingMomentsResident) {
  One one(coasting(/*window=*/2));
  one.optimizer.init_state();
  const int64_t all = one.optimizer.state_bytes();
  EXPECT_EQ(one.optimizer.resident_state_bytes(), all);  // no offload: everything stays
  one.optimizer.set_offload(true);
  one.param.set_requires_grad(false);
  EXPECT_EQ(one.optimizer.resident_state_bytes(), 0);  // never trained: parked
  one.param.set_requires_grad(true);
  EXPECT_EQ(one.optimizer.resident_state_bytes(), all);  // trains this step
  one.step({0.3f, -0.2f, 0.05f, 1.0f, -0.6f}, 1e-2);
  one.param.set_requires_grad(false);
  for (int s = 0; s < 2; ++s) {
    EXPECT_EQ(one.optimizer.resident_state_bytes(), all) << "coasting step " << s;
    one.step({}, 1e-2);
  }
  EXPECT_EQ(one.optimizer.resident_state_bytes(), 0);  // past the window
  EXPECT_EQ(one.optimizer.place_state(), 0);           // CPU parameters never move
}

}  // namespace
