// Evaluation shared by `train` (its mid-run and final evaluations), `evaluate` and `predict`:
// which examples are held out, the model's outputs on them across ranks, and the metrics.
//
// Note [evaluation]: the list is cut into batches of `batch` as one process would cut it, and
// rank r runs batches r, r + size, ...; the outputs (float64 logits, or values for regression)
// are then summed into one zero tensor of all the examples (an all-reduce), so every rank holds
// every output in list order, bit for bit what one process computes: each example sees the
// same batch whatever the number of ranks. The metrics are a
// function of those outputs and the labels, computed identically on every rank, so decisions
// taken from them (the best checkpoint, early stopping) agree without another collective.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "comm/communicator.h"
#include "models/model.h"
#include "train/config.h"

namespace slimfit::data {
class Dataset;
}

namespace slimfit::train {

// The examples `train` fits and holds out: with eval_data, all of `data` and all of eval_data;
// with kfold > 1, fold `fold`; else a seed-fixed eval_fraction. The same for every command.
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_examples(const TrainConfig& config,
                                                                     int64_t data_size,
                                                                     int64_t eval_data_size);

struct Outputs {
  at::Tensor values;  // (n, num_labels) float64 logits; (n) float64 values for regression
  at::Tensor labels;  // (n) int64 classes, or (n) float64 targets for regression
  bool regression = false;
};

// The model's outputs on data[indices], computed across the ranks of `comm` (note
// [evaluation]). The model is put in eval mode and back in its former mode.
Outputs compute_outputs(models::ClassifierImpl& model, const data::Dataset& data,
                        const std::vector<int64_t>& indices, int64_t batch, at::Device device,
                        comm::Communicator& comm);

struct EvalResult {
  int64_t examples = 0;
  bool regression = false;
  double loss = 0.0;  // mean cross-entropy, or the mean squared error
  // Classification, in percent (f1: binary F1 of class 1, two-class tasks only; macro_f1: the
  // mean per-class F1 over the classes that occur in labels or predictions; mcc: the
  // multiclass Matthews correlation, in [-1, 1], not a percentage).
  double accuracy = 0.0, f1 = 0.0, macro_f1 = 0.0, mcc = 0.0;
  // Regression.
  double pearson = 0.0, spearman = 0.0, mse = 0.0;

  // The metrics this task reports, by name (the keys of the evaluate JSON).
  std::map<std::string, double> metrics() const;
  // The inverse of metrics() (a metrics file's /eval rows).
  static EvalResult from_metrics(const std::map<std::string, double>& values, bool regression,
                                 int64_t examples);
};

EvalResult evaluate_outputs(const Outputs& outputs);
nlohmann::json to_json(const EvalResult& result);

// Whether a larger value of `metric` is better (loss and mse: smaller).
bool higher_is_better(const std::string& metric);

}  // namespace slimfit::train
