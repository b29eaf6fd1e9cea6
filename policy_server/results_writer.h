#pragma once
// One row per training iteration: a JSON line in result.json and a row in progress.csv
// (nested keys flattened with '/', fields quoted as RFC 4180). A row with a key no earlier row
// had adds a column: progress.csv is then rewritten from result.json, the earlier rows blank in
// it (rare: the league keys its opponents by policy, a bounded set). Never throws on a failed
// rewrite (the CSV keeps its columns). Each row also goes to a TensorBoard event file in the
// same dir (tensorboard_writer.h); a failure there is logged once and never stops the server.
// Not thread-safe (the learner thread writes).
#include <cstdint>
#include <fstream>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy_server/tensorboard_writer.h"

namespace tandem::server {

class ResultsWriter {
 public:
  explicit ResultsWriter(const std::string& dir);  // throws std::runtime_error if it cannot write
  void write(const nlohmann::json& row);
  const std::string& dir() const { return dir_; }
  std::string result_json_path() const { return dir_ + "/result.json"; }
  // The event file's path, "" if it could not be opened.
  std::string events_path() const { return tb_ ? tb_->path() : ""; }

 private:
  void write_csv_row(std::ostream& out, const nlohmann::json& flat) const;
  bool rewrite_csv();  // progress.csv anew from result.json with columns_; false on failure

  std::string dir_;
  std::ofstream json_, csv_;
  std::vector<std::string> columns_;  // in the order the keys first appeared
  std::set<std::string> known_;
  int64_t rows_written_ = 0;
  std::unique_ptr<TensorBoardWriter> tb_;  // null once it failed
};

}  // namespace tandem::server
