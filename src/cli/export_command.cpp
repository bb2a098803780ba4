// slimfit export checkpoint=RUN.h5 --output DIR [--config FILE] [--logits OUT.json]
//
// Writes a Hugging Face checkpoint directory from a slimfit checkpoint (note [export] in
// train/trained_model.h). Train's grammar: key=value pairs, --config FILE (train's key = value
// lines; a run's own config file works, export reads its checkpoint= and ignores the other
// keys), and flags only for output files. On the command line the only key is checkpoint=:
// the model, its labels and settings come from the checkpoint.
//
// --logits OUT.json (for tools/verify_hf_export.py): the checkpoint's model (loaded from the
// checkpoint, not from the export) run on a fixed probe batch: 4 examples; for BERT 32 tokens
// (fewer when max_position_embeddings is smaller) with rows 1..3 padded at the end and token
// type 1 on the second half, for ViT random pixels. The file holds the inputs and the logits,
// each as {"shape": [...], "data": [flat, row-major]}, so transformers can run the same inputs.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "models/model.h"
#include "train/config.h"
#include "train/trained_model.h"

namespace slimfit::cli {
namespace {

using nlohmann::json;

json tensor_json(const at::Tensor& t) {
  const at::Tensor c = t.detach().cpu().contiguous();
  json data = json::array();
  if (at::isFloatingType(c.scalar_type())) {
    const at::Tensor d = c.to(at::kDouble);  // float32 -> double is exact
    const double* p = d.data_ptr<double>();
    for (int64_t i = 0; i < d.numel(); ++i) data.push_back(p[i]);
  } else {
    const at::Tensor d = c.to(at::kLong);
    const int64_t* p = d.data_ptr<int64_t>();
    for (int64_t i = 0; i < d.numel(); ++i) data.push_back(p[i]);
  }
  return {{"shape", c.sizes().vec()}, {"data", data}};
}

// The probe batch of --logits (see the header comment).
models::Batch probe_batch(const models::ModelConfig& c) {
  const int64_t batch = 4, seq = std::min<int64_t>(32, c.max_position_embeddings);
  models::Batch b = models::synthetic_batch(c, batch, seq, /*seed=*/13);
  if (c.arch != models::Arch::kBert) return b;
  for (int64_t row = 1; row < batch; ++row) {
    const int64_t keep = std::max<int64_t>(1, seq - row * (seq / 8));
    b.attention_mask[row].slice(0, keep).zero_();
    b.input_ids[row].slice(0, keep).fill_(c.pad_token_id);
  }
  if (c.type_vocab_size > 1) b.token_type_ids.slice(1, seq / 2).fill_(1);
  return b;
}

void write_logits(const train::TrainedModel& m, const std::string& checkpoint,
                  const std::string& path) {
  const models::Batch b = probe_batch(m.model->config());
  at::NoGradGuard no_grad;
  const at::Tensor logits = m.model->forward(b);  // (B, num_labels)
  json out = {{"checkpoint", checkpoint}, {"logits", tensor_json(logits)}};
  if (b.input_ids.defined()) {
    out["arch"] = "bert";
    out["input_ids"] = tensor_json(b.input_ids);
    out["attention_mask"] = tensor_json(b.attention_mask);
    out["token_type_ids"] = tensor_json(b.token_type_ids);
  } else {
    out["arch"] = "vit";
    out["pixel_values"] = tensor_json(b.pixel_values);
  }
  write_file_atomically(path, out.dump() + "\n");
}

}  // namespace

int run_export(int argc, char** argv) {
  Args args(argc, argv, 2, {}, {"config", "output", "logits"});
  train::TrainConfig config;
  if (args.has("config")) train::load_config_file(config, args.get("config", ""));
  for (const auto& [key, value] : args.key_values()) {
    SLIMFIT_CHECK(key == "checkpoint", "export takes checkpoint=RUN.h5 only, got '", key, "=",
                  value, "': the model, its labels and settings come from the checkpoint");
    train::set_key(config, key, value, "command line");
  }
  SLIMFIT_CHECK(!config.checkpoint.empty(),
                "export needs checkpoint=RUN.h5 (a checkpoint written by slimfit train "
                "checkpoint=...) and --output DIR");
  SLIMFIT_CHECK(args.has("output"),
                "export needs --output DIR (the Hugging Face directory to "
                "write)");
  const std::string logits = args.get("logits", "");
  if (args.has("logits")) check_output_path(logits, "--logits ");
  train::export_hugging_face(config.checkpoint, args.get("output", ""));
  if (args.has("logits"))
    write_logits(train::load_trained_model(config.checkpoint), config.checkpoint, logits);
  return 0;
}

}  // namespace slimfit::cli
