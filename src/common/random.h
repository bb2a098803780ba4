// The project's one splitmix64 and its one Fisher-Yates shuffle.
//
// Two random streams use them and must stay distinct, because the committed accuracy figures
// and bit-exact resume depend on their exact output:
//   - fold and held-out assignment (data::split_indices, data::kfold_indices): a shuffle drawn
//     from data::Rng(seed, n, 0x5EED), so a split is a pure function of (seed, n);
//   - the epoch order (Trainer::sample_indices): a shuffle drawn from splitmix64 seeded with
//     seed * 1000003 + epoch, so each epoch is a pure function of (seed, epoch).
// The scheduler's exploration draws from splitmix64 as well, from its own saved state.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace slimfit {

// splitmix64's output function for the state value x (Steele, Lea and Flood, 2014).
inline uint64_t splitmix64_mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// splitmix64 as a generator whose whole state is one integer: advances it, returns the next.
inline uint64_t splitmix64(uint64_t& state) {
  const uint64_t out = splitmix64_mix(state);
  state += 0x9E3779B97F4A7C15ull;
  return out;
}

// 0, 1, ..., n - 1 in the order of a Fisher-Yates shuffle whose swap partner for position i
// (from n - 1 down to 1) is below(i + 1), a value in [0, i].
template <typename Below>
std::vector<int64_t> shuffled_range(int64_t n, Below&& below) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(below(i + 1))]);
  return p;
}

}  // namespace slimfit
