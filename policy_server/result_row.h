#pragma once
// A result row's keys flattened with '/' (info/learner/p1/entropy): the one rule progress.csv's
// columns and the TensorBoard tags both follow (results_writer.cpp, tensorboard_writer.cpp).
#include <string>

#include <nlohmann/json.hpp>

namespace tandem::server {

// Every leaf of `row` (objects are descended, anything else is a leaf) under its '/' path.
inline void flatten_result_row(const nlohmann::json& j, const std::string& prefix, nlohmann::json& out) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = prefix.empty() ? k : prefix + "/" + k;
    if (v.is_object())
      flatten_result_row(v, key, out);
    else
      out[key] = v;
  }
}

inline nlohmann::json flatten_result_row(const nlohmann::json& row) {
  nlohmann::json out = nlohmann::json::object();
  flatten_result_row(row, "", out);
  return out;
}

}  // namespace tandem::server
