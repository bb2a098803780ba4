#include "train/model_spec.h"

#include <cstdlib>
#include <filesystem>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "train/checkpoint.h"

namespace slimfit::train {
namespace {

// A Hugging Face checkpoint directory. Its weights are required: a directory is a request for
// pretrained weights, and training it from random ones would only show in the accuracy.
ModelSpec directory_spec(const std::string& spec, const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string config = dir + "/config.json", weights = dir + "/model.safetensors";
  SLIMFIT_CHECK(fs::exists(config), "model=", spec, ": ", config,
                " not found; a model directory holds config.json and model.safetensors");
  SLIMFIT_CHECK(fs::exists(weights), "model=", spec, ": ", weights,
                " not found, so there are no pretrained weights to load (only safetensors are "
                "read; convert pytorch_model.bin with safetensors.torch.save_file). For a random "
                "initialisation, say so: model=",
                config, " or a built-in name (", join_first(models::builtin_config_names(), 8),
                ")");
  ModelSpec out{models::config_from_json_file(config), weights};
  if (fs::exists(dir + "/vocab.txt")) out.config.vocab_file = dir + "/vocab.txt";
  return out;
}

}  // namespace

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
  if (fs::is_directory(path)) return directory_spec(spec, path);
  SLIMFIT_CHECK(fs::exists(path), "unknown model '", spec,
                "': expected a built-in name (bert-tiny, bert-base, vit-tiny, vit-b16), minilm, a "
                "Hugging Face checkpoint directory or a config.json path");
  return {models::config_from_json_file(path), ""};  // a config.json alone: fresh on purpose
}

void load_model_weights(models::ClassifierImpl& model, const ModelSpec& spec,
                        const std::string& init, const std::vector<std::string>& init_skip) {
  if (!spec.weights.empty()) {
    const models::LoadResult r = models::load_pretrained_weights(model, spec.weights);
    log_info("loaded ", r.loaded, " tensors from ", spec.weights,
             "; starting fresh: ", r.fresh.empty() ? "none" : join_first(r.fresh, 8));
    if (!r.ignored.empty())
      log_info(spec.weights, ": ", r.ignored.size(),
               " tensors the model does not use are ignored: ", join_first(r.ignored, 8));
  }
  if (!init.empty()) {
    const auto fresh = load_initial_weights(init, model, init_skip);
    log_info("init: weights from ", init,
             "; freshly initialised (init_skip=", join_first(init_skip, 8),
             "): ", fresh.empty() ? "none" : join_first(fresh, 8));
  }
}

}  // namespace slimfit::train
