#include "train/trained_model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/strings.h"
#include "models/safetensors.h"
#include "train/checkpoint.h"

namespace slimfit::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The files an export writes (note [export]).
const std::vector<std::string> kExportFiles = {"config.json", "model.safetensors", "vocab.txt",
                                               "tokenizer_config.json"};

std::string read_text(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  SLIMFIT_CHECK(in.good(), what, path, " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  SLIMFIT_CHECK(!in.bad(), what, path, ": reading failed");
  return text.str();
}

// Creates `dir` when absent; refuses a non-directory and a directory holding anything but a
// previous export's files (note [export]). Each file an export writes is checked writable.
void prepare_export_dir(const std::string& dir) {
  SLIMFIT_CHECK(!dir.empty(), "export --output: the path is empty");
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (!fs::exists(status)) {
    fs::create_directories(dir, ec);
    SLIMFIT_CHECK(!ec, "export --output ", dir, ": cannot create the directory: ", ec.message());
  }
  SLIMFIT_CHECK(fs::is_directory(dir), "export --output ", dir,
                " exists and is not a directory; name a new or empty directory");
  std::vector<std::string> foreign;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    const std::string bare = ends_with(name, ".tmp") ? name.substr(0, name.size() - 4) : name;
    const bool ours = std::count(kExportFiles.begin(), kExportFiles.end(), bare) > 0;
    if (!ours || !e.is_regular_file()) foreign.push_back(name);
  }
  SLIMFIT_CHECK(foreign.empty(), "export --output ", dir, " holds ", join_first(foreign, 8),
                ", which an export does not write; export into a new or empty directory (or a "
                "previous export's, which is replaced)");
  for (const std::string& name : kExportFiles)
    check_output_path((fs::path(dir) / name).string(), "export --output ");
}

// tokenizer_config.json for the vocabulary at `vocab_file` (note [export]).
std::string tokenizer_config(const std::string& vocab_file, const models::ModelConfig& config) {
  json out = {{"tokenizer_class", "BertTokenizer"},
              {"do_lower_case", true},
              {"model_max_length", config.max_position_embeddings}};
  const fs::path source = fs::path(vocab_file).parent_path() / "tokenizer_config.json";
  if (fs::exists(source)) {
    json j;
    try {
      j = json::parse(read_text(source.string(), "tokenizer config "));
    } catch (const json::exception& e) {
      throw Error(str_cat("export: ", source.string(), " is not valid JSON: ", e.what()));
    }
    if (j.contains("do_lower_case") && j["do_lower_case"].is_boolean())
      out["do_lower_case"] = j["do_lower_case"];
    if (j.contains("model_max_length") && j["model_max_length"].is_number_integer())
      out["model_max_length"] = j["model_max_length"];
  }
  return out.dump(2) + "\n";
}

// config.json of the export (note [export]).
std::string export_config(const TrainedModel& m) {
  const models::ModelConfig& c = m.model->config();
  json j = json::parse(models::config_to_json(c));
  j.erase("slimfit_pooling");  // cls: Hugging Face's own behaviour
  j.erase("slimfit_vocab_file");
  j["architectures"] = {c.arch == models::Arch::kBert ? "BertForSequenceClassification"
                                                      : "ViTForImageClassification"};
  j["problem_type"] = m.problem_type;
  j["torch_dtype"] = "float32";
  json id2label = json::object(), label2id = json::object();
  for (int64_t i = 0; i < c.num_labels; ++i) {
    const std::string name = label_name(m.label_names, i);
    SLIMFIT_CHECK(!label2id.contains(name), "export: label name '", name,
                  "' is given to two classes (", label2id[name].get<int64_t>(), " and ", i,
                  "); Hugging Face's label2id needs distinct names");
    id2label[std::to_string(i)] = name;
    label2id[name] = i;
  }
  j["id2label"] = id2label;
  j["label2id"] = label2id;
  return j.dump(2) + "\n";
}

}  // namespace

std::string label_name(const std::vector<std::string>& label_names, int64_t id) {
  return id >= 0 && id < int64_t(label_names.size()) ? label_names[size_t(id)]
                                                     : str_cat("LABEL_", id);
}

TrainedModel load_trained_model(const std::string& checkpoint) {
  CheckpointModel saved = read_checkpoint_model(checkpoint);
  TrainedModel out;
  out.model = models::make_model(saved.config);
  load_trained_weights(checkpoint, *out.model);
  out.model->eval();
  out.label_names = std::move(saved.label_names);
  out.problem_type = std::move(saved.problem_type);
  out.config = std::move(saved.keys);
  out.vocab_file = saved.config.vocab_file;
  return out;
}

