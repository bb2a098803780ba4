// Training configuration: `key = value` lines in a config file (# comments), then `key=value`
// overrides from the command line. Every key is known and validated; an unknown key or a bad
// value is an error naming the key, the value, what is expected and where it came from.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace slimfit::train {

struct TrainConfig {
  std::string model = "bert-tiny";  // built-in name or Hugging Face checkpoint directory
  std::string data = "synthetic";   // synthetic[:N] | PATH.h5 (slimfit prepare) | fashion-mnist
  std::string classes;    // label list ("5-9", "0,2,4"): keep those examples, relabelled 0..k-1
  std::string eval_data;  // a separate evaluation set (same forms as data; "" = split data)
  std::string init;       // weights-only start from a slimfit checkpoint (fine-tuning)
  std::string init_skip = "classifier";  // parameter-name prefixes that init leaves fresh
  int64_t steps = 0;                     // total optimizer steps (0: use epochs)
  double epochs = 0.0;
  int64_t batch = 8;       // global batch (split across ranks)
  int64_t seq_len = 128;   // BERT sequence length
  int64_t grad_accum = 1;  // micro-batches per optimizer step (the freeze set is fixed)
  double lr = 0.0;         // 0: automatic (5e-5 with pretrained weights, 1e-3 from random init)
  int64_t warmup_steps = 0;
  double weight_decay = 0.01;
  double freeze_ratio = 0.0;
  bool compress = true;
  std::string frozen_update = "coast";  // coast | none: what a frozen unit's AdamW does
                                        // (note [frozen update] in train/adamw.h)
  int64_t coast_steps = 0;  // coast at most this many steps after training (0: automatic:
                            // unbounded, or 44 with offload_optimizer; note [optimizer offload])
  bool offload_optimizer = false;  // frozen units' AdamW moments in pinned host memory (CUDA)
  double dropout = -1.0;           // < 0: the model config's own
  std::string pooling;             // BERT classifier input: cls | mean ("" = the model's, cls)
  uint64_t seed = 0;
  std::string score = "relative";  // relative | norm (note [score] in sched/dynamics.h)
  int64_t staleness = 0;           // ILS staleness bound (0: automatic)
  std::string budget = "mean";     // mean | worst: a byte budget (note [memory budget] in
                                   // sched/budget.h) | units: t - floor(r t) per step
  double exploration = 0.0;
  std::string always_train = "classifier";  // comma-separated parameter-name prefixes
  std::string checkpoint;                   // HDF5 checkpoint path ("" = none)
  int64_t checkpoint_every = 0;             // 0: only at the end
  std::string metrics;                      // HDF5 metrics path ("" = none)
  std::string resume;      // checkpoint to resume from; "auto": `checkpoint` when it exists, else
                           // a fresh start (a requeued job resumes by itself)
  int64_t stop_after = 0;  // stop (with a checkpoint) after this step
  int64_t eval_every = 0;
  std::string save_best;    // keep the checkpoint of the best evaluation here ("" = don't)
  std::string best_metric;  // what "best" means: any metric evaluate reports ("" = accuracy, or
                            // pearson for regression; loss and mse: lower is better)
  int64_t patience = 0;     // stop after this many evaluations without a better best_metric
  double eval_fraction = 0.2;
  int64_t kfold = 0;  // > 1: k-fold split, evaluating fold `fold`
  int64_t fold = 0;
  int64_t max_eval = 0;  // cap on evaluated examples (0 = all)
  int64_t log_every = 10;
  int64_t num_labels = 0;  // 0: from the data set
  std::string device = "cpu";
  std::string backend = "auto";     // auto | mpi | nccl | self (see comm/communicator.h)
  double bucket_mb = 25.0;          // gradient all-reduce bucket size
  double collective_timeout = 600;  // seconds a collective may wait for the other ranks
                                    // (0: forever; note [collective timeout])

  // Shape overrides for `slimfit memory` (not keys of train: a pretrained model's weights fix
  // its shape). > 0: the encoder's number of layers, a ViT's image size in pixels.
  int64_t layers = 0;
  int64_t image_size = 0;

  // The coasting window in effect: coast_steps, or its automatic value (0 = unbounded).
  int64_t coast_window() const;
  // The keys whose values a checkpoint must share with the run that resumes it.
  std::map<std::string, std::string> identity() const;
  // Every key and its value, as text (written into checkpoints and summaries).
  std::map<std::string, std::string> to_map() const;
};

// Applies one `key=value`; `origin` names where it came from (for errors).
void set_key(TrainConfig& config, const std::string& key, const std::string& value,
             const std::string& origin);
// `value` as a whole decimal integer; the error names `origin` and `key=value`.
int64_t parse_int(const std::string& key, const std::string& value, const std::string& origin);
// Reads a config file of `key = value` lines.
void load_config_file(TrainConfig& config, const std::string& path);
// Cross-key checks (e.g. steps or epochs set, fold < kfold); throws slimfit::Error.
void validate(const TrainConfig& config);
std::vector<std::string> config_keys();

// Every key with its default (as text) and one line of help, for --help.
struct KeyHelp {
  std::string key;
  std::string default_value;
  std::string help;
};
std::vector<KeyHelp> key_help();

}  // namespace slimfit::train
