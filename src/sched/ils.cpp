#include "sched/ils.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"
#include "common/random.h"

namespace slimfit::sched {
namespace {

// Relative slack on the byte budget: sums of the same costs taken in another order round
// differently.
constexpr double kBudgetSlack = 1e-12;

}  // namespace

double uniform01(uint64_t& state) { return double(splitmix64(state) >> 11) * 0x1.0p-53; }

IlsScheduler::IlsScheduler(int64_t num_units, IlsOptions options) : options_(std::move(options)) {
  SLIMFIT_CHECK(num_units > 0, "the scheduler needs at least one unit");
  SLIMFIT_CHECK(options_.freeze_ratio >= 0.0 && options_.freeze_ratio < 1.0,
                "freeze_ratio must be in [0, 1), got ", options_.freeze_ratio);
  SLIMFIT_CHECK(options_.exploration >= 0.0 && options_.exploration < 1.0,
                "exploration must be in [0, 1), got ", options_.exploration);
  SLIMFIT_CHECK(options_.staleness_bound >= 0, "staleness bound must be >= 0 (0 = automatic), got ",
                options_.staleness_bound);
  num_trainable_ = num_units - static_cast<int64_t>(std::floor(options_.freeze_ratio * num_units));
  for (int64_t u : options_.always_train) {
    SLIMFIT_CHECK(u >= 0 && u < num_units, "always-train unit index ", u, " out of range [0, ",
                  num_units, ")");
  }
  SLIMFIT_CHECK(int64_t(options_.always_train.size()) <= num_trainable_,
                options_.always_train.size(), " units must always train but only ", num_trainable_,
                " of ", num_units, " may train per step at freeze_ratio ", options_.freeze_ratio,
                "; lower freeze_ratio or always_train fewer units");
  // Nothing frozen (r = 0): every unit trains, whatever a budget says.
  if (num_trainable_ == num_units) options_.budget = 0.0;
  if (options_.budget > 0.0) {
    SLIMFIT_CHECK(int64_t(options_.costs.unit.size()) == num_units &&
                      options_.costs.group.size() == options_.costs.unit.size(),
                  "byte budget: expected the costs of ", num_units, " units, got ",
                  options_.costs.unit.size());
    SLIMFIT_CHECK(options_.exploration == 0.0,
                  "exploration is not supported with a byte budget (budget=mean or worst); "
                  "set exploration=0 or budget=units");
    std::vector<uint8_t> always(size_t(num_units), 0);
    for (int64_t u : options_.always_train) always[size_t(u)] = 1;
    for (int64_t u = 0; u < num_units; ++u) {
      std::vector<uint8_t> with = always;
      with[size_t(u)] = 1;
      SLIMFIT_CHECK(mask_cost(options_.costs, with) <= options_.budget * (1.0 + kBudgetSlack),
                    "byte budget ", options_.budget, " cannot train unit ", u,
                    " next to the always-train units (cost ", mask_cost(options_.costs, with),
                    "); the budget must cover any one unit");
    }
  }
  const int64_t rounds = (num_units + num_trainable_ - 1) / num_trainable_;
  staleness_bound_ =
      options_.staleness_bound > 0 ? options_.staleness_bound : std::max<int64_t>(8, 4 * rounds);
  state_.rng_state = options_.seed ^ 0x5EEDull;
  state_.scores.resize(num_units);
  for (double& s : state_.scores) s = kHugeScore * (1.0 + uniform01(state_.rng_state));
  state_.last_trained.assign(num_units, -1);
}

std::vector<uint8_t> IlsScheduler::next_mask() const {
  const int64_t t = num_units();
  std::vector<uint8_t> mask(t, 0);
  int64_t taken = 0;
  const bool by_bytes = options_.budget > 0.0;
  double spent = 0.0;
  // Takes unit u if it fits: m units in all, or the byte budget. Returns false when full.
  auto take = [&](int64_t u) {
    if (!by_bytes) {
      if (taken == num_trainable_) return false;
      mask[u] = 1, ++taken;
      return true;
    }
    const double cost = added_cost(options_.costs, mask, size_t(u));
    if (spent + cost <= options_.budget * (1.0 + kBudgetSlack)) mask[u] = 1, ++taken, spent += cost;
    return true;  // a cheaper unit may still fit
  };
  for (int64_t u : options_.always_train) {
    if (mask[u]) continue;
    if (by_bytes) spent += added_cost(options_.costs, mask, size_t(u));
    mask[u] = 1, ++taken;
  }
  // Starving units, most stale first (never-trained units count from step -1).
  std::vector<int64_t> order(t);
  std::iota(order.begin(), order.end(), 0);
  auto age = [&](int64_t u) { return state_.step - state_.last_trained[u]; };
  std::vector<int64_t> stale;
  for (int64_t u : order) {
    if (!mask[u] && state_.last_trained[u] >= 0 && age(u) >= staleness_bound_) stale.push_back(u);
  }
  std::stable_sort(stale.begin(), stale.end(),
                   [&](int64_t a, int64_t b) { return age(a) > age(b); });
  for (int64_t u : stale) {
    if (!take(u)) break;
  }
  // Highest scores.
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return state_.scores[a] > state_.scores[b]; });
  std::vector<int64_t> chosen;
  for (int64_t u : order) {
    if (mask[u]) continue;
    if (!take(u)) break;
    if (mask[u]) chosen.push_back(u);
  }
  // Exploration: swap some score-chosen units for random frozen ones.
  if (options_.exploration > 0.0) {
    uint64_t rng = state_.rng_state;
    for (int64_t u : chosen) {
      if (uniform01(rng) >= options_.exploration) continue;
      std::vector<int64_t> frozen;
      for (int64_t v = 0; v < t; ++v) {
        if (!mask[v]) frozen.push_back(v);
      }
      if (frozen.empty()) break;
      const int64_t pick = frozen[splitmix64(rng) % frozen.size()];
      mask[u] = 0;
      mask[pick] = 1;
    }
  }
  return mask;
}

void IlsScheduler::update(const std::vector<uint8_t>& mask, const std::vector<double>& scores,
                          double lr) {
  const int64_t t = num_units();
  SLIMFIT_CHECK(int64_t(mask.size()) == t && int64_t(scores.size()) == t,
                "scheduler update: expected ", t, " mask entries and scores, got ", mask.size(),
                " and ", scores.size());
  for (int64_t u = 0; u < t; ++u) {
    if (!mask[u]) continue;
    if (lr == 0.0) continue;  // nothing moved: keep the old score and the unit's turn
    double s = scores[u];
    if (!std::isfinite(s)) s = kHugeScore;
    state_.scores[u] = s;
    state_.last_trained[u] = state_.step;
  }
  splitmix64(state_.rng_state);  // next_mask() draws from a copy: a fresh stream per step
  ++state_.step;
}

void IlsScheduler::restore(const IlsState& state) {
  SLIMFIT_CHECK(state.scores.size() == state_.scores.size() &&
                    state.last_trained.size() == state_.scores.size(),
                "scheduler state has ", state.scores.size(), " units but the model has ",
                state_.scores.size());
  state_ = state;
}

}  // namespace slimfit::sched
