#include "train/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "ckpt/h5.h"
#include "common/error.h"
#include "common/strings.h"
#include "train/model_spec.h"

namespace slimfit::train {
namespace {

// Every tensor under /weights, by parameter name (note [loading weights] in models/model.h).
std::map<std::string, at::Tensor> read_weights(const h5::File& f) {
  SLIMFIT_CHECK(f.is_group("/weights"), f.path(),
                " has no /weights group: it is not a checkpoint written by slimfit train");
  std::map<std::string, at::Tensor> out;
  for (const std::string& name : f.list("/weights")) out[name] = f.read_tensor("/weights/" + name);
  return out;
}

std::map<std::string, std::string> read_config_keys(const h5::File& f) {
  const auto keys = f.read_strings("/config/keys");
  const auto values = f.read_strings("/config/values");
  SLIMFIT_CHECK(keys.size() == values.size(), "checkpoint ", f.path(), " has a corrupt /config");
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < keys.size(); ++i) out[keys[i]] = values[i];
  return out;
}

void check_problem_type(const std::string& problem_type, const std::string& where) {
  SLIMFIT_CHECK(problem_type.empty() || problem_type == "single_label_classification" ||
                    problem_type == "regression",
                where, ": problem_type '", problem_type,
                "' is not single_label_classification or regression");
}

// A checkpoint of an older slimfit has no /model/config_json: rebuild the config the way the
// trainer built it from the run's keys (model=, pooling=, dropout=) and the head's shape.
models::ModelConfig config_of_older_checkpoint(const h5::File& f,
                                               const std::map<std::string, std::string>& keys) {
  const std::string where =
      str_cat("checkpoint ", f.path(), " (written before /model/config_json)");
  TrainConfig run;
  for (const char* key : {"model", "pooling", "dropout"}) {
    auto it = keys.find(key);
    if (it != keys.end()) set_key(run, key, it->second, where);
  }
  models::ModelConfig config = resolve_model_spec(run.model).config;
  if (!run.pooling.empty()) config.pooling = run.pooling;
  if (run.dropout >= 0) config.hidden_dropout = config.attention_dropout = run.dropout;
  const std::string head = "/weights/classifier.weight";
  SLIMFIT_CHECK(f.exists(head), where, " has no ", head);
  config.num_labels = f.shape(head).at(0);
  return config;
}

}  // namespace

CheckpointModel read_checkpoint_model(const std::string& path) {
  SLIMFIT_CHECK(std::filesystem::is_regular_file(path), "checkpoint ", path,
                " does not exist or is not a file; checkpoint=PATH names a file written by "
                "slimfit train checkpoint=PATH");
  h5::File f = h5::File::open(path);
  f.set_kind("checkpoint");
  SLIMFIT_CHECK(f.is_group("/weights") && f.exists("/config/keys"), path,
                " has no /weights or /config: it is not a checkpoint written by slimfit train");
  CheckpointModel out;
  out.keys = read_config_keys(f);
  if (f.exists("/model/config_json")) {
    out.config = models::config_from_json(f.read_string("/model/config_json"),
                                          str_cat(path, ":/model/config_json"));
  } else {
    out.config = config_of_older_checkpoint(f, out.keys);
  }
  if (f.exists("/model/label_names")) out.label_names = f.read_strings("/model/label_names");
  if (f.exists("/model/problem_type")) out.problem_type = f.read_string("/model/problem_type");
  check_problem_type(out.problem_type, "checkpoint " + path);
  if (out.problem_type.empty())
    out.problem_type = out.config.num_labels == 1 ? "regression" : "single_label_classification";
  SLIMFIT_CHECK(int64_t(out.label_names.size()) <= out.config.num_labels, "checkpoint ", path,
                " names ", out.label_names.size(), " labels for a model with ",
                out.config.num_labels);
  return out;
}

void load_trained_weights(const std::string& path, models::ClassifierImpl& model) {
  h5::File f = h5::File::open(path);
  f.set_kind("checkpoint");
  models::LoadRules rules;
  rules.head_may_start_fresh = false;  // the model as trained: nothing starts fresh
  rules.name_prefix = "/weights/";
  rules.hint =
      "a trained model is used as it is, so every tensor must be there; is the file "
      "damaged?";
  models::load_weights(model, read_weights(f), "checkpoint " + path, rules);
}

void save_checkpoint(const std::string& path, const TrainConfig& config,
                     models::ClassifierImpl& model, const AdamW& optimizer,
                     const CheckpointState& state) {
  check_problem_type(state.problem_type, "save_checkpoint " + path);
  SLIMFIT_CHECK(int64_t(state.label_names.size()) <= model.config().num_labels, "save_checkpoint ",
                path, ": ", state.label_names.size(), " label names for a model with ",
                model.config().num_labels, " labels");
  h5::write_atomically(path, [&](h5::File& f) {
    f.set_kind("checkpoint");
    for (const auto& item : model.named_parameters()) {
      f.write_tensor("/weights/" + item.key(), item.value().detach().cpu());
    }
    std::vector<int64_t> steps, idle;
    for (const AdamW::Slot& s : optimizer.slots()) {
      steps.push_back(s.step);
      idle.push_back(s.idle);
      if (s.exp_avg.defined()) f.write_tensor("/optimizer/" + s.name + "/exp_avg", s.exp_avg.cpu());
      if (s.exp_avg_sq.defined()) {
        f.write_tensor("/optimizer/" + s.name + "/exp_avg_sq", s.exp_avg_sq.cpu());
      }
    }
    f.write_tensor("/optimizer/steps", at::tensor(steps, at::kLong));
    f.write_tensor("/optimizer/idle", at::tensor(idle, at::kLong));
    const sched::IlsState& ils = state.scheduler;
    f.write_tensor("/scheduler/scores", at::tensor(ils.scores, at::kDouble));
    f.write_tensor("/scheduler/last_trained", at::tensor(ils.last_trained, at::kLong));
    f.write_int("/scheduler/step", ils.step);
    int64_t rng_bits = 0;
    std::memcpy(&rng_bits, &ils.rng_state, sizeof(rng_bits));
    f.write_int("/scheduler/rng_state", rng_bits);
    f.write_tensor("/rng/torch_cpu_ranks", state.rng_states);
    f.write_tensor("/rng/torch_cpu", state.rng_states[0]);
    if (state.cuda_rng_states.defined())
      f.write_tensor("/rng/torch_cuda_ranks", state.cuda_rng_states);
    f.write_int("/data/next_step", state.next_step);
    std::vector<std::string> keys, values;
    for (const auto& [k, v] : config.to_map()) keys.push_back(k), values.push_back(v);
    f.write_strings("/config/keys", keys);
    f.write_strings("/config/values", values);
    f.write_string("/model/config_json", models::config_to_json(model.config()));
    if (!state.label_names.empty()) f.write_strings("/model/label_names", state.label_names);
    f.write_string("/model/problem_type", state.problem_type);
  });
}

