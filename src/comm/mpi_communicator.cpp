#include "comm/mpi_communicator.h"

#include <ATen/ATen.h>
#include "comm/mpi_c.h"

#include <cstdio>

#include "common/error.h"

namespace slimfit::comm {
namespace {

MPI_Datatype mpi_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return MPI_FLOAT;
    case at::kDouble:
      return MPI_DOUBLE;
    case at::kLong:
      return MPI_INT64_T;
    case at::kInt:
      return MPI_INT32_T;
    case at::kByte:
      return MPI_UINT8_T;
    case at::kChar:
      return MPI_INT8_T;
    default:
      throw Error(str_cat("MPI backend: unsupported dtype ", t.scalar_type(),
                          " (float32, float64, int64, int32, uint8, int8 are supported)"));
  }
}

void check_tensor(const at::Tensor& t, const char* op) {
  SLIMFIT_CHECK(t.device().is_cpu(), "MPI backend: ", op, " needs a CPU tensor, got ", t.device(),
                "; use the NCCL backend (backend=nccl) for CUDA tensors");
  SLIMFIT_CHECK(t.is_contiguous(), "MPI backend: ", op, " needs a contiguous tensor");
}

void check_mpi(int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(str_cat("MPI ", op, " failed: ", std::string(text, len)));
}

}  // namespace

MpiCommunicator::MpiCommunicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
    owns_mpi_ = true;
  }
  // Errors come back as codes, which check_mpi turns into exceptions naming the op.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  if (!owns_mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiCommunicator::all_reduce(at::Tensor& t, int op, const char* name) {
  check_tensor(t, name);
  MPI_Op mpi_op = op == 0 ? MPI_SUM : op == 1 ? MPI_MIN : MPI_MAX;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), int(t.numel()), mpi_type(t), mpi_op,
                          MPI_COMM_WORLD),
            name);
  bytes_sent_ += t.nbytes();
}

void MpiCommunicator::all_reduce_sum(at::Tensor& t) { all_reduce(t, 0, "all_reduce_sum"); }
void MpiCommunicator::all_reduce_min(at::Tensor& t) { all_reduce(t, 1, "all_reduce_min"); }
void MpiCommunicator::all_reduce_max(at::Tensor& t) { all_reduce(t, 2, "all_reduce_max"); }

void MpiCommunicator::broadcast(at::Tensor& t, int root) {
  check_tensor(t, "broadcast");
  check_mpi(MPI_Bcast(t.data_ptr(), int(t.numel()), mpi_type(t), root, MPI_COMM_WORLD),
            "broadcast");
  if (rank_ == root) bytes_sent_ += t.nbytes();
}

at::Tensor MpiCommunicator::gather(const at::Tensor& t, int root) {
  check_tensor(t, "gather");
  at::Tensor out;
  std::vector<int64_t> shape{size_};
  for (int64_t d : t.sizes()) shape.push_back(d);
  if (rank_ == root) out = at::empty(shape, t.options());
  check_mpi(MPI_Gather(t.data_ptr(), int(t.numel()), mpi_type(t),
                       rank_ == root ? out.data_ptr() : nullptr, int(t.numel()), mpi_type(t), root,
                       MPI_COMM_WORLD),
            "gather");
  if (rank_ != root) bytes_sent_ += t.nbytes();
  return out;
}

void MpiCommunicator::barrier() { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }

void MpiCommunicator::abort(const std::string& message) {
  std::fprintf(stderr, "[slimfit %d/%d] fatal: %s; aborting all %d ranks\n", rank_, size_,
               message.c_str(), size_);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();  // MPI_Abort does not return; keep [[noreturn]] honest
}

}  // namespace slimfit::comm
