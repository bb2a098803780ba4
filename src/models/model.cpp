#include "models/model.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <filesystem>
#include <map>

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

// Copies the checkpoint tensors into the model's parameters. With head_mismatch_ok, a head
// tensor (classifier, pooler) of another shape keeps its fresh init instead of throwing.
std::vector<std::string> load_tensors(ClassifierImpl& model,
                                      const std::map<std::string, at::Tensor>& tensors,
                                      const std::string& path, bool strict, bool head_mismatch_ok) {
  std::vector<std::string> missing;
  at::NoGradGuard no_grad;
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    at::Tensor& param = item.value();
    const at::Tensor* src = nullptr;
    std::string found;
    for (const auto& candidate : candidate_names(name)) {
      auto it = tensors.find(candidate);
      if (it != tensors.end()) {
        src = &it->second;
        found = candidate;
        break;
      }
    }
    if (src == nullptr) {
      missing.push_back(name);
      continue;
    }
    if (src->sizes() != param.sizes()) {
      if (head_mismatch_ok && is_head(name)) {
        log_warn("'", path, "': tensor '", found, "' has shape ", src->sizes(),
                 " but the model's '", name, "' is ", param.sizes(),
                 "; it keeps its fresh initialisation (num_labels differs from the checkpoint)");
        missing.push_back(name);
        continue;
      }
      throw Error(str_cat("'", path, "': tensor '", found, "' has shape ", src->sizes(),
                          " but the model's parameter '", name, "' expects ", param.sizes(),
                          " (the checkpoint does not match config '", model.config().name, "')"));
    }
    SLIMFIT_CHECK(at::isFloatingType(src->scalar_type()), "'", path, "': tensor '", found,
                  "' has dtype ", src->scalar_type(), " but parameter '", name,
                  "' is floating point ", param.scalar_type());
    param.copy_(*src);  // converts dtype (e.g. F16 checkpoints) and device
  }
  SLIMFIT_CHECK(!strict || missing.empty(), "'", path, "' lacks ", missing.size(),
                " of the model's parameters: ", join_first(missing, 8),
                " (load with strict=false to keep their fresh initialisation)");
  return missing;
}

}  // namespace

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

std::vector<std::string> load_weights(ClassifierImpl& model, const std::string& path, bool strict) {
  return load_tensors(model, read_safetensors(path), path, strict, /*head_mismatch_ok=*/false);
}

Classifier load_pretrained(const std::string& dir, int64_t num_labels) {
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
  std::vector<std::string> missing =
      load_tensors(*model, read_safetensors(weights), weights, /*strict=*/false,
                   /*head_mismatch_ok=*/true);
  std::vector<std::string> body;
  for (const auto& name : missing)
    if (!is_head(name)) body.push_back(name);
  SLIMFIT_CHECK(body.empty(), "load_pretrained: '", weights, "' lacks ", body.size(),
                " encoder tensors: ", join_first(body, 8),
                " (is it a checkpoint of another architecture or size than config.json says?)");
  if (!missing.empty())
    log_warn("load_pretrained '", dir, "': ", missing.size(),
             " head tensors not in the checkpoint keep their fresh initialisation: ",
             join_first(missing, 8));
  return model;
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
