#include "coord/coordinator.h"

#include <ATen/ATen.h>

#include <cstring>

#include "common/error.h"

namespace slimfit::coord {

uint64_t mask_hash(int64_t step, const std::vector<uint8_t>& mask) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint8_t byte) { h = (h ^ byte) * 1099511628211ull; };
  for (int i = 0; i < 8; ++i) mix(uint8_t(uint64_t(step) >> (8 * i)));
  for (uint8_t m : mask) mix(m);
  return h;
}

Coordinator::Coordinator(comm::Communicator& comm, sched::IlsScheduler& scheduler,
                         sched::ScoreKind score)
    : comm_(comm), scheduler_(scheduler), score_(score) {}

std::vector<uint8_t> Coordinator::decide(int64_t step) {
  const int64_t t = scheduler_.num_units();
  // Payload: [step, mask...] as int64 (t is small: ~100 units).
  at::Tensor payload = at::zeros({t + 1}, at::kLong);
  if (comm_.rank() == 0) {
    const std::vector<uint8_t> mask = scheduler_.next_mask();
    payload[0] = scheduler_.state().step;
    for (int64_t u = 0; u < t; ++u) payload[u + 1] = int64_t(mask[u]);
  }
  const int64_t before = comm_.bytes_sent();
  comm_.broadcast(payload, 0);
  int64_t received_step = payload[0].item<int64_t>();
  std::vector<uint8_t> mask(t);
  for (int64_t u = 0; u < t; ++u) mask[u] = uint8_t(payload[u + 1].item<int64_t>());
  on_received(received_step, mask);

  uint64_t h = mask_hash(received_step, mask);
  int64_t bits;
  std::memcpy(&bits, &h, sizeof(bits));
  at::Tensor lo = at::full({2}, bits, at::kLong), hi = lo.clone();
  lo[1] = received_step == step ? 0 : 1;  // any rank off its step shows in the max
  hi[1] = lo[1].item<int64_t>();
  comm_.all_reduce_min(lo);
  comm_.all_reduce_max(hi);
  control_bytes_ += comm_.bytes_sent() - before;
  SLIMFIT_CHECK(hi[1].item<int64_t>() == 0, "coordinator: rank ", comm_.rank(), " expected step ",
                step, " but the coordinator sent step ", received_step,
                " (a rank is out of step; every rank stops)");
  SLIMFIT_CHECK(lo[0].item<int64_t>() == hi[0].item<int64_t>(),
                "coordinator: the ranks disagree on the freeze mask of step ", step,
                ": hashes range from ", lo[0].item<int64_t>(), " to ", hi[0].item<int64_t>(),
                "; rank ", comm_.rank(), " holds ", bits, " (every rank stops)");
  return mask;
}

double Coordinator::report(const std::vector<uint8_t>& mask, const UnitReport& local,
                           const std::vector<double>& global_grad_sq, double lr) {
  const int64_t t = scheduler_.num_units();
  SLIMFIT_ASSERT(int64_t(local.partials.size()) == t && int64_t(local.local_grad_sq.size()) == t);
  // (t, 5): partial sum, count, local |g|^2, dW^2, W^2; summed over ranks in one all-reduce so
  // that every rank can keep its scheduler copy in step.
  at::Tensor stats = at::zeros({t, 5}, at::kDouble);
  auto a = stats.accessor<double, 2>();
  for (int64_t u = 0; u < t; ++u) {
    a[u][0] = local.partials[u].sum;
    a[u][1] = double(local.partials[u].count);
    a[u][2] = local.local_grad_sq[u];
    a[u][3] = local.partials[u].delta_sq;
    a[u][4] = local.partials[u].weight_sq;
  }
  const int64_t before = comm_.bytes_sent();
  comm_.all_reduce_sum(stats);
  control_bytes_ += comm_.bytes_sent() - before;
  std::vector<double> scores(t, 0.0);
  double diversity = 0.0;
  int64_t trained = 0;
  for (int64_t u = 0; u < t; ++u) {
    if (!mask[u]) continue;
    sched::DynamicsTracker::Partial total;
    total.sum = a[u][0];
    total.count = int64_t(a[u][1]);
    total.delta_sq = a[u][3];
    total.weight_sq = a[u][4];
    scores[u] = sched::DynamicsTracker::score(total, score_);
    if (global_grad_sq[u] > 0) {
      diversity += (a[u][2] / double(comm_.size())) / global_grad_sq[u];
      ++trained;
    }
  }
  scheduler_.update(mask, scores, lr);
  return trained ? diversity / double(trained) : 1.0;
}

}  // namespace slimfit::coord
