// A fine-tuned model, ready to use: what slimfit evaluate, predict and export start from
// (issue 13). Two sources, one result:
//  - a slimfit checkpoint (train checkpoint=RUN.h5): the ModelConfig the run built (its
//    /model/config_json), the label names and problem type it recorded, and the run's keys;
//  - a Hugging Face checkpoint directory (export's output, or a fine-tuned model from elsewhere):
//    config.json (with id2label and problem_type), model.safetensors, vocab.txt when present.
// Both load every tensor under note [loading weights] (models/model.h) with nothing left fresh,
// the head included: a head that started fresh would predict at random and look like a model.
//
// Note [export]: export_hugging_face writes the directory transformers' from_pretrained reads:
//  - config.json: models::config_to_json's keys (slimfit_* keys dropped), architectures
//    (BertForSequenceClassification / ViTForImageClassification), num_labels, problem_type,
//    id2label / label2id (the label names, or LABEL_i where there are none);
//  - model.safetensors: every parameter under Hugging Face's names (models::hugging_face_tensors),
//    float32, metadata {"format": "pt"} (transformers 4.30 refuses a file without it);
//  - vocab.txt and tokenizer_config.json (BertTokenizer; do_lower_case and model_max_length
//    from the model directory's own tokenizer_config.json, else lower case, as slimfit prepare
//    does by default, and max_position_embeddings), only when the model has a vocabulary.
// The directory is created when absent. An existing one must be empty or hold only files an
// export writes (a previous export, replaced file by file; stale vocab.txt and
// tokenizer_config.json are removed); anything else is refused, naming the foreign entries, so
// an export never mixes with another model's files. Each file is written atomically
// (config.json last), the directory as a whole is not.
// pooling=mean is refused: BertForSequenceClassification classifies the tanh pooler of [CLS],
// and no Hugging Face sequence-classification class averages the tokens.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "models/model.h"

namespace slimfit::train {

struct TrainedModel {
  models::Classifier model;                   // eval mode, on CPU
  std::vector<std::string> label_names;       // id order; empty: LABEL_i
  std::string problem_type;                   // single_label_classification | regression
  std::map<std::string, std::string> config;  // the run's train keys (empty for a directory)
  std::string vocab_file;                     // "" when none
};

// From a slimfit checkpoint: the model as trained (every tensor must be there: no fresh head).
// A checkpoint of an older slimfit (no /model group) loads too: see read_checkpoint_model.
TrainedModel load_trained_model(const std::string& checkpoint);

// From a Hugging Face (or exported) directory: config.json (+ id2label, problem_type), every
// tensor including the head (an error listing what is missing: here nothing may start fresh).
// An id2label that is exactly LABEL_0..LABEL_{n-1} gives empty label_names (the same labels);
// no problem_type means regression for one label, else single_label_classification (Hugging
// Face's rule); multi_label_classification is refused.
TrainedModel load_model_directory(const std::string& dir);

// Writes a Hugging Face checkpoint directory from a slimfit checkpoint (note [export]). Throws
// slimfit::Error, before writing anything, on pooling=mean, an unusable output directory or a
// vocabulary file that is gone.
void export_hugging_face(const std::string& checkpoint, const std::string& dir);

// The label of class `id`: its name, or Hugging Face's "LABEL_<id>" when there are none.
std::string label_name(const std::vector<std::string>& label_names, int64_t id);

}  // namespace slimfit::train
