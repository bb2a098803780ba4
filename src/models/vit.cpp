#include "models/vit.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "common/error.h"

namespace slimfit::models {

VitLayerImpl::VitLayerImpl(const ModelConfig& c, ops::OpsConfigHandle ops)
    : heads_(c.num_heads),
      hidden_dropout_(c.hidden_dropout),
      attention_dropout_(c.attention_dropout),
      ops_(std::move(ops)) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const double std = c.initializer_range;
  auto attention = register_module("attention", std::make_shared<torch::nn::Module>());
  auto self = attention->register_module("attention", std::make_shared<torch::nn::Module>());
  query = self->register_module("query", Dense(H, H, std));
  key = self->register_module("key", Dense(H, H, std));
  value = self->register_module("value", Dense(H, H, std));
  auto self_output = attention->register_module("output", std::make_shared<torch::nn::Module>());
  attention_out = self_output->register_module("dense", Dense(H, H, std));
  auto inter = register_module("intermediate", std::make_shared<torch::nn::Module>());
  intermediate = inter->register_module("dense", Dense(H, I, std));
  auto out = register_module("output", std::make_shared<torch::nn::Module>());
  output = out->register_module("dense", Dense(I, H, std));
  layernorm_before = register_module("layernorm_before", LayerNorm(H, c.layer_norm_eps));
  layernorm_after = register_module("layernorm_after", LayerNorm(H, c.layer_norm_eps));
}

at::Tensor VitLayerImpl::forward(const at::Tensor& x) {
  const ops::OpsConfig& cfg = *ops_;
  const bool train = is_training();
  // ViTAttention on the pre-normalised input, then the first residual. x: (B, N, H)
  at::Tensor n = layernorm_before(x, cfg);
  at::Tensor ctx = multi_head_attention(query(n, cfg), key(n, cfg), value(n, cfg), heads_,
                                        at::Tensor(), attention_dropout_, train, cfg);
  at::Tensor h = ops::dropout(attention_out(ctx, cfg), hidden_dropout_, train, cfg) + x;
  // ViTIntermediate + ViTOutput with the second residual.
  at::Tensor m = ops::gelu(intermediate(layernorm_after(h, cfg), cfg), cfg);  // (B, N, I)
  at::Tensor o =
      ops::dropout(output(m, cfg, ops::LinearRole::kFfnDown), hidden_dropout_, train, cfg);
  return o + h;  // (B, N, H)
}

VitForImageClassificationImpl::VitForImageClassificationImpl(const ModelConfig& config)
    : ClassifierImpl(config) {
  const ModelConfig& c = config_;
  SLIMFIT_CHECK(c.arch == Arch::kVit, "ViTForImageClassification: config '", c.name,
                "' is not a ViT config");
  validate_config(c);
  const double std = c.initializer_range;
  const int64_t H = c.hidden_size, P = c.patch_size;
  const int64_t num_patches = (c.image_size / P) * (c.image_size / P);
  // HF draws these from trunc_normal(0, std, a=-2, b=2); with std << 2 no draw is ever cut,
  // so a plain normal has the same distribution.
  auto vit = register_module("vit", std::make_shared<torch::nn::Module>());
  auto emb = vit->register_module("embeddings", std::make_shared<torch::nn::Module>());
  cls_token = emb->register_parameter("cls_token", at::empty({1, 1, H}).normal_(0.0, std));
  position_embeddings = emb->register_parameter(
      "position_embeddings", at::empty({1, 1 + num_patches, H}).normal_(0.0, std));
  auto patch = emb->register_module("patch_embeddings", std::make_shared<torch::nn::Module>());
  auto proj = patch->register_module("projection", std::make_shared<torch::nn::Module>());
  patch_weight =
      proj->register_parameter("weight", at::empty({H, c.num_channels, P, P}).normal_(0.0, std));
  patch_bias = proj->register_parameter("bias", at::zeros({H}));
  auto encoder = vit->register_module("encoder", std::make_shared<torch::nn::Module>());
  torch::nn::ModuleList list;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    layers.push_back(VitLayer(c, ops_));
    list->push_back(layers.back());
  }
  encoder->register_module("layer", list);
  layernorm = vit->register_module("layernorm", LayerNorm(H, c.layer_norm_eps));
  classifier = register_module("classifier", Dense(H, c.num_labels, std));
}

at::Tensor VitForImageClassificationImpl::encode(const at::Tensor& pixel_values) {
  const ModelConfig& c = config_;
  const ops::OpsConfig& cfg = *ops_;
  SLIMFIT_CHECK(
      pixel_values.defined() && pixel_values.dim() == 4 && pixel_values.size(1) == c.num_channels &&
          pixel_values.size(2) == c.image_size && pixel_values.size(3) == c.image_size,
      "ViT '", c.name, "': pixel_values must be (B, ", c.num_channels, ", ", c.image_size, ", ",
      c.image_size, "), got ", pixel_values.defined() ? pixel_values.sizes() : at::IntArrayRef{},
      " (resize the images to image_size)");
  const int64_t B = pixel_values.size(0);
  at::Tensor x = pixel_values.to(patch_weight.device(), patch_weight.scalar_type());
  // (B, C, S, S) -> (B, H, S/P, S/P) -> (B, N, H)
  at::Tensor patches = at::conv2d(x, patch_weight, patch_bias, {c.patch_size, c.patch_size})
                           .flatten(2)
                           .transpose(1, 2);
  // (B, 1 + N, H)
  at::Tensor h = at::cat({cls_token.expand({B, -1, -1}), patches}, 1) + position_embeddings;
  h = ops::dropout(h, c.hidden_dropout, is_training(), cfg);
  for (auto& layer : layers) h = layer(h);
  return layernorm(h, cfg);
}

at::Tensor VitForImageClassificationImpl::forward(const Batch& batch) {
  using namespace at::indexing;
  at::Tensor h = encode(batch.pixel_values);
  // The [CLS] row, copied out: a view would make the classifier keep all of h (B, L, H) alive
  // for its weight gradient, where it needs only (B, H).
  return classifier(h.index({Slice(), 0}).contiguous(), *ops_);  // (B, num_labels)
}

}  // namespace slimfit::models
