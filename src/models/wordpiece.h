// BERT WordPiece tokenizer that reproduces Hugging Face's BertTokenizer (transformers 4.30, the
// slow/reference implementation) id for id: BasicTokenizer (clean text, CJK splitting,
// lower-casing, accent stripping, punctuation splitting) + greedy longest-match-first WordPiece.
// Pure C++ (no torch) so it compiles fast; Unicode tables come from
// tools/make_tokenizer_fixtures.py (src/models/wordpiece_unicode.inc).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace slimfit::models {

class WordPieceTokenizer {
 public:
  struct Encoding {
    std::vector<int64_t> input_ids, token_type_ids, attention_mask;
  };

  // Reads a BERT vocab.txt (one token a line; the line number is the id). Throws slimfit::Error
  // when the file is missing or lacks one of [CLS], [SEP], [PAD], [UNK].
  static WordPieceTokenizer from_vocab_file(const std::string& path, bool lower_case = true);
  // The same from tokens in id order (`source` names them in error messages).
  static WordPieceTokenizer from_tokens(const std::vector<std::string>& tokens,
                                        bool lower_case = true,
                                        const std::string& source = "<in-memory vocab>");

  // [CLS] text [SEP], truncated to max_length (>= 2) and, when pad_to_max_length, padded to
  // it with [PAD] (attention_mask 0). Like HF with truncation=True, padding="max_length".
  Encoding encode(const std::string& text, int64_t max_length, bool pad_to_max_length = true) const;
  // [CLS] a [SEP] b [SEP] with token_type_ids 0 for the first part, 1 for b [SEP]; truncation is
  // HF's longest_first (truncate_longest_first).
  Encoding encode_pair(const std::string& a, const std::string& b, int64_t max_length,
                       bool pad = true) const;
  // Hugging Face's truncation='longest_first' on the lengths of a pair's two parts: removes one
  // token at a time from the end of the longer part (from b on ties) until len_a + len_b <=
  // budget. The outcome depends only on the lengths, so truncating twice equals truncating once
  // to the smaller budget (TextDataset relies on this to shorten prepared pairs).
  static void truncate_longest_first(size_t& len_a, size_t& len_b, size_t budget);

  // Word pieces of UTF-8 text, without [CLS]/[SEP]. Special tokens written in the text
  // ("[MASK]") stay whole, as in HF.
  std::vector<std::string> tokenize(const std::string& text) const;
  // Ids of tokenize(text).
  std::vector<int64_t> tokenize_to_ids(const std::string& text) const;

  // Id of a vocab token, or the [UNK] id when it is not in the vocab.
  int64_t token_to_id(const std::string& token) const;
  // The token of an id; throws slimfit::Error when out of range.
  const std::string& id_to_token(int64_t id) const;
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  // FNV-1a 64 over the tokens in id order, each followed by '\n', as 16 hex digits: equal for
  // two vocabularies exactly when they map every token to the same id (up to hash collisions).
  // Prepared text records it so train can refuse data tokenized with another vocabulary.
  std::string fingerprint() const;
  bool lower_case() const { return lower_case_; }

  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t unk_id() const { return unk_id_; }

  // Words longer than this (in code points) become [UNK], as in HF.
  static constexpr size_t kMaxInputCharsPerWord = 100;

 private:
  WordPieceTokenizer() = default;
  // Appends the word pieces (as ids) of one basic token (UTF-32) to `out`.
  void wordpiece(const std::u32string& word, std::vector<int64_t>& out) const;
  void tokenize_impl(const std::string& text, std::vector<int64_t>& out) const;
  Encoding finish(const std::vector<int64_t>& a, const std::vector<int64_t>* b, int64_t max_length,
                  bool pad) const;

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::u32string> specials_;  // special tokens that stay whole in the input text
  bool lower_case_ = true;
  int64_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, unk_id_ = -1;
};

}  // namespace slimfit::models
