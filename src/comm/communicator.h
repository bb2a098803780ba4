// The data plane: collectives over the ranks of one job, behind one interface with two
// backends (MPI for CPU tensors, NCCL for CUDA tensors) and a trivial one for a single process.
//
// Contract (as c10d's): every rank makes the same collectives, with tensors of the same shape
// and dtype, in the same order. Tensors are contiguous and live on the backend's device. A rank
// that cannot go on calls abort(), which ends every rank of the job (never a hang).
// Every collective adds the bytes this rank sends to bytes_sent(), so traffic can be reported.
//
// Note [collective timeout]: a rank that stops (SIGSTOP, a hung device, a deadlock) must not
// hang the others forever. With set_timeout(T), a collective that has not completed T seconds
// after this rank entered it throws CollectiveTimeout. The MPI backend posts non-blocking
// collectives and polls them against the deadline; on expiry every rank that is waiting tells
// the others so (a point-to-point report), listens for the others' reports for a short grace
// period, and names the ranks it heard nothing from: those never reached the collective. The
// NCCL backend polls its stream and ncclCommGetAsyncError the same way and calls ncclCommAbort
// on expiry, as PyTorch's NCCL watchdog does; the report goes over MPI. The caller ends the job
// (abort()).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/error.h"

namespace slimfit::comm {

// A collective did not complete within the timeout (note [collective timeout]).
class CollectiveTimeout : public Error {
 public:
  explicit CollectiveTimeout(const std::string& what) : Error(what) {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;

  // In place: t = sum over ranks of t.
  virtual void all_reduce_sum(at::Tensor& t) = 0;
  // In place: t = min or max over ranks (integer tensors; used for agreement checks).
  virtual void all_reduce_min(at::Tensor& t) = 0;
  virtual void all_reduce_max(at::Tensor& t) = 0;
  // In place: every rank gets root's t.
  virtual void broadcast(at::Tensor& t, int root) = 0;
  // Root gets (size, ...t.shape) with rank r's t at [r]; other ranks get an undefined tensor.
  virtual at::Tensor gather(const at::Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job with `message`; does not return.
  [[noreturn]] virtual void abort(const std::string& message) = 0;

  int64_t bytes_sent() const { return bytes_sent_; }
  // Collectives wait at most `seconds` (0: forever, the default); see note [collective timeout].
  virtual void set_timeout(double seconds) { timeout_seconds_ = seconds; }
  double timeout() const { return timeout_seconds_; }

 protected:
  int64_t bytes_sent_ = 0;
  double timeout_seconds_ = 0.0;
};

// "auto": MPI when launched by mpirun with more than one rank, else a single process (no MPI
// needed at run time); "mpi", "nccl" or "self" force a backend. NCCL needs a build with NCCL
// and a CUDA libtorch. Throws slimfit::Error naming what is missing.
// `device` ("cpu" | "cuda") picks the backend when `backend` is "auto": NCCL for CUDA tensors
// when this build has it, MPI otherwise; one process without a launcher needs neither.
std::unique_ptr<Communicator> make_communicator(const std::string& backend = "auto",
                                                const std::string& device = "cpu");

}  // namespace slimfit::comm
