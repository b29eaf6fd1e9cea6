#pragma once
// One row per training iteration: a JSON line in result.json, a row in progress.csv
// (columns fixed by the first row, nested keys flattened with '/'), one console line.
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::server {

class ResultsWriter {
 public:
  explicit ResultsWriter(const std::string& dir);  // throws std::runtime_error if it cannot write
  void write(const nlohmann::json& row);
  const std::string& dir() const { return dir_; }
  std::string result_json_path() const { return dir_ + "/result.json"; }

 private:
  std::string dir_;
  std::ofstream json_, csv_;
  std::vector<std::string> columns_;
};

}  // namespace tandem::server
