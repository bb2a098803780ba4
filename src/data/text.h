// Text sets: CSV/JSONL sources tokenized once with WordPiece into an HDF5 file (prepare_text),
// then loaded into memory as a Dataset (TextDataset). A set holds single sentences or sentence
// pairs ([CLS] a [SEP] b [SEP], as Hugging Face's BertTokenizer encodes them), with class labels
// or float regression targets.
//
// Prepared file layout (root attribute slimfit_format = "text-v2"; files written before pairs and
// regression, "text-classification-v1", have no /token_type_ids and no /problem_type and still
// load as single-sentence classification):
//   /input_ids (N, L) int32, /attention_mask (N, L) uint8;
//   /token_type_ids (N, L) uint8, sentence-pair sets only (0 for [CLS] a [SEP], 1 for b [SEP]);
//   /problem_type string, "single_label_classification" or "regression" (Hugging Face's names);
//   /labels (N): int64 class ids, or float32 targets for regression;
//   /label_names (num_labels) strings and /label_counts (num_labels) int64, classification only;
//   /max_length int64, /source string (input path), /vocab string (vocab path), /lower_case int64,
//   /text_column, /label_column and, for pairs, /text_pair_column strings; /columns strings (the
//   names --columns gave a headerless CSV); the root attribute vocab_fingerprint
//   (models::WordPieceTokenizer::fingerprint of the vocab; absent in files prepared before it was
//   recorded), which train checks against the model's vocab.txt.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace slimfit::h5 {
class File;
}  // namespace slimfit::h5

namespace slimfit::data {

// RFC 4180 CSV: comma separated, fields optionally in double quotes, "" inside quotes is a
// quote, quoted fields may hold commas and newlines; CRLF or LF line ends; a UTF-8 BOM is
// skipped. Returns the records (the header is records[0]). Throws slimfit::Error naming `source`
// and the line on an unterminated quote or a stray quote inside an unquoted field.
std::vector<std::vector<std::string>> parse_csv(const std::string& content,
                                                const std::string& source = "<csv>");

struct PrepareTextOptions {
  std::string input;   // .csv or .jsonl (JSON Lines: one object per line)
  std::string output;  // the HDF5 file to write (atomically)
  std::string vocab;   // BERT vocab.txt
  bool lower_case = true;
  std::string format;  // "csv", "jsonl" or "" (from the input's extension; .json/.jsonl/.ndjson)
  // Headerless CSV: the names of its columns, in order (every record must have this many
  // fields). The column options below then refer to these names. Empty: the first row is the
  // header.
  std::vector<std::string> columns;
  std::string text_column = "text";
  // The second sentence of a pair ("": single sentences). Pairs are truncated longest first.
  std::string text_pair_column;
  std::string label_column = "label";
  // Regression: the label column holds float targets (stored float32, no label names). Also
  // chosen without this flag when labels is empty and some label value is a number that is not
  // whole (2.5); every value must then be a finite number. Whole numbers stay class labels.
  bool regression = false;
  // The label set, in id order. Empty: every distinct label value, sorted (numerically when all
  // are integers). Non-empty: rows with another label are skipped (keep_only_labels) or are an
  // error. Not allowed with regression.
  std::vector<std::string> labels;
  bool keep_only_labels = true;
  int64_t max_length = 128;
  int64_t limit = -1;  // keep at most this many examples (-1: all)
};

// Summary of a prepare_text run.
struct PrepareTextResult {
  int64_t rows_read = 0;  // data rows in the source
  int64_t examples = 0;   // written
  int64_t skipped = 0;    // rows whose label was not in the label set
  int64_t truncated = 0;  // examples longer than max_length
  bool regression = false;
  std::vector<std::string> label_names;                    // classification
  std::vector<int64_t> label_counts;                       // classification
  double target_min = 0, target_max = 0, target_mean = 0;  // regression
};

// Reads, tokenizes and writes. Throws slimfit::Error on a missing file, a missing column (listing
// the columns found), a headerless record with another number of fields than columns names (naming
// its line), a label outside the label set (when !keep_only_labels), a regression target that is
// not a finite number (naming its line), or no examples.
PrepareTextResult prepare_text(const PrepareTextOptions& options);

// A prepared text set, loaded into memory. token_type_ids are the stored ones for pairs, zeros
// otherwise.
// seq_len (> 1) shorter than the prepared length truncates each longer example to seq_len tokens,
// exactly as prepare_text with max_length = seq_len would have: a single sentence keeps its first
// seq_len - 1 tokens and its own [SEP]; a pair is cut longest first again, which gives the same
// as cutting once (WordPieceTokenizer::truncate_longest_first), so truncating here and preparing
// shorter train the same. seq_len 0, or not shorter than the prepared length, keeps the examples
// as prepared.
class TextDataset : public Dataset {
 public:
  explicit TextDataset(const std::string& path, int64_t seq_len = 0);
  int64_t size() const override { return input_ids_.size(0); }
  int64_t num_labels() const override {
    return regression_ ? 1 : static_cast<int64_t>(label_names_.size());
  }
  models::Batch get(const std::vector<int64_t>& indices) const override;
  bool is_regression() const override { return regression_; }
  std::vector<std::string> label_names() const override { return label_names_; }  // {}: regression
  std::vector<int64_t> all_labels() const override;
  std::vector<double> all_targets() const override;

  bool is_pairs() const { return token_type_ids_.defined(); }
  int64_t max_length() const { return input_ids_.size(1); }
  int64_t max_tokens() const override { return max_length(); }
  int64_t max_token_id() const { return max_token_id_; }
  const at::Tensor& labels() const { return labels_; }  // (N) int64, or float32 (regression)
  const std::string& path() const { return path_; }
  // The length the file was prepared at, and how many examples seq_len cut shorter.
  int64_t prepared_length() const { return prepared_length_; }
  int64_t truncated() const { return truncated_; }
  // The vocab.txt prepare_text was given, and its fingerprint ("" when the file has none).
  const std::string& vocab_file() const { return vocab_file_; }
  const std::string& vocab_fingerprint() const { return vocab_fingerprint_; }

 private:
  void read_labels(const h5::File& f);
  void truncate(int64_t seq_len);
  void truncate_pairs(int64_t seq_len);

  std::string path_;
  std::string vocab_file_, vocab_fingerprint_;
  int64_t prepared_length_ = 0, truncated_ = 0;
  at::Tensor input_ids_;       // (N, L) int32
  at::Tensor attention_mask_;  // (N, L) uint8
  at::Tensor token_type_ids_;  // (N, L) uint8, pairs only (undefined: single sentences)
  at::Tensor labels_;          // (N) int64, or float32 when regression_
  bool regression_ = false;
  std::vector<std::string> label_names_;
  int64_t max_token_id_ = 0;
};

}  // namespace slimfit::data
