// The MPI communicator and the gradient bucketer, on 2 or 3 ranks.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "comm/bucketer.h"
#include "comm/communicator.h"
#include "common/error.h"

namespace {

using slimfit::comm::Communicator;

std::unique_ptr<Communicator> world() { return slimfit::comm::make_communicator("mpi"); }

TEST(MpiComm, CollectivesGiveExactResults) {
  auto comm = world();
  const int r = comm->rank(), n = comm->size();
  ASSERT_GE(n, 2) << "run under mpirun -np 2 or more";
  at::Tensor t = at::full({5}, double(r + 1), at::kDouble);
  comm->all_reduce_sum(t);
  EXPECT_TRUE(at::equal(t, at::full({5}, double(n * (n + 1) / 2), at::kDouble)));
  at::Tensor lo = at::tensor({int64_t(r), int64_t(-r)}), hi = lo.clone();
  comm->all_reduce_min(lo);
  comm->all_reduce_max(hi);
  EXPECT_EQ(lo[0].item<int64_t>(), 0);
  EXPECT_EQ(lo[1].item<int64_t>(), -(n - 1));
  EXPECT_EQ(hi[0].item<int64_t>(), n - 1);
  at::Tensor b = at::full({3}, float(r * 10), at::kFloat);
  comm->broadcast(b, n - 1);
  EXPECT_TRUE(at::equal(b, at::full({3}, float((n - 1) * 10), at::kFloat)));
  at::Tensor g = comm->gather(at::full({2}, int64_t(r), at::kLong), 0);
  if (r == 0) {
    ASSERT_EQ(g.size(0), n);
    for (int i = 0; i < n; ++i) EXPECT_EQ(g[i][1].item<int64_t>(), i);
  } else {
    EXPECT_FALSE(g.defined());
  }
  comm->barrier();
}

TEST(MpiComm, BucketsAverageOnlyDefinedGradientsAndCountTheirBytes) {
  auto comm = world();
  const int r = comm->rank(), n = comm->size();
  std::vector<at::Tensor> params;
  for (int64_t size : {1000, 7, 300, 2000, 5}) params.push_back(at::zeros({size}).requires_grad_());
  for (size_t i = 0; i < params.size(); ++i) {
    if (i == 2) continue;  // a frozen tensor: no gradient, not communicated
    params[i].mutable_grad() = at::full({params[i].numel()}, float(r + int(i)));
  }
  const int64_t before = comm->bytes_sent();
  const auto stats = slimfit::comm::average_gradients(*comm, params, /*bucket_bytes=*/4096);
  EXPECT_EQ(stats.bytes, (1000 + 7 + 2000 + 5) * 4);  // exactly the trainable gradient bytes
  EXPECT_EQ(comm->bytes_sent() - before, stats.bytes);
  EXPECT_EQ(stats.buckets, 3);  // [1000, 7] [2000] [5]: 4096-byte cap
  for (size_t i = 0; i < params.size(); ++i) {
    if (i == 2) {
      EXPECT_FALSE(params[i].grad().defined());
      continue;
    }
    const float mean = float(i) + float(n - 1) / 2.0f;  // mean over ranks of r + i
    EXPECT_TRUE(at::allclose(params[i].grad(), at::full({params[i].numel()}, mean)));
  }
}

TEST(MpiComm, RejectsWhatItCannotSend) {
  auto comm = world();
  at::Tensor not_contiguous = at::zeros({4, 4}).t();
  EXPECT_THROW(comm->all_reduce_sum(not_contiguous), slimfit::Error);
  at::Tensor bool_tensor = at::zeros({4}, at::kBool);
  EXPECT_THROW(comm->all_reduce_sum(bool_tensor), slimfit::Error);
  EXPECT_THROW(slimfit::comm::make_communicator("carrier-pigeon"), slimfit::Error);
}

}  // namespace
