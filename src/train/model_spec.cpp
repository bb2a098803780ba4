#include "train/model_spec.h"

#include <cstdlib>
#include <filesystem>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "train/checkpoint.h"

namespace slimfit::train {

ModelSpec resolve_model_spec(const std::string& spec) {
  namespace fs = std::filesystem;
  for (const std::string& name : models::builtin_config_names()) {
    if (name == spec) return {models::builtin_config(spec), ""};
  }
  std::string path = spec;
  if (spec == "minilm") {
    const char* assets = std::getenv("SLIMFIT_ASSETS");
    path = std::string(assets ? assets : SLIMFIT_SOURCE_DIR "/.assets") + "/minilm";
    SLIMFIT_CHECK(fs::is_directory(path), "model=minilm: ", path,
                  " is missing; run scripts/setup.sh (or set SLIMFIT_ASSETS)");
  }
  if (fs::is_directory(path)) {
    ModelSpec out{models::config_from_json_file(path + "/config.json"), ""};
    if (fs::exists(path + "/model.safetensors")) out.weights = path + "/model.safetensors";
    return out;
  }
  SLIMFIT_CHECK(fs::exists(path), "unknown model '", spec,
                "': expected a built-in name (bert-tiny, bert-base, vit-tiny, vit-b16), minilm, a "
                "Hugging Face checkpoint directory or a config.json path");
  return {models::config_from_json_file(path), ""};
}

void load_model_weights(models::ClassifierImpl& model, const ModelSpec& spec,
                        const std::string& init, const std::vector<std::string>& init_skip) {
  if (!spec.weights.empty()) {
    const auto fresh = models::load_weights(model, spec.weights, /*strict=*/false);
    log_info("loaded ", spec.weights, "; freshly initialised: ", fresh.size(), " tensors");
  }
  if (!init.empty()) {
    const auto fresh = load_initial_weights(init, model, init_skip);
    log_info("init: weights from ", init, "; freshly initialised (init_skip=",
             join_first(init_skip, 8), "): ", fresh.empty() ? "none" : join_first(fresh, 8));
  }
}

}  // namespace slimfit::train
