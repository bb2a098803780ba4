// Resolves a `model=` value: a built-in config name, "minilm" (the real all-MiniLM-L6-v2 that
// scripts/setup.sh installs), a Hugging Face checkpoint directory, or a config.json path.
// A directory means pretrained weights: it must hold config.json and model.safetensors (its
// vocab.txt, when present, becomes config.vocab_file, which prepared text is checked against).
// Random initialisation is asked for explicitly, by a built-in name or a config.json path.
#pragma once

#include <string>
#include <vector>

#include "models/config.h"
#include "models/model.h"

namespace slimfit::train {

struct ModelSpec {
  models::ModelConfig config;
  std::string weights;  // model.safetensors to load, or "" for a fresh initialisation
};

ModelSpec resolve_model_spec(const std::string& spec);

// The one path by which train loads weights into a freshly made `model`: spec.weights (the
// pretrained file of a model directory), then `init` (a slimfit checkpoint; parameters whose
// names start with one of init_skip keep their fresh initialisation). Both follow note [loading
// weights] in models/model.h: all or nothing, only the task head may start fresh. Logs what it
// loaded and names each tensor that starts fresh.
void load_model_weights(models::ClassifierImpl& model, const ModelSpec& spec,
                        const std::string& init, const std::vector<std::string>& init_skip);

}  // namespace slimfit::train
