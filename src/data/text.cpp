#include "data/text.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "ckpt/h5.h"
#include "common/error.h"
#include "common/log.h"
#include "models/wordpiece.h"

namespace slimfit::data {
namespace {

constexpr const char* kFormat = "text-v2";
constexpr const char* kClassification = "single_label_classification";
constexpr const char* kRegression = "regression";
constexpr const char* kVocabAttr = "vocab_fingerprint";

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string quoted_list(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back("'" + s + "'");
  return join(q);
}

std::string read_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  SLIMFIT_CHECK(std::filesystem::exists(path, ec), what, " ", path, " does not exist");
  SLIMFIT_CHECK(!std::filesystem::is_directory(path, ec), what, " ", path, " is a directory");
  std::ifstream in(path, std::ios::binary);
  SLIMFIT_CHECK(in.good(), "cannot open ", what, " ", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// parse_csv with the 1-based line on which each record starts.
std::vector<std::vector<std::string>> parse_csv_lines(const std::string& s,
                                                      const std::string& source,
                                                      std::vector<int64_t>* lines) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  size_t i = 0;
  if (s.size() >= 3 && s.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // UTF-8 BOM
  int64_t line = 1, record_line = 1;
  bool in_quotes = false, field_quoted = false, after_quote = false;
  auto end_record = [&] {
    record.push_back(std::move(field));
    field.clear();
    // An empty line is no record.
    if (!(record.size() == 1 && record[0].empty() && !field_quoted)) {
      records.push_back(std::move(record));
      if (lines) lines->push_back(record_line);
    }
    record.clear();
    field_quoted = after_quote = false;
  };
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      field_quoted = after_quote = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      end_record();
      ++line;
      record_line = line;
    } else if (c == '"') {
      SLIMFIT_CHECK(field.empty() && !after_quote, source, ": line ", line,
                    ": a quote inside an unquoted field (quote the whole field and double the "
                    "quote: \"\")");
      in_quotes = field_quoted = true;
    } else {
      SLIMFIT_CHECK(!after_quote, source, ": line ", line,
                    ": text after a closing quote (expected a comma or a line end)");
      field += c;
    }
  }
  SLIMFIT_CHECK(!in_quotes, source, ": a quoted field opened on line ", record_line,
                " is never closed");
  if (!field.empty() || !record.empty() || field_quoted) end_record();
  return records;
}

struct Row {
  std::string text, text_b, label;
  int64_t line;
};

std::vector<Row> read_csv_rows(const PrepareTextOptions& o) {
  std::vector<int64_t> lines;
  auto records = parse_csv_lines(read_file(o.input, "text data file"), o.input, &lines);
  const bool headerless = !o.columns.empty();
  SLIMFIT_CHECK(!records.empty(), "text data file ", o.input, " is empty (expected ",
                headerless ? "data rows" : "a header row and data rows", ")");
  std::vector<std::string> header = headerless ? o.columns : records[0];
  if (headerless) {
    std::vector<std::string> sorted = header;
    std::sort(sorted.begin(), sorted.end());
    const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    SLIMFIT_CHECK(dup == sorted.end(), "--columns ", join(header, ","), " names column '",
                  dup == sorted.end() ? "" : *dup, "' twice");
    SLIMFIT_CHECK(records[0] != header, o.input, ": the first row (", join(records[0], ","),
                  ") is the header that --columns names; drop --columns for a file with a header");
  }
  const char* where = headerless ? "columns named by --columns" : "columns found";
  auto col = [&](const std::string& name, const char* option) {
    auto it = std::find(header.begin(), header.end(), name);
    SLIMFIT_CHECK(it != header.end(), "text data file ", o.input, " has no column '", name, "' (",
                  option, "); ", where, ": ", quoted_list(header));
    return static_cast<size_t>(it - header.begin());
  };
  const size_t tc = col(o.text_column, "text column"), lc = col(o.label_column, "label column");
  // A header read as data would become an example labelled with the label column's name.
  SLIMFIT_CHECK(
      !headerless || records[0].size() != header.size() || records[0][lc] != o.label_column,
      o.input, ": the first row (", join(records[0], ","), ") looks like a header: its label is '",
      o.label_column, "', the label column's name; drop --columns for a file with a header");
  const bool pairs = !o.text_pair_column.empty();
  const size_t pc = pairs ? col(o.text_pair_column, "text pair column") : 0;
  std::vector<Row> rows;
  const size_t first = headerless ? 0 : 1;
  rows.reserve(records.size() - first);
  for (size_t r = first; r < records.size(); ++r) {
    const auto& rec = records[r];
    if (headerless) {
      SLIMFIT_CHECK(rec.size() == header.size(), o.input, ": the record on line ", lines[r],
                    " has ", rec.size(), " fields but --columns names ", header.size(), " (",
                    join(header, ","), ")");
    } else {
      SLIMFIT_CHECK(rec.size() == header.size(), o.input, ": the record on line ", lines[r],
                    " has ", rec.size(), " fields but the header has ", header.size());
    }
    rows.push_back({rec[tc], pairs ? rec[pc] : std::string(), rec[lc], lines[r]});
  }
  return rows;
}

std::string json_scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return std::to_string(int64_t(d));
    return v.dump();
  }
  if (v.is_null()) return "";
  return v.dump();
}

