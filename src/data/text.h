// Text classification sets: CSV/JSONL sources tokenized once with WordPiece into an HDF5 file
// (prepare_text), then loaded into memory as a Dataset (TextDataset).
//
// Prepared file layout (attribute slimfit_format = "text-classification-v1" on the root):
//   /input_ids (N, L) int32, /attention_mask (N, L) uint8, /labels (N) int64,
//   /label_names (num_labels) strings, /max_length int64, /source string (input path),
//   /vocab string (vocab path), /text_column and /label_column strings; the root attribute
//   vocab_fingerprint (models::WordPieceTokenizer::fingerprint of the vocab; absent in files
//   prepared before it was recorded), which train checks against the model's vocab.txt.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

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
  std::string text_column = "text";
  std::string label_column = "label";
  // The label set, in id order. Empty: every distinct label value, sorted (numerically when all
  // are integers). Non-empty: rows with another label are skipped (keep_only_labels) or are an
  // error.
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
  std::vector<std::string> label_names;
  std::vector<int64_t> label_counts;
};

// Reads, tokenizes and writes. Throws slimfit::Error on a missing file, a missing column (listing
// the columns found), a label outside the label set (when !keep_only_labels), or no examples.
PrepareTextResult prepare_text(const PrepareTextOptions& options);

// A prepared text set, loaded into memory. token_type_ids are zeros.
// seq_len (> 1) shorter than the prepared length truncates each longer example to seq_len tokens
// whose last is the example's own last token, its [SEP]: exactly what prepare_text with
// max_length = seq_len writes, so truncating here and preparing shorter train the same. seq_len
// 0, or not shorter than the prepared length, keeps the examples as prepared.
class TextDataset : public Dataset {
 public:
  explicit TextDataset(const std::string& path, int64_t seq_len = 0);
  int64_t size() const override { return input_ids_.size(0); }
  int64_t num_labels() const override { return static_cast<int64_t>(label_names_.size()); }
  models::Batch get(const std::vector<int64_t>& indices) const override;

  const std::vector<std::string>& label_names() const { return label_names_; }
  int64_t max_length() const { return input_ids_.size(1); }
  int64_t max_tokens() const override { return max_length(); }
  int64_t max_token_id() const { return max_token_id_; }
  const at::Tensor& labels() const { return labels_; }  // (N) int64
  std::vector<int64_t> all_labels() const override {
    return {labels_.data_ptr<int64_t>(), labels_.data_ptr<int64_t>() + labels_.numel()};
  }
  const std::string& path() const { return path_; }
  // The length the file was prepared at, and how many examples seq_len cut shorter.
  int64_t prepared_length() const { return prepared_length_; }
  int64_t truncated() const { return truncated_; }
  // The vocab.txt prepare_text was given, and its fingerprint ("" when the file has none).
  const std::string& vocab_file() const { return vocab_file_; }
  const std::string& vocab_fingerprint() const { return vocab_fingerprint_; }

 private:
  void truncate(int64_t seq_len);

  std::string path_;
  std::string vocab_file_, vocab_fingerprint_;
  int64_t prepared_length_ = 0, truncated_ = 0;
  at::Tensor input_ids_;       // (N, L) int32
  at::Tensor attention_mask_;  // (N, L) uint8
  at::Tensor labels_;          // (N) int64
  std::vector<std::string> label_names_;
  int64_t max_token_id_ = 0;
};

}  // namespace slimfit::data
