#include "mem/ledger.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/version.h>

#include <malloc.h>
#include <sys/mman.h>

#include <cerrno>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

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

// The size of the allocation at ptr (0 if the ledger never saw it), now forgotten; `live` gets
// the bytes still alive after it.
size_t record_free(void* ptr, int64_t& live) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  live = l.state.current;
  auto it = l.live_allocations.find(ptr);
  if (it == l.live_allocations.end()) return 0;
  const size_t bytes = it->second.bytes;
  l.state.current -= static_cast<int64_t>(bytes);
  l.state.live[static_cast<int>(it->second.category)] -= static_cast<int64_t>(bytes);
  l.live_allocations.erase(it);
  live = l.state.current;
  return bytes;
}

// Note [large blocks]. Blocks of at least kLargeBlock bytes (activations, weight and gradient
// tensors) are mapped from the kernel directly and given back when freed, so the process's
// resident memory follows the ledger's live bytes instead of keeping every freed activation in
// the heap: with glibc's heap, SlimFit's odd-sized compressed buffers between freed activations
// held about 700 MiB beyond the ledger's peak for bert-base at batch 8 (issue 14). Smaller
// blocks stay with malloc.
//
// Mapping afresh costs time (the kernel zeroes every page; the mapping calls are system calls),
// so freed blocks stay mapped in a small cache and go to the next request of exactly their
// size, which a training step makes again and again (the same shapes in every layer and every
// step). The cache holds at most an eighth of the live bytes (at least kCacheFloor): what the
// process holds beyond the ledger stays in proportion to it, so the ratio the operating system
// sees between two runs stays close to the ledger's. Measured for bert-base at batch 8
// (benchmarks/memory_rss.py, against glibc's heap): unmapping every block at once cost 1.38x
// (baseline) and 1.20x (SlimFit) step time, with transparent huge pages requested (madvise);
// the cache and plain pages bring that close to the heap's (memory_rss.json), with huge pages
// slower still (their faults zero and compact 2 MiB at a time), so none are requested.
//
// SLIMFIT_LARGE_BLOCKS=heap sends every block to malloc as before, to measure the trade; it is
// read once, when the allocator is installed, before any block is allocated.
constexpr size_t kLargeBlock = size_t(1) << 20;
constexpr size_t kCacheFloor = size_t(64) << 20;
size_t g_map_from_bytes = kLargeBlock;  // blocks this large or larger are mapped

struct BlockCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // by exact size
  size_t bytes = 0;
};

BlockCache& block_cache() {
  static BlockCache* instance = new BlockCache();  // never destroyed: frees may come at exit
  return *instance;
}

void* take_cached_block(size_t bytes) {
  BlockCache& c = block_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.free_blocks.find(bytes);
  if (it == c.free_blocks.end() || it->second.empty()) return nullptr;
  void* data = it->second.back();
  it->second.pop_back();
  c.bytes -= bytes;
  return data;
}

bool keep_cached_block(void* data, size_t bytes, int64_t live) {
  BlockCache& c = block_cache();
  const size_t limit = std::max(kCacheFloor, static_cast<size_t>(std::max<int64_t>(live, 0)) / 8);
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.bytes + bytes > limit) return false;
  c.free_blocks[bytes].push_back(data);
  c.bytes += bytes;
  return true;
}

void* allocate_block(size_t bytes) {
  if (bytes < g_map_from_bytes) return c10::alloc_cpu(bytes);
  if (void* cached = take_cached_block(bytes)) return cached;
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  SLIMFIT_CHECK(data != MAP_FAILED, "out of memory: could not map ", bytes, " bytes (",
                std::strerror(errno), ")");
  return data;
}

void counting_delete(void* ptr) {
  int64_t live = 0;
  const size_t bytes = record_free(ptr, live);
  if (bytes >= g_map_from_bytes) {
    if (keep_cached_block(ptr, bytes, live)) return;
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
                                            "activations", "backward", "step",      "dynamics"};
  return kNames[static_cast<int>(c)];
}

void install_counting_cpu_allocator() {
  // The setting is checked before anything is marked installed, so a bad value leaves the
  // allocator uninstalled rather than reported as installed.
  const char* blocks = std::getenv("SLIMFIT_LARGE_BLOCKS");
  const std::string mode = blocks ? blocks : "map";
  SLIMFIT_CHECK(mode == "map" || mode == "heap", "SLIMFIT_LARGE_BLOCKS=", mode,
                " must be map (the default) or heap");
  if (g_installed.exchange(true)) return;
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
