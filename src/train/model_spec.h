// Resolves a `model=` value: a built-in config name, "minilm" (the real all-MiniLM-L6-v2 that
// scripts/setup.sh installs), a Hugging Face checkpoint directory, or a config.json path.
#pragma once

#include <string>

#include "models/config.h"

namespace slimfit::train {

struct ModelSpec {
  models::ModelConfig config;
  std::string weights;  // model.safetensors to load, or "" for a fresh initialisation
};

ModelSpec resolve_model_spec(const std::string& spec);

}  // namespace slimfit::train
