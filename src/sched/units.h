// Units: the weight tensors SlimFit freezes and unfreezes (SPEC "Units and scores").
// A unit is every parameter with more than one dimension, plus every LayerNorm weight.
// Biases and LayerNorm biases are never units: they always train.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace slimfit::sched {

struct Unit {
  std::string name;  // Hugging Face parameter name
  at::Tensor param;
};

// The units of `model`, in named_parameters() order.
std::vector<Unit> units_of(const torch::nn::Module& model);

// Is this parameter a unit? (dim > 1, or a LayerNorm weight.)
bool is_unit(const std::string& name, const at::Tensor& param);

}  // namespace slimfit::sched
