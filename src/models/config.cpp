// Built-in model configurations and Hugging Face config.json parsing.
//
// Built-ins (no download needed):
//   bert-tiny  google/bert_uncased_L-2_H-128_A-2 shape: 2 layers, hidden 128, 2 heads,
//              intermediate 512, BERT vocabulary (30522), dropout 0.1, 2 labels.
//   bert-base  HF BertConfig() defaults: 12 layers, hidden 768, 12 heads, intermediate 3072.
//   vit-tiny   CIFAR-shaped: 32x32 images, patch 4 (64 patches + CLS), 2 layers, hidden 128,
//              2 heads, intermediate 512, 3 channels, dropout 0.0, 10 labels.
//   vit-b16    ViT-B/16 at 224px, HF ViTConfig defaults (layer_norm_eps 1e-12, dropout 0.0),
//              1000 labels (ImageNet).
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>

#include "common/error.h"
#include "models/config.h"

namespace slimfit::models {
namespace {

using nlohmann::json;

ModelConfig bert_base() {
  ModelConfig c;  // the struct defaults are HF BertConfig()'s
  c.arch = Arch::kBert;
  c.name = "bert-base";
  return c;
}

ModelConfig vit_b16() {
  ModelConfig c;
  c.arch = Arch::kVit;
  c.name = "vit-b16";
  c.hidden_dropout = 0.0;
  c.attention_dropout = 0.0;
  c.layer_norm_eps = 1e-12;
  c.image_size = 224;
  c.patch_size = 16;
  c.num_channels = 3;
  c.num_labels = 1000;
  return c;
}

// Reads an optional key, converting with a clear error naming the file, key and value.
template <typename T>
void read_key(const json& j, const std::string& path, const char* key, T& out) {
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    out = j[key].get<T>();
  } catch (const json::exception&) {
    throw Error(str_cat("config '", path, "': key '", key, "' has value ", j[key].dump(),
                        " of the wrong type (expected a ",
                        std::is_same_v<T, std::string> ? "string"
                        : std::is_same_v<T, bool>      ? "boolean"
                                                       : "number",
                        ")"));
  }
}

}  // namespace

void validate_config(const ModelConfig& c) {
  SLIMFIT_CHECK(c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0 &&
                    c.intermediate_size > 0 && c.num_labels > 0,
                "model config '", c.name,
                "': hidden_size, num_hidden_layers, num_attention_heads, intermediate_size and "
                "num_labels must be positive (got ",
                c.hidden_size, ", ", c.num_layers, ", ", c.num_heads, ", ", c.intermediate_size,
                ", ", c.num_labels, ")");
  SLIMFIT_CHECK(c.hidden_size % c.num_heads == 0, "model config '", c.name, "': hidden_size ",
                c.hidden_size, " is not a multiple of num_attention_heads ", c.num_heads);
  SLIMFIT_CHECK(c.hidden_dropout >= 0 && c.hidden_dropout < 1 && c.attention_dropout >= 0 &&
                    c.attention_dropout < 1,
                "model config '", c.name, "': dropout probabilities must be in [0, 1), got ",
                c.hidden_dropout, " and ", c.attention_dropout);
  if (c.arch == Arch::kBert) {
    SLIMFIT_CHECK(c.vocab_size > 0 && c.max_position_embeddings > 0 && c.type_vocab_size > 0,
                  "model config '", c.name,
                  "': vocab_size, max_position_embeddings and type_vocab_size must be positive");
    SLIMFIT_CHECK(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size, "model config '", c.name,
                  "': pad_token_id ", c.pad_token_id, " is outside the vocabulary [0, ",
                  c.vocab_size, ")");
    SLIMFIT_CHECK(c.pooling == "cls" || c.pooling == "mean", "model config '", c.name,
                  "': pooling must be cls or mean, got '", c.pooling, "'");
  } else {
    SLIMFIT_CHECK(c.patch_size > 0 && c.image_size > 0 && c.image_size % c.patch_size == 0 &&
                      c.num_channels > 0,
                  "model config '", c.name, "': image_size ", c.image_size,
                  " must be a positive multiple of patch_size ", c.patch_size,
                  " and num_channels positive (got ", c.num_channels, ")");
  }
}

std::vector<std::string> builtin_config_names() {
  return {"bert-tiny", "bert-base", "vit-tiny", "vit-b16"};
}

ModelConfig builtin_config(const std::string& name) {
  if (name == "bert-base") return bert_base();
  if (name == "bert-tiny") {
    ModelConfig c = bert_base();
    c.name = name;
    c.hidden_size = 128;
    c.num_layers = 2;
    c.num_heads = 2;
    c.intermediate_size = 512;
    return c;
  }
  if (name == "vit-b16") return vit_b16();
  if (name == "vit-tiny") {
    ModelConfig c = vit_b16();
    c.name = name;
    c.image_size = 32;
    c.patch_size = 4;
    c.hidden_size = 128;
    c.num_layers = 2;
    c.num_heads = 2;
    c.intermediate_size = 512;
    c.num_labels = 10;
    return c;
  }
  std::string names;
  for (const auto& n : builtin_config_names()) names += (names.empty() ? "" : ", ") + n;
  throw Error(str_cat("unknown built-in model '", name, "' (built-ins: ", names,
                      "; or pass a directory/config.json of a Hugging Face checkpoint)"));
}

