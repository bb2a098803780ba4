#include "train/config.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "common/error.h"

namespace slimfit::train {
namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

double parse_double(const std::string& key, const std::string& v, const std::string& origin) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  SLIMFIT_CHECK(!v.empty() && end && *end == '\0', origin, ": ", key, "=", v, " is not a number");
  SLIMFIT_CHECK(std::isfinite(x), origin, ": ", key, "=", v, " must be a finite number");
  return x;
}

bool parse_bool(const std::string& key, const std::string& v, const std::string& origin) {
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return false;
  throw Error(str_cat(origin, ": ", key, "=", v, " is not a boolean (use true or false)"));
}

struct Field {
  std::function<void(TrainConfig&, const std::string&, const std::string&)> set;
  std::function<std::string(const TrainConfig&)> get;
  bool identity;  // must match between a checkpoint and the run resuming it
  const char* help;  // one line for --help
};

template <typename T>
std::string text(const T& v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

#define SLIMFIT_INT(name, ident, help)                                     \
  {                                                                    \
#name, {                                                           \
      [](TrainConfig& c, const std::string& v, const std::string& o) { \
        c.name = parse_int(#name, v, o);                               \
      },                                                               \
          [](const TrainConfig& c) { return text(c.name); }, ident, help \
    }                                                                  \
  }
#define SLIMFIT_DOUBLE(name, ident, help)                                  \
  {                                                                    \
#name, {                                                           \
      [](TrainConfig& c, const std::string& v, const std::string& o) { \
        c.name = parse_double(#name, v, o);                            \
      },                                                               \
          [](const TrainConfig& c) { return text(c.name); }, ident, help \
    }                                                                  \
  }
#define SLIMFIT_STRING(name, ident, help)                                               \
  {                                                                                 \
#name, {                                                                        \
      [](TrainConfig& c, const std::string& v, const std::string&) { c.name = v; }, \
          [](const TrainConfig& c) { return c.name; }, ident, help                  \
    }                                                                               \
  }

