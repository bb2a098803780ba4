#include "train/trainer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "ckpt/h5.h"
#include "comm/bucketer.h"
#include "common/error.h"
#include "common/files.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "common/strings.h"
#include "data/dataset.h"
#include "mem/ledger.h"
#include "train/checkpoint.h"
#include "train/metrics_file.h"
#include "train/model_spec.h"

namespace slimfit::train {
namespace {

double mib(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

// One log line's worth of an evaluation.
std::string describe(const EvalResult& e) {
  if (e.regression) {
    return str_cat("pearson ", e.pearson, "  spearman ", e.spearman, "  mse ", e.mse);
  }
  return str_cat("accuracy ", e.accuracy, "%  loss ", e.loss);
}

// A whole non-negative integer, or an error naming the SLIMFIT_FAULT field.
int64_t fault_number(const std::string& key, const std::string& value) {
  char* end = nullptr;
  const long long x = std::strtoll(value.c_str(), &end, 10);
  SLIMFIT_CHECK(!value.empty() && *end == '\0' && x >= 0, "SLIMFIT_FAULT: ", key, "=", value,
                " is not a non-negative integer");
  return x;
}

}  // namespace

nlohmann::json to_json(const TrainSummary& s) {
  nlohmann::json j;
  j["final_accuracy"] = s.final_accuracy;
  j["final_f1"] = s.final_f1;
  j["final_eval_loss"] = s.final_eval_loss;
  j["final_train_loss"] = s.final_train_loss;
  j["final_metrics"] = to_json(s.final_eval);
  if (s.best_step >= 0) {
    j["best_step"] = s.best_step;
    j["best_value"] = s.best_value;
  }
  j["steps"] = s.steps;
  j["peak_bytes"] = s.peak_bytes;
  j["mean_step_seconds"] = s.mean_step_seconds;
  j["mean_comm_seconds"] = s.mean_comm_seconds;
  j["mean_coord_seconds"] = s.mean_coord_seconds;
  j["comm_bytes_per_step"] = s.comm_bytes_per_step;
  j["optimizer_bytes"] = s.optimizer_bytes;
  j["optimizer_device_bytes"] = s.optimizer_device_bytes;
  j["offload_bytes_per_step"] = s.offload_bytes_per_step;
  j["optimizer_resident_bytes_mean"] = s.optimizer_resident_bytes_mean;
  j["optimizer_resident_bytes_max"] = s.optimizer_resident_bytes_max;
  j["world_size"] = s.world_size;
  j["trainable_fraction"] = s.trainable_fraction;
  j["units"] = s.units;
  j["config"] = s.config;
  return j;
}

// The constructor reads as the run's set-up, one part each: where it runs, the data and the
// model, the split, the scheduler, the optimizer, and where it resumes from.
Trainer::Trainer(TrainConfig config, comm::Communicator* comm) : config_(std::move(config)) {
  validate(config_);
  connect(comm);
  at::manual_seed(config_.seed);  // the same initial weights on every rank
  ModelSpec spec = open_data();
  build_model(spec);
  split_data();
  build_scheduler();
  build_optimizer();
  if (!config_.resume.empty()) resume();
  log_plan(spec);
}

void Trainer::connect(comm::Communicator* comm) {
  if (comm) {
    comm_ = comm;
  } else {
    owned_comm_ = comm::make_communicator(config_.backend, config_.device);
    comm_ = owned_comm_.get();
  }
  device_ = mem::resolve_device(config_.device, mem::local_rank(comm_->rank()));
  memory_ = std::make_unique<mem::DeviceMemory>(device_);
  const char* fault = std::getenv("SLIMFIT_FAULT");
  if (fault && *fault) fault_ = parse_fault(fault);  // empty: none
  comm_->set_timeout(config_.collective_timeout);
  prepare_outputs();
  SLIMFIT_CHECK(config_.batch % (comm_->size() * config_.grad_accum) == 0, "batch=",
                config_.batch, " is the global batch: it must be divisible by ranks (",
                comm_->size(), ") x grad_accum (", config_.grad_accum, ")");
}

ModelSpec Trainer::open_data() {
  ModelSpec spec = resolve_model_spec(config_.model);
  if (config_.lr == 0) {  // automatic: a fine-tuning rate for pretrained weights
    const bool pretrained = !spec.weights.empty() || !config_.init.empty();
    config_.lr = pretrained ? 5e-5 : 1e-3;
    log_info("lr=", config_.lr, " (automatic: ", pretrained ? "pretrained" : "random",
             " weights; set lr=... to override)");
  }
  models::ModelConfig& mc = spec.config;
  if (!config_.pooling.empty()) mc.pooling = config_.pooling;
  if (config_.dropout >= 0) mc.hidden_dropout = mc.attention_dropout = config_.dropout;
  SLIMFIT_CHECK(config_.layers >= 0, "layers must be >= 0 (0: the model's own), got ",
                config_.layers);
  SLIMFIT_CHECK(config_.image_size >= 0, "image_size must be >= 0 (0: the model's own), got ",
                config_.image_size);
  if (config_.layers > 0) mc.num_layers = config_.layers;
  if (config_.image_size > 0) {
    SLIMFIT_CHECK(mc.arch == models::Arch::kVit, "image_size applies to ViT models only, and ",
                  mc.name, " is a BERT model");
    mc.image_size = config_.image_size;
  }
  dataset_ = data::open_dataset(config_.data, mc, config_.seq_len, config_.seed, config_.classes);
  eval_dataset_ = dataset_;
  if (!config_.eval_data.empty()) {  // a synthetic eval set gets its own examples (seed + 1)
    eval_dataset_ = data::open_dataset(config_.eval_data, mc, config_.seq_len, config_.seed + 1,
                                       config_.classes);
    SLIMFIT_CHECK(eval_dataset_->num_labels() == dataset_->num_labels(),
                  "eval_data=", config_.eval_data, " has ", eval_dataset_->num_labels(),
                  " labels but data=", config_.data, " has ", dataset_->num_labels());
  }
  mc.num_labels = config_.num_labels > 0 ? config_.num_labels : dataset_->num_labels();
  SLIMFIT_CHECK(mc.num_labels >= dataset_->num_labels(), "num_labels=", mc.num_labels,
                " but the data set has ", dataset_->num_labels(), " labels");
  SLIMFIT_CHECK(!dataset_->is_regression() || mc.num_labels == 1, "data=", config_.data,
                " is a regression set (one float target), so num_labels must be 1, got ",
                mc.num_labels);
  SLIMFIT_CHECK(eval_dataset_->is_regression() == dataset_->is_regression(), "eval_data=",
                config_.eval_data, " and data=", config_.data,
                " must both be regression sets or both classification sets");
  return spec;
}

void Trainer::build_model(const ModelSpec& spec) {
  {
    mem::LedgerScope scope(mem::Category::kWeights);
    model_ = models::make_model(spec.config);
    // A resumed run takes every weight from its checkpoint: init= applies to fresh starts.
    load_model_weights(*model_, spec, config_.resume.empty() ? config_.init : "",
                       split_commas(config_.init_skip));
    model_->to(device_);
  }
  model_->ops()->slimfit = config_.compress;
  model_->train();
  // Dropout streams differ per rank (rank 0's is the single-process one).
  at::manual_seed(config_.seed + 7919ull * uint64_t(comm_->rank()));
  // The ledger learns of each parameter gradient as backward makes it, so that a peak knows
  // how much of it was gradients (note [memory ledger]); later micro-batches add into it.
  for (const auto& item : model_->named_parameters()) {
    at::Tensor param = item.value();
    all_params_.push_back(param);
    const size_t i = all_params_.size() - 1;
    param.register_hook([this, i](const at::Tensor& grad) {
      if (!all_params_[i].grad().defined()) mem::note_gradient_bytes(grad.nbytes());
    });
  }
}

void Trainer::split_data() {
  std::vector<int64_t> train_indices;
  std::tie(train_indices, eval_indices_) =
      split_examples(config_, dataset_->size(), eval_dataset_->size());
  SLIMFIT_CHECK(!train_indices.empty(), "the training split of ", config_.data, " is empty");
  total_steps_ = config_.steps > 0
                     ? config_.steps
                     : int64_t(std::ceil(config_.epochs * double(train_indices.size()) /
                                         double(config_.batch)));
  sampler_ = EpochSampler(std::move(train_indices), config_.batch, config_.grad_accum,
                          config_.seed);
}

void Trainer::build_scheduler() {
  units_ = sched::units_of(*model_);
  sched::IlsOptions ils;
  ils.freeze_ratio = config_.freeze_ratio;
  ils.staleness_bound = config_.staleness;
  ils.exploration = config_.exploration;
  ils.seed = config_.seed;
  const auto prefixes = split_commas(config_.always_train);
  for (size_t i = 0; i < units_.size(); ++i) {
    if (starts_with_any(units_[i].name, prefixes)) ils.always_train.push_back(int64_t(i));
  }
  // With nothing frozen every unit trains, whatever the budget: no costs to compute or report.
  if (config_.budget != "units" && config_.freeze_ratio > 0) {
    const models::ModelConfig& mc = model_->config();
    const int64_t tokens = sched::tokens_per_example(
        mc, dataset_->max_tokens() > 0 ? dataset_->max_tokens() : config_.seq_len);
    const int64_t examples = config_.batch / config_.grad_accum;
    ils.costs = sched::unit_costs(units_, mc, examples, tokens, config_.compress);
    const int64_t count =
        int64_t(units_.size()) - int64_t(std::floor(config_.freeze_ratio * double(units_.size())));
    ils.budget = sched::budget_bytes(config_.budget, ils.costs, count, ils.always_train);
    log_info("budget=", config_.budget, ": ", mib(int64_t(ils.budget)),
             " MiB per step for the trained units' gradients, snapshots and saved inputs (",
             config_.budget == "mean" ? "the expected cost" : "the most", " of ", count,
             " units at ", examples, " x ", tokens, " tokens)");
  }
  scheduler_ = std::make_unique<sched::IlsScheduler>(int64_t(units_.size()), ils);
  coordinator_ = std::make_unique<coord::Coordinator>(*comm_, *scheduler_,
                                                      sched::parse_score_kind(config_.score));
}

void Trainer::build_optimizer() {
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const auto& item : model_->named_parameters()) named.emplace_back(item.key(), item.value());
  AdamWOptions adamw;
  adamw.lr = config_.lr;
  adamw.weight_decay = config_.weight_decay;
  adamw.coast = config_.frozen_update == "coast";
  adamw.coast_window = config_.coast_window();
  optimizer_ = std::make_unique<AdamW>(named, adamw);
  optimizer_->set_offload(config_.offload_optimizer);
  if (config_.offload_optimizer && device_.is_cpu()) {
    log_warn("offload_optimizer=true has no effect with device=cpu (the state is in host memory)");
  }
  mem::LedgerScope scope(mem::Category::kOptimizer);
  optimizer_->init_state();  // steady state from the start: every unit trains at some step
}

// On the GPU, dropout draws from the device's generator, so a resumed run repeats the
// interrupted one only if that generator continues too. Between devices (a CPU checkpoint
// resumed on a GPU, or the reverse) the weights and the rest carry over, and the warning says
// that the dropout streams do not.
void Trainer::restore_cuda_generator(const at::Tensor& states) {
  const bool saved = states.defined();
  if (saved && device_.is_cuda() && comm_->rank() < states.size(0)) {
    at::Generator generator = at::globalContext().defaultGenerator(device_);
    generator.set_state(states[comm_->rank()].clone());
  } else if (saved != device_.is_cuda() && comm_->rank() == 0) {
    log_warn("resume: ", config_.resume, " was written by a run on ", saved ? "a GPU" : "the CPU",
             ", this run is on ", device_.str(), ": the dropout streams differ, so the run will "
             "not repeat bit for bit");
  }
}

namespace {

// A checksum of the weights that does not depend on summation order or thread count: each
// tensor's bytes as integers, summed exactly (wrapping on overflow), plus the step.
int64_t weight_checksum(const std::vector<at::Tensor>& params, int64_t next_step) {
  uint64_t sum = uint64_t(next_step);
  for (const at::Tensor& p : params) {
    const at::Tensor bytes = p.detach().contiguous().view(at::kByte).view({-1});
    const at::ScalarType as = bytes.numel() % 4 == 0   ? at::kInt
                              : bytes.numel() % 2 == 0 ? at::kShort
                                                       : at::kByte;
    sum += uint64_t(bytes.view(as).sum(at::kLong).cpu().item<int64_t>());
  }
  int64_t out;
  std::memcpy(&out, &sum, sizeof(out));
  return out;
}

}  // namespace

// Every rank must continue from the same checkpoint. A rank that read other contents (an
// older file at the same path, a copy on a node-local disk) would train other weights with no
// error anywhere, so the ranks compare a checksum of what they loaded, as the coordinator
// compares its mask hashes (the minimum and maximum over ranks), and all stop if it differs.
void Trainer::check_ranks_resumed_alike(int64_t next_step) {
  if (comm_->size() == 1) return;
  at::Tensor lo = at::full({1}, weight_checksum(all_params_, next_step), at::kLong);
  at::Tensor hi = lo.clone();
  comm_->all_reduce_min(lo);
  comm_->all_reduce_max(hi);
  SLIMFIT_CHECK(lo.item<int64_t>() == hi.item<int64_t>(), "resume: the ranks read different "
                "contents from ", config_.resume, " (weights or step differ): every rank must "
                "see the same checkpoint file (a shared file system, no other run writing it)");
}

void Trainer::resume() {
  const CheckpointState state = load_checkpoint(config_.resume, config_, *model_, *optimizer_);
  check_ranks_resumed_alike(state.next_step);
  // Each rank continues its own dropout stream; a rank the writer did not have starts afresh.
  const int64_t saved_ranks = state.rng_states.size(0);
  if (comm_->rank() < saved_ranks) {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    // A copy of the row: libtorch 2.x's set_state refuses the row view of a rank > 0
    // ("Invalid mt19937 state"); 1.13 took it.
    generator.set_state(state.rng_states[comm_->rank()].clone());
  }
  restore_cuda_generator(state.cuda_rng_states);
  if (saved_ranks != comm_->size() && comm_->rank() == 0) {
    log_warn("resume: ", config_.resume, " was written by ", saved_ranks, " rank(s), this run has ",
             comm_->size(), ": weights, optimizer, scheduler and data position continue, but the "
             "dropout streams differ, so the run will not repeat bit for bit");
  }
  scheduler_->restore(state.scheduler);
  next_step_ = state.next_step;
  last_checkpoint_step_ = next_step_;
  last_checkpoint_path_ = config_.resume;
  if (!config_.metrics.empty() && std::filesystem::exists(config_.metrics)) {
    // The metrics of the steps before the checkpoint, and the evaluations, so that the best so
    // far and patience carry on.
    MetricsPrefix prefix =
        read_metrics_file(config_.metrics, next_step_, dataset_->is_regression());
    records_ = std::move(prefix.records);
    for (const auto& [step, e] : prefix.evaluations) track(step, e, /*resumed=*/true);
  }
  log_info("resumed from ", config_.resume, " at step ", next_step_);
}

void Trainer::log_plan(const ModelSpec& spec) const {
  const bool by_bytes = scheduler_->budget() > 0;
  const int64_t window = optimizer_->options().coast_window;
  log_info(comm_->size(), " rank(s), backend ", comm_->backend(), "; model ", spec.config.name,
           ": ", units_.size(), " units, ", by_bytes ? "the bytes of " : "",
           scheduler_->num_trainable(), " train per step (freeze_ratio ", config_.freeze_ratio,
           "), frozen_update ", config_.frozen_update,
           optimizer_->options().coast && window > 0 ? str_cat(" (", window, " steps)") : "",
           ", compress ", config_.compress ? "on" : "off", "; data ", config_.data, ": ",
           train_size(), " train / ", eval_indices_.size(), " eval; ", total_steps_, " steps");
}

void Trainer::assume_steady_state() {
  for (AdamW::Slot& s : optimizer_->slots()) s.step = std::max<int64_t>(s.step, 1);
}

Trainer::~Trainer() = default;

// SLIMFIT_FAULT="rank=R,step=S,kind=K": all three keys, or an error (never a silent default).
Trainer::Fault Trainer::parse_fault(const std::string& spec) {
  Fault fault;
  for (const std::string& part : split_commas(spec)) {
    const size_t eq = part.find('=');
    SLIMFIT_CHECK(eq != std::string::npos, "SLIMFIT_FAULT: expected key=value, got '", part, "'");
    const std::string key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "rank")
      fault.rank = int(fault_number(key, value));
    else if (key == "step")
      fault.step = fault_number(key, value);
    else if (key == "kind")
      fault.kind = value;
    else
      throw Error(str_cat("SLIMFIT_FAULT: unknown key '", key, "' (rank, step, kind)"));
  }
  SLIMFIT_CHECK(fault.rank >= 0 && fault.step >= 0 && !fault.kind.empty(),
                "SLIMFIT_FAULT='", spec, "' must set rank=R,step=S,kind=K");
  SLIMFIT_CHECK(fault.kind == "throw" || fault.kind == "nan" || fault.kind == "kill" ||
                    fault.kind == "hang" || fault.kind == "term",
                "SLIMFIT_FAULT: kind must be throw, nan, kill, hang or term, got '", fault.kind,
                "'");
  log_warn("fault injection armed: rank ", fault.rank, " step ", fault.step, " kind ", fault.kind);
  return fault;
}