TrainedModel load_model_directory(const std::string& dir) {
  SLIMFIT_CHECK(fs::is_directory(dir), "model=", dir,
                " is not a directory (expected a Hugging Face checkpoint directory with "
                "config.json and model.safetensors, such as slimfit export writes)");
  const std::string config_path = (fs::path(dir) / "config.json").string();
  TrainedModel out;
  out.model = models::load_pretrained(dir, /*num_labels=*/0, /*head_required=*/true);
  out.model->eval();
  const int64_t n = out.model->config().num_labels;
  // config_from_json_file (inside load_pretrained) has checked that the file parses.
  const json j = json::parse(read_text(config_path, "config "));
  if (j.contains("problem_type") && !j["problem_type"].is_null()) {
    SLIMFIT_CHECK(j["problem_type"].is_string(), "config '", config_path,
                  "': problem_type is not a string");
    out.problem_type = j["problem_type"].get<std::string>();
    SLIMFIT_CHECK(
        out.problem_type == "single_label_classification" || out.problem_type == "regression",
        "config '", config_path, "': problem_type '", out.problem_type,
        "' is not supported (slimfit uses single_label_classification and regression)");
  } else {
    out.problem_type = n == 1 ? "regression" : "single_label_classification";
  }
  if (j.contains("id2label") && j["id2label"].is_object()) {
    std::vector<std::string> names(static_cast<size_t>(n));
    std::set<int64_t> seen;
    for (const auto& [key, value] : j["id2label"].items()) {
      int64_t id = -1;
      try {
        size_t used = 0;
        id = std::stoll(key, &used);
        if (used != key.size()) id = -1;
      } catch (const std::exception&) {
      }
      SLIMFIT_CHECK(id >= 0 && id < n && value.is_string(), "config '", config_path,
                    "': id2label entry \"", key, "\": ", value.dump(),
                    " needs an id in [0, num_labels=", n, ") and a string name");
      names[size_t(id)] = value.get<std::string>();
      seen.insert(id);
    }
    SLIMFIT_CHECK(int64_t(seen.size()) == n, "config '", config_path, "': id2label names ",
                  seen.size(), " of the ", n, " labels");
    bool all_default = true;
    for (int64_t i = 0; i < n; ++i) all_default = all_default && names[i] == label_name({}, i);
    if (!all_default) out.label_names = std::move(names);
  }
  const fs::path vocab = fs::path(dir) / "vocab.txt";
  if (fs::exists(vocab)) out.vocab_file = vocab.string();
  return out;
}

void export_hugging_face(const std::string& checkpoint, const std::string& dir) {
  TrainedModel m = load_trained_model(checkpoint);
  const models::ModelConfig& c = m.model->config();
  SLIMFIT_CHECK(c.arch != models::Arch::kBert || c.pooling == "cls", "export: checkpoint ",
                checkpoint, " was trained with pooling=", c.pooling,
                ", which Hugging Face's BertForSequenceClassification cannot express (it "
                "classifies the tanh pooler of [CLS]; no sequence-classification class averages "
                "the tokens). Use the checkpoint with slimfit evaluate/predict, or train with "
                "pooling=cls to export");
  SLIMFIT_CHECK(
      m.vocab_file.empty() || fs::is_regular_file(m.vocab_file), "export: checkpoint ", checkpoint,
      " was trained with the vocabulary ", m.vocab_file,
      ", which is gone; restore it (for model=minilm: scripts/setup.sh) and export again");
  const std::string config_json = export_config(m);  // checks the label names
  prepare_export_dir(dir);
  const fs::path out(dir);
  models::write_safetensors((out / "model.safetensors").string(),
                            models::hugging_face_tensors(*m.model), {{"format", "pt"}});
  for (const char* name : {"vocab.txt", "tokenizer_config.json"}) fs::remove(out / name);
  if (!m.vocab_file.empty()) {
    write_file_atomically((out / "vocab.txt").string(), read_text(m.vocab_file, "vocabulary "));
    write_file_atomically((out / "tokenizer_config.json").string(),
                          tokenizer_config(m.vocab_file, c));
  }
  write_file_atomically((out / "config.json").string(), config_json);
  log_info("export: ", checkpoint, " -> ", dir, " (", c.num_labels, " labels, ", m.problem_type,
           m.vocab_file.empty() ? ", no vocabulary" : ", vocab.txt", ")");
}

}  // namespace slimfit::train
