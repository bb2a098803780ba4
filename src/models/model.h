// The model interface every part of slimfit trains through: a classifier (BERT or ViT family)
// whose parameter names match Hugging Face's, so pretrained safetensors import directly.
#pragma once

#include <torch/nn/module.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/config.h"
#include "ops/functional.h"

namespace slimfit::models {

// One mini-batch. BERT reads the token tensors, ViT reads pixel_values.
struct Batch {
  at::Tensor input_ids;       // (B, L) int64
  at::Tensor token_type_ids;  // (B, L) int64, or undefined (all zeros)
  at::Tensor attention_mask;  // (B, L) int64 1 = token, 0 = padding, or undefined (all ones)
  at::Tensor pixel_values;    // (B, C, H, W) float
  at::Tensor labels;          // (B) int64 class ids, or (B) float32 targets (is_regression sets)
  int64_t size() const { return input_ids.defined() ? input_ids.size(0) : pixel_values.size(0); }
  // The same batch on `device` (non-blocking copies; a no-op for tensors already there).
  Batch to(at::Device device) const;
  int64_t nbytes() const;  // of every tensor it holds
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

// Note [loading weights]: every way train fills a model from a file (a pretrained safetensors
// file, init= and resume= from a slimfit checkpoint) goes through load_weights, all or nothing.
// Each parameter is one of:
//  - skipped: its name starts with one of LoadRules::skip (init_skip); never read, stays fresh;
//  - head (classifier.*, bert.pooler.*) when LoadRules::head_may_start_fresh: loaded when the
//    source holds it in the right shape, otherwise it stays fresh (a checkpoint of another task,
//    or a bare BertModel without a classifier);
//  - required: anything else. Absent, of another shape or not floating point is an error.
// A source tensor that no parameter takes is an error too (config.json with fewer layers than
// the weights, another architecture), except tensors a checkpoint legitimately carries for
// other uses: a pooler the model does not have (pooling=mean, ViT), other task heads ("cls.",
// "classifier."), and position_ids buffers. Those are returned as `ignored`.
// A mismatch lists the first 8 missing, unexpected and misshaped names with their counts, and
// no parameter is changed.
struct LoadRules {
  std::vector<std::string> skip;     // parameter-name prefixes that are never read
  bool head_may_start_fresh = true;  // the task head may be absent or of another shape
  std::string name_prefix;           // how a source names a tensor in messages ("/weights/")
  std::string hint;                  // appended to a mismatch error: what to do about it
};

struct LoadResult {
  std::vector<std::string> fresh;    // parameters that keep their fresh initialisation
  std::vector<std::string> ignored;  // source tensors the model has no use for
  int64_t loaded = 0;                // parameters copied from the source
};

// Copies `tensors` into the model's parameters by name under `rules` (note [loading weights]).
// Hugging Face aliases are accepted: a name without the "bert."/"vit." prefix (a bare
// BertModel/ViTModel) and TF-era LayerNorm gamma/beta. `source` names the origin in messages
// (e.g. "init: run.h5"). Throws slimfit::Error, before changing any parameter, on a mismatch.
LoadResult load_weights(ClassifierImpl& model, const std::map<std::string, at::Tensor>& tensors,
                        const std::string& source, const LoadRules& rules);

// A pretrained safetensors file under the default rules (only the task head may start fresh),
// or, with head_required, with every tensor required (a fine-tuned model to use as it is).
LoadResult load_pretrained_weights(ClassifierImpl& model, const std::string& path,
                                   bool head_required = false);

// A Hugging Face checkpoint directory: config.json, model.safetensors (vocab.txt for BERT),
// loaded by load_pretrained_weights; the head that starts fresh is logged. num_labels > 0
// overrides config.json's. With head_required nothing may start fresh: a missing head is an
// error naming its tensors.
Classifier load_pretrained(const std::string& dir, int64_t num_labels, bool head_required = false);

// The model's parameters under the names Hugging Face's BertForSequenceClassification /
// ViTForImageClassification give them in state_dict(), detached, on the CPU: what an export
// writes. slimfit registers its parameters under exactly those names (bert.h, vit.h), so this is
// the identity on names; the aliases load_weights also accepts (no "bert."/"vit." prefix,
// gamma/beta) are never written. load_weights(model, hugging_face_tensors(model), ...) restores
// every parameter.
std::map<std::string, at::Tensor> hugging_face_tensors(ClassifierImpl& model);

// A deterministic random batch of the model's input kind (for memory and speed measurement).
// seq is the sequence length for BERT; ViT uses config.image_size.
Batch synthetic_batch(const ModelConfig& config, int64_t batch, int64_t seq, uint64_t seed);

}  // namespace slimfit::models