// Every output path is checked before any work (and the checkpoint locked against a second
// run); resume=auto becomes the checkpoint when it exists.
void Trainer::prepare_outputs() {
  if (config_.resume == "auto") {
    const bool exists = std::filesystem::exists(config_.checkpoint);
    log_info("resume=auto: ",
             exists ? str_cat("resuming from ", config_.checkpoint)
                    : str_cat(config_.checkpoint, " does not exist yet; starting fresh"));
    config_.resume = exists ? config_.checkpoint : "";
  }
  if (comm_->rank() != 0) return;  // the one writer
  if (!config_.checkpoint.empty()) {
    check_output_path(config_.checkpoint, "checkpoint=");
    checkpoint_lock_ = FileLock(config_.checkpoint, "checkpoint=");
  }
  if (!config_.metrics.empty()) check_output_path(config_.metrics, "metrics=");
  if (!config_.save_best.empty()) {
    check_output_path(config_.save_best, "save_best=");
    best_lock_ = FileLock(config_.save_best, "save_best=");
  }
}

double Trainer::lr_at(int64_t step) const {
  if (step < config_.warmup_steps) return config_.lr * double(step) / double(config_.warmup_steps);
  const int64_t decay = std::max<int64_t>(1, total_steps_ - config_.warmup_steps);
  return config_.lr * std::max(0.0, double(total_steps_ - step) / double(decay));
}