ModelConfig config_from_json_file(const std::string& path) {
  std::ifstream in(path);
  SLIMFIT_CHECK(in.good(), "config '", path,
                "' cannot be opened: no such file or not readable (a Hugging Face checkpoint "
                "directory must contain config.json)");
  std::stringstream text;
  text << in.rdbuf();
  return config_from_json(text.str(), path);
}

ModelConfig config_from_json(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(str_cat("config '", path, "' is not valid JSON: ", e.what()));
  }
  SLIMFIT_CHECK(j.is_object(), "config '", path, "' must hold a JSON object, got ", j.type_name());

  std::string model_type;
  read_key(j, path, "model_type", model_type);
  ModelConfig c;
  if (model_type == "bert") {
    c = bert_base();
  } else if (model_type == "vit") {
    c = vit_b16();
    c.num_labels = 2;  // HF's default when the file names no labels
  } else {
    throw Error(str_cat("config '", path, "': model_type '", model_type,
                        "' is not supported (expected \"bert\" or \"vit\")"));
  }
  c.name = path;
  read_key(j, path, "_name_or_path", c.name);
  if (c.name.empty()) c.name = path;

  std::string act = "gelu";
  read_key(j, path, "hidden_act", act);
  SLIMFIT_CHECK(act == "gelu", "config '", path, "': hidden_act '", act,
                "' is not supported (slimfit implements exact erf GELU, \"gelu\")");

  read_key(j, path, "hidden_size", c.hidden_size);
  read_key(j, path, "num_hidden_layers", c.num_layers);
  read_key(j, path, "num_attention_heads", c.num_heads);
  read_key(j, path, "intermediate_size", c.intermediate_size);
  read_key(j, path, "layer_norm_eps", c.layer_norm_eps);
  read_key(j, path, "hidden_dropout_prob", c.hidden_dropout);
  read_key(j, path, "attention_probs_dropout_prob", c.attention_dropout);
  read_key(j, path, "initializer_range", c.initializer_range);
  if (j.contains("id2label") && j["id2label"].is_object())
    c.num_labels = static_cast<int64_t>(j["id2label"].size());
  read_key(j, path, "num_labels", c.num_labels);

  if (c.arch == Arch::kBert) {
    read_key(j, path, "vocab_size", c.vocab_size);
    read_key(j, path, "max_position_embeddings", c.max_position_embeddings);
    read_key(j, path, "type_vocab_size", c.type_vocab_size);
    read_key(j, path, "pad_token_id", c.pad_token_id);
    std::string pos = "absolute";
    read_key(j, path, "position_embedding_type", pos);
    SLIMFIT_CHECK(pos == "absolute", "config '", path, "': position_embedding_type '", pos,
                  "' is not supported (only \"absolute\")");
    read_key(j, path, "slimfit_pooling", c.pooling);
  } else {
    read_key(j, path, "image_size", c.image_size);
    read_key(j, path, "patch_size", c.patch_size);
    read_key(j, path, "num_channels", c.num_channels);
    bool qkv_bias = true;
    read_key(j, path, "qkv_bias", qkv_bias);
    SLIMFIT_CHECK(qkv_bias, "config '", path,
                  "': qkv_bias false is not supported (ViT query/key/value have biases)");
  }
  read_key(j, path, "slimfit_vocab_file", c.vocab_file);
  try {
    validate_config(c);
  } catch (const Error& e) {
    throw Error(str_cat("config '", path, "': ", e.what()));
  }
  return c;
}

std::string config_to_json(const ModelConfig& c) {
  json j;
  j["_name_or_path"] = c.name;
  j["hidden_act"] = "gelu";
  j["hidden_size"] = c.hidden_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["intermediate_size"] = c.intermediate_size;
  j["layer_norm_eps"] = c.layer_norm_eps;
  j["hidden_dropout_prob"] = c.hidden_dropout;
  j["attention_probs_dropout_prob"] = c.attention_dropout;
  j["initializer_range"] = c.initializer_range;
  j["num_labels"] = c.num_labels;
  if (c.arch == Arch::kBert) {
    j["model_type"] = "bert";
    j["vocab_size"] = c.vocab_size;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["type_vocab_size"] = c.type_vocab_size;
    j["pad_token_id"] = c.pad_token_id;
    j["position_embedding_type"] = "absolute";
    j["classifier_dropout"] = nullptr;  // Hugging Face then uses hidden_dropout_prob, as slimfit
    j["slimfit_pooling"] = c.pooling;
  } else {
    j["model_type"] = "vit";
    j["image_size"] = c.image_size;
    j["patch_size"] = c.patch_size;
    j["num_channels"] = c.num_channels;
    j["qkv_bias"] = true;
  }
  if (!c.vocab_file.empty()) j["slimfit_vocab_file"] = c.vocab_file;
  return j.dump(2) + "\n";
}

}  // namespace slimfit::models
