// slimfit evaluate / predict: PLACEHOLDER until that work lands (issue 13).
#include "cli/commands.h"
#include "common/error.h"

namespace slimfit::cli {

int run_evaluate(int, char**) { throw Error("slimfit evaluate is not available in this build yet"); }
int run_predict(int, char**) { throw Error("slimfit predict is not available in this build yet"); }

}  // namespace slimfit::cli
