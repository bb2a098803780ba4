#include "train/metrics_file.h"

#include <ATen/ATen.h>

#include <cstring>
#include <map>

#include "ckpt/h5.h"
#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"

namespace slimfit::train {
namespace {

struct DoubleColumn {
  const char* path;
  double StepRecord::*field;
};
struct IntColumn {
  const char* path;
  int64_t StepRecord::*field;
};
constexpr DoubleColumn kDoubleColumns[] = {
    {"/steps/loss", &StepRecord::loss},
    {"/steps/lr", &StepRecord::lr},
    {"/steps/seconds", &StepRecord::seconds},
    {"/steps/grad_diversity", &StepRecord::grad_diversity},
    {"/steps/comm_seconds", &StepRecord::comm_seconds},
    {"/steps/coord_seconds", &StepRecord::coord_seconds},
};
constexpr IntColumn kIntColumns[] = {
    {"/steps/comm_bytes", &StepRecord::comm_bytes},
    {"/steps/peak_bytes", &StepRecord::peak_bytes},
    {"/steps/control_bytes", &StepRecord::control_bytes},
    {"/steps/offload_bytes", &StepRecord::offload_bytes},
    {"/steps/resident_bytes", &StepRecord::resident_bytes},
    {"/steps/input_bytes", &StepRecord::input_bytes},
    {"/steps/saved_bytes", &StepRecord::saved_bytes},
    {"/steps/grad_bytes", &StepRecord::grad_bytes},
};

}  // namespace

void write_metrics_file(const std::string& path, const std::vector<std::string>& unit_names,
                        const std::vector<StepRecord>& records,
                        const std::vector<Evaluation>& evaluations, int world_size) {
  const int64_t n = int64_t(records.size()), t = int64_t(unit_names.size());
  at::Tensor mask = at::empty({n, t}, at::kByte);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(mask[i].data_ptr<uint8_t>(), records[size_t(i)].mask.data(), size_t(t));
  }
  h5::write_atomically(path, [&](h5::File& f) {
    f.set_kind("metrics file");
    f.write_strings("/units/names", unit_names);
    f.write_tensor("/steps/trainable_mask", mask);
    for (const DoubleColumn& c : kDoubleColumns) {
      at::Tensor column = at::empty({n}, at::kDouble);
      for (int64_t i = 0; i < n; ++i) column.data_ptr<double>()[i] = records[size_t(i)].*c.field;
      f.write_tensor(c.path, column);
    }
    for (const IntColumn& c : kIntColumns) {
      at::Tensor column = at::empty({n}, at::kLong);
      for (int64_t i = 0; i < n; ++i) column.data_ptr<int64_t>()[i] = records[size_t(i)].*c.field;
      f.write_tensor(c.path, column);
    }
    f.write_int("/world_size", world_size);
    if (evaluations.empty()) return;
    const int64_t evals = int64_t(evaluations.size());
    at::Tensor steps = at::empty({evals}, at::kLong), examples = at::empty({evals}, at::kLong);
    std::map<std::string, at::Tensor> columns;
    for (int64_t i = 0; i < evals; ++i) {
      const auto& [step, e] = evaluations[size_t(i)];
      steps[i] = step;
      examples[i] = e.examples;
      for (const auto& [name, value] : e.metrics()) {
        if (!columns.count(name)) columns[name] = at::empty({evals}, at::kDouble);
        columns[name][i] = value;
      }
    }
    f.write_tensor("/eval/step", steps);
    f.write_tensor("/eval/examples", examples);
    for (const auto& [name, column] : columns) f.write_tensor("/eval/" + name, column);
  });
}

MetricsPrefix read_metrics_file(const std::string& path, int64_t steps, bool regression) {
  MetricsPrefix out;
  h5::File f = h5::File::open(path);
  f.set_kind("metrics file");
  const at::Tensor mask = f.read_tensor("/steps/trainable_mask").contiguous();
  const int64_t n = std::min<int64_t>(mask.size(0), steps);
  out.records.assign(size_t(n), StepRecord{});
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* row = mask[i].data_ptr<uint8_t>();
    out.records[size_t(i)].mask.assign(row, row + mask.size(1));
  }
  std::vector<std::string> absent;  // columns a file of an older slimfit lacks
  auto read = [&](const char* column_path, at::ScalarType type) {
    if (!f.exists(column_path)) {
      absent.push_back(column_path);
      return at::Tensor();
    }
    const at::Tensor column = f.read_tensor(column_path).to(type).contiguous();
    SLIMFIT_CHECK(column.numel() >= n, "metrics file ", path, ": ", column_path, " has ",
                  column.numel(), " rows but /steps/trainable_mask has ", mask.size(0));
    return column;
  };
  for (const DoubleColumn& c : kDoubleColumns) {
    const at::Tensor column = read(c.path, at::kDouble);
    for (int64_t i = 0; column.defined() && i < n; ++i)
      out.records[size_t(i)].*c.field = column.data_ptr<double>()[i];
  }
  for (const IntColumn& c : kIntColumns) {
    const at::Tensor column = read(c.path, at::kLong);
    for (int64_t i = 0; column.defined() && i < n; ++i)
      out.records[size_t(i)].*c.field = column.data_ptr<int64_t>()[i];
  }
  if (!absent.empty())
    log_warn("metrics file ", path, " lacks ", join_first(absent, 8),
             "; those steps keep default values");
  if (!f.exists("/eval/step")) return out;
  const at::Tensor eval_steps = f.read_tensor("/eval/step").to(at::kLong);
  const at::Tensor examples = f.read_tensor("/eval/examples").to(at::kLong);
  for (int64_t i = 0; i < eval_steps.numel(); ++i) {
    if (eval_steps[i].item<int64_t>() > steps) break;
    std::map<std::string, double> values;
    EvalResult names;
    names.regression = regression;
    for (const auto& [name, unused] : names.metrics()) {
      values[name] = f.read_tensor("/eval/" + name)[i].item<double>();
    }
    out.evaluations.emplace_back(
        eval_steps[i].item<int64_t>(),
        EvalResult::from_metrics(values, regression, examples[i].item<int64_t>()));
  }
  return out;
}

}  // namespace slimfit::train
