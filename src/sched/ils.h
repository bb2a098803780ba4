// Inter-layer scheduling (ILS): which units train in the coming step. Pure policy: inputs are
// per-unit scores, the output is a mask. No MPI, no tensors, so the coordinator (rank 0) can run
// it on combined statistics and every test can drive it directly.
//
// Note [ILS policy]. With t units and freezing ratio r, exactly m = t - floor(r t) units train
// per step, chosen in this order:
//   1. units that always train (e.g. the classifier), from config;
//   2. starving units: not trained for `staleness_bound` steps, most stale first;
//   3. the highest scores (scores are the mean relative weight change of the unit's last step;
//      ties broken by the lower index);
//   4. with probability `exploration` per remaining slot, a random frozen unit instead.
// With a byte budget (note [memory budget] in sched/budget.h) the same order applies, but
// instead of stopping at m units each candidate is taken if its cost still fits the budget, and
// skipped otherwise; the always-train units are paid first. Exploration is count-only.
// Every unit starts with a huge random score, so all units train once, in random order, before
// real scores take over (as the reference does). Unlike the reference:
//   - a step at lr = 0 leaves the scores of the units it trained untouched (the reference gives
//     them 0, starving them forever);
//   - a non-finite score (a zero weight gives inf or NaN) is replaced by kHugeScore, so the unit
//     is soon trained again rather than poisoning the sort;
//   - the staleness bound makes starvation impossible whatever the scores.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sched/budget.h"

namespace slimfit::sched {

struct IlsOptions {
  double freeze_ratio = 0.0;
  // A unit not trained for this many steps gets a turn. 0: 4 x ceil(t / m), at least 8.
  int64_t staleness_bound = 0;
  double exploration = 0.0;  // in [0, 1)
  uint64_t seed = 0;
  std::vector<int64_t> always_train;  // unit indices
  // budget > 0: spend this many bytes per step (costs per unit) instead of training m units.
  double budget = 0.0;
  UnitCosts costs = {};
};

// Everything needed to continue a schedule exactly (saved in every checkpoint).
struct IlsState {
  int64_t step = 0;
  std::vector<double> scores;
  std::vector<int64_t> last_trained;  // step a unit last trained at, -1 if never
  uint64_t rng_state = 0;
};

class IlsScheduler {
 public:
  static constexpr double kHugeScore = 1e30;

  IlsScheduler(int64_t num_units, IlsOptions options);

  // The mask for the current step: mask[i] == 1 when unit i trains. Deterministic given the
  // state; does not advance it (call update() after the step).
  std::vector<uint8_t> next_mask() const;
  // Records the finished step: `scores[i]` is the new score of each unit that trained
  // (ignored for frozen ones). lr is the learning rate the step used.
  void update(const std::vector<uint8_t>& mask, const std::vector<double>& scores, double lr);

  int64_t num_units() const { return static_cast<int64_t>(state_.scores.size()); }
  int64_t num_trainable() const { return num_trainable_; }
  int64_t staleness_bound() const { return staleness_bound_; }
  double budget() const { return options_.budget; }  // bytes per step (0: a count of units)
  const IlsState& state() const { return state_; }
  // Restores a saved state; throws slimfit::Error if it does not fit these units.
  void restore(const IlsState& state);

 private:
  IlsOptions options_;
  int64_t num_trainable_ = 0;
  int64_t staleness_bound_ = 0;
  IlsState state_;
};

double uniform01(uint64_t& state);

}  // namespace slimfit::sched