std::vector<Row> read_jsonl_rows(const PrepareTextOptions& o) {
  std::istringstream in(read_file(o.input, "text data file"));
  std::vector<Row> rows;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(str_cat(o.input, ": line ", n, " is not valid JSON: ", e.what()));
    }
    SLIMFIT_CHECK(j.is_object(), o.input, ": line ", n, " is not a JSON object");
    auto field = [&](const std::string& name, const char* option) {
      if (!j.contains(name)) {
        std::vector<std::string> keys;
        for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
        throw Error(str_cat("text data file ", o.input, " line ", n, " has no field '", name, "' (",
                            option, "); fields found: ", quoted_list(keys)));
      }
      return json_scalar(j[name]);
    };
    rows.push_back(
        {field(o.text_column, "text column"),
         o.text_pair_column.empty() ? std::string() : field(o.text_pair_column, "text pair column"),
         field(o.label_column, "label column"), n});
  }
  SLIMFIT_CHECK(!rows.empty(), "text data file ", o.input, " is empty (no JSON lines)");
  return rows;
}

bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  std::strtoll(s.c_str(), &end, 10);
  return end && *end == '\0' && errno == 0;
}

std::string lower_ext(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

// A finite number spelling all of s (surrounding blanks allowed), or nullopt.
std::optional<double> parse_number(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  if (b == std::string::npos) return std::nullopt;
  const std::string t = s.substr(b, e - b + 1);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(t.c_str(), &end);
  if (!end || *end != '\0' || errno == ERANGE || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Whether the label column holds regression targets (PrepareTextOptions::regression).
bool is_regression(const PrepareTextOptions& o, const std::vector<Row>& rows) {
  SLIMFIT_CHECK(!(o.regression && !o.labels.empty()),
                "prepare_text: --regression takes no "
                "--labels (a regression set has float targets, not classes)");
  if (o.regression) return true;
  if (!o.labels.empty()) return false;
  for (const Row& r : rows) {
    const std::optional<double> v = parse_number(r.label);
    if (v && *v != std::floor(*v)) {
      log_info("prepare_text: ", o.input, " line ", r.line, " has label ", r.label, " in column '",
               o.label_column,
               "', a number that is not whole: a regression set (float targets; "
               "give --labels to make it classification)");
      return true;
    }
  }
  return false;
}

// The regression target of every row (as float32, as stored), up to o.limit rows.
std::vector<float> regression_targets(const PrepareTextOptions& o, const std::vector<Row>& rows) {
  std::vector<float> ys;
  for (const Row& r : rows) {
    if (o.limit >= 0 && static_cast<int64_t>(ys.size()) >= o.limit) break;
    const std::optional<double> v = parse_number(r.label);
    SLIMFIT_CHECK(v, o.input, ": line ", r.line, " has '", r.label, "' in the label column '",
                  o.label_column, "', which is not a finite number; a regression target must be ",
                  "one", o.regression ? "" : " (give --labels to make the set classification)");
    ys.push_back(static_cast<float>(*v));
  }
  return ys;
}

}  // namespace

std::vector<std::vector<std::string>> parse_csv(const std::string& content,
                                                const std::string& source) {
  return parse_csv_lines(content, source, nullptr);
}

namespace {

// The class id of each row (up to o.limit rows; rows with other labels skipped or an error, as
// keep_only_labels says), filling res's label names and counts.
std::vector<int64_t> class_labels(const PrepareTextOptions& o, const std::vector<Row>& rows,
                                  std::vector<bool>& keep, PrepareTextResult& res) {
  std::vector<std::string> labels = o.labels;
  if (labels.empty()) {
    std::vector<std::string> seen;
    for (const auto& r : rows) seen.push_back(r.label);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    if (std::all_of(seen.begin(), seen.end(), is_integer))
      std::sort(seen.begin(), seen.end(), [](const std::string& a, const std::string& b) {
        return std::strtoll(a.c_str(), nullptr, 10) < std::strtoll(b.c_str(), nullptr, 10);
      });
    labels = seen;
  }
  std::map<std::string, int64_t> label_id;
  for (size_t i = 0; i < labels.size(); ++i) {
    SLIMFIT_CHECK(label_id.emplace(labels[i], static_cast<int64_t>(i)).second,
                  "prepare_text: label '", labels[i], "' is listed twice");
  }
  res.label_names = labels;
  res.label_counts.assign(labels.size(), 0);
  std::vector<int64_t> ys;
  std::map<std::string, int64_t> other;  // skipped label values
  keep.assign(rows.size(), false);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    if (o.limit >= 0 && static_cast<int64_t>(ys.size()) >= o.limit) break;
    auto it = label_id.find(r.label);
    if (it == label_id.end()) {
      SLIMFIT_CHECK(o.keep_only_labels, o.input, ": line ", r.line, " has label '", r.label,
                    "', which is not in the label set {", quoted_list(labels), "}");
      ++other[r.label];
      ++res.skipped;
      continue;
    }
    keep[i] = true;
    ys.push_back(it->second);
    ++res.label_counts[size_t(it->second)];
  }
  if (ys.empty()) {
    std::vector<std::string> found;
    for (const auto& [k, v] : other) found.push_back("'" + k + "' (" + std::to_string(v) + ")");
    throw Error(str_cat("prepare_text: no examples in ", o.input, " with a label in {",
                        quoted_list(labels), "}; label values found in column '", o.label_column,
                        "': ", join(found)));
  }
  return ys;
}

}  // namespace

PrepareTextResult prepare_text(const PrepareTextOptions& o) {
  SLIMFIT_CHECK(!o.input.empty(), "prepare_text: no input file given");
  SLIMFIT_CHECK(!o.output.empty(), "prepare_text: no output file given");
  SLIMFIT_CHECK(o.max_length >= 2, "prepare_text: max_length must be >= 2, got ", o.max_length);
  const bool pairs = !o.text_pair_column.empty();
  SLIMFIT_CHECK(!pairs || o.max_length >= 3, "prepare_text: max_length must be >= 3 for pairs ",
                "([CLS] a [SEP] b [SEP]), got ", o.max_length);
  std::string format = o.format;
  if (format.empty()) {
    const std::string e = lower_ext(o.input);
    format = (e == ".jsonl" || e == ".json" || e == ".ndjson") ? "jsonl" : "csv";
  }
  SLIMFIT_CHECK(format == "csv" || format == "jsonl", "prepare_text: unknown format '", format,
                "' (csv or jsonl)");
  SLIMFIT_CHECK(o.columns.empty() || format == "csv", "prepare_text: --columns names the columns ",
                "of a headerless CSV file, but ", o.input, " is JSON Lines, whose objects name ",
                "their fields");
  // Load the tokenizer first: a bad vocab path should fail before a long read.
  auto tok = models::WordPieceTokenizer::from_vocab_file(o.vocab, o.lower_case);

  std::vector<Row> rows = format == "csv" ? read_csv_rows(o) : read_jsonl_rows(o);
  SLIMFIT_CHECK(!rows.empty(), "text data file ", o.input, " has a header but no data rows");

  PrepareTextResult res;
  res.rows_read = static_cast<int64_t>(rows.size());
  res.regression = is_regression(o, rows);
  std::vector<bool> keep(rows.size(), true);
  std::vector<int64_t> classes;
  std::vector<float> targets;
  if (res.regression) {
    targets = regression_targets(o, rows);
    keep.assign(rows.size(), false);
    std::fill(keep.begin(), keep.begin() + static_cast<ptrdiff_t>(targets.size()), true);
  } else {
    classes = class_labels(o, rows, keep, res);
  }
  res.examples = static_cast<int64_t>(res.regression ? targets.size() : classes.size());

  // Tokenize.
  const int64_t L = o.max_length, N = res.examples;
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask, types;
  ids.reserve(static_cast<size_t>(N * L));
  int64_t done = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!keep[i]) continue;
    const Row& r = rows[i];
    auto enc = pairs ? tok.encode_pair(r.text, r.text_b, L, /*pad=*/true)
                     : tok.encode(r.text, L, /*pad_to_max_length=*/true);
    SLIMFIT_ASSERT(static_cast<int64_t>(enc.input_ids.size()) == L);
    if (enc.attention_mask[size_t(L - 1)] != 0) ++res.truncated;  // filled max_length (maybe cut)
    for (int64_t t = 0; t < L; ++t) {
      ids.push_back(static_cast<int32_t>(enc.input_ids[size_t(t)]));
      mask.push_back(static_cast<uint8_t>(enc.attention_mask[size_t(t)]));
      if (pairs) types.push_back(static_cast<uint8_t>(enc.token_type_ids[size_t(t)]));
    }
    if (++done % 1000 == 0) log_info("prepare_text: ", done, " examples tokenized");
  }
  SLIMFIT_ASSERT(done == N);

  at::Tensor t_ids = at::from_blob(ids.data(), {N, L}, at::kInt);
  at::Tensor t_mask = at::from_blob(mask.data(), {N, L}, at::kByte);
  at::Tensor t_y = res.regression ? at::from_blob(targets.data(), {N}, at::kFloat)
                                  : at::from_blob(classes.data(), {N}, at::kLong);
  if (res.regression) {
    res.target_min = t_y.min().item<double>();
    res.target_max = t_y.max().item<double>();
    res.target_mean = t_y.to(at::kDouble).mean().item<double>();
  }
  h5::write_atomically(o.output, [&](h5::File& f) {
    f.set_kind("prepared text set");
    f.write_tensor("/input_ids", t_ids);
    f.write_tensor("/attention_mask", t_mask);
    if (pairs) f.write_tensor("/token_type_ids", at::from_blob(types.data(), {N, L}, at::kByte));
    f.write_string("/problem_type", res.regression ? kRegression : kClassification);
    f.write_tensor("/labels", t_y);
    if (!res.regression) {
      f.write_strings("/label_names", res.label_names);
      f.write_tensor("/label_counts", at::tensor(res.label_counts, at::kLong));
    }
    f.write_int("/max_length", L);
    f.write_string("/source", o.input);
    f.write_string("/vocab", o.vocab);
    f.write_string("/text_column", o.text_column);
    if (pairs) f.write_string("/text_pair_column", o.text_pair_column);
    f.write_string("/label_column", o.label_column);
    if (!o.columns.empty()) f.write_strings("/columns", o.columns);
    f.write_int("/lower_case", o.lower_case ? 1 : 0);
    f.set_attr("/", "slimfit_format", std::string(kFormat));
    f.set_attr("/", kVocabAttr, tok.fingerprint());
  });
  std::string what;
  if (res.regression) {
    what = str_cat("regression targets in [", res.target_min, ", ", res.target_max, "], mean ",
                   res.target_mean);
  } else {
    for (size_t i = 0; i < res.label_names.size(); ++i)
      what += (i ? ", " : "") + res.label_names[i] + "=" + std::to_string(res.label_counts[i]);
  }
  log_info("prepare_text: wrote ", N, pairs ? " sentence pairs (" : " examples (", what, ") of ", L,
           " tokens to ", o.output, "; ", res.skipped, " rows skipped for other labels, ",
           res.truncated, " filled max_length");
  return res;
}

