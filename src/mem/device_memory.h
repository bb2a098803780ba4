// Live and peak bytes of the device a step runs on: the counting CPU allocator (mem/ledger.h)
// on CPU, the CUDA caching allocator's statistics (allocated bytes, not reserved) on CUDA.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <string>

namespace slimfit::mem {

class DeviceMemory {
 public:
  explicit DeviceMemory(c10::Device device);
  int64_t current() const;
  int64_t peak() const;
  void reset_peak() const;
  void synchronize() const;  // waits for queued device work (timing); no-op on CPU
  bool is_cuda() const { return device_.is_cuda(); }
  // CUDA: the most bytes the caching allocator held from the driver since reset_peak (what
  // nvidia-smi shows, less the context); -1 on CPU, where process_peak_rss() is the analogue.
  int64_t max_reserved() const;

 private:
  c10::Device device_;
};

// Throws slimfit::Error unless `name` ("cpu" | "cuda") can be used by this build on this
// machine. CUDA: the device is `local_rank` modulo the visible devices, and it becomes current.
c10::Device resolve_device(const std::string& name, int local_rank);

// The most resident memory this process has had (getrusage's ru_maxrss), in bytes: what
// `/usr/bin/time -f %M` reports, the whole process over its whole life.
int64_t process_peak_rss();

// The launcher's local rank (note [launcher variables] in common/launcher.h), else `fallback`.
int local_rank(int fallback);

}  // namespace slimfit::mem