const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> kFields = {
      SLIMFIT_STRING(model, true,
                   "built-in name (bert-tiny, bert-base, minilm, vit-tiny, vit-b16, ...) or a Hugging Face checkpoint directory"),
      SLIMFIT_STRING(data, true,
                   "synthetic[:N], synthetic-pairs[:N], synthetic-regression[:N], fashion-mnist, or PATH.h5 from slimfit prepare"),
      SLIMFIT_INT(steps, true,
                   "optimizer steps in total (0: use epochs)"),
      SLIMFIT_DOUBLE(epochs, true,
                   "passes over the training split, when steps=0"),
      SLIMFIT_INT(batch, true,
                   "global batch: examples per optimizer step, split across ranks"),
      SLIMFIT_INT(seq_len, true,
                   "tokens per example (BERT); a prepared set keeps its own length if shorter"),
      SLIMFIT_INT(grad_accum, true,
                   "micro-batches per optimizer step (the freeze set is fixed across them)"),
      SLIMFIT_DOUBLE(lr, true,
                   "peak learning rate (0: automatic, 5e-5 with pretrained weights, 1e-3 from random)"),
      SLIMFIT_INT(warmup_steps, true,
                   "linear warm-up steps, then linear decay to 0"),
      SLIMFIT_DOUBLE(weight_decay, true,
                   "AdamW decoupled weight decay"),
      SLIMFIT_DOUBLE(freeze_ratio, true,
                   "share of units frozen at each step, in [0, 1) (0: the unfrozen baseline)"),
      {"compress",
       {[](TrainConfig& c, const std::string& v, const std::string& o) {
          c.compress = parse_bool("compress", v, o);
        },
        [](const TrainConfig& c) { return std::string(c.compress ? "true" : "false"); }, true,
        "store saved activations compressed (SlimFit ops); false: stock ops"}},
      SLIMFIT_STRING(frozen_update, true,
                   "coast | none: whether a frozen unit keeps taking its AdamW momentum update"),
      SLIMFIT_INT(coast_steps, true,
                   "coast at most this many steps after a unit trained (0: automatic)"),
      // Identity: with coasting, offload bounds the coasting window (coast_window()).
      {"offload_optimizer",
       {[](TrainConfig& c, const std::string& v, const std::string& o) {
          c.offload_optimizer = parse_bool("offload_optimizer", v, o);
        },
        [](const TrainConfig& c) { return std::string(c.offload_optimizer ? "true" : "false"); },
        true, "keep frozen units' AdamW moments in pinned host memory (CUDA)"}},
      SLIMFIT_DOUBLE(dropout, true,
                   "hidden and attention dropout (negative: the model's own)"),
      SLIMFIT_STRING(pooling, true,
                   "cls | mean: the BERT classifier's input (empty: the model's own)"),
      {"seed",
       {[](TrainConfig& c, const std::string& v, const std::string& o) {
          const int64_t s = parse_int("seed", v, o);
          SLIMFIT_CHECK(s >= 0, o, ": seed=", v, " must be >= 0");
          c.seed = static_cast<uint64_t>(s);
        },
        [](const TrainConfig& c) { return text(c.seed); }, true, "weights, dropout, data order and split"}},
      SLIMFIT_STRING(score, true,
                   "relative | norm: how a unit's weight change becomes its score"),
      SLIMFIT_INT(staleness, true,
                   "a unit not trained for this many steps gets a turn (0: automatic)"),
      SLIMFIT_STRING(budget, true,
                   "mean | worst | units: what freeze_ratio bounds (bytes per step, or a count of units)"),
      SLIMFIT_DOUBLE(exploration, true,
                   "chance per slot of training a random frozen unit (budget=units only)"),
      SLIMFIT_STRING(always_train, true,
                   "comma-separated parameter-name prefixes that train at every step"),
      SLIMFIT_STRING(checkpoint, false,
                   "HDF5 checkpoint to write (empty: none)"),
      SLIMFIT_INT(checkpoint_every, false,
                   "write the checkpoint every N steps (0: only at the end)"),
      SLIMFIT_STRING(metrics, false,
                   "HDF5 metrics file: every step and evaluation (empty: none)"),
      SLIMFIT_STRING(resume, false,
                   "checkpoint to continue from; auto: checkpoint= when it exists"),
      SLIMFIT_INT(stop_after, false,
                   "stop after this step, with a checkpoint (0: run to the end)"),
      SLIMFIT_INT(eval_every, false,
                   "evaluate every N steps (0: only at the end)"),
      SLIMFIT_STRING(save_best, false,
                   "keep the checkpoint of the best evaluation here (empty: none)"),
      SLIMFIT_STRING(best_metric, false,
                   "what best means: loss, accuracy, f1, macro_f1, mcc, mse, pearson or spearman (empty: accuracy, or pearson for regression)"),
      SLIMFIT_INT(patience, false,
                   "stop after N evaluations without a better best_metric (0: never)"),
      SLIMFIT_DOUBLE(eval_fraction, true,
                   "share of the examples held out for evaluation"),
      SLIMFIT_STRING(classes, true,
                   "keep only these labels, relabelled 0..k-1 (e.g. 5-9 or 0,2,4; empty: all)"),
      SLIMFIT_STRING(eval_data, true,
                   "a separate evaluation set, same forms as data (empty: split data)"),
      SLIMFIT_STRING(init, true,
                   "start from the weights of a slimfit checkpoint (a new run)"),
      SLIMFIT_STRING(init_skip, true,
                   "parameter-name prefixes that init= leaves freshly initialised"),
      SLIMFIT_INT(kfold, true,
                   "k-fold split (0: off; then eval_fraction applies)"),
      SLIMFIT_INT(fold, true,
                   "the fold evaluated, in [0, kfold)"),
      SLIMFIT_INT(max_eval, false,
                   "evaluate at most this many examples (0: all)"),
      SLIMFIT_INT(log_every, false,
                   "print a progress line every N steps"),
      SLIMFIT_INT(num_labels, true,
                   "classifier outputs (0: from the data; 1: regression)"),
      SLIMFIT_STRING(device, false,
                   "cpu | cuda"),
      SLIMFIT_STRING(backend, false,
                   "auto | mpi | nccl | self: how ranks all-reduce"),
      SLIMFIT_DOUBLE(bucket_mb, false,
                   "gradient all-reduce bucket size in MiB"),
      SLIMFIT_DOUBLE(collective_timeout, false,
                   "seconds a collective waits for the other ranks before the run fails (0: forever)"),
  };
  return kFields;
}

}  // namespace

int64_t parse_int(const std::string& key, const std::string& v, const std::string& origin) {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  SLIMFIT_CHECK(!v.empty() && end && *end == '\0', origin, ": ", key, "=", v, " is not an integer");
  return x;
}