// ---------------------------------------------------------------------------------------------
TextDataset::TextDataset(const std::string& path, int64_t seq_len) : path_(path) {
  h5::File f = h5::File::open(path);
  f.set_kind("prepared text set");
  for (const char* name : {"/input_ids", "/attention_mask", "/labels"})
    SLIMFIT_CHECK(f.exists(name), path, " is not a text set made by prepare_text: it has no ",
                  name);
  input_ids_ = f.read_tensor("/input_ids").to(at::kInt);
  attention_mask_ = f.read_tensor("/attention_mask").to(at::kByte);
  SLIMFIT_CHECK(input_ids_.dim() == 2 && input_ids_.size(0) > 0, path,
                ": /input_ids must be (N > 0, L), got ", input_ids_.sizes());
  SLIMFIT_CHECK(attention_mask_.sizes() == input_ids_.sizes(), path, ": /attention_mask ",
                attention_mask_.sizes(), " does not match /input_ids ", input_ids_.sizes());
  if (f.exists("/token_type_ids")) {
    token_type_ids_ = f.read_tensor("/token_type_ids").to(at::kByte);
    SLIMFIT_CHECK(token_type_ids_.sizes() == input_ids_.sizes(), path, ": /token_type_ids ",
                  token_type_ids_.sizes(), " does not match /input_ids ", input_ids_.sizes());
    SLIMFIT_CHECK(token_type_ids_.max().item<int>() <= 1, path,
                  ": /token_type_ids holds a value above 1 (a pair has segments 0 and 1)");
  }
  read_labels(f);
  SLIMFIT_CHECK(input_ids_.min().item<int>() >= 0, path, ": negative token ids");
  if (f.exists("/vocab")) vocab_file_ = f.read_string("/vocab");
  if (f.has_attr("/", kVocabAttr)) vocab_fingerprint_ = f.attr_string("/", kVocabAttr);
  prepared_length_ = max_length();
  if (seq_len > 0 && seq_len < prepared_length_) {
    if (is_pairs())
      truncate_pairs(seq_len);
    else
      truncate(seq_len);
  }
  max_token_id_ = input_ids_.max().item<int>();
}

