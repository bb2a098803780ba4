// What training a unit costs in memory, for the byte-budget scheduler (budget=bytes).
//
// Note [memory budget]. Freezing saves three things per unit: its weight gradient, the
// snapshot the dynamics tracker takes to score it (the same size), and the input activation
// that only its weight gradient needs. Units differ widely in these:
//   - Q, K and V read one input, so training all three keeps the same activation as one;
//   - a word-embedding table keeps only the token ids (inputs, alive anyway), but its dense
//     gradient is the largest of the model (30522 x H);
//   - a trainable LayerNorm keeps its fp32 input where a frozen one keeps 0.5 B/elem (SlimFit
//     ops; stock autograd keeps the input either way);
//   - the FFN down-projection keeps its 4x wider input as int8 (SlimFit ops) or fp32 (stock).
// The reference trains m = t - floor(r t) units per step whatever they cost. With a byte budget
// the scheduler instead takes units in the same order while their cost fits:
//   budget=mean: the expected cost of m units (the always-train ones and a random rest), so a
//     step costs on average what the count rule's steps cost, but cheap units let more train;
//   budget=worst: the cost of the most expensive m units (found greedily, always-train units
//     included), a set the count rule could pick: no step exceeds the count rule's worst step.
// Either budget is raised, if needed, to fit any one unit next to the always-train units.
// Costs follow src/ops/FORMATS.md ("Saved bytes per element") for one micro-batch of the global
// batch (batch / grad_accum examples), independent of the number of ranks, so N ranks spend the
// same budget on the same costs as one process (their scores need not agree: note
// [coordinator rule] in coord/coordinator.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/config.h"
#include "sched/units.h"

namespace slimfit::sched {

struct UnitCosts {
  std::vector<double> unit;        // bytes unit i adds when it trains, besides its group's input
  std::vector<int64_t> group;      // index into group_cost for units sharing a saved input, or -1
  std::vector<double> group_cost;  // bytes of each shared input, paid once if any member trains
};

// Costs of `units` (in units_of() order) for `examples` examples of `tokens` tokens each.
// `compress`: SlimFit ops (true) or stock autograd (false).
UnitCosts unit_costs(const std::vector<Unit>& units, const models::ModelConfig& config,
                     int64_t examples, int64_t tokens, bool compress);

// The bytes unit `unit` adds to the set `mask` (its group's input only if no member trains).
double added_cost(const UnitCosts& costs, const std::vector<uint8_t>& mask, size_t unit);
// The bytes a set of units costs (mask[i] == 1: unit i trains).
double mask_cost(const UnitCosts& costs, const std::vector<uint8_t>& mask);

// The tokens per example the costs assume: a ViT's patches plus [CLS], or `text_tokens`.
int64_t tokens_per_example(const models::ModelConfig& config, int64_t text_tokens);

// The budget named `kind` ("mean" or "worst", below) for `count` units.
double budget_bytes(const std::string& kind, const UnitCosts& costs, int64_t count,
                    const std::vector<int64_t>& always_train);

// Budget "worst": the cost of `count` units chosen greedily by largest added cost, starting
// from the always-train units (a set the count rule could pick).
double worst_case_cost(const UnitCosts& costs, int64_t count,
                       const std::vector<int64_t>& always_train);
// Budget "mean": the expected cost of the always-train units plus count - |always| others drawn
// uniformly at random (a shared input is paid when any member of its group is drawn), raised
// where needed so that any one unit fits next to the always-train units.
double mean_cost(const UnitCosts& costs, int64_t count, const std::vector<int64_t>& always_train);

}  // namespace slimfit::sched
