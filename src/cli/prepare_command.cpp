// slimfit prepare: tokenizes a CSV or JSONL text set once into HDF5 (data/text.h): single
// sentences or pairs (--text-pair-column), class labels or regression targets (--regression, or
// a label column of numbers that are not whole), from a file with a header or a headerless CSV
// whose columns --columns names.
#include "cli/args.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "data/text.h"

namespace slimfit::cli {

int run_prepare(int argc, char** argv) {
  Args args(argc, argv, 2, {"cased", "regression"},
            {"input", "output", "vocab", "format", "columns", "text-column", "text-pair-column",
             "label-column", "labels", "max-length", "limit"});
  data::PrepareTextOptions o;
  SLIMFIT_CHECK(args.has("input") && args.has("output") && args.has("vocab"),
                "prepare needs --input FILE --output OUT.h5 --vocab vocab.txt");
  o.input = args.get("input", "");
  o.output = args.get("output", "");
  o.vocab = args.get("vocab", "");
  o.lower_case = !args.has("cased");
  o.format = args.get("format", "");
  if (args.has("columns")) {
    // Every name counts (an empty one would shift the columns after it).
    const std::string names = args.get("columns", "");
    for (size_t start = 0;;) {
      const size_t comma = names.find(',', start);
      o.columns.push_back(names.substr(start, comma - start));
      SLIMFIT_CHECK(!o.columns.back().empty(), "--columns '", names, "' has an empty name; ",
                    "name every column of the headerless CSV in order, e.g. --columns ",
                    "label,text or --columns label,text,text_b");
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  o.text_column = args.get("text-column", o.text_column);
  o.text_pair_column = args.get("text-pair-column", "");
  o.regression = args.has("regression");
  o.label_column = args.get("label-column", o.label_column);
  o.labels = split_commas(args.get("labels", ""));
  o.max_length = args.get_int("max-length", o.max_length);
  o.limit = args.get_int("limit", o.limit);
  check_output_path(o.output, "--output ");
  data::prepare_text(o);
  return 0;
}

}  // namespace slimfit::cli