void TextDataset::read_labels(const h5::File& f) {
  // Files prepared before regression have no /problem_type: classification.
  const std::string problem =
      f.exists("/problem_type") ? f.read_string("/problem_type") : kClassification;
  SLIMFIT_CHECK(problem == kClassification || problem == kRegression, path_, ": /problem_type is '",
                problem, "'; expected '", kClassification, "' or '", kRegression, "'");
  regression_ = problem == kRegression;
  labels_ = f.read_tensor("/labels");
  SLIMFIT_CHECK(labels_.dim() == 1 && labels_.size(0) == input_ids_.size(0), path_, ": /labels ",
                labels_.sizes(), " does not match ", input_ids_.size(0), " examples");
  if (regression_) {
    labels_ = labels_.to(at::kFloat);
    SLIMFIT_CHECK(labels_.isfinite().all().item<bool>(), path_,
                  ": /labels holds a regression target that is not finite");
    return;
  }
  SLIMFIT_CHECK(f.exists("/label_names"), path_,
                " is not a text set made by prepare_text: it has no /label_names");
  labels_ = labels_.to(at::kLong);
  label_names_ = f.read_strings("/label_names");
  SLIMFIT_CHECK(!label_names_.empty(), path_, ": /label_names is empty");
  const int64_t lo = labels_.min().item<int64_t>(), hi = labels_.max().item<int64_t>();
  SLIMFIT_CHECK(lo >= 0 && hi < num_labels(), path_, ": labels span [", lo, ", ", hi,
                "] but there are ", num_labels(), " label names");
}

