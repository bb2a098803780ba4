#include "models/bert.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace slimfit::models {

BertLayerImpl::BertLayerImpl(const ModelConfig& c, ops::OpsConfigHandle ops)
    : heads_(c.num_heads),
      hidden_dropout_(c.hidden_dropout),
      attention_dropout_(c.attention_dropout),
      ops_(std::move(ops)) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const double std = c.initializer_range;
  // Plain Modules as containers give HF's dotted paths.
  auto attention = register_module("attention", std::make_shared<torch::nn::Module>());
  auto self = attention->register_module("self", std::make_shared<torch::nn::Module>());
  query = self->register_module("query", Dense(H, H, std));
  key = self->register_module("key", Dense(H, H, std));
  value = self->register_module("value", Dense(H, H, std));
  auto self_output = attention->register_module("output", std::make_shared<torch::nn::Module>());
  attention_out = self_output->register_module("dense", Dense(H, H, std));
  attention_norm = self_output->register_module("LayerNorm", LayerNorm(H, c.layer_norm_eps));
  auto inter = register_module("intermediate", std::make_shared<torch::nn::Module>());
  intermediate = inter->register_module("dense", Dense(H, I, std));
  auto out = register_module("output", std::make_shared<torch::nn::Module>());
  output = out->register_module("dense", Dense(I, H, std));
  output_norm = out->register_module("LayerNorm", LayerNorm(H, c.layer_norm_eps));
}

at::Tensor BertLayerImpl::forward(const at::Tensor& x, const at::Tensor& additive_mask) {
  const ops::OpsConfig& cfg = *ops_;
  const bool train = is_training();
  // BertSelfAttention + BertSelfOutput. x: (B, L, H)
  at::Tensor ctx = multi_head_attention(query(x, cfg), key(x, cfg), value(x, cfg), heads_,
                                        additive_mask, attention_dropout_, train, cfg);
  at::Tensor a = ops::dropout(attention_out(ctx, cfg), hidden_dropout_, train, cfg);
  a = attention_norm(a + x, cfg);  // (B, L, H)
  // BertIntermediate + BertOutput.
  at::Tensor h = ops::gelu(intermediate(a, cfg), cfg);  // (B, L, I)
  at::Tensor o =
      ops::dropout(output(h, cfg, ops::LinearRole::kFfnDown), hidden_dropout_, train, cfg);
  return output_norm(o + a, cfg);  // (B, L, H)
}

BertForSequenceClassificationImpl::BertForSequenceClassificationImpl(const ModelConfig& config)
    : ClassifierImpl(config) {
  const ModelConfig& c = config_;
  SLIMFIT_CHECK(c.arch == Arch::kBert, "BertForSequenceClassification: config '", c.name,
                "' is not a BERT config");
  validate_config(c);
  const double std = c.initializer_range;
  const int64_t H = c.hidden_size;
  auto bert = register_module("bert", std::make_shared<torch::nn::Module>());
  auto emb = bert->register_module("embeddings", std::make_shared<torch::nn::Module>());
  word_embeddings =
      emb->register_module("word_embeddings", Embedding(c.vocab_size, H, std, c.pad_token_id));
  position_embeddings =
      emb->register_module("position_embeddings", Embedding(c.max_position_embeddings, H, std));
  token_type_embeddings =
      emb->register_module("token_type_embeddings", Embedding(c.type_vocab_size, H, std));
  embeddings_norm = emb->register_module("LayerNorm", LayerNorm(H, c.layer_norm_eps));
  auto encoder = bert->register_module("encoder", std::make_shared<torch::nn::Module>());
  torch::nn::ModuleList list;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    layers.push_back(BertLayer(c, ops_));
    list->push_back(layers.back());
  }
  encoder->register_module("layer", list);
  if (c.pooling == "cls") {
    auto pool = bert->register_module("pooler", std::make_shared<torch::nn::Module>());
    pooler = pool->register_module("dense", Dense(H, H, std));
  }
  classifier = register_module("classifier", Dense(H, c.num_labels, std));
}

BertOutput BertForSequenceClassificationImpl::encode(const at::Tensor& input_ids,
                                                     const at::Tensor& token_type_ids,
                                                     const at::Tensor& attention_mask) {
  const ModelConfig& c = config_;
  const ops::OpsConfig& cfg = *ops_;
  SLIMFIT_CHECK(input_ids.defined() && input_ids.dim() == 2, "BERT: input_ids must be (B, L)");
  const int64_t L = input_ids.size(1);
  SLIMFIT_CHECK(L <= c.max_position_embeddings, "BERT '", c.name, "': sequence length ", L,
                " exceeds max_position_embeddings ", c.max_position_embeddings,
                " (truncate the input or pick a config with more positions)");
  at::Tensor ids = input_ids.to(word_embeddings->weight.device(), at::kLong);
  at::Tensor types =
      token_type_ids.defined() ? token_type_ids.to(ids.device(), at::kLong) : at::zeros_like(ids);
  at::Tensor positions = at::arange(L, ids.options()).unsqueeze(0);  // (1, L)
  // (B, L, H)
  at::Tensor h =
      word_embeddings(ids) + token_type_embeddings(types) + position_embeddings(positions);
  h = embeddings_norm(h, cfg);
  h = ops::dropout(h, c.hidden_dropout, is_training(), cfg);

  at::Tensor mask;
  if (attention_mask.defined()) {
    SLIMFIT_CHECK(attention_mask.sizes() == input_ids.sizes(), "BERT: attention_mask shape ",
                  attention_mask.sizes(), " differs from input_ids shape ", input_ids.sizes());
    mask = extended_attention_mask(attention_mask.to(ids.device()), h.scalar_type());
  }
  for (auto& layer : layers) h = layer(h, mask);

  using namespace at::indexing;
  if (!pooler) return {h, at::Tensor()};  // pooling "mean": no pooler
  // (B, H), copied out: a view would make the pooler keep all of h alive for its weight gradient
  at::Tensor first = h.index({Slice(), 0}).contiguous();
  at::Tensor pooled = at::tanh(pooler(first, cfg));
  return {h, pooled};
}

at::Tensor BertForSequenceClassificationImpl::forward(const Batch& batch) {
  BertOutput out = encode(batch.input_ids, batch.token_type_ids, batch.attention_mask);
  at::Tensor features = out.pooler_output;
  if (config_.pooling == "mean") {  // (B, H): sum over unmasked tokens / their count
    const at::Tensor& h = out.last_hidden_state;
    at::Tensor m = batch.attention_mask.defined()
                       ? batch.attention_mask.to(h.device(), h.scalar_type()).unsqueeze(-1)
                       : at::ones({h.size(0), h.size(1), 1}, h.options());
    features = (h * m).sum(1) / m.sum(1).clamp_min(1.0);
  }
  at::Tensor pooled = ops::dropout(features, config_.hidden_dropout, is_training(), *ops_);
  return classifier(pooled, *ops_);  // (B, num_labels)
}

}  // namespace slimfit::models
