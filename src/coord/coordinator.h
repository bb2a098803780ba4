// The control plane (as Horovod's controller): rank 0 is the coordinator. Once per step:
//   decide():  rank 0 runs ILS and broadcasts {step, freeze mask}; every rank checks the step
//              against its own, then all ranks compare a hash of (step, mask) in one all-reduce
//              (min and max). Any disagreement raises the same error on every rank, naming the
//              step and both hashes; nobody hangs.
//   report():  every rank sends its per-unit statistics for the finished step; rank 0 combines
//              them and updates the scheduler.
//
// Note [coordinator rule]. A rank's statistics for unit u are
//   - the partial sum of |dW|/|W| over its shard of u's elements, and the shard's size: ranks
//     split each unit's elements, so the snapshot memory and scoring work per rank are 1/N;
//   - the squared norm of its local (pre-average) gradient of u.
// Rank 0 combines: score(u) = sum of partial sums / sum of counts, the mean relative change of
// the whole unit: the single-process score of the same weights, to double rounding. The sums of
// dW^2 and W^2 combine the same way for score=norm (note [score]). The policy is deterministic,
// so N ranks choose what one process would choose from their weights. Those weights are not one
// process's to the bit: N ranks sum the gradient in another order (and AVX2 and AVX-512 kernels
// round differently), and the relative score divides each element's change by its weight, so a
// weight near zero turns that rounding into a large change of the unit's score (up to 73% for
// one unit, measured). Two units that close can swap turns, and the runs then train different
// units. The tests hold N ranks to what is guaranteed (note [N ranks against 1] in
// tests/mpi/test_data_parallel.cpp): one mask and one set of weights on every rank, combined
// scores equal to whole-tensor rescoring to 1e-12, the mask the policy picks from them, and a
// one-process run that trains the same masks within 1e-5 (loss) and 1e-4 (weights).
// The local gradient norms give the gradient diversity of u, mean_r |g_r|^2 / |mean_r g_r|^2 (1
// when ranks agree, up to N when their gradients cancel), which is recorded per step in the
// metrics file rather than used to reorder units: an N-dependent score would make N ranks choose
// from other scores than one process computes from the same weights.
#pragma once

#include <cstdint>
#include <vector>

#include "comm/communicator.h"
#include "sched/dynamics.h"
#include "sched/ils.h"

namespace slimfit::coord {

struct UnitReport {
  std::vector<sched::DynamicsTracker::Partial> partials;  // (t)
  std::vector<double> local_grad_sq;                      // (t), 0 for frozen units
};

class Coordinator {
 public:
  // `scheduler` is used on rank 0 only (other ranks may pass their own copy; it is kept in step
  // so any rank could take over, e.g. for checkpoints).
  Coordinator(comm::Communicator& comm, sched::IlsScheduler& scheduler,
              sched::ScoreKind score = sched::ScoreKind::kRelative);
  virtual ~Coordinator() = default;

  // The agreed freeze mask for `step` (1 = the unit trains).
  std::vector<uint8_t> decide(int64_t step);
  // Combines every rank's report for the finished step and updates the scheduler everywhere.
  // global_grad_sq: |averaged gradient|^2 per unit (identical on all ranks). Returns the mean
  // gradient diversity over the trained units.
  double report(const std::vector<uint8_t>& mask, const UnitReport& local,
                const std::vector<double>& global_grad_sq, double lr);

  int64_t control_bytes() const { return control_bytes_; }
  sched::ScoreKind score_kind() const { return score_; }

 protected:
  // Called on every rank with what it received; tests override it to inject a disagreement.
  virtual void on_received(int64_t& step, std::vector<uint8_t>& mask) {}

 private:
  comm::Communicator& comm_;
  sched::IlsScheduler& scheduler_;
  sched::ScoreKind score_;
  int64_t control_bytes_ = 0;
};

// FNV-1a over (step, mask).
uint64_t mask_hash(int64_t step, const std::vector<uint8_t>& mask);

}  // namespace slimfit::coord