void Trainer::maybe_inject_fault(at::Tensor& loss) {
  if (fault_.rank != comm_->rank() || fault_.step != next_step_) return;
  log_warn("injecting fault '", fault_.kind, "' at step ", next_step_);
  if (fault_.kind == "kill") std::raise(SIGKILL);
  if (fault_.kind == "throw") throw Error(str_cat("injected failure at step ", next_step_));
  if (fault_.kind == "term") {  // a preemption notice that reaches this rank only
    std::raise(SIGTERM);
    return;
  }
  if (fault_.kind == "hang") {  // a stalled rank: never reaches the next collective
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  loss = loss * std::nan("");
}

at::Tensor Trainer::compute_loss(const models::Batch& batch) {
  const at::Tensor out = model_->forward(batch);
  if (dataset_->is_regression()) return at::mse_loss(out.squeeze(-1), batch.labels);
  return at::cross_entropy_loss(out, batch.labels);
}

namespace {

// What every rank learns about a micro-batch's loss before any weight changes (note
// [interruption] in common/interrupt.h for the stop signal).
struct LossAgreement {
  double mean_loss = 0.0;  // over the ranks
  int bad_rank = -1;       // the highest rank whose loss is not finite, or -1
  int stop_signal = 0;     // a stop signal any rank has received, or 0
};

// One small all-reduce per micro-batch: [loss, highest bad rank + 1, stop signal], summed for
// the first and max-reduced for the others.
LossAgreement agree_on_loss(comm::Communicator& comm, double loss, int pending_signal) {
  const bool finite = std::isfinite(loss);
  at::Tensor shared = at::tensor(
      {finite ? loss : 0.0, finite ? 0.0 : double(comm.rank() + 1), double(pending_signal)},
      at::kDouble);
  if (comm.size() > 1) {
    at::Tensor worst = shared.slice(0, 1, 3).clone();
    at::Tensor sum = shared.slice(0, 0, 1).clone();
    comm.all_reduce_max(worst);
    comm.all_reduce_sum(sum);
    shared = at::cat({sum / double(comm.size()), worst});
  }
  const auto a = shared.accessor<double, 1>();
  return {a[0], int(a[1]) - 1, int(a[2])};
}

}  // namespace

std::vector<uint8_t> Trainer::decide_mask(int64_t step) { return coordinator_->decide(step); }

const StepRecord& Trainer::step() {
  const int64_t step = next_step_;
  const auto start = std::chrono::steady_clock::now();
  const int64_t control_before = coordinator_->control_bytes();
  StepRecord record;
  auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  record.mask = decide_mask(step);
  record.coord_seconds = since(start);
  std::vector<at::Tensor> params;
  for (size_t i = 0; i < units_.size(); ++i) {
    units_[i].param.set_requires_grad(record.mask[i] != 0);
    params.push_back(units_[i].param);
  }
  record.offload_bytes = optimizer_->place_state();
  record.resident_bytes = optimizer_->resident_state_bytes();
  // The training dynamics only choose what to freeze: with nothing to freeze, no snapshots.
  const std::vector<uint8_t> tracked =
      config_.freeze_ratio > 0 ? record.mask : std::vector<uint8_t>(units_.size(), 0);
  {
    mem::LedgerScope scope(mem::Category::kDynamics);
    tracker_.begin_step(params, tracked, comm_->rank(), comm_->size());
  }
  memory_->reset_peak();

  double loss_sum = 0.0;
  for (int64_t micro = 0; micro < config_.grad_accum; ++micro) {
    models::Batch batch;
    {
      mem::LedgerScope scope(mem::Category::kInputs);
      batch = dataset_->get(sampler_.indices(step, micro, comm_->rank(), comm_->size()))
                  .to(device_);
    }
    if (micro == 0) record.input_bytes = batch.nbytes();
    at::Tensor loss;
    {
      mem::LedgerScope scope(mem::Category::kForward);
      const int64_t before = memory_->current();
      loss = compute_loss(batch) / double(config_.grad_accum);
      if (micro == 0) record.saved_bytes = memory_->current() - before;
    }
    maybe_inject_fault(loss);
    // Every rank learns of a bad loss anywhere before any weight changes, and all stop with the
    // same message; a stop signal that reached any rank stops all after this step.
    const double value = loss.item<double>();
    const LossAgreement agreed = agree_on_loss(*comm_, value, pending_interrupt());
    stop_signal_ = std::max(stop_signal_, agreed.stop_signal);
    if (agreed.bad_rank >= 0) {
      optimizer_->release_grads();
      throw Error(str_cat(
          "non-finite loss (", agreed.bad_rank == comm_->rank() ? value : std::nan(""),
          ") on rank ", agreed.bad_rank, " at step ", step, ", micro-batch ", micro,
          "; the run stopped before changing any weight. ",
          last_checkpoint_step_ >= 0
              ? str_cat("The last checkpoint (", last_checkpoint_path_, ", step ",
                        last_checkpoint_step_, ") is intact; ")
              : std::string("No checkpoint was written; "),
          "lower lr (", config_.lr, ") or raise warmup_steps"));
    }
    {
      mem::LedgerScope scope(mem::Category::kBackward);
      loss.backward();
    }
    loss_sum += agreed.mean_loss;
  }
  for (const at::Tensor& p : all_params_) {
    if (p.grad().defined()) record.grad_bytes += p.grad().nbytes();
  }
  coord::UnitReport report;
  report.local_grad_sq.assign(units_.size(), 0.0);
  std::vector<double> global_grad_sq(units_.size(), 0.0);
  auto grad_sq = [&](std::vector<double>& out) {
    for (size_t i = 0; i < units_.size(); ++i) {
      const at::Tensor& g = units_[i].param.grad();
      if (g.defined()) out[i] = g.to(at::kDouble).pow(2).sum().item<double>();
    }
  };
  if (comm_->size() > 1) {
    grad_sq(report.local_grad_sq);
    const auto comm_start = std::chrono::steady_clock::now();
    record.comm_bytes =
        comm::average_gradients(*comm_, all_params_, int64_t(config_.bucket_mb * 1024 * 1024))
            .bytes;
    record.comm_seconds = since(comm_start);
    grad_sq(global_grad_sq);
  }
  record.lr = lr_at(step);
  {
    mem::LedgerScope scope(mem::Category::kStep);
    optimizer_->step(record.lr);
  }
  optimizer_->release_grads();
  mem::note_gradient_bytes(-record.grad_bytes);
  report.partials = tracker_.end_step_partial(params, coordinator_->score_kind());
  const auto report_start = std::chrono::steady_clock::now();
  const double diversity = coordinator_->report(record.mask, report, global_grad_sq, record.lr);
  record.coord_seconds += since(report_start);
  record.grad_diversity = comm_->size() > 1 ? diversity : 1.0;
  record.control_bytes = coordinator_->control_bytes() - control_before;
  record.loss = loss_sum;
  record.peak_bytes = memory_->peak();
  record.peak = mem::snapshot();  // what was alive at the peak (CPU)
  record.seconds = since(start);
  records_.push_back(std::move(record));
  next_step_ = step + 1;
  return records_.back();
}

EvalResult Trainer::evaluate() {
  if (eval_indices_.empty()) return EvalResult{};
  std::vector<int64_t> indices = eval_indices_;
  if (config_.max_eval > 0 && int64_t(indices.size()) > config_.max_eval) {
    indices.resize(size_t(config_.max_eval));
  }
  return evaluate_outputs(
      compute_outputs(*model_, *eval_dataset_, indices, config_.batch, device_, *comm_));
}

std::string Trainer::best_metric() const {
  if (!config_.best_metric.empty()) return config_.best_metric;
  return dataset_->is_regression() ? "pearson" : "accuracy";
}

bool Trainer::evaluate_and_track() { return track(next_step_, evaluate(), /*resumed=*/false); }

bool Trainer::track(int64_t step, const EvalResult& e, bool resumed) {
  evaluations_.emplace_back(step, e);
  const std::string metric = best_metric();
  const auto values = e.metrics();
  const auto it = values.find(metric);
  SLIMFIT_CHECK(it != values.end(), "best_metric=", metric, " is not a metric of this task (",
                e.regression ? "loss, mse, pearson, spearman" : "loss, accuracy, f1, macro_f1, mcc",
                ")");
  const bool better = best_step_ < 0 || (higher_is_better(metric) ? it->second > best_value_
                                                                   : it->second < best_value_);
  if (!better) return config_.patience > 0 && ++evals_since_best_ >= config_.patience;
  best_step_ = step, best_value_ = it->second, evals_since_best_ = 0;
  if (resumed) return false;  // its checkpoint, if any, was written by the first run
  if (!config_.save_best.empty()) write_checkpoint(config_.save_best);
  if (!config_.save_best.empty() || config_.patience > 0) {
    log_info("best ", metric, " so far: ", best_value_, " at step ", best_step_,
             config_.save_best.empty() ? "" : str_cat("; checkpoint ", config_.save_best));
  }
  return false;
}

TrainSummary Trainer::run() {
  const int64_t end =
      config_.stop_after > 0 ? std::min(config_.stop_after, total_steps_) : total_steps_;
  auto window_start = std::chrono::steady_clock::now();
  int64_t window_steps = 0;
  while (next_step_ < end) {
    try {
      step();
    } catch (const comm::CollectiveTimeout& e) {
      throw comm::CollectiveTimeout(str_cat("at step ", next_step_, ": ", e.what()));
    }
    if (stop_signal_ != 0) stop_for_signal(stop_signal_);
    ++window_steps;
    const int64_t step = next_step_;  // steps done
    if (config_.checkpoint_every > 0 && step % config_.checkpoint_every == 0 && step < end) save();
    if (step % config_.log_every == 0 || step == end) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      const StepRecord& r = records_.back();
      int64_t trained = 0;
      for (uint8_t m : r.mask) trained += m;
      log_info("step ", step, "/", total_steps_, "  loss ", r.loss, "  lr ", r.lr, "  ",
               double(window_steps * config_.batch) / std::max(secs, 1e-9), " samples/s  peak ",
               mib(r.peak_bytes), " MiB  trainable ", trained, "/", r.mask.size(), " units");
      window_start = std::chrono::steady_clock::now();
      window_steps = 0;
    }
    if (config_.eval_every > 0 && step % config_.eval_every == 0 && step < end) {
      const bool stale = evaluate_and_track();
      log_info("eval at step ", step, ": ", describe(evaluations_.back().second));
      if (stale) {
        log_info("early stop at step ", step, ": ", config_.patience, " evaluations without a better ",
                 best_metric(), " than ", best_value_, " (step ", best_step_, ")");
        break;
      }
    }
  }
  // The final evaluation, unless the last mid-run one was at this very step.
  if (evaluations_.empty() || evaluations_.back().first != next_step_) evaluate_and_track();
  save();

  TrainSummary s;
  s.steps = next_step_;
  s.world_size = comm_->size();
  s.units = int64_t(units_.size());
  s.config = config_.to_map();
  int64_t resident_steps = 0;
  double seconds = 0.0, fraction = 0.0;
  for (const StepRecord& r : records_) {
    seconds += r.seconds;
    s.peak_bytes = std::max(s.peak_bytes, r.peak_bytes);
    int64_t trained = 0;
    for (uint8_t m : r.mask) trained += m;
    fraction += double(trained) / double(r.mask.size());
    s.comm_bytes_per_step += double(r.comm_bytes);
    s.mean_comm_seconds += r.comm_seconds;
    s.mean_coord_seconds += r.coord_seconds;
    s.offload_bytes_per_step += double(r.offload_bytes);
    s.optimizer_resident_bytes_mean += double(r.resident_bytes);
    s.optimizer_resident_bytes_max = std::max(s.optimizer_resident_bytes_max, r.resident_bytes);
    resident_steps += r.resident_bytes > 0;  // steps before a resume were not recorded
  }
  s.optimizer_bytes = optimizer_->state_bytes();
  s.optimizer_device_bytes = optimizer_->device_state_bytes();
  if (!records_.empty()) {
    s.mean_step_seconds = seconds / double(records_.size());
    s.trainable_fraction = fraction / double(records_.size());
    s.comm_bytes_per_step /= double(records_.size());
    s.mean_comm_seconds /= double(records_.size());
    s.mean_coord_seconds /= double(records_.size());
    s.offload_bytes_per_step /= double(records_.size());
    s.optimizer_resident_bytes_mean /= double(std::max<int64_t>(1, resident_steps));
    s.final_train_loss = records_.back().loss;
  }
  const EvalResult& e = evaluations_.back().second;
  s.final_eval = e;
  s.final_accuracy = e.accuracy;
  s.final_f1 = e.f1;
  s.final_eval_loss = e.loss;
  s.best_step = best_step_;
  s.best_value = best_value_;
  log_info("done: ", s.steps, " steps, eval ", describe(e), " on ", e.examples,
           " examples, mean step ", s.mean_step_seconds, " s, peak ", mib(s.peak_bytes), " MiB");
  return s;
}

