// The trainer: fine-tuning on one process (the single-GPU fallback, and CPU). Each step:
//   1. the scheduler gives the freeze mask (note [ILS policy]); units set requires_grad;
//   2. the dynamics tracker snapshots the units that will train;
//   3. forward/backward over grad_accum micro-batches (the mask is fixed across them);
//   4. a non-finite loss stops the run before any weight changes;
//   5. AdamW steps the parameters with gradients; gradients are released;
//   6. the trained units are scored and the scheduler updated.
// Checkpoints (train/checkpoint.h) and the metrics file are written atomically.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/files.h"
#include "coord/coordinator.h"
#include "mem/device_memory.h"
#include "models/model.h"
#include "sched/dynamics.h"
#include "sched/ils.h"
#include "sched/units.h"
#include "train/adamw.h"
#include "train/config.h"
#include "train/evaluation.h"
#include "train/metrics_file.h"
#include "train/model_spec.h"
#include "train/sampler.h"

namespace slimfit::data {
class Dataset;
}

namespace slimfit::train {

struct TrainSummary {
  int64_t steps = 0;  // optimizer steps run in total (including before a resume)
  double final_accuracy = 0.0;
  double final_f1 = 0.0;
  double final_eval_loss = 0.0;
  double final_train_loss = 0.0;
  EvalResult final_eval;   // every metric of the final evaluation (final_accuracy etc. repeat it)
  int64_t best_step = -1;  // with save_best: the step of the best evaluation, and its value
  double best_value = 0.0;
  int64_t peak_bytes = 0;
  double mean_step_seconds = 0.0;
  double mean_comm_seconds = 0.0;   // of which: the gradient all-reduce (0 on one rank)
  double mean_coord_seconds = 0.0;  // of which: the coordinator (decide + statistics)
  double comm_bytes_per_step = 0.0;
  int64_t optimizer_bytes = 0;          // AdamW moments, all units
  int64_t optimizer_device_bytes = 0;   // of which on the accelerator after the last step
  double offload_bytes_per_step = 0.0;  // host <-> device state traffic (offload_optimizer)
  // Optimizer state next to the weights (with offload: trainable and coasting units only),
  // the mean and the largest over the steps; on CPU, what a GPU run would keep there.
  double optimizer_resident_bytes_mean = 0.0;
  int64_t optimizer_resident_bytes_max = 0;
  int world_size = 1;
  double trainable_fraction = 0.0;  // mean fraction of units trained per step
  int64_t units = 0;
  std::map<std::string, std::string> config;
};
nlohmann::json to_json(const TrainSummary& summary);

class Trainer {
 public:
  // `comm` may be null: then one is made from config.backend (a single process unless launched
  // by mpirun). The trainer keeps a reference; the caller keeps ownership if it passes one.
  explicit Trainer(TrainConfig config, comm::Communicator* comm = nullptr);
  virtual ~Trainer();

  // Runs to `steps` (or stop_after), then evaluates; throws slimfit::Error on failure.
  TrainSummary run();
  EvalResult evaluate();
  // One optimizer step, the one run() repeats; returns its record.
  const StepRecord& step();
  // Counts every unit as having trained once (its AdamW slot has taken a step), so that with
  // frozen_update=coast the next step is a steady-state one in which every frozen unit coasts.
  // A run reaches that state once each unit has had its turn; `slimfit memory` measures it.
  void assume_steady_state();

  int64_t total_steps() const { return total_steps_; }
  int64_t next_step() const { return next_step_; }
  int64_t train_size() const { return sampler_.size(); }
  int64_t eval_size() const { return static_cast<int64_t>(eval_indices_.size()); }
  models::ClassifierImpl& model() { return *model_; }
  const std::vector<sched::Unit>& units() const { return units_; }
  const sched::IlsScheduler& scheduler() const { return *scheduler_; }
  const AdamW& optimizer() const { return *optimizer_; }
  const data::Dataset& dataset() const { return *dataset_; }
  const std::vector<StepRecord>& records() const { return records_; }
  const TrainConfig& config() const { return config_; }
  comm::Communicator& communicator() { return *comm_; }
  double lr_at(int64_t step) const;

 protected:
  // The loss of one micro-batch (tests override it to inject failures).
  virtual at::Tensor compute_loss(const models::Batch& batch);
  // The freeze mask that `step` trains: the coordinator's agreed decision. Tests override it to
  // make one run train another run's masks (note [coordinator rule]).
  virtual std::vector<uint8_t> decide_mask(int64_t step);

 private:
  // The constructor's parts, in the order it calls them.
  void connect(comm::Communicator* comm);  // communicator, device, fault, output paths
  ModelSpec open_data();                   // the data sets, and the model config they imply
  void build_model(const ModelSpec& spec);
  void split_data();  // held-out split, sampler, total steps
  void build_scheduler();
  void build_optimizer();
  void resume();
  void restore_cuda_generator(const at::Tensor& states);
  void check_ranks_resumed_alike(int64_t next_step);
  void log_plan(const ModelSpec& spec) const;

  void save();
  // Writes a checkpoint of the current state to `path` (rank 0; every rank must call it).
  void write_checkpoint(const std::string& path);
  // Evaluates after the current step, records it, and keeps the best checkpoint (save_best);
  // returns whether `patience` evaluations have passed without improvement.
  bool evaluate_and_track();
  // Records the evaluation after `step` (also those read back on resume, `resumed`).
  bool track(int64_t step, const EvalResult& e, bool resumed);
  std::string best_metric() const;
  void write_metrics() const;

  void prepare_outputs();
  // Ends the run after a stop signal (note [interruption] in common/interrupt.h): checkpoint,
  // one line per rank, and Interrupted thrown on every rank.
  [[noreturn]] void stop_for_signal(int signal);

  // Fault injection for failure tests
  // (env SLIMFIT_FAULT="rank=R,step=S,kind=throw|nan|kill|hang|term").
  struct Fault {
    int rank = -1;
    int64_t step = -1;
    std::string kind;
  };
  static Fault parse_fault(const std::string& spec);
  void maybe_inject_fault(at::Tensor& loss);

  TrainConfig config_;
  Fault fault_;
  at::Device device_{at::kCPU};
  std::unique_ptr<mem::DeviceMemory> memory_;
  std::unique_ptr<comm::Communicator> owned_comm_;
  comm::Communicator* comm_ = nullptr;
  std::unique_ptr<coord::Coordinator> coordinator_;
  models::Classifier model_;
  std::shared_ptr<data::Dataset> dataset_;
  std::shared_ptr<data::Dataset> eval_dataset_;  // dataset_ unless eval_data= is set
  std::vector<int64_t> eval_indices_;
  EpochSampler sampler_;
  std::vector<sched::Unit> units_;
  std::vector<at::Tensor> all_params_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<sched::IlsScheduler> scheduler_;
  sched::DynamicsTracker tracker_;
  std::vector<StepRecord> records_;
  // The evaluations so far (mid-run and final): the step after which each ran, and its result.
  std::vector<Evaluation> evaluations_;
  int64_t best_step_ = -1;  // save_best: the step of the best evaluation so far
  double best_value_ = 0.0;
  int64_t evals_since_best_ = 0;  // patience
  int64_t total_steps_ = 0;
  int64_t next_step_ = 0;
  int64_t last_checkpoint_step_ = -1;
  std::string last_checkpoint_path_;  // the file that holds last_checkpoint_step_
  int stop_signal_ = 0;               // a stop signal any rank received, agreed in run_step
  FileLock checkpoint_lock_, best_lock_;
};

}  // namespace slimfit::train
