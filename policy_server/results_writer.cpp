#include "policy_server/results_writer.h"

#include "policy_server/result_row.h"

#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace tandem::server {
namespace {
// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + '"';
}
}  // namespace

ResultsWriter::ResultsWriter(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  json_.open(dir + "/result.json", std::ios::trunc);
  csv_.open(dir + "/progress.csv", std::ios::trunc);
  if (!json_ || !csv_) throw std::runtime_error("cannot write results to '" + dir + "'");
  try {
    tb_ = std::make_unique<TensorBoardWriter>(dir);
  } catch (const std::exception& e) {
    spdlog::warn("results: {}; no TensorBoard events for this run", e.what());
  }
}

void ResultsWriter::write_csv_row(std::ostream& out, const nlohmann::json& flat) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (i) out << ',';
    if (flat.contains(columns_[i]) && !flat[columns_[i]].is_null()) {
      const auto& v = flat[columns_[i]];
      out << csv_field(v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  out << '\n';
}

void ResultsWriter::write(const nlohmann::json& row) {
  json_ << row.dump() << '\n';
  json_.flush();
  if (tb_ && !tb_->write(row)) {
    spdlog::warn("results: cannot write TensorBoard events to '{}'; no more events for this run", tb_->path());
    tb_.reset();
  }
  const nlohmann::json flat = flatten_result_row(row);
  const size_t had = columns_.size();
  for (const auto& [k, v] : flat.items())
    if (known_.insert(k).second) columns_.push_back(k);
  if (rows_written_ > 0 && columns_.size() > had) {
    // A key no earlier row had (the first evaluation episodes, an opponent's first game): the
    // CSV is written anew from result.json with the wider header, earlier rows blank there.
    // If that fails, the CSV keeps its columns (a later row tries again).
    if (rewrite_csv()) {
      ++rows_written_;
      return;
    }
    for (size_t i = had; i < columns_.size(); ++i) known_.erase(columns_[i]);
    columns_.resize(had);
  }
  if (rows_written_ == 0) {
    for (size_t i = 0; i < columns_.size(); ++i) csv_ << (i ? "," : "") << csv_field(columns_[i]);
    csv_ << '\n';
  }
  write_csv_row(csv_, flat);
  csv_.flush();
  ++rows_written_;
}

bool ResultsWriter::rewrite_csv() {
  const std::string path = dir_ + "/progress.csv", tmp = path + ".tmp";
  std::error_code ec;
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (size_t i = 0; i < columns_.size(); ++i) out << (i ? "," : "") << csv_field(columns_[i]);
    out << '\n';
    std::ifstream in(result_json_path());
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) continue;
      write_csv_row(out, flatten_result_row(j));
    }
    out.flush();
    if (!out || in.bad()) {
      std::filesystem::remove(tmp, ec);
      return false;
    }
  }
  csv_.close();
  std::filesystem::rename(tmp, path, ec);
  csv_.open(path, std::ios::app);  // the old file when the rename failed
  if (ec) std::filesystem::remove(tmp, ec);
  return !ec && csv_.is_open();
}

}  // namespace tandem::server