std::vector<KeyHelp> key_help() {
  const TrainConfig defaults;
  std::vector<KeyHelp> out;
  for (const auto& [k, f] : fields()) out.push_back({k, f.get(defaults), f.help});
  return out;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& [k, f] : fields()) keys.push_back(k);
  return keys;
}

void set_key(TrainConfig& config, const std::string& key, const std::string& value,
             const std::string& origin) {
  auto it = fields().find(key);
  if (it == fields().end()) {
    std::string known;
    for (const auto& k : config_keys()) known += (known.empty() ? "" : ", ") + k;
    throw Error(str_cat(origin, ": unknown key '", key, "'; known keys: ", known));
  }
  it->second.set(config, trim(value), origin);
}

void load_config_file(TrainConfig& config, const std::string& path) {
  SLIMFIT_CHECK(std::filesystem::is_regular_file(path), "cannot open config file ", path, ": ",
                std::filesystem::is_directory(path) ? "it is a directory" : "it does not exist",
                "; --config takes a file of 'key = value' lines");
  std::ifstream in(path);
  SLIMFIT_CHECK(in.good(), "cannot open config file ", path, ": check the path");
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    const std::string origin = str_cat(path, ":", line_no);
    SLIMFIT_CHECK(eq != std::string::npos, origin, ": expected 'key = value', got '", line, "'");
    set_key(config, trim(line.substr(0, eq)), line.substr(eq + 1), origin);
  }
}

