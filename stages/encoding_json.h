#pragma once
// One quantization encoding as JSON, for the files stages write to restore themselves on resume
// (calibrate's activation encodings, adaround's per-layer encodings). Doubles round-trip exactly.

#include <nlohmann/json.hpp>

#include "src/quant/encoding.h"

namespace adaflow {

inline nlohmann::json EncodingToJson(const quant::Encoding& enc) {
  return {{"bitwidth", enc.bitwidth}, {"scale", enc.scale}, {"offset", enc.offset},    {"min", enc.min},
          {"max", enc.max},           {"steps", enc.num_steps}, {"symmetric", enc.symmetric}};
}

inline quant::Encoding EncodingFromJson(const nlohmann::json& json) {
  quant::Encoding enc;
  enc.bitwidth = json.at("bitwidth").get<int>();
  enc.scale = json.at("scale").get<double>();
  enc.offset = json.at("offset").get<std::int64_t>();
  enc.min = json.at("min").get<double>();
  enc.max = json.at("max").get<double>();
  enc.num_steps = json.at("steps").get<std::int64_t>();
  enc.symmetric = json.value("symmetric", false);
  return enc;
}

}  // namespace adaflow
