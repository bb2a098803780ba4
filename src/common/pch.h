// Precompiled header: the heavy libtorch headers most translation units need.
#pragma once
#include <torch/torch.h>
