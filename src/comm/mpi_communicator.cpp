#include "comm/mpi_communicator.h"

#include <ATen/ATen.h>
#include "comm/mpi_c.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

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

// A tag no collective uses: the timeout reports of note [collective timeout].
constexpr int kTimeoutTag = 0x51F7;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
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

void MpiCommunicator::wait(void* request, const char* name) {
  MPI_Request& req = *static_cast<MPI_Request*>(request);
  ++collectives_;
  const Clock::time_point start = Clock::now();
  int done = 0;
  // Spin first: a collective that completes at once must cost what a blocking one does. Then
  // poll every millisecond, so a long wait (another rank still computing) leaves the core free.
  for (int64_t polls = 0;; ++polls) {
    check_mpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), name);
    if (done) return;
    const double waited = seconds_since(start);
    if (timeout_seconds_ > 0 && waited > timeout_seconds_) throw timed_out(name);
    if (waited > 0.01) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

CollectiveTimeout MpiCommunicator::timed_out(const std::string& name) {
  // Tell every other rank that this one is waiting in collective number `collectives_`.
  const int64_t mine = report_ = collectives_;  // a member: the sends outlive this call
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    MPI_Request send;
    MPI_Isend(&report_, 1, MPI_INT64_T, r, kTimeoutTag, MPI_COMM_WORLD, &send);
    MPI_Request_free(&send);
  }
  // Listen for the others' reports. Ranks that reached the collective time out within about
  // the same window (each counts from its own arrival); a few seconds covers the skew.
  const double grace = std::clamp(timeout_seconds_ / 2, 1.0, 5.0);
  std::vector<int64_t> heard(size_t(size_), -1);
  heard[size_t(rank_)] = mine;
  const Clock::time_point start = Clock::now();
  while (seconds_since(start) < grace &&
         std::count(heard.begin(), heard.end(), int64_t(-1)) > 0) {
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, kTimeoutTag, MPI_COMM_WORLD, &flag, &status);
    if (!flag) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    int64_t theirs = -1;
    MPI_Recv(&theirs, 1, MPI_INT64_T, status.MPI_SOURCE, kTimeoutTag, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    heard[size_t(status.MPI_SOURCE)] = theirs;
  }
  std::string missing, elsewhere;
  for (int r = 0; r < size_; ++r) {
    if (heard[size_t(r)] < 0) missing += str_cat(missing.empty() ? "" : ", ", r);
    if (heard[size_t(r)] >= 0 && heard[size_t(r)] != mine)
      elsewhere += str_cat(elsewhere.empty() ? "" : ", ", r, " (in collective #",
                           heard[size_t(r)], ")");
  }
  return CollectiveTimeout(str_cat(
      name, " (collective #", mine, ") did not complete within collective_timeout=",
      timeout_seconds_, " s; ",
      missing.empty() ? std::string("every rank reported waiting")
                      : str_cat("rank(s) ", missing, " never arrived (stalled, stopped or hung)"),
      elsewhere.empty() ? "" : str_cat("; waiting in another collective: rank(s) ", elsewhere)));
}

void MpiCommunicator::all_reduce(at::Tensor& t, int op, const char* name) {
  check_tensor(t, name);
  MPI_Op mpi_op = op == 0 ? MPI_SUM : op == 1 ? MPI_MIN : MPI_MAX;
  MPI_Request req;
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), int(t.numel()), mpi_type(t), mpi_op,
                           MPI_COMM_WORLD, &req),
            name);
  wait(&req, name);
  bytes_sent_ += t.nbytes();
}

void MpiCommunicator::all_reduce_sum(at::Tensor& t) { all_reduce(t, 0, "all_reduce_sum"); }
void MpiCommunicator::all_reduce_min(at::Tensor& t) { all_reduce(t, 1, "all_reduce_min"); }
void MpiCommunicator::all_reduce_max(at::Tensor& t) { all_reduce(t, 2, "all_reduce_max"); }

void MpiCommunicator::broadcast(at::Tensor& t, int root) {
  check_tensor(t, "broadcast");
  MPI_Request req;
  check_mpi(MPI_Ibcast(t.data_ptr(), int(t.numel()), mpi_type(t), root, MPI_COMM_WORLD, &req),
            "broadcast");
  wait(&req, "broadcast");
  if (rank_ == root) bytes_sent_ += t.nbytes();
}

at::Tensor MpiCommunicator::gather(const at::Tensor& t, int root) {
  check_tensor(t, "gather");
  at::Tensor out;
  std::vector<int64_t> shape{size_};
  for (int64_t d : t.sizes()) shape.push_back(d);
  if (rank_ == root) out = at::empty(shape, t.options());
  MPI_Request req;
  check_mpi(MPI_Igather(t.data_ptr(), int(t.numel()), mpi_type(t),
                        rank_ == root ? out.data_ptr() : nullptr, int(t.numel()), mpi_type(t),
                        root, MPI_COMM_WORLD, &req),
            "gather");
  wait(&req, "gather");
  if (rank_ != root) bytes_sent_ += t.nbytes();
  return out;
}

void MpiCommunicator::barrier() {
  MPI_Request req;
  check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &req), "barrier");
  wait(&req, "barrier");
}

void MpiCommunicator::abort(const std::string& message) {
  std::fprintf(stderr, "[slimfit %d/%d] fatal: %s; aborting all %d ranks\n", rank_, size_,
               message.c_str(), size_);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();  // MPI_Abort does not return; keep [[noreturn]] honest
}

}  // namespace slimfit::comm
