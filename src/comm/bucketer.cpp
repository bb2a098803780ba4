#include "comm/bucketer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "common/error.h"

namespace slimfit::comm {

BucketStats average_gradients(Communicator& comm, const std::vector<at::Tensor>& params,
                              int64_t bucket_bytes) {
  SLIMFIT_CHECK(bucket_bytes > 0, "bucket size must be positive, got ", bucket_bytes);
  BucketStats stats;
  if (comm.size() == 1) return stats;
  c10::NoGradGuard no_grad;
  const double scale = 1.0 / double(comm.size());
  std::vector<at::Tensor> bucket;
  int64_t bucket_size = 0;
  auto flush = [&]() {
    if (bucket.empty()) return;
    std::vector<at::Tensor> flat_views;
    for (const at::Tensor& g : bucket) flat_views.push_back(g.reshape({-1}));
    at::Tensor flat = at::cat(flat_views);  // (sum of numels)
    comm.all_reduce_sum(flat);
    flat.mul_(scale);
    int64_t offset = 0;
    for (at::Tensor& g : bucket) {
      g.copy_(flat.slice(0, offset, offset + g.numel()).view(g.sizes()));
      offset += g.numel();
    }
    stats.bytes += flat.nbytes();
    ++stats.buckets;
    bucket.clear();
    bucket_size = 0;
  };
  for (const at::Tensor& p : params) {
    const at::Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    const bool compatible = bucket.empty() || (bucket.front().scalar_type() == grad.scalar_type() &&
                                               bucket.front().device() == grad.device());
    if (!compatible || (bucket_size > 0 && bucket_size + int64_t(grad.nbytes()) > bucket_bytes)) {
      flush();
    }
    bucket.push_back(grad);
    bucket_size += int64_t(grad.nbytes());
  }
  flush();
  return stats;
}

}  // namespace slimfit::comm
