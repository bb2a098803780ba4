// slimfit evaluate and slimfit predict: a fine-tuned model on a data set, with train's grammar.
//
//   slimfit evaluate (checkpoint=RUN.h5 | model=DIR) [data=...] [split=heldout|all]
//                    [key=value ...] [--config FILE] [--summary OUT.json]
//   slimfit predict  (checkpoint=RUN.h5 | model=DIR) [data=...] [split=heldout|all]
//                    [key=value ...] [--config FILE] [--output OUT.jsonl]
//
// From a checkpoint, the run's keys (data, seq_len, batch, seed, eval_fraction, kfold, fold,
// max_eval, classes, eval_data, compress ...) are the defaults, so `evaluate checkpoint=RUN.h5`
// scores exactly the examples the run held out, as the run did; keys on the command line
// override them. With model=DIR (an exported or Hugging Face directory) train's defaults apply.
// split=all uses every example of the evaluation set (eval_data, else data). Under mpirun the
// examples are split across the ranks and gathered on rank 0 in the data set's order (note
// [evaluation] in train/evaluation.h), which alone writes the output.
#include <ATen/ATen.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "comm/communicator.h"
#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "data/dataset.h"
#include "mem/device_memory.h"
#include "train/config.h"
#include "train/evaluation.h"
#include "train/trained_model.h"

