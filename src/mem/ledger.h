// The memory ruler. Note [memory ledger]:
//
// Every byte a training step holds is attributed to exactly one category, at the moment it is
// allocated, by the category in scope on that thread (a LedgerScope). The ledger keeps the live
// bytes of each category and, whenever total live bytes reach a new peak, a copy of the
// per-category figures. So the breakdown at the peak always sums to the peak exactly; the
// figures name *what* was alive when memory was highest.
//
// On CPU the numbers come from a counting allocator installed in place of libtorch's CPU
// allocator (exact bytes, no rounding). On CUDA they come from the caching allocator's
// statistics (allocated bytes, not reserved), which give current and peak but no categories.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace slimfit::mem {

enum class Category : int {
  kOther = 0,
  kWeights,    // parameters (and buffers)
  kOptimizer,  // optimizer state that persists across steps
  kInputs,     // the mini-batch
  kForward,    // allocated during forward: what is still alive after it is saved activations
  kBackward,   // allocated during backward: gradients and workspace
  kStep,       // transient allocations of the optimizer step
  kDynamics,   // the trained units' weight snapshots, for their scores (sched/dynamics.h)
  kCount
};
const char* category_name(Category c);

struct Snapshot {
  int64_t current = 0;
  int64_t peak = 0;
  std::array<int64_t, static_cast<int>(Category::kCount)> live{};     // now
  std::array<int64_t, static_cast<int>(Category::kCount)> at_peak{};  // at the peak
  int64_t gradients = 0;          // parameter-gradient bytes known to exist now
  int64_t gradients_at_peak = 0;  // ... and at the peak
  int64_t allocations = 0;        // number of allocations so far
};

// Installs the counting allocator as libtorch's CPU allocator (idempotent, process-wide).
// Allocations made before installation are not counted; install before building the model.
void install_counting_cpu_allocator();
bool counting_cpu_allocator_installed();

Snapshot snapshot();
// Forgets the peak: the next peak is measured from the current live bytes.
void reset_peak();

// Parameter-gradient bytes known to exist now (maintained by the caller through
// note_gradient_bytes, e.g. from gradient hooks), recorded with every peak.
void note_gradient_bytes(int64_t delta);

// Attributes this thread's allocations to `category` while alive. Autograd's backward runs
// on worker threads too: the ledger therefore also keeps a process-wide default category
// (set_default_category) used by threads that have no scope of their own.
class LedgerScope {
 public:
  explicit LedgerScope(Category category);
  ~LedgerScope();
  LedgerScope(const LedgerScope&) = delete;
  LedgerScope& operator=(const LedgerScope&) = delete;

 private:
  Category previous_;
  Category previous_default_;
};

}  // namespace slimfit::mem
