// The saved-tensor formats an op can keep for backward (note [codec formats] in ops/codecs.h has
// the byte layouts). This header is torch-free so configs and the CLI can name formats cheaply.
#pragma once

#include <cstdint>
#include <string>

namespace slimfit::ops {

enum class Codec : std::uint8_t {
  kLossless,       // the tensor itself, in its own dtype (what plain autograd keeps)
  kInt8Fixed,      // int8 fixed point, 4 fraction bits: range -8..7.9375 (reference Q, K, V)
  kInt8Row,        // int8, symmetric absmax scale per row (last dim), fp32 scale per row
  kInt8Block,      // int8, symmetric absmax scale per block of kCodecBlock flat elements
  kInt4Fixed,      // 4-bit fixed point, 1 fraction bit: range -4..3.5 (reference GELU input)
  kInt4Row,        // 4-bit, absmax scale per row, two values per byte
  kInt4Block,      // 4-bit, absmax scale per block of kCodecBlock flat elements
  kUint8Prob256,   // probabilities in [0, 1]: round(p * 256) clamped to 255 (reference)
  kUint8Prob255,   // round(p * 255): covers 0 and 1 exactly
  kUint8ProbSqrt,  // round(sqrt(p) * 255): finer steps for the many small probabilities
  kTopK10,         // top 10% by |x| per row: values (input dtype) + int32 column indices
  kGeluDeriv2,     // GELU only: 2-bit code of gelu'(x), Lloyd-Max levels (few-bit backward)
  kGeluDeriv3,     // GELU only: 3-bit code of gelu'(x), 8 levels, three bit planes
};

// Elements per scale for the *Block codecs (one fp32 scale per block).
constexpr std::int64_t kCodecBlock = 64;

// Stable names for configs and tables, e.g. "int8_row"; parse_codec throws on an unknown name.
const char* codec_name(Codec c);
Codec parse_codec(const std::string& name);

}  // namespace slimfit::ops