namespace slimfit::cli {
namespace {

// What both commands need: the model, the examples, and where the result goes.
struct Job {
  train::TrainConfig config;
  std::string source;  // "checkpoint=..." or "model=..."
  std::string split = "heldout";
  std::string output;  // the --summary / --output path; "" writes to standard output
  train::TrainedModel trained;
  std::shared_ptr<data::Dataset> examples;  // the evaluation set
  std::vector<int64_t> indices;
  std::unique_ptr<comm::Communicator> comm;
  at::Device device{at::kCPU};
};

Job set_up(int argc, char** argv, const std::string& output_flag) {
  Args args(argc, argv, 2, {}, {"config", output_flag});
  Job job;
  std::string checkpoint, model;
  std::vector<std::pair<std::string, std::string>> keys;
  if (args.has("config")) {  // read into a scratch config, then replayed after the checkpoint's
    train::TrainConfig file;
    train::load_config_file(file, args.get("config", ""));
    for (const auto& [k, v] : file.to_map()) keys.emplace_back(k, v);
  }
  for (const auto& [key, value] : args.key_values()) {
    if (key == "checkpoint") {
      checkpoint = value;
    } else if (key == "split") {
      SLIMFIT_CHECK(value == "heldout" || value == "all", "split must be heldout or all, got '",
                    value, "'");
      job.split = value;
    } else {
      if (key == "model") model = value;
      keys.emplace_back(key, value);
    }
  }
  SLIMFIT_CHECK(checkpoint.empty() != model.empty(),
                "give exactly one model: checkpoint=RUN.h5 (a slimfit checkpoint) or model=DIR (an "
                "exported or Hugging Face directory)");
  if (!checkpoint.empty()) {
    job.trained = train::load_trained_model(checkpoint);
    job.source = "checkpoint=" + checkpoint;
    // The run's keys are the defaults; keys that only concern its outputs do not apply here.
    for (const auto& [k, v] : job.trained.config) {
      if (k == "checkpoint" || k == "resume" || k == "metrics" || k == "save_best" || k == "init")
        continue;
      train::set_key(job.config, k, v, "checkpoint " + checkpoint);
    }
  } else {
    job.trained = train::load_model_directory(model);
    job.source = "model=" + model;
  }
  for (const auto& [k, v] : keys) train::set_key(job.config, k, v, "command line");
  const train::TrainConfig& c = job.config;
  job.comm = comm::make_communicator(c.backend, c.device);
  job.comm->set_timeout(c.collective_timeout);
  set_log_rank(job.comm->rank(), job.comm->size());
  job.output = args.get(output_flag, "");
  if (!job.output.empty() && job.comm->rank() == 0) {
    check_output_path(job.output, "--" + output_flag + " ");
  }
  job.device = mem::resolve_device(c.device, mem::local_rank(job.comm->rank()));

  models::ClassifierImpl& m = *job.trained.model;
  m.ops()->slimfit = c.compress;  // the ops the run evaluated with
  m.to(job.device);
  const models::ModelConfig& mc = m.config();
  auto train_set = data::open_dataset(c.data, mc, c.seq_len, c.seed, c.classes);
  job.examples = train_set;
  if (!c.eval_data.empty()) {  // as train opens it (a synthetic eval set has seed + 1)
    job.examples = data::open_dataset(c.eval_data, mc, c.seq_len, c.seed + 1, c.classes);
  }
  const bool regression = job.trained.problem_type == "regression";
  SLIMFIT_CHECK(job.examples->is_regression() == regression, job.source, " is a ",
                regression ? "regression" : "classification", " model, but the data set is not (",
                c.eval_data.empty() ? c.data : c.eval_data, ")");
  SLIMFIT_CHECK(regression || job.examples->num_labels() <= mc.num_labels, job.source, " has ",
                mc.num_labels, " classes but the data set has ", job.examples->num_labels());
  if (job.split == "all") {
    job.indices.resize(size_t(job.examples->size()));
    for (int64_t i = 0; i < job.examples->size(); ++i) job.indices[size_t(i)] = i;
  } else {
    job.indices = train::split_examples(c, train_set->size(), job.examples->size()).second;
    if (c.max_eval > 0 && int64_t(job.indices.size()) > c.max_eval) job.indices.resize(size_t(c.max_eval));
  }
  SLIMFIT_CHECK(!job.indices.empty(), "no examples to use: the ", job.split, " split of ",
                c.eval_data.empty() ? c.data : c.eval_data, " is empty");
  log_info(job.source, ": ", job.indices.size(), " examples (split=", job.split, ") of ",
           c.eval_data.empty() ? c.data : c.eval_data, ", ", job.comm->size(), " rank(s)");
  return job;
}

train::Outputs outputs_of(Job& job) {
  return train::compute_outputs(*job.trained.model, *job.examples, job.indices, job.config.batch,
                                job.device, *job.comm);
}

// Rank 0 writes `text` to the job's output path, or to standard output without one.
void emit(const Job& job, const std::string& text) {
  if (!job.output.empty()) {
    write_file_atomically(job.output, text);
  } else {
    std::cout << text << std::flush;
    SLIMFIT_CHECK(std::cout.good(), "writing to standard output failed");
  }
}

}  // namespace

int run_evaluate(int argc, char** argv) {
  Job job = set_up(argc, argv, "summary");
  const train::EvalResult result = train::evaluate_outputs(outputs_of(job));
  if (job.comm->rank() != 0) return 0;
  nlohmann::json j = train::to_json(result);
  j["source"] = job.source;
  j["data"] = job.config.eval_data.empty() ? job.config.data : job.config.eval_data;
  j["split"] = job.split;
  log_info("evaluated ", result.examples, " examples: ",
           result.regression ? "pearson " + std::to_string(result.pearson)
                             : "accuracy " + std::to_string(result.accuracy) + "%");
  emit(job, j.dump(2) + "\n");
  return 0;
}

int run_predict(int argc, char** argv) {
  Job job = set_up(argc, argv, "output");
  const train::Outputs out = outputs_of(job);
  if (job.comm->rank() != 0) return 0;
  std::ostringstream lines;
  for (size_t i = 0; i < job.indices.size(); ++i) {
    nlohmann::json j;
    j["index"] = job.indices[i];
    if (out.regression) {
      j["value"] = out.values[int64_t(i)].item<double>();
    } else {
      const at::Tensor p = at::softmax(out.values[int64_t(i)], -1);
      j["label"] = train::label_name(job.trained.label_names, p.argmax().item<int64_t>());
      j["probabilities"] = std::vector<double>(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
    }
    lines << j.dump() << "\n";
  }
  emit(job, lines.str());
  return 0;
}

}  // namespace slimfit::cli
