#pragma once
// The rows of a server's result.json (one JSON object per line), as the learner wrote them.
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::test {

inline std::vector<nlohmann::json> read_result_rows(const std::string& results_dir) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(results_dir + "/result.json");
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) rows.push_back(nlohmann::json::parse(l));
  return rows;
}

}  // namespace tandem::test
