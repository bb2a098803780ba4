// BERT for sequence classification, equivalent to Hugging Face's BertForSequenceClassification
// (post-LN encoder, tanh pooler on [CLS], dropout then a linear classifier). Parameter names
// equal HF's named_parameters(), e.g. "bert.encoder.layer.0.attention.self.query.weight", so
// HF safetensors load by name. Dropout sits where HF puts it; train()/eval() switch it.
#pragma once

#include <torch/nn/modules/container/modulelist.h>

#include <vector>

#include "models/layers.h"
#include "models/model.h"

namespace slimfit::models {

// One post-LN encoder layer: attention.self.{query,key,value}, attention.output.{dense,
// LayerNorm}, intermediate.dense, output.{dense, LayerNorm}.
class BertLayerImpl : public torch::nn::Module {
 public:
  BertLayerImpl(const ModelConfig& c, ops::OpsConfigHandle ops);
  // x: (B, L, H), additive_mask: (B, 1, 1, L) or undefined -> (B, L, H)
  at::Tensor forward(const at::Tensor& x, const at::Tensor& additive_mask);

  Dense query{nullptr}, key{nullptr}, value{nullptr}, attention_out{nullptr};
  LayerNorm attention_norm{nullptr};
  Dense intermediate{nullptr}, output{nullptr};
  LayerNorm output_norm{nullptr};

 private:
  int64_t heads_;
  double hidden_dropout_, attention_dropout_;
  ops::OpsConfigHandle ops_;
};
TORCH_MODULE(BertLayer);

struct BertOutput {
  at::Tensor last_hidden_state;  // (B, L, H)
  at::Tensor pooler_output;      // (B, H); undefined with pooling "mean" (no pooler)
};

class BertForSequenceClassificationImpl : public ClassifierImpl {
 public:
  explicit BertForSequenceClassificationImpl(const ModelConfig& config);
  // -> logits (B, num_labels)
  at::Tensor forward(const Batch& batch) override;
  // The BertModel part. token_type_ids and attention_mask may be undefined (zeros / ones).
  // input_ids: (B, L) int64
  BertOutput encode(const at::Tensor& input_ids, const at::Tensor& token_type_ids,
                    const at::Tensor& attention_mask);

  Embedding word_embeddings{nullptr}, position_embeddings{nullptr}, token_type_embeddings{nullptr};
  LayerNorm embeddings_norm{nullptr};
  std::vector<BertLayer> layers;
  Dense pooler{nullptr};  // null with pooling "mean"
  Dense classifier{nullptr};
};

}  // namespace slimfit::models
