// The metrics file: every step's record and every evaluation of a run, in HDF5, rewritten
// atomically at each checkpoint and at the end. Note [metrics file]:
//   /units/names          (t) strings
//   /steps/trainable_mask (steps, t) uint8, 1 where the unit trained
//   /steps/<column>       (steps) one per entry of the column tables in metrics_file.cpp
//                         (float64 and int64): rank 0's StepRecord fields
//   /world_size           int
//   /eval/step            (evals) int64: the steps after which the evaluations ran (mid-run
//                         eval_every ones and the final one)
//   /eval/<metric>        (evals) float64, each metric the task reports (EvalResult::metrics)
//   /eval/examples        (evals) int64
// Row i is step i. A resumed run reads the rows before its checkpoint back through the same
// tables, so no column is lost.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mem/ledger.h"
#include "train/evaluation.h"

namespace slimfit::train {

// What one optimizer step did, as rank 0 saw it.
struct StepRecord {
  double loss = 0.0;
  double lr = 0.0;
  std::vector<uint8_t> mask;
  int64_t comm_bytes = 0;       // gradient bytes all-reduced by this rank
  int64_t control_bytes = 0;    // coordinator traffic (masks, statistics, losses)
  double grad_diversity = 1.0;  // note [coordinator rule]
  int64_t peak_bytes = 0;
  double seconds = 0.0;
  double comm_seconds = 0.0;   // in the gradient all-reduce
  double coord_seconds = 0.0;  // in the coordinator: mask decision, check, statistics
  int64_t offload_bytes = 0;   // optimizer state moved host <-> device (note [optimizer offload])
  int64_t resident_bytes = 0;  // optimizer state kept next to the weights this step
  int64_t input_bytes = 0;     // the first micro-batch
  int64_t saved_bytes = 0;     // kept by the first micro-batch's forward for backward
  int64_t grad_bytes = 0;      // parameter gradients after backward
  mem::Snapshot peak;          // the ledger at the step's peak (CPU; not in the file)
};

// The step after which an evaluation ran, and its result.
using Evaluation = std::pair<int64_t, EvalResult>;

void write_metrics_file(const std::string& path, const std::vector<std::string>& unit_names,
                        const std::vector<StepRecord>& records,
                        const std::vector<Evaluation>& evaluations, int world_size);

// The first `steps` records of a metrics file and the evaluations up to that step, for a run
// resuming after step `steps`. Columns an older file lacks keep their defaults, with a warning.
struct MetricsPrefix {
  std::vector<StepRecord> records;
  std::vector<Evaluation> evaluations;
};
MetricsPrefix read_metrics_file(const std::string& path, int64_t steps, bool regression);

}  // namespace slimfit::train
