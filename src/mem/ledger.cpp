#include "mem/ledger.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/version.h>

#include <malloc.h>
#include <sys/mman.h>

#include <cerrno>

#include <atomic>
#include <limits>
#include <string>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "common/error.h"

namespace slimfit::mem {
namespace {

constexpr int kCategories = static_cast<int>(Category::kCount);

struct Entry {
  size_t bytes;
  Category category;
};

// All state behind one mutex: allocations are counted exactly, never sampled.
struct Ledger {
  std::mutex mutex;
  std::unordered_map<void*, Entry> live_allocations;
  Snapshot state;
  std::atomic<int> default_category{static_cast<int>(Category::kOther)};
};

Ledger& ledger() {
  static Ledger* instance = new Ledger();  // never destroyed: frees may come at exit
  return *instance;
}

thread_local int t_category = -1;  // -1: use the ledger's default

Category current_category() {
  int c = t_category;
  if (c < 0) c = ledger().default_category.load(std::memory_order_relaxed);
  return static_cast<Category>(c);
}

void record_alloc(void* ptr, size_t bytes) {
  Ledger& l = ledger();
  Category category = current_category();
  std::lock_guard<std::mutex> lock(l.mutex);
  l.live_allocations[ptr] = Entry{bytes, category};
  Snapshot& s = l.state;
  s.current += static_cast<int64_t>(bytes);
  s.live[static_cast<int>(category)] += static_cast<int64_t>(bytes);
  ++s.allocations;
  if (s.current > s.peak) {
    s.peak = s.current;
    s.at_peak = s.live;
    s.gradients_at_peak = s.gradients;
  }
}

// The size of the allocation at ptr (0 if the ledger never saw it), now forgotten.
size_t record_free(void* ptr) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  auto it = l.live_allocations.find(ptr);
  if (it == l.live_allocations.end()) return 0;
  const size_t bytes = it->second.bytes;
  l.state.current -= static_cast<int64_t>(bytes);
  l.state.live[static_cast<int>(it->second.category)] -= static_cast<int64_t>(bytes);
  l.live_allocations.erase(it);
  return bytes;
}

// Note [large blocks]. Blocks of at least kLargeBlock bytes (activations, weight and gradient
// tensors) are mapped from the kernel directly and unmapped when freed, backed by transparent
// huge pages where the kernel allows (madvise mode). So the process's resident memory follows
// the ledger's live bytes instead of keeping every freed activation in the heap: with glibc's
// heap, SlimFit's odd-sized compressed buffers between freed activations held about 700 MiB
// beyond the ledger's peak for bert-base at batch 8 (issue 14). Huge pages keep the cost of
// mapping afresh each step (one fault per 2 MiB, not per 4 KiB) small; smaller blocks stay
// with malloc. SLIMFIT_LARGE_BLOCKS=heap sends every block to malloc as before, to measure the
// trade (step time against resident memory: benchmarks/memory_rss.py); it is read once, when
// the allocator is installed, before any block is allocated.
constexpr size_t kLargeBlock = size_t(1) << 20;
size_t g_map_from_bytes = kLargeBlock;  // blocks this large or larger are mapped

void* allocate_block(size_t bytes) {
  if (bytes < g_map_from_bytes) return c10::alloc_cpu(bytes);
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  SLIMFIT_CHECK(data != MAP_FAILED, "out of memory: could not map ", bytes, " bytes (",
                std::strerror(errno), ")");
  madvise(data, bytes, MADV_HUGEPAGE);  // advice only: without huge pages it still works
  return data;
}

void counting_delete(void* ptr) {
  const size_t bytes = record_free(ptr);
  if (bytes >= g_map_from_bytes) {
    // A deleter cannot throw; a failed unmap (a bad pointer or size) is a bug, so say so.
    if (munmap(ptr, bytes) != 0) {
      std::fprintf(stderr, "slimfit: munmap of %zu bytes at %p failed: %s\n", bytes, ptr,
                   std::strerror(errno));
    }
  } else {
    c10::free_cpu(ptr);
  }
}

// libtorch's CPU allocator contract: the DataPtr's context must equal its data pointer
// (raw_allocate asserts it), so the size lives in the ledger's map, not in the context.
class CountingCpuAllocator final : public c10::Allocator {
 public:
#if TORCH_VERSION_MAJOR >= 2
  c10::DataPtr allocate(size_t nbytes) override{
#else
  c10::DataPtr allocate(size_t nbytes) const override {
#endif
      void* data = nbytes ? allocate_block(nbytes) : nullptr;
  if (data) record_alloc(data, nbytes);
  return {data, data, &counting_delete, c10::Device(c10::DeviceType::CPU)};
} c10::DeleterFnPtr raw_deleter() const override {
  return &counting_delete;
}
// Pure virtual from libtorch 2.3 on; harmless before.
void copy_data(void* dest, const void* src, std::size_t count) const {
  std::memcpy(dest, src, count);
}
};  // namespace

std::atomic<bool> g_installed{false};

}  // namespace slimfit::mem

const char* category_name(Category c) {
  static const char* kNames[kCategories] = {"other",       "weights",  "optimizer", "inputs",
                                            "activations", "backward", "step",     "dynamics"};
  return kNames[static_cast<int>(c)];
}

void install_counting_cpu_allocator() {
  if (g_installed.exchange(true)) return;
  const char* blocks = std::getenv("SLIMFIT_LARGE_BLOCKS");
  const std::string mode = blocks ? blocks : "map";
  SLIMFIT_CHECK(mode == "map" || mode == "heap", "SLIMFIT_LARGE_BLOCKS=", mode,
                " must be map (the default) or heap");
  if (mode == "heap") g_map_from_bytes = std::numeric_limits<size_t>::max();
  static CountingCpuAllocator allocator;
  c10::SetCPUAllocator(&allocator, /*priority=*/100);
  // Below kLargeBlock (note [large blocks]), training frees and re-allocates the same small
  // buffers every step: keep them in malloc's heap rather than have glibc map, unmap and trim
  // them. The ledger counts live bytes, so its figures do not change.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  SLIMFIT_CHECK(c10::GetCPUAllocator() == &allocator,
                "could not install the counting CPU allocator: another allocator with a higher "
                "priority is registered");
}

bool counting_cpu_allocator_installed() { return g_installed.load(); }

Snapshot snapshot() {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  return l.state;
}

void reset_peak() {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  l.state.peak = l.state.current;
  l.state.at_peak = l.state.live;
  l.state.gradients_at_peak = l.state.gradients;
}

void note_gradient_bytes(int64_t delta) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  l.state.gradients += delta;
  if (l.state.current == l.state.peak) l.state.gradients_at_peak = l.state.gradients;
}

LedgerScope::LedgerScope(Category category)
    : previous_(static_cast<Category>(t_category < 0 ? -1 : t_category)),
      previous_default_(static_cast<Category>(ledger().default_category.load())) {
  t_category = static_cast<int>(category);
  ledger().default_category.store(static_cast<int>(category));
}

LedgerScope::~LedgerScope() {
  t_category = static_cast<int>(previous_);
  ledger().default_category.store(static_cast<int>(previous_default_));
}

}  // namespace slimfit::mem
