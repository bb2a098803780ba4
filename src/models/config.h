// Model configurations: built-in ones (no download) and Hugging Face config.json files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slimfit::models {

enum class Arch { kBert, kVit };

struct ModelConfig {
  Arch arch = Arch::kBert;
  std::string name;
  int64_t hidden_size = 768;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t intermediate_size = 3072;
  double layer_norm_eps = 1e-12;
  double hidden_dropout = 0.1;
  double attention_dropout = 0.1;
  double initializer_range = 0.02;
  int64_t num_labels = 2;
  // BERT
  int64_t vocab_size = 30522;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  int64_t pad_token_id = 0;
  // The classifier's input: "cls" (tanh pooler on [CLS], Hugging Face's
  // BertForSequenceClassification) or "mean" (mean of the last hidden states over unmasked
  // tokens, how sentence-transformers checkpoints such as all-MiniLM-L6-v2 were trained; the
  // model then has no pooler).
  std::string pooling = "cls";
  // The vocab.txt whose line numbers the token ids are (a model directory's, set by
  // train::resolve_model_spec), or "": prepared text is then not checked against a vocabulary.
  std::string vocab_file;
  // ViT
  int64_t image_size = 224;
  int64_t patch_size = 16;
  int64_t num_channels = 3;
};

// "bert-tiny", "bert-base", "vit-tiny", "vit-b16"; throws slimfit::Error listing the names.
ModelConfig builtin_config(const std::string& name);
std::vector<std::string> builtin_config_names();
// Reads a Hugging Face config.json (model_type "bert" or "vit"); throws on a missing file,
// bad JSON or an unsupported model_type / hidden_act. Besides Hugging Face's keys it reads the
// two that config_to_json adds: "slimfit_pooling" and "slimfit_vocab_file".
ModelConfig config_from_json_file(const std::string& path);
// The same from JSON text; `origin` names it in errors (e.g. "checkpoint run.h5").
ModelConfig config_from_json(const std::string& text, const std::string& origin);
// A Hugging Face-style config.json for `config` (sorted keys, 2-space indent): model_type,
// hidden_act "gelu", the sizes, dropouts, num_labels and "_name_or_path" (config.name), plus
// "slimfit_pooling" (BERT) and "slimfit_vocab_file" (when set), which transformers ignores.
// config_from_json(config_to_json(c)) == c for every field of a valid config.
std::string config_to_json(const ModelConfig& config);
// Throws slimfit::Error on sizes that cannot build a model (e.g. hidden_size not a multiple of
// num_heads, image_size not a multiple of patch_size, pad_token_id outside the vocabulary).
void validate_config(const ModelConfig& config);

}  // namespace slimfit::models
