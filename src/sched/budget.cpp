#include "sched/budget.h"

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <map>
#include <string>

#include "common/error.h"

namespace slimfit::sched {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The group cost a unit would add to `mask` (0 if a member of its group already trains).
double group_share(const UnitCosts& c, const std::vector<uint8_t>& mask, size_t u) {
  const int64_t g = c.group[u];
  if (g < 0) return 0.0;
  for (size_t v = 0; v < mask.size(); ++v) {
    if (mask[v] && c.group[v] == g) return 0.0;
  }
  return c.group_cost[size_t(g)];
}

}  // namespace

UnitCosts unit_costs(const std::vector<Unit>& units, const models::ModelConfig& config,
                     int64_t examples, int64_t tokens, bool compress) {
  SLIMFIT_CHECK(examples > 0 && tokens > 0, "unit costs need a batch shape, got ", examples,
                " examples of ", tokens, " tokens");
  constexpr double kF = 4.0;  // fp32 activations
  const double rows = double(examples) * double(tokens), H = double(config.hidden_size);
  UnitCosts c;
  std::map<std::string, int64_t> groups;  // group name -> index
  auto group_of = [&](const std::string& key, double bytes) {
    auto [it, added] = groups.emplace(key, int64_t(c.group_cost.size()));
    if (added) c.group_cost.push_back(bytes);
    return it->second;
  };
  for (const Unit& unit : units) {
    const std::string& name = unit.name;
    const at::Tensor& p = unit.param;
    // Its gradient, and the snapshot the training-dynamics tracker takes to score it.
    double cost = 2.0 * double(p.numel()) * double(p.element_size());
    int64_t group = -1;
    if (contains(name, "embeddings") && (p.dim() == 1 || p.dim() == 2) &&
        !contains(name, "patch")) {
      // BERT: nothing before the embeddings' LayerNorm trains unless one of these units does, so
      // with SlimFit ops that LayerNorm keeps nothing until one trains; then it keeps its frozen
      // footprint (x-hat, 0.5 B/elem, and 8 B/row), shared by the group.
      group = group_of("embeddings", compress ? rows * (0.5 * H + 8.0) : 0.0);
    }
    if (p.dim() == 1) {  // LayerNorm weight: fp32 input (4 B) instead of x-hat (0.5 B) per element
      if (compress) cost += rows * H * (kF - 0.5);
    } else if (contains(name, "embeddings")) {
      // Embedding tables, the ViT class token and position embeddings keep no activation of
      // their own; the patch projection's input is the image batch, alive anyway. BERT position
      // ids (1, L) int64 are made in forward and kept by the table's backward.
      if (contains(name, "position_embeddings") && p.dim() == 2) cost += double(tokens) * 8.0;
    } else if (name.rfind("classifier", 0) == 0 || contains(name, "pooler")) {
      cost += double(examples) * double(p.size(1)) * kF;  // one pooled row per example
    } else if (ends_with(name, "query.weight") || ends_with(name, "key.weight") ||
               ends_with(name, "value.weight")) {
      const std::string block = name.substr(0, name.rfind('.', name.size() - 8));
      group = group_of(block, rows * double(p.size(1)) * kF);  // the shared input
    } else {  // a Linear keeps its input; the FFN down-projection's as int8_row when compressed
      const double in = double(p.size(1));
      const bool ffn_down = p.size(1) == config.intermediate_size;
      cost += rows * (compress && ffn_down ? in + 4.0 : in * kF);
    }
    c.unit.push_back(cost);
    c.group.push_back(group);
  }
  return c;
}

int64_t tokens_per_example(const models::ModelConfig& config, int64_t text_tokens) {
  if (config.arch != models::Arch::kVit) return text_tokens;
  const int64_t side = config.image_size / config.patch_size;
  return side * side + 1;
}

double budget_bytes(const std::string& kind, const UnitCosts& costs, int64_t count,
                    const std::vector<int64_t>& always_train) {
  if (kind == "mean") return mean_cost(costs, count, always_train);
  SLIMFIT_CHECK(kind == "worst", "a byte budget is mean or worst, got '", kind, "'");
  return worst_case_cost(costs, count, always_train);
}

double mask_cost(const UnitCosts& costs, const std::vector<uint8_t>& mask) {
  SLIMFIT_ASSERT(mask.size() == costs.unit.size());
  double total = 0.0;
  std::vector<uint8_t> paid(costs.group_cost.size(), 0);
  for (size_t u = 0; u < mask.size(); ++u) {
    if (!mask[u]) continue;
    total += costs.unit[u];
    const int64_t g = costs.group[u];
    if (g >= 0 && !paid[size_t(g)]) total += costs.group_cost[size_t(g)], paid[size_t(g)] = 1;
  }
  return total;
}

double worst_case_cost(const UnitCosts& costs, int64_t count,
                       const std::vector<int64_t>& always_train) {
  const size_t t = costs.unit.size();
  std::vector<uint8_t> mask(t, 0);
  int64_t taken = 0;
  for (int64_t u : always_train) {
    if (!mask[size_t(u)]) mask[size_t(u)] = 1, ++taken;
  }
  for (; taken < count && taken < int64_t(t); ++taken) {
    size_t best = t;
    double best_cost = -1.0;
    for (size_t u = 0; u < t; ++u) {
      if (mask[u]) continue;
      const double added = costs.unit[u] + group_share(costs, mask, u);
      if (added > best_cost) best = u, best_cost = added;
    }
    mask[best] = 1;
  }
  return mask_cost(costs, mask);  // covers any one unit: the largest was taken first
}

double mean_cost(const UnitCosts& costs, int64_t count, const std::vector<int64_t>& always_train) {
  const size_t t = costs.unit.size();
  std::vector<uint8_t> always(t, 0);
  for (int64_t u : always_train) always[size_t(u)] = 1;
  const double fixed = mask_cost(costs, always);
  std::vector<size_t> others;
  for (size_t u = 0; u < t; ++u) {
    if (!always[u]) others.push_back(u);
  }
  const double n = double(others.size());
  const double drawn = std::clamp(double(count) - double(t - others.size()), 0.0, n);
  // P(a group with k members among the others is missed) = C(n - k, drawn) / C(n, drawn).
  auto missed = [&](int64_t k) {
    double p = 1.0;
    for (int64_t i = 0; i < k; ++i) p *= std::max(0.0, (n - drawn - double(i)) / (n - double(i)));
    return p;
  };
  double expected = fixed, largest = 0.0;
  std::vector<int64_t> members(costs.group_cost.size(), 0);
  std::vector<uint8_t> paid(costs.group_cost.size(), 0);
  for (size_t u = 0; u < t; ++u) {
    if (costs.group[u] >= 0 && always[u]) paid[size_t(costs.group[u])] = 1;
  }
  for (size_t u : others) {
    expected += drawn / n * costs.unit[u];
    largest = std::max(largest, added_cost(costs, always, u));
    if (costs.group[u] >= 0) ++members[size_t(costs.group[u])];
  }
  for (size_t g = 0; g < members.size(); ++g) {
    if (!paid[g] && members[g] > 0) expected += (1.0 - missed(members[g])) * costs.group_cost[g];
  }
  return std::max(expected, fixed + largest);
}

double added_cost(const UnitCosts& costs, const std::vector<uint8_t>& mask, size_t unit) {
  return costs.unit[unit] + group_share(costs, mask, unit);
}

}  // namespace slimfit::sched
