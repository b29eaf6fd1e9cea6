#include "core/offline_input.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace tandem::core {

namespace fs = std::filesystem;

Status offline_input_files(const std::string& path, std::vector<std::string>& files) {
  files.clear();
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      const auto ext = e.path().extension().string();
      if (e.is_regular_file(ec) && (ext == ".json" || ext == ".jsonl")) files.push_back(e.path().string());
    }
  } else if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  } else {
    glob_t g{};
    if (::glob(path.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i)
        if (fs::is_regular_file(g.gl_pathv[i], ec)) files.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
  }
  std::sort(files.begin(), files.end());
  if (files.empty())
    return Status::error(ErrorCode::BadRequest, "input '" + path + "': no such file, no *.json/*.jsonl files in it, "
                                                "and no match as a glob pattern");
  return Status::ok_status();
}

Status read_offline_input(const std::string& path, const std::string& policy_id, const Space& obs_space,
                          const Space& action_space, OfflineData& out) {
  out = OfflineData{};
  if (auto st = offline_input_files(path, out.files); !st.ok()) return st;
  for (const auto& f : out.files) {
    std::ifstream in(f);
    if (!in) return Status::error(ErrorCode::BadRequest, "input '" + f + "': cannot open it");
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      OfflineBatch b;
      if (auto st = decode_offline_line(line, obs_space, action_space, b, policy_id); !st.ok()) {
        // The last line, without its newline, and not even JSON: cut off by a writer that died.
        if (in.eof() && st.message.rfind("not JSON", 0) == 0) {
          out.cut_off_last_lines.push_back(f);
          break;
        }
        return Status::error(ErrorCode::BadRequest, "input '" + f + "' line " + std::to_string(n) + ": " + st.message);
      }
      if (!b.policy_id.empty() && b.policy_id != policy_id) continue;
      if (b.count == 0) continue;
      out.rows += b.count;
      out.batches.push_back(std::move(b));
    }
    if (in.bad()) return Status::error(ErrorCode::BadRequest, "input '" + f + "': read error");
  }
  if (out.rows == 0)
    return Status::error(ErrorCode::BadRequest, "input '" + path + "': no rows" +
                                                    (policy_id.empty() ? "" : " for policy '" + policy_id + "'"));
  return Status::ok_status();
}

}  // namespace tandem::core
