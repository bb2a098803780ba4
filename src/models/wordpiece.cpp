// WordPiece tokenizer: a line-by-line port of transformers 4.30 BertTokenizer (slow), which is the
// reference; see wordpiece.h. The steps, in HF's order, for each piece of text between special
// tokens written in it ("[MASK]"):
//   1. lower-case one character at a time (PreTrainedTokenizer.tokenize, re `(.+?)`: so no
//      final-sigma context, U+03A3 always becomes U+03C3),
//   2. _clean_text: drop NUL, U+FFFD and every C* category except \t \n \r; whitespace -> ' ',
//   3. _tokenize_chinese_chars: spaces around CJK ideographs,
//   4. whitespace split (str.split(): also U+2028/U+2029),
//   5. per word: NFD then drop Mn (accent stripping, only when lower-casing), split off every
//      punctuation character (ASCII ranges + Unicode P*),
//   6. greedy longest-match-first WordPiece with "##", words over 100 code points -> [UNK].
#include "models/wordpiece.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "common/error.h"

namespace slimfit::models {
namespace {

enum CharClass : uint8_t { kNone = 0, kControl = 1, kSpace = 2, kPunct = 3, kMark = 4, kSplit = 5 };

struct CharRange {
  uint32_t first, last;
  uint8_t cls;
};
struct LowerEntry {
  uint32_t cp;
  uint32_t lower[3];
};
struct DecompEntry {
  uint32_t cp;
  uint32_t nfd[4];
};

#include "models/wordpiece_unicode.inc"

CharClass char_class(char32_t c) {
  const auto* end = std::end(kCharRanges);
  const auto* it = std::upper_bound(std::begin(kCharRanges), end, static_cast<uint32_t>(c),
                                    [](uint32_t v, const CharRange& r) { return v < r.first; });
  if (it == std::begin(kCharRanges)) return kNone;
  --it;
  return c <= it->last ? static_cast<CharClass>(it->cls) : kNone;
}

// Appends Python's chr(c).lower().
void append_lower(char32_t c, std::u32string& out) {
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  const auto* end = std::end(kLower);
  const auto* it = std::lower_bound(std::begin(kLower), end, static_cast<uint32_t>(c),
                                    [](const LowerEntry& e, uint32_t v) { return e.cp < v; });
  if (it == end || it->cp != c) {
    out.push_back(c);
    return;
  }
  for (uint32_t l : it->lower)
    if (l != 0) out.push_back(l);
}

// Appends unicodedata.normalize("NFD", chr(c)).
void append_nfd(char32_t c, std::u32string& out) {
  if (c < 0xC0) {
    out.push_back(c);
    return;
  }
  constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
  constexpr char32_t kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = 11172;
  if (c >= kSBase && c < kSBase + kSCount) {  // Hangul syllable
    const char32_t s = c - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto* end = std::end(kDecomp);
  const auto* it = std::lower_bound(std::begin(kDecomp), end, static_cast<uint32_t>(c),
                                    [](const DecompEntry& e, uint32_t v) { return e.cp < v; });
  if (it == end || it->cp != c) {
    out.push_back(c);
    return;
  }
  for (uint32_t d : it->nfd)
    if (d != 0) out.push_back(d);
}

bool is_chinese_char(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// UTF-8 -> code points; an invalid or truncated sequence becomes U+FFFD (which _clean_text drops).
std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    int len = 0;
    char32_t cp = 0, min = 0;
    if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    int k = 1;
    for (; k < len && i + k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) break;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (k < len || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      out.push_back(0xFFFD);
      i += k;  // skip the lead byte and the continuation bytes consumed
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

const char* const kSpecialTokens[] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};

}  // namespace

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path, bool lower_case) {
  std::ifstream in(path, std::ios::binary);
  SLIMFIT_CHECK(in.good(), "tokenizer vocab file '", path,
                "' not found or unreadable; run scripts/setup.sh (installs "
                ".assets/minilm/vocab.txt) or pass the path of a BERT vocab.txt");
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // Python's universal newlines
    tokens.push_back(line);
  }
  return from_tokens(tokens, lower_case, path);
}

std::string WordPieceTokenizer::fingerprint() const {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
  auto add = [&](unsigned char c) { h = (h ^ c) * 0x100000001b3ULL; };
  for (const std::string& token : tokens_) {
    for (unsigned char c : token) add(c);
    add('\n');
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

WordPieceTokenizer WordPieceTokenizer::from_tokens(const std::vector<std::string>& tokens,
                                                   bool lower_case, const std::string& source) {
  WordPieceTokenizer t;
  t.lower_case_ = lower_case;
  t.tokens_ = tokens;
  t.vocab_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i)
    t.vocab_[tokens[i]] = static_cast<int64_t>(i);  // a repeated token keeps its last id, as HF
  auto need = [&](const char* name) {
    auto it = t.vocab_.find(name);
    SLIMFIT_CHECK(it != t.vocab_.end(), "tokenizer vocab '", source, "' (", tokens.size(),
                  " tokens) has no ", name,
                  " token; use a BERT WordPiece vocab.txt (one token a line) that defines [CLS], "
                  "[SEP], [PAD] and [UNK]");
    return it->second;
  };
  t.cls_id_ = need("[CLS]");
  t.sep_id_ = need("[SEP]");
  t.pad_id_ = need("[PAD]");
  t.unk_id_ = need("[UNK]");
  for (const char* s : kSpecialTokens) t.specials_.push_back(decode_utf8(s));
  return t;
}

int64_t WordPieceTokenizer::token_to_id(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? unk_id_ : it->second;
}

const std::string& WordPieceTokenizer::id_to_token(int64_t id) const {
  SLIMFIT_CHECK(id >= 0 && id < vocab_size(), "token id ", id, " is out of range [0, ",
                vocab_size(), ") of the tokenizer vocab");
  return tokens_[static_cast<size_t>(id)];
}

void WordPieceTokenizer::wordpiece(const std::u32string& word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  if (word.size() > kMaxInputCharsPerWord) {
    out.push_back(unk_id_);
    return;
  }
  std::string utf8;
  std::vector<size_t> offset;  // byte offset of each code point, plus the end
  offset.reserve(word.size() + 1);
  for (char32_t c : word) {
    offset.push_back(utf8.size());
    append_utf8(c, utf8);
  }
  offset.push_back(utf8.size());

  const size_t first = out.size();
  std::string piece;
  size_t start = 0;
  while (start < word.size()) {
    int64_t found = -1;
    size_t end = word.size();
    for (; end > start; --end) {
      piece.assign(start > 0 ? "##" : "");
      piece.append(utf8, offset[start], offset[end] - offset[start]);
      auto it = vocab_.find(piece);
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // no piece matches: the whole word is [UNK]
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::tokenize_impl(const std::string& text, std::vector<int64_t>& out) const {
  const std::u32string input = decode_utf8(text);

  // Basic tokenization of text between special tokens.
  auto basic = [&](size_t begin, size_t end) {
    // Steps 1-3: lower-case, clean, space out CJK ideographs.
    std::u32string lowered;
    if (lower_case_) {
      lowered.reserve(end - begin);
      for (size_t i = begin; i < end; ++i) append_lower(input[i], lowered);
    } else {
      lowered.assign(input.begin() + static_cast<ptrdiff_t>(begin),
                     input.begin() + static_cast<ptrdiff_t>(end));
    }
    std::u32string clean;
    clean.reserve(lowered.size());
    for (char32_t c : lowered) {
      if (c == 0 || c == 0xFFFD) continue;
      const CharClass cls = char_class(c);
      if (cls == kControl) continue;
      if (cls == kSpace) {
        clean.push_back(U' ');
      } else if (is_chinese_char(c)) {
        clean.push_back(U' ');
        clean.push_back(c);
        clean.push_back(U' ');
      } else {
        clean.push_back(c);
      }
    }
    // Steps 4-6, word by word.
    std::u32string word, stripped, piece;
    auto flush_word = [&]() {
      if (word.empty()) return;
      // A word equal to a special token stays whole (BasicTokenizer's never_split).
      if (std::find(specials_.begin(), specials_.end(), word) != specials_.end()) {
        wordpiece(word, out);
        word.clear();
        return;
      }
      const std::u32string* w = &word;
      if (lower_case_) {  // strip accents: NFD, then drop Mn
        stripped.clear();
        std::u32string nfd;
        for (char32_t c : word) {
          nfd.clear();
          append_nfd(c, nfd);
          for (char32_t d : nfd)
            if (char_class(d) != kMark) stripped.push_back(d);
        }
        w = &stripped;
      }
      piece.clear();
      for (char32_t c : *w) {
        const CharClass cls = char_class(c);
        if (cls == kPunct) {
          wordpiece(piece, out);
          piece.clear();
          wordpiece(std::u32string(1, c), out);
        } else if (cls == kSpace || cls == kSplit) {  // only if NFD produced one
          wordpiece(piece, out);
          piece.clear();
        } else {
          piece.push_back(c);
        }
      }
      wordpiece(piece, out);
      word.clear();
    };
    for (char32_t c : clean) {
      if (c == U' ' || char_class(c) == kSplit) {
        flush_word();
      } else {
        word.push_back(c);
      }
    }
    flush_word();
  };

  size_t chunk = 0;
  for (size_t i = 0; i < input.size();) {
    const std::u32string* match = nullptr;
    if (input[i] == U'[') {
      for (const auto& s : specials_)
        if (input.compare(i, s.size(), s) == 0) {
          match = &s;
          break;
        }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    basic(chunk, i);
    std::string name;
    for (char32_t c : *match) append_utf8(c, name);
    out.push_back(token_to_id(name));
    i += match->size();
    chunk = i;
  }
  basic(chunk, input.size());
}

std::vector<int64_t> WordPieceTokenizer::tokenize_to_ids(const std::string& text) const {
  std::vector<int64_t> ids;
  tokenize_impl(text, ids);
  return ids;
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (int64_t id : tokenize_to_ids(text)) out.push_back(tokens_[static_cast<size_t>(id)]);
  return out;
}

void WordPieceTokenizer::truncate_longest_first(size_t& len_a, size_t& len_b, size_t budget) {
  while (len_a + len_b > budget) {
    if (len_a > len_b)
      --len_a;
    else
      --len_b;
  }
}

WordPieceTokenizer::Encoding WordPieceTokenizer::finish(const std::vector<int64_t>& a,
                                                        const std::vector<int64_t>* b,
                                                        int64_t max_length, bool pad) const {
  const size_t n_special = b ? 3 : 2;
  SLIMFIT_CHECK(max_length >= static_cast<int64_t>(n_special), "tokenizer max_length ", max_length,
                " is too small: it must be at least ", n_special,
                b ? " for a pair ([CLS] a [SEP] b [SEP])" : " ([CLS] text [SEP])");
  const auto limit = static_cast<size_t>(max_length);
  size_t len_a = a.size(), len_b = b ? b->size() : 0;
  if (len_a + len_b + n_special > limit) {
    if (!b) {
      len_a = limit - n_special;
    } else {
      truncate_longest_first(len_a, len_b, limit - n_special);
    }
  }
  Encoding e;
  const size_t total = len_a + len_b + n_special;
  const size_t size = pad ? std::max(total, limit) : total;
  e.input_ids.reserve(size);
  e.input_ids.push_back(cls_id_);
  e.input_ids.insert(e.input_ids.end(), a.begin(), a.begin() + static_cast<ptrdiff_t>(len_a));
  e.input_ids.push_back(sep_id_);
  if (b) {
    e.input_ids.insert(e.input_ids.end(), b->begin(), b->begin() + static_cast<ptrdiff_t>(len_b));
    e.input_ids.push_back(sep_id_);
  }
  e.token_type_ids.assign(size, 0);
  std::fill(e.token_type_ids.begin() + static_cast<ptrdiff_t>(len_a + 2),
            e.token_type_ids.begin() + static_cast<ptrdiff_t>(total), 1);
  e.attention_mask.assign(size, 0);
  std::fill(e.attention_mask.begin(), e.attention_mask.begin() + static_cast<ptrdiff_t>(total), 1);
  e.input_ids.resize(size, pad_id_);
  return e;
}

WordPieceTokenizer::Encoding WordPieceTokenizer::encode(const std::string& text, int64_t max_length,
                                                        bool pad_to_max_length) const {
  const std::vector<int64_t> a = tokenize_to_ids(text);
  return finish(a, nullptr, max_length, pad_to_max_length);
}

WordPieceTokenizer::Encoding WordPieceTokenizer::encode_pair(const std::string& a,
                                                             const std::string& b,
                                                             int64_t max_length, bool pad) const {
  const std::vector<int64_t> ids_a = tokenize_to_ids(a), ids_b = tokenize_to_ids(b);
  return finish(ids_a, &ids_b, max_length, pad);
}

}  // namespace slimfit::models
