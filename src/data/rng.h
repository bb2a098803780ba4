// Counter-based randomness for the synthetic data sets: every value is a pure function of
// (seed, example index, purpose), so an example is the same whichever rank, batch or order asks
// for it, and no generator state is carried between examples.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/random.h"

namespace slimfit::data {

// What a stream is for; one list, so that two uses never share a stream by accident.
enum Purpose : uint64_t {
  kLabel = 1,     // the class or the target
  kTokens = 2,    // filler tokens
  kMarkers = 3,   // marker count and positions
  kPixels = 4,    // image noise
  kMarkerA = 5,   // synthetic-pairs: segment A's marker
  kMarkersB = 6,  // synthetic-pairs: segment B's marker positions
};

// A tiny counter-based generator: stream (seed, i, purpose) -> independent 64-bit values.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t index, uint64_t purpose)
      : state_(splitmix64_mix(splitmix64_mix(splitmix64_mix(seed) ^ index) ^
                              (purpose * 0xD1B54A32D192ED03ULL))) {}
  uint64_t next() { return splitmix64_mix(state_++); }
  // Uniform in [0, n) (n > 0); the modulo bias is negligible for the small n used here.
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() {  // Box-Muller
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // k distinct values of [0, n) (0 <= k <= n), in random order: a partial Fisher-Yates shuffle.
  std::vector<int64_t> choose(int64_t n, int64_t k) {
    std::vector<int64_t> p(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
    for (int64_t i = 0; i < k; ++i) std::swap(p[size_t(i)], p[size_t(i + below(n - i))]);
    p.resize(static_cast<size_t>(k));
    return p;
  }

 private:
  uint64_t state_;
};

}  // namespace slimfit::data