std::vector<int64_t> TextDataset::all_labels() const {
  if (regression_) return Dataset::all_labels();  // the error that says to use all_targets
  return {labels_.data_ptr<int64_t>(), labels_.data_ptr<int64_t>() + labels_.numel()};
}

std::vector<double> TextDataset::all_targets() const {
  if (!regression_) return Dataset::all_targets();  // the error that says to use all_labels
  const at::Tensor t = labels_.to(at::kDouble).contiguous();
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

void TextDataset::truncate(int64_t seq_len) {
  SLIMFIT_CHECK(seq_len >= 2, path_, ": seq_len ", seq_len,
                " is too short for [CLS] and [SEP]; it must be at least 2");
  const at::Tensor lengths = attention_mask_.to(at::kLong).sum(1);  // (N); padding is at the end
  const at::Tensor longer = lengths > seq_len;                      // (N)
  // Each longer row's own last token ([SEP]) becomes its last kept one.
  const at::Tensor last = input_ids_.gather(1, (lengths - 1).clamp_min(0).unsqueeze(1)).squeeze(1);
  input_ids_ = input_ids_.narrow(1, 0, seq_len).clone(at::MemoryFormat::Contiguous);  // (N, S)
  attention_mask_ = attention_mask_.narrow(1, 0, seq_len).clone(at::MemoryFormat::Contiguous);
  at::Tensor end = input_ids_.select(1, seq_len - 1);
  end.copy_(at::where(longer, last, end));
  truncated_ = longer.sum().item<int64_t>();
}

// A pair row is [CLS] a [SEP] b [SEP] padding, with types 0 over [CLS] a [SEP] and 1 over b [SEP].
// A longer row is cut longest first to exactly seq_len tokens, so it needs no padding.
void TextDataset::truncate_pairs(int64_t seq_len) {
  SLIMFIT_CHECK(seq_len >= 3, path_, ": seq_len ", seq_len,
                " is too short for a sentence pair ([CLS] a [SEP] b [SEP]); it must be at least 3");
  const at::Tensor old_ids = input_ids_, old_mask = attention_mask_;
  const at::Tensor lengths = old_mask.to(at::kLong).sum(1);                        // (N)
  const at::Tensor second = (token_type_ids_ * old_mask).to(at::kLong).sum(1);     // (N) b [SEP]
  input_ids_ = old_ids.narrow(1, 0, seq_len).clone(at::MemoryFormat::Contiguous);  // (N, S)
  attention_mask_ = old_mask.narrow(1, 0, seq_len).clone(at::MemoryFormat::Contiguous);
  token_type_ids_ = token_type_ids_.narrow(1, 0, seq_len).clone(at::MemoryFormat::Contiguous);
  auto src = old_ids.accessor<int32_t, 2>();
  auto ids = input_ids_.accessor<int32_t, 2>();
  auto types = token_type_ids_.accessor<uint8_t, 2>();
  auto len = lengths.accessor<int64_t, 1>();
  auto n_second = second.accessor<int64_t, 1>();
  truncated_ = 0;
  for (int64_t r = 0; r < input_ids_.size(0); ++r) {
    if (len[r] <= seq_len) continue;
    ++truncated_;
    SLIMFIT_CHECK(n_second[r] >= 1 && len[r] - n_second[r] >= 2, path_, ": example ", r,
                  " is not a sentence pair [CLS] a [SEP] b [SEP] (its token_type_ids)");
    const size_t old_a = static_cast<size_t>(len[r] - n_second[r] - 2);
    size_t len_a = old_a, len_b = static_cast<size_t>(n_second[r] - 1);
    models::WordPieceTokenizer::truncate_longest_first(len_a, len_b,
                                                       static_cast<size_t>(seq_len - 3));
    // [CLS] and a's first len_a tokens stay where they are; then [SEP], b's first len_b, [SEP].
    const int32_t sep = src[r][static_cast<int64_t>(old_a) + 1];
    int64_t p = 1 + static_cast<int64_t>(len_a);
    ids[r][p] = sep;
    types[r][p++] = 0;
    for (size_t t = 0; t < len_b; ++t) {
      ids[r][p] = src[r][static_cast<int64_t>(old_a + 2 + t)];
      types[r][p++] = 1;
    }
    ids[r][p] = sep;
    types[r][p++] = 1;
    SLIMFIT_ASSERT(p == seq_len);
  }
}

models::Batch TextDataset::get(const std::vector<int64_t>& indices) const {
  check_indices(indices, size(), path_);
  at::Tensor idx = at::tensor(indices, at::kLong);
  models::Batch b;
  at::Tensor mask = attention_mask_.index_select(0, idx);
  // Padding is at the end of each row: trim the batch to its longest row. Padded positions are
  // masked out of attention, so the [CLS] output is the same and the step is cheaper.
  const int64_t longest = std::max<int64_t>(mask.sum(1).max().item<int64_t>(), 1);
  b.input_ids = input_ids_.index_select(0, idx).narrow(1, 0, longest).to(at::kLong);
  b.attention_mask = mask.narrow(1, 0, longest).to(at::kLong);
  b.token_type_ids = is_pairs()
                         ? token_type_ids_.index_select(0, idx).narrow(1, 0, longest).to(at::kLong)
                         : at::zeros_like(b.input_ids);
  b.labels = labels_.index_select(0, idx);
  return b;
}

}  // namespace slimfit::data
