#include "sched/units.h"

#include <torch/nn/module.h>
#include "common/strings.h"

namespace slimfit::sched {

bool is_unit(const std::string& name, const at::Tensor& param) {
  if (param.dim() > 1) return true;
  // LayerNorm weights: BERT's "LayerNorm.weight", ViT's "layernorm*.weight".
  return param.dim() == 1 && ends_with(name, ".weight") &&
         (name.find("LayerNorm") != std::string::npos ||
          name.find("layernorm") != std::string::npos);
}

std::vector<Unit> units_of(const torch::nn::Module& model) {
  std::vector<Unit> units;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    if (is_unit(item.key(), item.value())) units.push_back({item.key(), item.value()});
  }
  return units;
}

}  // namespace slimfit::sched
