// WordPieceTokenizer: ids equal to Hugging Face BertTokenizer on the fixtures made by
// tools/make_tokenizer_fixtures.py, plus unit tests on a tiny hand-made vocab.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "models/wordpiece.h"

using slimfit::models::WordPieceTokenizer;

namespace {

const std::string kVocab = std::string(SLIMFIT_SOURCE_DIR) + "/.assets/minilm/vocab.txt";
const std::string kFixtures = std::string(SLIMFIT_FIXTURE_DIR) + "/tokenizer_ids.json";

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

#define SKIP_WITHOUT_VOCAB()         \
  if (!file_exists(kVocab))          \
  GTEST_SKIP() << "vocab " << kVocab \
               << " is missing (git-ignored asset): run scripts/setup.sh to install it"

const WordPieceTokenizer& minilm() {
  static const WordPieceTokenizer tok = WordPieceTokenizer::from_vocab_file(kVocab);
  return tok;
}

nlohmann::json load_fixtures() {
  std::ifstream in(kFixtures);
  EXPECT_TRUE(in.good()) << "missing " << kFixtures
                         << "; regenerate with tools/make_tokenizer_fixtures.py";
  return nlohmann::json::parse(in);
}

std::string join(const std::vector<int64_t>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? " " : "") << v[i];
  return os.str();
}

std::string join_tokens(const WordPieceTokenizer& tok, const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) {
    if (id == tok.pad_id()) break;
    s += (s.empty() ? "" : " ") + tok.id_to_token(id);
  }
  return s;
}

// The tiny vocab of the hand-made tests.
WordPieceTokenizer tiny(bool lower_case = true) {
  return WordPieceTokenizer::from_tokens(
      {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un",   "##aff", "##able",
       "aff",   "able",  "want",  "##ed",  "wa",     "##nt", ",",     "!",
       "cafe",  "a",     "##a",   "hello", "Hello",  "的",   "中"},
      lower_case, "tiny");
}

std::vector<int64_t> ids(std::initializer_list<int64_t> v) { return v; }

}  // namespace