void validate(const TrainConfig& c) {
  SLIMFIT_CHECK(c.steps >= 0, "steps must be >= 0, got ", c.steps);
  SLIMFIT_CHECK(c.epochs >= 0, "epochs must be >= 0, got ", c.epochs);
  SLIMFIT_CHECK(c.steps > 0 || c.epochs > 0, "set steps=N or epochs=E (both are 0)");
  SLIMFIT_CHECK(c.epochs <= 1e6, "epochs must be at most 1e6, got ", c.epochs);
  SLIMFIT_CHECK(c.batch > 0, "batch must be positive, got ", c.batch);
  SLIMFIT_CHECK(c.seq_len > 1, "seq_len must be > 1, got ", c.seq_len);
  SLIMFIT_CHECK(c.grad_accum > 0, "grad_accum must be positive, got ", c.grad_accum);
  SLIMFIT_CHECK(c.batch % c.grad_accum == 0, "batch=", c.batch,
                " must be divisible by grad_accum=", c.grad_accum);
  SLIMFIT_CHECK(c.lr >= 0 && c.lr < 1, "lr must be in [0, 1) (0: automatic), got ", c.lr);
  SLIMFIT_CHECK(c.warmup_steps >= 0, "warmup_steps must be >= 0, got ", c.warmup_steps);
  SLIMFIT_CHECK(c.weight_decay >= 0, "weight_decay must be >= 0, got ", c.weight_decay);
  SLIMFIT_CHECK(c.freeze_ratio >= 0 && c.freeze_ratio < 1, "freeze_ratio must be in [0, 1), got ",
                c.freeze_ratio);
  SLIMFIT_CHECK(c.frozen_update == "coast" || c.frozen_update == "none",
                "frozen_update must be coast or none, got '", c.frozen_update, "'");
  SLIMFIT_CHECK(c.score == "relative" || c.score == "norm", "score must be relative or norm, got '",
                c.score, "'");
  SLIMFIT_CHECK(c.budget == "units" || c.budget == "mean" || c.budget == "worst",
                "budget must be units, mean or worst, got '", c.budget, "'");
  SLIMFIT_CHECK(c.exploration == 0 || c.budget == "units", "exploration=", c.exploration,
                " needs budget=units (a byte budget does not explore), got budget=", c.budget);
  SLIMFIT_CHECK(c.coast_steps >= 0, "coast_steps must be >= 0 (0: automatic), got ", c.coast_steps);
  SLIMFIT_CHECK(c.pooling.empty() || c.pooling == "cls" || c.pooling == "mean",
                "pooling must be cls or mean (empty: the model's own), got '", c.pooling, "'");
  SLIMFIT_CHECK(c.dropout < 1, "dropout must be < 1 (negative: the model's own), got ", c.dropout);
  SLIMFIT_CHECK(c.exploration >= 0 && c.exploration < 1, "exploration must be in [0, 1), got ",
                c.exploration);
  SLIMFIT_CHECK(c.staleness >= 0, "staleness must be >= 0, got ", c.staleness);
  SLIMFIT_CHECK(c.eval_fraction >= 0 && c.eval_fraction < 1,
                "eval_fraction must be in [0, 1), got ", c.eval_fraction);
  SLIMFIT_CHECK(c.kfold == 0 || c.kfold >= 2, "kfold must be 0 (off) or >= 2, got ", c.kfold);
  SLIMFIT_CHECK(c.kfold == 0 || (c.fold >= 0 && c.fold < c.kfold),
                "fold must be in [0, kfold=", c.kfold, "), got ", c.fold);
  SLIMFIT_CHECK(c.eval_data.empty() || c.kfold == 0, "eval_data=", c.eval_data,
                " evaluates on a separate set; it cannot be combined with kfold=", c.kfold);
  SLIMFIT_CHECK(c.init.empty() || c.resume.empty() || c.resume == "auto",
                "init= (weights only, a new run) and resume= "
                "(continue a run) exclude each other; set one (resume=auto may go with init=: "
                "init applies when there is no checkpoint yet)");
  SLIMFIT_CHECK(c.resume != "auto" || !c.checkpoint.empty(),
                "resume=auto resumes from checkpoint=PATH when it exists; set checkpoint=");
  SLIMFIT_CHECK(c.stop_after >= 0, "stop_after must be >= 0, got ", c.stop_after);
  SLIMFIT_CHECK(c.checkpoint_every >= 0, "checkpoint_every must be >= 0 (0: only at the end), got ",
                c.checkpoint_every);
  SLIMFIT_CHECK(c.eval_every >= 0, "eval_every must be >= 0 (0: only at the end), got ",
                c.eval_every);
  SLIMFIT_CHECK(c.patience >= 0, "patience must be >= 0 (0: no early stopping), got ", c.patience);
  SLIMFIT_CHECK(c.patience == 0 || c.eval_every > 0, "patience=", c.patience,
                " counts evaluations: set eval_every=N as well");
  SLIMFIT_CHECK(c.best_metric.empty() || c.best_metric == "loss" || c.best_metric == "accuracy" ||
                    c.best_metric == "f1" || c.best_metric == "macro_f1" || c.best_metric == "mcc" ||
                    c.best_metric == "mse" || c.best_metric == "pearson" ||
                    c.best_metric == "spearman",
                "best_metric must be one of loss, accuracy, f1, macro_f1, mcc (classification) or "
                "loss, mse, pearson, spearman (regression), got '", c.best_metric, "'");
  SLIMFIT_CHECK(c.save_best.empty() || c.save_best != c.checkpoint, "save_best=", c.save_best,
                " must differ from checkpoint= (the latest and the best are two files)");
  SLIMFIT_CHECK(c.max_eval >= 0, "max_eval must be >= 0 (0: all), got ", c.max_eval);
  SLIMFIT_CHECK(c.num_labels >= 0, "num_labels must be >= 0 (0: from the data), got ",
                c.num_labels);
  SLIMFIT_CHECK(c.collective_timeout >= 0,
                "collective_timeout must be >= 0 seconds (0: wait forever), got ",
                c.collective_timeout);
  SLIMFIT_CHECK(c.log_every > 0, "log_every must be positive, got ", c.log_every);
  SLIMFIT_CHECK(c.device == "cpu" || c.device == "cuda", "device must be cpu or cuda, got '",
                c.device, "'");
  SLIMFIT_CHECK(c.bucket_mb > 0, "bucket_mb must be positive, got ", c.bucket_mb);
}

int64_t TrainConfig::coast_window() const {
  // 44 steps: b1^44 < 1e-2 at b1 = 0.9 (note [optimizer offload] in train/adamw.h).
  constexpr int64_t kOffloadCoastWindow = 44;
  if (coast_steps > 0) return coast_steps;
  return offload_optimizer ? kOffloadCoastWindow : 0;
}

std::map<std::string, std::string> TrainConfig::identity() const {
  std::map<std::string, std::string> out;
  for (const auto& [k, f] : fields()) {
    if (f.identity) out[k] = f.get(*this);
  }
  return out;
}

std::map<std::string, std::string> TrainConfig::to_map() const {
  std::map<std::string, std::string> out;
  for (const auto& [k, f] : fields()) out[k] = f.get(*this);
  return out;
}

}  // namespace slimfit::train
