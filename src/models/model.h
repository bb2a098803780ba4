// The model interface every part of slimfit trains through: a classifier (BERT or ViT family)
// whose parameter names match Hugging Face's, so pretrained safetensors import directly.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>

#include "models/config.h"
#include "ops/functional.h"

namespace slimfit::models {

// One mini-batch. BERT reads the token tensors, ViT reads pixel_values.
struct Batch {
  at::Tensor input_ids;       // (B, L) int64
  at::Tensor token_type_ids;  // (B, L) int64, or undefined (all zeros)
  at::Tensor attention_mask;  // (B, L) int64 1 = token, 0 = padding, or undefined (all ones)
  at::Tensor pixel_values;    // (B, C, H, W) float
  at::Tensor labels;          // (B) int64
  int64_t size() const { return input_ids.defined() ? input_ids.size(0) : pixel_values.size(0); }
  // The same batch on `device` (non-blocking copies; a no-op for tensors already there).
  Batch to(at::Device device) const;
};

// A sequence/image classifier: BertForSequenceClassification or ViTForImageClassification.
class ClassifierImpl : public torch::nn::Module {
 public:
  explicit ClassifierImpl(ModelConfig config)
      : config_(std::move(config)), ops_(std::make_shared<ops::OpsConfig>()) {}
  // -> logits (B, num_labels)
  virtual at::Tensor forward(const Batch& batch) = 0;
  const ModelConfig& config() const { return config_; }
  // The op configuration shared by every layer; change it through this handle at any time.
  const ops::OpsConfigHandle& ops() const { return ops_; }

 protected:
  ModelConfig config_;
  ops::OpsConfigHandle ops_;
};
using Classifier = std::shared_ptr<ClassifierImpl>;

// A model with Hugging Face's initialisation (normal(0, initializer_range), zero biases,
// unit LayerNorm weights), deterministic for a given torch seed.
Classifier make_model(const ModelConfig& config);

// A Hugging Face checkpoint directory: config.json, model.safetensors (vocab.txt for BERT).
// Tensors named without the "bert."/"vit." prefix (a bare BertModel) are accepted; the head
// (classifier, and pooler if absent) keeps its fresh initialisation and is reported.
Classifier load_pretrained(const std::string& dir, int64_t num_labels);

// Loads parameters by name from a safetensors file. Throws slimfit::Error naming the tensor on
// a missing tensor (when strict) or a shape/dtype mismatch. Returns the names not found.
std::vector<std::string> load_weights(ClassifierImpl& model, const std::string& path, bool strict);

// A deterministic random batch of the model's input kind (for memory and speed measurement).
// seq is the sequence length for BERT; ViT uses config.image_size.
Batch synthetic_batch(const ModelConfig& config, int64_t batch, int64_t seq, uint64_t seed);

}  // namespace slimfit::models
