#include "train/evaluation.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common/error.h"
#include "data/dataset.h"

namespace slimfit::train {
namespace {

// Pearson correlation of two equally long vectors; 0 when either is constant.
double pearson_of(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = double(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0.0;
}

// Ranks 1..n, ties sharing their mean rank (as scipy.stats.rankdata, the Spearman convention).
std::vector<double> ranks_of(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> rank(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double mean_rank = 0.5 * double(i + j) + 1.0;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = mean_rank;
    i = j + 1;
  }
  return rank;
}

void classification_metrics(const Outputs& o, EvalResult& r) {
  const int64_t n = o.values.size(0), k = o.values.size(1);
  const at::Tensor labels = o.labels.to(at::kLong);
  r.loss = at::cross_entropy_loss(o.values, labels).item<double>();
  const at::Tensor pred = o.values.argmax(-1);
  // confusion[t][p]: examples of class t predicted as p.
  std::vector<std::vector<double>> confusion(size_t(k), std::vector<double>(size_t(k), 0.0));
  const int64_t* t = labels.data_ptr<int64_t>();
  const int64_t* p = pred.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) confusion[size_t(t[i])][size_t(p[i])] += 1.0;
  std::vector<double> true_count(size_t(k), 0.0), pred_count(size_t(k), 0.0);
  double correct = 0.0, f1_sum = 0.0;
  int64_t classes_seen = 0;
  for (int64_t c = 0; c < k; ++c) {
    for (int64_t d = 0; d < k; ++d) {
      true_count[size_t(c)] += confusion[size_t(c)][size_t(d)];
      pred_count[size_t(d)] += confusion[size_t(c)][size_t(d)];
    }
    correct += confusion[size_t(c)][size_t(c)];
  }
  for (int64_t c = 0; c < k; ++c) {
    const double tp = confusion[size_t(c)][size_t(c)];
    const double denominator = true_count[size_t(c)] + pred_count[size_t(c)];
    if (denominator == 0) continue;  // a class absent from labels and predictions
    ++classes_seen;
    f1_sum += 2.0 * tp / denominator;
    if (k == 2 && c == 1) r.f1 = 100.0 * 2.0 * tp / denominator;
  }
  r.accuracy = 100.0 * correct / double(n);
  r.macro_f1 = classes_seen > 0 ? 100.0 * f1_sum / double(classes_seen) : 0.0;
  // Gorodkin's multiclass MCC (what scikit-learn computes).
  double tk_pk = 0.0, pk_pk = 0.0, tk_tk = 0.0;
  for (int64_t c = 0; c < k; ++c) {
    tk_pk += true_count[size_t(c)] * pred_count[size_t(c)];
    pk_pk += pred_count[size_t(c)] * pred_count[size_t(c)];
    tk_tk += true_count[size_t(c)] * true_count[size_t(c)];
  }
  const double s = double(n);
  const double denominator = std::sqrt((s * s - pk_pk) * (s * s - tk_tk));
  r.mcc = denominator > 0 ? (correct * s - tk_pk) / denominator : 0.0;
}

void regression_metrics(const Outputs& o, EvalResult& r) {
  const at::Tensor v = o.values.contiguous(), y = o.labels.to(at::kDouble).contiguous();
  std::vector<double> x(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
  std::vector<double> t(y.data_ptr<double>(), y.data_ptr<double>() + y.numel());
  double se = 0.0;
  for (size_t i = 0; i < x.size(); ++i) se += (x[i] - t[i]) * (x[i] - t[i]);
  r.mse = se / double(x.size());
  r.loss = r.mse;
  r.pearson = pearson_of(x, t);
  r.spearman = pearson_of(ranks_of(x), ranks_of(t));
}

}  // namespace

std::pair<std::vector<int64_t>, std::vector<int64_t>> split_examples(const TrainConfig& config,
                                                                     int64_t data_size,
                                                                     int64_t eval_data_size) {
  if (!config.eval_data.empty()) {
    std::vector<int64_t> train(static_cast<size_t>(data_size));
    std::vector<int64_t> eval(static_cast<size_t>(eval_data_size));
    std::iota(train.begin(), train.end(), int64_t{0});
    std::iota(eval.begin(), eval.end(), int64_t{0});
    return {std::move(train), std::move(eval)};
  }
  if (config.kfold > 1) return data::kfold_indices(data_size, config.kfold, config.fold, config.seed);
  return data::split_indices(data_size, config.eval_fraction, config.seed);
}

Outputs compute_outputs(models::ClassifierImpl& model, const data::Dataset& data,
                        const std::vector<int64_t>& indices, int64_t batch, at::Device device,
                        comm::Communicator& comm) {
  SLIMFIT_CHECK(batch > 0, "evaluation batch must be positive, got ", batch);
  Outputs out;
  out.regression = data.is_regression();
  const int64_t n = int64_t(indices.size());
  const int64_t width = out.regression ? 1 : model.config().num_labels;
  at::Tensor values = at::zeros({n, width}, at::kDouble);
  at::Tensor labels = at::zeros({n}, at::kDouble);  // exact for class ids and float32 targets
  const bool was_training = model.is_training();
  c10::NoGradGuard no_grad;
  model.eval();
  // Batch b holds positions [b * batch, (b + 1) * batch) of the list, as on one process, and
  // rank r runs batches r, r + size, ...: every example sees the batch it would see alone.
  for (int64_t begin = comm.rank() * batch; begin < n; begin += comm.size() * batch) {
    const int64_t end = std::min(n, begin + batch);
    const std::vector<int64_t> chunk(indices.begin() + begin, indices.begin() + end);
    const models::Batch b = data.get(chunk).to(device);
    const at::Tensor logits = model.forward(b).to(at::kCPU, at::kDouble).reshape({end - begin, width});
    values.slice(0, begin, end).copy_(logits);
    labels.slice(0, begin, end).copy_(b.labels.to(at::kCPU, at::kDouble));
  }
  model.train(was_training);
  if (comm.size() > 1) {  // every other row is 0 here, so the sum is each row exactly
    comm.all_reduce_sum(values);
    comm.all_reduce_sum(labels);
  }
  out.values = out.regression ? values.reshape({n}) : values;
  out.labels = out.regression ? labels : labels.to(at::kLong);
  return out;
}

EvalResult evaluate_outputs(const Outputs& outputs) {
  EvalResult r;
  r.examples = outputs.values.size(0);
  r.regression = outputs.regression;
  if (r.examples == 0) return r;
  if (r.regression) {
    regression_metrics(outputs, r);
  } else {
    classification_metrics(outputs, r);
  }
  return r;
}

std::map<std::string, double> EvalResult::metrics() const {
  if (regression) return {{"loss", loss}, {"mse", mse}, {"pearson", pearson}, {"spearman", spearman}};
  return {{"loss", loss}, {"accuracy", accuracy}, {"f1", f1}, {"macro_f1", macro_f1}, {"mcc", mcc}};
}

EvalResult EvalResult::from_metrics(const std::map<std::string, double>& values, bool regression,
                                    int64_t examples) {
  EvalResult r;
  r.regression = regression;
  r.examples = examples;
  auto value = [&](const char* name) {
    const auto it = values.find(name);
    SLIMFIT_CHECK(it != values.end(), "evaluation record lacks '", name, "'");
    return it->second;
  };
  r.loss = value("loss");
  if (regression) {
    r.mse = value("mse"), r.pearson = value("pearson"), r.spearman = value("spearman");
  } else {
    r.accuracy = value("accuracy"), r.f1 = value("f1"), r.macro_f1 = value("macro_f1");
    r.mcc = value("mcc");
  }
  return r;
}

nlohmann::json to_json(const EvalResult& r) {
  nlohmann::json j;
  for (const auto& [name, value] : r.metrics()) j[name] = value;
  j["examples"] = r.examples;
  j["problem_type"] = r.regression ? "regression" : "single_label_classification";
  return j;
}

bool higher_is_better(const std::string& metric) { return metric != "loss" && metric != "mse"; }

}  // namespace slimfit::train