CheckpointState load_checkpoint(const std::string& path, const TrainConfig& config,
                                models::ClassifierImpl& model, AdamW& optimizer) {
  SLIMFIT_CHECK(std::filesystem::exists(path), "resume: checkpoint ", path,
                " does not exist; check resume=PATH");
  h5::File f = h5::File::open(path);
  f.set_kind("checkpoint");
  // Same identity, or refuse before touching anything.
  const std::map<std::string, std::string> saved = read_config_keys(f);
  std::string differences;
  for (const auto& [k, v] : config.identity()) {
    auto it = saved.find(k);
    const std::string theirs = it == saved.end() ? "<absent>" : it->second;
    if (theirs != v)
      differences += str_cat("\n  ", k, ": checkpoint has '", theirs, "', this run '", v, "'");
  }
  SLIMFIT_CHECK(differences.empty(), "checkpoint ", path,
                " was written by a different configuration:", differences,
                "\nresume with the checkpoint's settings, or start a new run without resume=");

  models::LoadRules rules;
  rules.head_may_start_fresh = false;  // resume restores every tensor
  rules.name_prefix = "/weights/";
  rules.hint = "resume needs every tensor of the run that wrote it; is the file damaged?";
  models::load_weights(model, read_weights(f), "resume: checkpoint " + path, rules);
  const at::Tensor steps = f.read_tensor("/optimizer/steps");
  const at::Tensor idle = f.read_tensor("/optimizer/idle");
  SLIMFIT_CHECK(steps.numel() == int64_t(optimizer.slots().size()) && idle.numel() == steps.numel(),
                "checkpoint ", path, " has ", steps.numel(), " optimizer slots (", idle.numel(),
                " idle counts), the model ", optimizer.slots().size());
  for (size_t i = 0; i < optimizer.slots().size(); ++i) {
    AdamW::Slot& s = optimizer.slots()[i];
    s.step = steps[i].item<int64_t>();
    s.idle = idle[i].item<int64_t>();
    const std::string base = "/optimizer/" + s.name;
    if (f.exists(base + "/exp_avg")) {
      s.exp_avg = f.read_tensor(base + "/exp_avg").to(s.param.device());
      s.exp_avg_sq = f.read_tensor(base + "/exp_avg_sq").to(s.param.device());
    }
  }
  CheckpointState state;
  sched::IlsState& ils = state.scheduler;
  const at::Tensor scores = f.read_tensor("/scheduler/scores").contiguous();
  const at::Tensor last = f.read_tensor("/scheduler/last_trained").contiguous();
  ils.scores.assign(scores.data_ptr<double>(), scores.data_ptr<double>() + scores.numel());
  ils.last_trained.assign(last.data_ptr<int64_t>(), last.data_ptr<int64_t>() + last.numel());
  ils.step = f.read_int("/scheduler/step");
  const int64_t rng_bits = f.read_int("/scheduler/rng_state");
  std::memcpy(&ils.rng_state, &rng_bits, sizeof(rng_bits));
  state.rng_states = f.exists("/rng/torch_cpu_ranks")
                         ? f.read_tensor("/rng/torch_cpu_ranks")
                         : f.read_tensor("/rng/torch_cpu").unsqueeze(0);
  if (f.exists("/rng/torch_cuda_ranks"))
    state.cuda_rng_states = f.read_tensor("/rng/torch_cuda_ranks");
  state.next_step = f.read_int("/data/next_step");
  if (f.exists("/model/label_names")) state.label_names = f.read_strings("/model/label_names");
  if (f.exists("/model/problem_type")) state.problem_type = f.read_string("/model/problem_type");
  return state;
}

std::vector<std::string> load_initial_weights(const std::string& path,
                                              models::ClassifierImpl& model,
                                              const std::vector<std::string>& skip_prefixes) {
  SLIMFIT_CHECK(std::filesystem::exists(path), "init: ", path,
                " does not exist; init=PATH names a checkpoint written by slimfit train "
                "checkpoint=PATH");
  h5::File f = h5::File::open(path);
  f.set_kind("checkpoint");
  models::LoadRules rules;
  rules.skip = skip_prefixes;
  rules.head_may_start_fresh = false;  // init_skip names what starts fresh
  rules.name_prefix = "/weights/";
  rules.hint = str_cat("(a checkpoint of another model?); init_skip=", join_first(skip_prefixes, 8),
                       " lists the parameters that start fresh: add a name to it to start that "
                       "parameter fresh");
  return models::load_weights(model, read_weights(f), "init: " + path, rules).fresh;
}

}  // namespace slimfit::train