TEST(WordPieceFixtures, EveryCaseMatchesHuggingFace) {
  SKIP_WITHOUT_VOCAB();
  const auto doc = load_fixtures();
  const auto& tok = minilm();
  ASSERT_EQ(tok.vocab_size(), doc.at("vocab_size").get<int64_t>());
  const auto& cases = doc.at("cases");
  ASSERT_GE(cases.size(), 300u);
  size_t mismatches = 0, pairs = 0;
  std::ostringstream first;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto text = c.at("text").get<std::string>();
    const auto max_length = c.at("max_length").get<int64_t>();
    const auto want = c.at("input_ids").get<std::vector<int64_t>>();
    const bool is_pair = c.contains("text_pair");
    pairs += is_pair;
    const auto got = is_pair
                         ? tok.encode_pair(text, c.at("text_pair").get<std::string>(), max_length)
                         : tok.encode(text, max_length);
    // Expected, padded: ids then [PAD]; mask 1 then 0; type ids from the fixture (pairs) or 0.
    std::vector<int64_t> want_ids = want, want_mask(want.size(), 1),
                         want_types = is_pair ? c.at("token_type_ids").get<std::vector<int64_t>>()
                                              : std::vector<int64_t>(want.size(), 0);
    want_ids.resize(static_cast<size_t>(max_length), tok.pad_id());
    want_mask.resize(static_cast<size_t>(max_length), 0);
    want_types.resize(static_cast<size_t>(max_length), 0);
    if (got.input_ids != want_ids || got.attention_mask != want_mask ||
        got.token_type_ids != want_types) {
      if (++mismatches <= 5) {
        first << "\n case " << i << " (max_length " << max_length
              << "): " << testing::PrintToString(text.substr(0, 80))
              << "\n   hf:   " << join_tokens(tok, want_ids)
              << "\n   ours: " << join_tokens(tok, got.input_ids)
              << "\n   hf ids:   " << join(want_ids) << "\n   our ids:  " << join(got.input_ids);
        if (got.input_ids == want_ids) first << "\n   (ids equal; mask or token types differ)";
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << mismatches << " of " << cases.size() << " cases (" << pairs
                            << " pairs) differ from Hugging Face; first ones:" << first.str();
  std::printf("[ tokenizer ] %zu/%zu fixture cases (%zu pairs) match Hugging Face\n",
              cases.size() - mismatches, cases.size(), pairs);
}

TEST(WordPieceFixtures, KnownTokens) {
  SKIP_WITHOUT_VOCAB();
  const auto& tok = minilm();
  EXPECT_EQ(tok.vocab_size(), 30522);
  EXPECT_EQ(tok.cls_id(), 101);
  EXPECT_EQ(tok.sep_id(), 102);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 100);
  EXPECT_EQ(tok.token_to_id("the"), 1996);
  EXPECT_EQ(tok.token_to_id("no-such-token-xyz"), 100);
  EXPECT_EQ(tok.tokenize("Café déjà vu"), (std::vector<std::string>{"cafe", "de", "##ja", "vu"}));
  EXPECT_EQ(tok.tokenize("U.S.A."), (std::vector<std::string>{"u", ".", "s", ".", "a", "."}));
  EXPECT_EQ(tok.tokenize("hello [MASK] world"),
            (std::vector<std::string>{"hello", "[MASK]", "world"}));
  EXPECT_EQ(tok.tokenize(std::string(101, 'a')), (std::vector<std::string>{"[UNK]"}));
}

TEST(WordPieceFixtures, PairTruncationLongestFirst) {
  SKIP_WITHOUT_VOCAB();
  const auto& tok = minilm();
  // 6 tokens each, max 10: remove 5, one at a time from the longer, from b on ties.
  const auto e = tok.encode_pair("a b c d e f", "g h i j k l", 10);
  EXPECT_EQ(join_tokens(tok, e.input_ids), "[CLS] a b c d [SEP] g h i [SEP]");
  EXPECT_EQ(e.token_type_ids, ids({0, 0, 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(e.attention_mask, ids({1, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  const auto e2 = tok.encode_pair("a", "g h i j k l m n", 8);
  EXPECT_EQ(join_tokens(tok, e2.input_ids), "[CLS] a [SEP] g h i j [SEP]");
}

TEST(WordPiece, GreedyLongestMatchFirst) {
  const auto tok = tiny();
  EXPECT_EQ(tok.tokenize("unaffable"), (std::vector<std::string>{"un", "##aff", "##able"}));
  EXPECT_EQ(tok.tokenize("wanted"), (std::vector<std::string>{"want", "##ed"}));
  EXPECT_EQ(tok.tokenize("wanted, unwanted!"),
            (std::vector<std::string>{"want", "##ed", ",", "[UNK]", "!"}));
  // "unwanted": "un" then "##want" is not in the vocab, "##wa" neither -> the whole word is [UNK].
  EXPECT_EQ(tok.tokenize("unwanted"), (std::vector<std::string>{"[UNK]"}));
  EXPECT_EQ(tok.tokenize("aaa"), (std::vector<std::string>{"a", "##a", "##a"}));
}

TEST(WordPiece, UnknownAndTooLongWords) {
  const auto tok = tiny();
  EXPECT_EQ(tok.tokenize("xyz want"), (std::vector<std::string>{"[UNK]", "want"}));
  EXPECT_EQ(tok.tokenize(std::string(100, 'a')).size(), 100u);  // a ##a x 99
  EXPECT_EQ(tok.tokenize(std::string(101, 'a')), (std::vector<std::string>{"[UNK]"}));
  EXPECT_EQ(tok.token_to_id("nope"), tok.unk_id());
}

TEST(WordPiece, BasicTokenizerNormalisation) {
  const auto tok = tiny();
  EXPECT_EQ(tok.tokenize("  HeLLo\t\n CAFÉ\u00a0"), (std::vector<std::string>{"hello", "cafe"}));
  EXPECT_EQ(tok.tokenize("hel\x01lo\u200b caf\xef\xbf\xbd"
                         "e"),
            (std::vector<std::string>{"hello", "cafe"}));
  EXPECT_EQ(tok.tokenize("中的"), (std::vector<std::string>{"中", "的"}));
  EXPECT_EQ(tok.tokenize("want!,want"), (std::vector<std::string>{"want", "!", ",", "want"}));
  EXPECT_EQ(tok.tokenize("[MASK]want"), (std::vector<std::string>{"[MASK]", "want"}));
  EXPECT_EQ(tok.tokenize("\xff\xfe"), std::vector<std::string>{});  // invalid UTF-8 is dropped
  EXPECT_TRUE(tok.tokenize("").empty());
  // Without lower-casing: case and accents are kept.
  const auto cased = tiny(false);
  EXPECT_EQ(cased.tokenize("Hello hello"), (std::vector<std::string>{"Hello", "hello"}));
  EXPECT_EQ(cased.tokenize("café"), (std::vector<std::string>{"[UNK]"}));
}

TEST(WordPiece, EncodePadsAndTruncates) {
  const auto tok = tiny();
  const auto e = tok.encode("want able", 6);
  EXPECT_EQ(e.input_ids, ids({2, 10, 9, 3, 0, 0}));
  EXPECT_EQ(e.attention_mask, ids({1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(e.token_type_ids, ids({0, 0, 0, 0, 0, 0}));
  const auto t = tok.encode("want able want able", 4);
  EXPECT_EQ(t.input_ids, ids({2, 10, 9, 3}));
  EXPECT_EQ(t.attention_mask, ids({1, 1, 1, 1}));
  const auto u = tok.encode("want", 8, /*pad_to_max_length=*/false);
  EXPECT_EQ(u.input_ids, ids({2, 10, 3}));
  EXPECT_EQ(u.attention_mask, ids({1, 1, 1}));
  EXPECT_EQ(u.token_type_ids, ids({0, 0, 0}));
  EXPECT_THROW(tok.encode("want", 1), slimfit::Error);
  EXPECT_THROW(tok.encode_pair("want", "able", 2), slimfit::Error);
}

TEST(WordPiece, EncodePair) {
  const auto tok = tiny();
  const auto e = tok.encode_pair("want", "able hello", 8);
  EXPECT_EQ(e.input_ids, ids({2, 10, 3, 9, 19, 3, 0, 0}));
  EXPECT_EQ(e.token_type_ids, ids({0, 0, 0, 1, 1, 1, 0, 0}));
  EXPECT_EQ(e.attention_mask, ids({1, 1, 1, 1, 1, 1, 0, 0}));
  // Longest first: b loses tokens until it is no longer than a, then ties go to b.
  const auto t = tok.encode_pair("want able", "hello hello hello", 6);
  // a=2, b=3, max 6 -> 2 to remove: b (3>2) then b (tie) -> [CLS] want able [SEP] hello [SEP].
  EXPECT_EQ(t.input_ids, ids({2, 10, 9, 3, 19, 3}));
  EXPECT_EQ(t.token_type_ids, ids({0, 0, 0, 0, 1, 1}));
  const auto empty_b = tok.encode_pair("want", "", 5);
  EXPECT_EQ(empty_b.input_ids, ids({2, 10, 3, 3, 0}));
  EXPECT_EQ(empty_b.token_type_ids, ids({0, 0, 0, 1, 0}));
}

TEST(WordPiece, Errors) {
  const std::string missing = "/nonexistent/dir/vocab.txt";
  try {
    WordPieceTokenizer::from_vocab_file(missing);
    FAIL() << "no throw";
  } catch (const slimfit::Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("setup.sh"), std::string::npos) << e.what();
  }
  const std::string path = testing::TempDir() + "/slimfit_bad_vocab.txt";
  {
    std::ofstream out(path);
    out << "[PAD]\n[UNK]\n[CLS]\nhello\n";  // no [SEP]
  }
  try {
    WordPieceTokenizer::from_vocab_file(path);
    FAIL() << "no throw";
  } catch (const slimfit::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[SEP]"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
  EXPECT_THROW(tiny().id_to_token(1000), slimfit::Error);
}

TEST(WordPiece, VocabFileWithCrLf) {
  const std::string path = testing::TempDir() + "/slimfit_crlf_vocab.txt";
  {
    std::ofstream out(path, std::ios::binary);
    out << "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n";
  }
  const auto tok = WordPieceTokenizer::from_vocab_file(path);
  std::remove(path.c_str());
  EXPECT_EQ(tok.vocab_size(), 5);
  EXPECT_EQ(tok.encode("Hello", 4).input_ids, ids({2, 4, 3, 0}));
}

// Longest first depends only on the lengths: cutting to one budget and then to a smaller one
// equals cutting once (what TextDataset relies on to shorten prepared pairs), and it equals
// transformers 4.30's formula: first the longer side down to the shorter, then the rest split
// with b losing the extra token.
TEST(WordPiece, LongestFirstComposesAndMatchesHuggingFacesFormula) {
  for (size_t a = 0; a <= 12; ++a)
    for (size_t b = 0; b <= 12; ++b)
      for (size_t big = 0; big <= a + b; ++big)
        for (size_t small = 0; small <= big; ++small) {
          size_t a1 = a, b1 = b, a2 = a, b2 = b;
          WordPieceTokenizer::truncate_longest_first(a1, b1, big);
          WordPieceTokenizer::truncate_longest_first(a1, b1, small);
          WordPieceTokenizer::truncate_longest_first(a2, b2, small);
          ASSERT_EQ(a1, a2) << a << " " << b << " " << big << " " << small;
          ASSERT_EQ(b1, b2) << a << " " << b << " " << big << " " << small;
          ASSERT_EQ(a2 + b2, std::min(a + b, small));
          // HF: remove = a + b - small; the longer side first, then halves (b takes the odd one).
          size_t ha = a, hb = b, remove = a + b > small ? a + b - small : 0;
          const size_t first = std::min(remove, ha > hb ? ha - hb : hb - ha);
          (ha > hb ? ha : hb) -= first;
          remove -= first;
          ha -= remove / 2;
          hb -= remove - remove / 2;
          ASSERT_EQ(a2, ha) << a << " " << b << " " << small;
          ASSERT_EQ(b2, hb) << a << " " << b << " " << small;
        }
}
