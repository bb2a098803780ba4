#include "comm/nccl_communicator.h"

#include "comm/mpi_communicator.h"
#include "common/error.h"
#include "mem/device_memory.h"

#ifdef SLIMFIT_WITH_NCCL
#include <ATen/ATen.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <thread>

#ifdef SLIMFIT_WITH_TORCH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif
#endif

namespace slimfit::comm {

#ifdef SLIMFIT_WITH_NCCL
namespace {

void check_cuda(cudaError_t rc, const char* op) {
  SLIMFIT_CHECK(rc == cudaSuccess, "CUDA ", op, " failed: ", cudaGetErrorString(rc));
}

void check_nccl(ncclResult_t rc, const char* op, int rank) {
  SLIMFIT_CHECK(rc == ncclSuccess, "NCCL ", op, " failed on rank ", rank, ": ",
                ncclGetErrorString(rc), " (set NCCL_DEBUG=INFO for details)");
}

ncclDataType_t nccl_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kHalf:
      return ncclFloat16;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    case at::kBFloat16:
      return ncclBfloat16;
#endif
    case at::kLong:
      return ncclInt64;
    case at::kInt:
      return ncclInt32;
    case at::kByte:
      return ncclUint8;
    case at::kChar:
      return ncclInt8;
    default:
      throw Error(str_cat("NCCL backend: unsupported dtype ", t.scalar_type()));
  }
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi) : mpi_(std::move(mpi)) {
    int devices = 0;
    check_cuda(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
    SLIMFIT_CHECK(devices > 0, "NCCL backend on rank ", mpi_->rank(), ": no CUDA device visible");
    // The same choice as the trainer's device (mem::resolve_device), so tensors and the NCCL
    // communicator are on one GPU.
    device_ = mem::local_rank(mpi_->rank()) % devices;
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    ncclUniqueId id;
    if (mpi_->rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId", 0);
    at::Tensor bytes = at::empty({int64_t(sizeof(id))}, at::kByte);
    if (mpi_->rank() == 0) std::memcpy(bytes.data_ptr(), &id, sizeof(id));
    mpi_->broadcast(bytes, 0);
    std::memcpy(&id, bytes.data_ptr(), sizeof(id));
    check_nccl(ncclCommInitRank(&comm_, mpi_->size(), id, mpi_->rank()), "ncclCommInitRank",
               mpi_->rank());
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  std::string backend() const override { return "nccl"; }

  void all_reduce_sum(at::Tensor& t) override { all_reduce(t, ncclSum, "all_reduce_sum"); }
  void all_reduce_min(at::Tensor& t) override { all_reduce(t, ncclMin, "all_reduce_min"); }
  void all_reduce_max(at::Tensor& t) override { all_reduce(t, ncclMax, "all_reduce_max"); }

  void broadcast(at::Tensor& t, int root) override {
    if (t.device().is_cpu()) return mpi_->broadcast(t, root);
    check(t, "broadcast");
    check_nccl(ncclBroadcast(t.data_ptr(), t.data_ptr(), size_t(t.numel()), nccl_type(t), root,
                             comm_, stream()),
               "broadcast", rank());
    sync("broadcast");
    if (rank() == root) bytes_sent_ += t.nbytes();
  }
  at::Tensor gather(const at::Tensor& t, int root) override {
    // Small control-plane data: gathered over MPI from host memory.
    at::Tensor out = mpi_->gather(t.cpu().contiguous(), root);
    return out.defined() ? out.to(t.device()) : out;
  }
  void barrier() override { mpi_->barrier(); }
  void set_timeout(double seconds) override {
    timeout_seconds_ = seconds;
    mpi_->set_timeout(seconds);  // the control plane
  }
  [[noreturn]] void abort(const std::string& message) override {
    if (comm_) ncclCommAbort(comm_), comm_ = nullptr;
    mpi_->abort(message);
  }

 private:
  cudaStream_t stream() const {
#ifdef SLIMFIT_WITH_TORCH_CUDA
    return c10::cuda::getCurrentCUDAStream(device_).stream();
#else
    return cudaStreamPerThread;
#endif
  }
  // Waits for the collective on the stream, polling it and NCCL's asynchronous error against
  // the timeout; on expiry or an error the communicator is aborted, which frees the kernel
  // (note [collective timeout]).
  void sync(const char* name) {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      const cudaError_t rc = cudaStreamQuery(stream());
      if (rc == cudaSuccess) return;
      if (rc != cudaErrorNotReady) check_cuda(rc, name);
      ncclResult_t async = ncclSuccess;
      check_nccl(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError", rank());
      if (async != ncclSuccess) {
        ncclCommAbort(comm_), comm_ = nullptr;
        check_nccl(async, name, rank());
      }
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (timeout_seconds_ > 0 && waited > timeout_seconds_) {
        ncclCommAbort(comm_), comm_ = nullptr;
        throw mpi_->timed_out(str_cat("NCCL ", name));
      }
      std::this_thread::yield();
    }
  }
  void check(const at::Tensor& t, const char* op) {
    SLIMFIT_CHECK(t.device().is_cuda() && t.is_contiguous(), "NCCL backend: ", op,
                  " needs a contiguous CUDA tensor, got ", t.device());
  }
  void all_reduce(at::Tensor& t, ncclRedOp_t op, const char* name) {
    if (t.device().is_cpu()) {  // control-plane tensors stay on the host
      if (op == ncclSum) return mpi_->all_reduce_sum(t);
      return op == ncclMin ? mpi_->all_reduce_min(t) : mpi_->all_reduce_max(t);
    }
    check(t, name);
    check_nccl(ncclAllReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), nccl_type(t), op, comm_,
                             stream()),
               name, rank());
    sync(name);
    bytes_sent_ += t.nbytes();
  }

  std::unique_ptr<MpiCommunicator> mpi_;
  ncclComm_t comm_ = nullptr;
  int device_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<MpiCommunicator> bootstrap) {
  return std::make_unique<NcclCommunicator>(std::move(bootstrap));
}
#else
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<MpiCommunicator>) {
  throw Error(
      "backend=nccl: this slimfit was built without NCCL; configure with the CUDA toolkit and "
      "NCCL installed (SLIMFIT_CUDA=ON), or use backend=mpi");
}
#endif

}  // namespace slimfit::comm