void Trainer::write_checkpoint(const std::string& path) {
  // Each rank's dropout stream differs, so every rank's generator state goes to the writer.
  CheckpointState state;
  state.next_step = next_step_;
  state.scheduler = scheduler_->state();
  state.rng_states = comm_->gather(at::detail::getDefaultCPUGenerator().get_state(), 0);
  if (device_.is_cuda()) {
    state.cuda_rng_states =
        comm_->gather(at::globalContext().defaultGenerator(device_).get_state().cpu(), 0);
  }
  state.label_names = dataset_->label_names();
  state.problem_type = dataset_->is_regression() ? "regression" : "single_label_classification";
  if (comm_->rank() != 0) return;  // one writer; every rank holds the same weights and state
  save_checkpoint(path, config_, *model_, *optimizer_, state);
}

void Trainer::save() {
  if (!config_.checkpoint.empty()) {
    write_checkpoint(config_.checkpoint);
    last_checkpoint_step_ = next_step_;
    last_checkpoint_path_ = config_.checkpoint;
  }
  if (comm_->rank() == 0) write_metrics();
}

void Trainer::stop_for_signal(int signal) {
  save();
  comm_->barrier();  // rank 0's checkpoint is complete before any rank exits
  const std::string where =
      config_.checkpoint.empty()
          ? std::string("no checkpoint= was set, so nothing was saved (set checkpoint=PATH to "
                        "make a run resumable)")
          : str_cat("the checkpoint ", config_.checkpoint, " holds step ", next_step_,
                    "; continue with resume=", config_.checkpoint, " (or resume=auto)");
  const std::string message = str_cat("stopped by ", signal_name(signal), " after step ",
                                      next_step_, " of ", total_steps_, "; ", where);
  log_warn(message);
  throw Interrupted(signal, message);
}

void Trainer::write_metrics() const {
  if (config_.metrics.empty() || records_.empty()) return;
  std::vector<std::string> names;
  for (const auto& u : units_) names.push_back(u.name);
  write_metrics_file(config_.metrics, names, records_, evaluations_, comm_->size());
}

}  // namespace slimfit::train
