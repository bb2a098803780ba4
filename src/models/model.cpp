#include "models/model.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <filesystem>
#include <map>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "models/bert.h"
#include "models/safetensors.h"
#include "models/vit.h"

namespace slimfit::models {
namespace {

// Names a parameter may have in a checkpoint, most specific first: as is; without the
// "bert."/"vit." prefix (a bare BertModel/ViTModel); old TF-converted LayerNorm gamma/beta.
std::vector<std::string> candidate_names(const std::string& name) {
  std::vector<std::string> out{name};
  for (const char* prefix : {"bert.", "vit."})
    if (starts_with(name, prefix)) out.push_back(name.substr(std::string(prefix).size()));
  const size_t n = out.size();
  for (size_t i = 0; i < n; ++i) {
    const std::string& s = out[i];
    if (ends_with(s, "LayerNorm.weight"))
      out.push_back(s.substr(0, s.size() - 6) + "gamma");
    else if (ends_with(s, "LayerNorm.bias"))
      out.push_back(s.substr(0, s.size() - 4) + "beta");
  }
  return out;
}

bool is_head(const std::string& name) {
  return starts_with(name, "classifier.") || starts_with(name, "bert.pooler.");
}

// A source tensor that no parameter takes but a checkpoint may rightly carry (note [loading
// weights]): a pooler (pooling=mean, or a ViTModel's), other heads, position_ids buffers.
bool is_ignorable_extra(const std::string& source_name) {
  std::string bare = source_name;
  for (const char* prefix : {"bert.", "vit."})
    if (starts_with(bare, prefix)) bare = bare.substr(std::string(prefix).size());
  return starts_with(bare, "pooler.") || starts_with(bare, "classifier.") ||
         starts_with(bare, "cls.") || ends_with(bare, "position_ids");
}

std::string shape_str(at::IntArrayRef sizes) { return str_cat(sizes); }

// What load_weights will do, decided before any parameter changes.
struct LoadPlan {
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (parameter, source tensor)
  std::vector<std::string> fresh, ignored, missing, unexpected, misshaped;
};

// The source name a parameter is stored under, or "" when the source lacks it.
std::string find_source_name(const std::string& param,
                             const std::map<std::string, at::Tensor>& tensors) {
  for (const auto& candidate : candidate_names(param))
    if (tensors.count(candidate)) return candidate;
  return "";
}

LoadPlan plan_load(ClassifierImpl& model, const std::map<std::string, at::Tensor>& tensors,
                   const std::string& source, const LoadRules& rules) {
  LoadPlan plan;
  std::set<std::string> taken;
  const std::string& p = rules.name_prefix;
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    const at::Tensor& param = item.value();
    const std::string found = find_source_name(name, tensors);
    if (!found.empty()) taken.insert(found);
    const bool optional = rules.head_may_start_fresh && is_head(name);
    if (starts_with_any(name, rules.skip)) {
      plan.fresh.push_back(name);
    } else if (found.empty()) {
      (optional ? plan.fresh : plan.missing).push_back(name);
    } else if (tensors.at(found).sizes() != param.sizes()) {
      const std::string what = str_cat(p, found, " ", shape_str(tensors.at(found).sizes()),
                                       " (the model's ", name, " is ", param.sizes(), ")");
      if (!optional) {
        plan.misshaped.push_back(what);
        continue;
      }
      log_warn(source, ": ", what, " keeps its fresh initialisation (another num_labels?)");
      plan.fresh.push_back(name);
    } else if (!at::isFloatingType(tensors.at(found).scalar_type())) {
      plan.misshaped.push_back(str_cat(p, found, " of dtype ", tensors.at(found).scalar_type(),
                                       " (the model's ", name, " is floating point)"));
    } else {
      plan.copies.emplace_back(param, tensors.at(found));
    }
  }
  for (const auto& [name, t] : tensors) {
    if (taken.count(name)) continue;
    (is_ignorable_extra(name) ? plan.ignored : plan.unexpected).push_back(p + name);
  }
  return plan;
}

std::string mismatch_message(const LoadPlan& plan, ClassifierImpl& model, const std::string& source,
                             const LoadRules& rules) {
  std::vector<std::string> missing;
  for (const auto& name : plan.missing) missing.push_back(rules.name_prefix + name);
  std::string msg = str_cat(source, " does not match the model '", model.config().name, "' (",
                            model.config().num_layers, " layers):");
  if (!missing.empty())
    msg += str_cat("\n  has no ", join_first(missing, 8), " (", missing.size(), " missing)");
  if (!plan.unexpected.empty())
    msg += str_cat("\n  holds ", join_first(plan.unexpected, 8), ", which the model lacks (",
                   plan.unexpected.size(), " unexpected)");
  if (!plan.misshaped.empty())
    msg += str_cat("\n  holds ", join_first(plan.misshaped, 8), " (", plan.misshaped.size(),
                   " misshaped)");
  return msg + (rules.hint.empty() ? "" : "\n" + rules.hint);
}

}  // namespace

