// ViT for image classification, equivalent to Hugging Face's ViTForImageClassification
// (conv patch embedding, [CLS] token and learned positions, pre-LN encoder, final LayerNorm,
// linear classifier on [CLS]; no pooler). Parameter names equal HF's named_parameters(), e.g.
// "vit.encoder.layer.0.attention.attention.query.weight".
#pragma once

#include <vector>

#include "models/layers.h"
#include "models/model.h"

namespace slimfit::models {

// One pre-LN layer: attention.attention.{query,key,value}, attention.output.dense,
// intermediate.dense, output.dense, layernorm_before, layernorm_after (HF's order).
class VitLayerImpl : public torch::nn::Module {
 public:
  VitLayerImpl(const ModelConfig& c, ops::OpsConfigHandle ops);
  // x: (B, N, H) -> (B, N, H)
  at::Tensor forward(const at::Tensor& x);

  Dense query{nullptr}, key{nullptr}, value{nullptr}, attention_out{nullptr};
  Dense intermediate{nullptr}, output{nullptr};
  LayerNorm layernorm_before{nullptr}, layernorm_after{nullptr};

 private:
  int64_t heads_;
  double hidden_dropout_, attention_dropout_;
  ops::OpsConfigHandle ops_;
};
TORCH_MODULE(VitLayer);

class VitForImageClassificationImpl : public ClassifierImpl {
 public:
  explicit VitForImageClassificationImpl(const ModelConfig& config);
  // -> logits (B, num_labels)
  at::Tensor forward(const Batch& batch) override;
  // The ViTModel part (no pooler). pixel_values: (B, C, S, S), S = image_size
  // -> last_hidden_state after the final LayerNorm (B, 1 + (S/P)^2, H)
  at::Tensor encode(const at::Tensor& pixel_values);

  at::Tensor cls_token;            // (1, 1, H)
  at::Tensor position_embeddings;  // (1, 1 + num_patches, H)
  at::Tensor patch_weight;         // (H, C, P, P)
  at::Tensor patch_bias;           // (H)
  std::vector<VitLayer> layers;
  LayerNorm layernorm{nullptr};
  Dense classifier{nullptr};
};

}  // namespace slimfit::models
