// INTERIM decoder of core/offline_json.h (offline-train branch only): the minimum the offline
// learner needs (decode_offline_line, offline_input_files, read_offline_input), until the
// main branch's core/offline_json.cpp lands; then this file is deleted. encode_offline_line is
// not here (the server's `output` does not use this branch's code).
#include <glob.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/action_logp.h"
#include "core/offline_json.h"

namespace tandem::core {
namespace {

using nlohmann::json;

Status bad(const std::string& m) { return Status::error(ErrorCode::BadRequest, m); }

bool floats(const json& row, size_t width, std::vector<float>& out) {
  if (width == 1 && row.is_number()) {
    out.push_back(row.get<float>());
    return std::isfinite(out.back());
  }
  if (!row.is_array() || row.size() != width) return false;
  for (const auto& x : row) {
    if (!x.is_number() || !std::isfinite(x.get<double>())) return false;
    out.push_back(x.get<float>());
  }
  return true;
}

}  // namespace

Status decode_offline_line(std::string_view line, const Space& obs_space, const Space& action_space,
                           OfflineBatch& out) {
  out = OfflineBatch{};
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return bad("not a JSON object");
  for (const char* k : {"obs", "actions", "rewards"})
    if (!j.contains(k) || !j[k].is_array()) return bad(std::string("column '") + k + "' is missing");
  const size_t T = j["obs"].size();
  out.count = static_cast<int64_t>(T);
  out.policy_id = j.value("policy_id", "");
  out.obs_dim = obs_space.preprocessed_size();
  const auto wd = static_cast<size_t>(out.obs_dim);
  auto column = [&](const char* k) -> const json* { return j.contains(k) && !j[k].is_null() ? &j[k] : nullptr; };
  auto sized = [&](const char* k, const json& c) -> Status {
    if (!c.is_array() || c.size() != T) return bad(std::string("column '") + k + "' must have " + std::to_string(T) + " rows");
    return {};
  };
  for (size_t i = 0; i < T; ++i)
    if (!floats(j["obs"][i], wd, out.obs)) return bad("column 'obs' row " + std::to_string(i) + ": not " + std::to_string(wd) + " finite floats");
  if (const json* c = column("new_obs")) {
    if (auto s = sized("new_obs", *c); !s.ok()) return s;
    for (size_t i = 0; i < T; ++i)
      if (!floats((*c)[i], wd, out.new_obs)) return bad("column 'new_obs' row " + std::to_string(i) + ": bad");
  } else {
    for (size_t i = 0; i < T; ++i) {
      const size_t src = std::min(i + 1, T - 1);
      out.new_obs.insert(out.new_obs.end(), out.obs.begin() + src * wd, out.obs.begin() + (src + 1) * wd);
    }
  }
  const bool box = action_space.kind == SpaceKind::Box;
  out.action_width = box ? continuous_action_width(action_space) : discrete_action_width(action_space);
  const auto wa = static_cast<size_t>(out.action_width);
  if (auto s = sized("actions", j["actions"]); !s.ok()) return s;
  for (size_t i = 0; i < T; ++i) {
    const json& a = j["actions"][i];
    std::string why;
    if (box) {
      if (!floats(a, wa, out.actions_cont)) return bad("column 'actions' row " + std::to_string(i) + ": bad");
      why = validate_action(action_space, {}, std::span<const float>(out.actions_cont).subspan(i * wa, wa));
    } else {
      if (a.is_number_integer() && wa == 1) {
        out.actions.push_back(a.get<int64_t>());
      } else if (a.is_array() && a.size() == wa) {
        for (const auto& x : a) {
          if (!x.is_number_integer()) return bad("column 'actions' row " + std::to_string(i) + ": not integers");
          out.actions.push_back(x.get<int64_t>());
        }
      } else {
        return bad("column 'actions' row " + std::to_string(i) + ": bad");
      }
      why = validate_action(action_space, std::span<const int64_t>(out.actions).subspan(i * wa, wa), {});
    }
    if (!why.empty()) return bad("column 'actions' row " + std::to_string(i) + ": " + why);
  }
  auto float_column = [&](const char* k, std::vector<float>& v) -> Status {
    const json* c = column(k);
    if (!c) return {};
    if (auto s = sized(k, *c); !s.ok()) return s;
    for (size_t i = 0; i < T; ++i)
      if (!floats((*c)[i], 1, v)) return bad(std::string("column '") + k + "' row " + std::to_string(i) + ": not a finite number");
    return {};
  };
  if (auto s = float_column("rewards", out.rewards); !s.ok()) return s;
  if (auto s = float_column("action_logp", out.action_logp); !s.ok()) return s;
  auto bool_column = [&](const char* k, std::vector<uint8_t>& v, bool required) -> Status {
    const json* c = column(k);
    if (!c) {
      if (required) v.assign(T, 0);
      return {};
    }
    if (auto s = sized(k, *c); !s.ok()) return s;
    for (size_t i = 0; i < T; ++i) {
      if (!(*c)[i].is_boolean() && !(*c)[i].is_number()) return bad(std::string("column '") + k + "': not a bool");
      v.push_back((*c)[i].is_boolean() ? (*c)[i].get<bool>() : (*c)[i].get<double>() != 0);
    }
    return {};
  };
  if (auto s = bool_column("dones", out.dones, true); !s.ok()) return s;
  if (auto s = bool_column("truncateds", out.truncateds, false); !s.ok()) return s;
  auto int_column = [&](const char* k, std::vector<int64_t>& v, bool index_default) -> Status {
    const json* c = column(k);
    if (!c) {
      for (size_t i = 0; i < T; ++i) v.push_back(index_default ? static_cast<int64_t>(i) : 0);
      return {};
    }
    if (auto s = sized(k, *c); !s.ok()) return s;
    for (const auto& x : *c) {
      if (!x.is_number_integer()) return bad(std::string("column '") + k + "': not integers");
      v.push_back(x.get<int64_t>());
    }
    return {};
  };
  if (auto s = int_column("t", out.t, true); !s.ok()) return s;
  if (auto s = int_column("unroll_id", out.unroll_id, false); !s.ok()) return s;
  if (auto s = int_column("agent_index", out.agent_index, false); !s.ok()) return s;
  if (const json* c = column("eps_id")) {
    if (auto s = sized("eps_id", *c); !s.ok()) return s;
    for (const auto& x : *c) out.eps_id.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  } else {
    out.eps_id.assign(T, "0");
  }
  return {};
}

Status offline_input_files(const std::string& path, std::vector<std::string>& files) {
  namespace fs = std::filesystem;
  files.clear();
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  } else if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      const auto ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".json" || ext == ".jsonl")) files.push_back(e.path().string());
    }
  } else {
    glob_t g{};
    if (::glob(path.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) files.push_back(g.gl_pathv[i]);
    ::globfree(&g);
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return bad("no file at or matching '" + path + "'");
  return {};
}

Status read_offline_input(const std::string& path, const std::string& policy_id, const Space& obs_space,
                          const Space& action_space, OfflineData& out) {
  out = OfflineData{};
  if (auto s = offline_input_files(path, out.files); !s.ok()) return s;
  for (const auto& f : out.files) {
    std::ifstream in(f);
    if (!in) return bad("cannot read '" + f + "'");
    int64_t n = 0;
    for (std::string line; std::getline(in, line);) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      OfflineBatch b;
      if (auto s = decode_offline_line(line, obs_space, action_space, b); !s.ok())
        return bad(f + " line " + std::to_string(n) + ": " + s.message);
      if (!b.policy_id.empty() && b.policy_id != policy_id) continue;
      out.rows += b.count;
      out.batches.push_back(std::move(b));
    }
  }
  return {};
}

}  // namespace tandem::core
