// MPI backend for CPU tensors: the fallback on machines without GPUs, and the one the tests use.
// Also the bootstrap of the NCCL backend (its unique id is broadcast over MPI).
#pragma once

#include "comm/communicator.h"

namespace slimfit::comm {

class MpiCommunicator final : public Communicator {
 public:
  // Initialises MPI if nobody has yet (and finalises it in the destructor in that case).
  MpiCommunicator();
  ~MpiCommunicator() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  void all_reduce_sum(at::Tensor& t) override;
  void all_reduce_min(at::Tensor& t) override;
  void all_reduce_max(at::Tensor& t) override;
  void broadcast(at::Tensor& t, int root) override;
  at::Tensor gather(const at::Tensor& t, int root) override;
  void barrier() override;
  [[noreturn]] void abort(const std::string& message) override;

  // Called by a rank whose collective `name` timed out: tells the others, listens for their
  // reports for a grace period, and returns the CollectiveTimeout to throw, naming the ranks
  // that never reported (note [collective timeout]). Also used by the NCCL backend.
  CollectiveTimeout timed_out(const std::string& name);

 private:
  void all_reduce(at::Tensor& t, int op, const char* name);
  // Waits for `request` against the timeout; throws timed_out(name) on expiry.
  void wait(void* request, const char* name);
  int rank_ = 0;
  int64_t collectives_ = 0;  // collectives entered so far: the same count on every rank
  int64_t report_ = 0;       // the send buffer of timed_out()
  int size_ = 1;
  bool owns_mpi_ = false;
};

}  // namespace slimfit::comm
