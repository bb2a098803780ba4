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

 private:
  c10::Device device_;
};

// Throws slimfit::Error unless `name` ("cpu" | "cuda") can be used by this build on this
// machine. CUDA: the device is `local_rank` modulo the visible devices, and it becomes current.
c10::Device resolve_device(const std::string& name, int local_rank);

// OMPI_COMM_WORLD_LOCAL_RANK (or the equivalent of another launcher), else `fallback`.
int local_rank(int fallback);

}  // namespace slimfit::mem
