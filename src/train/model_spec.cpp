#include "train/model_spec.h"

#include <cstdlib>
#include <filesystem>

#include "common/error.h"

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

}  // namespace slimfit::train
