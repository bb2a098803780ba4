#include "mem/device_memory.h"

#include <sys/resource.h>

#include <cstdlib>
#include <string>

#include "common/error.h"
#include "common/launcher.h"
#include "mem/ledger.h"

#ifdef SLIMFIT_WITH_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace slimfit::mem {

DeviceMemory::DeviceMemory(c10::Device device) : device_(device) {
  SLIMFIT_CHECK(device.is_cpu() || device.is_cuda(), "memory counting: unsupported device ",
                device.str());
}

#ifdef SLIMFIT_WITH_TORCH_CUDA
namespace {
// Allocated bytes (StatType::AGGREGATE, index 0). `auto`: the stats types moved between
// libtorch releases (c10::cuda::CUDACachingAllocator -> c10::CachingDeviceAllocator).
int64_t cuda_allocated(c10::DeviceIndex index, bool peak) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
  return peak ? stats.allocated_bytes[0].peak : stats.allocated_bytes[0].current;
}
int64_t cuda_reserved_peak(c10::DeviceIndex index) {
  return c10::cuda::CUDACachingAllocator::getDeviceStats(index).reserved_bytes[0].peak;
}
}  // namespace
#endif

int64_t DeviceMemory::current() const {
#ifdef SLIMFIT_WITH_TORCH_CUDA
  if (device_.is_cuda()) return cuda_allocated(device_.index(), /*peak=*/false);
#endif
  return snapshot().current;
}

int64_t DeviceMemory::peak() const {
#ifdef SLIMFIT_WITH_TORCH_CUDA
  if (device_.is_cuda()) return cuda_allocated(device_.index(), /*peak=*/true);
#endif
  return snapshot().peak;
}

int64_t DeviceMemory::max_reserved() const {
#ifdef SLIMFIT_WITH_TORCH_CUDA
  if (device_.is_cuda()) return cuda_reserved_peak(device_.index());
#endif
  return -1;
}

int64_t process_peak_rss() {
  rusage usage{};
  SLIMFIT_CHECK(getrusage(RUSAGE_SELF, &usage) == 0, "getrusage failed");
  return int64_t(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

void DeviceMemory::reset_peak() const {
#ifdef SLIMFIT_WITH_TORCH_CUDA
  if (device_.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(device_.index());
    return;
  }
#endif
  mem::reset_peak();
}

void DeviceMemory::synchronize() const {
#ifdef SLIMFIT_WITH_TORCH_CUDA
  if (device_.is_cuda()) c10::cuda::device_synchronize();
#endif
}

int local_rank(int fallback) {
  const int told = launch_info().local_rank;
  return told >= 0 ? told : fallback;
}

c10::Device resolve_device(const std::string& name, int local_rank) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  SLIMFIT_CHECK(name == "cuda", "unknown device '", name, "': expected cpu or cuda");
#ifdef SLIMFIT_WITH_TORCH_CUDA
  const int count = static_cast<int>(c10::cuda::device_count());
  SLIMFIT_CHECK(count > 0, "device=cuda but no CUDA device is visible (CUDA_VISIBLE_DEVICES=",
                std::getenv("CUDA_VISIBLE_DEVICES") ? std::getenv("CUDA_VISIBLE_DEVICES") : "unset",
                ")");
  const auto index = static_cast<c10::DeviceIndex>(local_rank % count);
  c10::cuda::set_device(index);
  return c10::Device(c10::kCUDA, index);
#else
  (void)local_rank;
  throw Error(
      "device=cuda needs slimfit built against a CUDA libtorch: configure with "
      "-DTorch_DIR=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch");
#endif
}

}  // namespace slimfit::mem
