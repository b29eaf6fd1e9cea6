#include "policy_server/results_writer.h"

#include <filesystem>
#include <stdexcept>

namespace tandem::server {
namespace {
void flatten(const nlohmann::json& j, const std::string& prefix, nlohmann::json& out) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = prefix.empty() ? k : prefix + "/" + k;
    if (v.is_object())
      flatten(v, key, out);
    else
      out[key] = v;
  }
}
}  // namespace

ResultsWriter::ResultsWriter(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  json_.open(dir + "/result.json", std::ios::trunc);
  csv_.open(dir + "/progress.csv", std::ios::trunc);
  if (!json_ || !csv_) throw std::runtime_error("cannot write results to '" + dir + "'");
}

void ResultsWriter::write(const nlohmann::json& row) {
  json_ << row.dump() << '\n';
  json_.flush();
  nlohmann::json flat = nlohmann::json::object();
  flatten(row, "", flat);
  if (columns_.empty()) {
    for (const auto& [k, v] : flat.items()) columns_.push_back(k);
    for (size_t i = 0; i < columns_.size(); ++i) csv_ << (i ? "," : "") << columns_[i];
    csv_ << '\n';
  }
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (i) csv_ << ',';
    if (flat.contains(columns_[i]) && !flat[columns_[i]].is_null()) {
      const auto& v = flat[columns_[i]];
      csv_ << (v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  csv_ << '\n';
  csv_.flush();
}

}  // namespace tandem::server