LoadResult load_weights(ClassifierImpl& model, const std::map<std::string, at::Tensor>& tensors,
                        const std::string& source, const LoadRules& rules) {
  LoadPlan plan = plan_load(model, tensors, source, rules);
  SLIMFIT_CHECK(plan.missing.empty() && plan.unexpected.empty() && plan.misshaped.empty(),
                mismatch_message(plan, model, source, rules));
  at::NoGradGuard no_grad;
  for (auto& [param, src] : plan.copies) param.copy_(src);  // converts dtype (F16) and device
  return {std::move(plan.fresh), std::move(plan.ignored), int64_t(plan.copies.size())};
}

LoadResult load_pretrained_weights(ClassifierImpl& model, const std::string& path,
                                   bool head_required) {
  LoadRules rules;
  rules.head_may_start_fresh = !head_required;
  rules.hint = head_required
                   ? "A fine-tuned model is used as it is, so every tensor must be there, the "
                     "task head (classifier, and the pooler with cls pooling) included; is it a "
                     "pretrained model that was never fine-tuned, or another architecture?"
                   : "Is it a checkpoint of another architecture or size than config.json says? "
                     "Only the task head (classifier, and a pooler the file lacks) may start "
                     "fresh";
  return load_weights(model, read_safetensors(path), "'" + path + "'", rules);
}

int64_t Batch::nbytes() const {
  int64_t bytes = 0;
  for (const at::Tensor* t : {&input_ids, &token_type_ids, &attention_mask, &pixel_values, &labels})
    bytes += t->defined() ? int64_t(t->nbytes()) : 0;
  return bytes;
}

Batch Batch::to(at::Device device) const {
  auto move = [&](const at::Tensor& t) {
    return t.defined() ? t.to(device, /*non_blocking=*/true) : t;
  };
  Batch b;
  b.input_ids = move(input_ids);
  b.token_type_ids = move(token_type_ids);
  b.attention_mask = move(attention_mask);
  b.pixel_values = move(pixel_values);
  b.labels = move(labels);
  return b;
}

Classifier make_model(const ModelConfig& config) {
  validate_config(config);
  switch (config.arch) {
    case Arch::kBert:
      return std::make_shared<BertForSequenceClassificationImpl>(config);
    case Arch::kVit:
      return std::make_shared<VitForImageClassificationImpl>(config);
  }
  throw Error(str_cat("make_model: config '", config.name, "' has an unknown architecture"));
}

Classifier load_pretrained(const std::string& dir, int64_t num_labels, bool head_required) {
  namespace fs = std::filesystem;
  SLIMFIT_CHECK(fs::is_directory(dir), "load_pretrained: '", dir,
                "' is not a directory (expected a Hugging Face checkpoint directory with "
                "config.json and model.safetensors)");
  ModelConfig config = config_from_json_file((fs::path(dir) / "config.json").string());
  if (num_labels > 0) config.num_labels = num_labels;
  const std::string weights = (fs::path(dir) / "model.safetensors").string();
  SLIMFIT_CHECK(fs::exists(weights), "load_pretrained: '", weights,
                "' not found (only safetensors are read; convert pytorch_model.bin with "
                "safetensors.torch.save_file)");
  Classifier model = make_model(config);
  const LoadResult r = load_pretrained_weights(*model, weights, head_required);
  if (!r.fresh.empty())
    log_info("load_pretrained '", dir, "': ", r.fresh.size(),
             " head tensors keep their fresh initialisation: ", join_first(r.fresh, 8));
  return model;
}

std::map<std::string, at::Tensor> hugging_face_tensors(ClassifierImpl& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters())
    out.emplace(item.key(), item.value().detach().to(at::kCPU));  // names are HF's (bert.h)
  return out;
}

Batch synthetic_batch(const ModelConfig& config, int64_t batch, int64_t seq, uint64_t seed) {
  SLIMFIT_CHECK(batch > 0, "synthetic_batch: batch must be positive, got ", batch);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Batch b;
  if (config.arch == Arch::kBert) {
    SLIMFIT_CHECK(seq > 0 && seq <= config.max_position_embeddings, "synthetic_batch: seq ", seq,
                  " must be in [1, ", config.max_position_embeddings,
                  "] (max_position_embeddings of '", config.name, "')");
    const int64_t low = config.vocab_size > 1 ? 1 : 0;  // avoid the padding id 0
    b.input_ids = at::randint(low, config.vocab_size, {batch, seq}, gen, at::kLong);
    b.token_type_ids = at::zeros({batch, seq}, at::kLong);
    b.attention_mask = at::ones({batch, seq}, at::kLong);
  } else {
    b.pixel_values = at::randn({batch, config.num_channels, config.image_size, config.image_size},
                               gen, at::kFloat);
  }
  b.labels = at::randint(0, config.num_labels, {batch}, gen, at::kLong);
  return b;
}

}  // namespace slimfit::models
