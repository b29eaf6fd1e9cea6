#include "core/policy_mapping.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tandem::core {

void PolicyMapping::add(std::string pattern, std::string policy_id) {
  for (auto& r : rules_)
    if (r.pattern == pattern) {
      r.policy_id = std::move(policy_id);
      return;
    }
  const size_t i = rules_.size();
  if (is_pattern(pattern))
    patterns_.push_back(i);
  else
    exact_.emplace(pattern, i);
  rules_.push_back({std::move(pattern), std::move(policy_id)});
}

const std::string* PolicyMapping::policy_for(std::string_view agent_id) const {
  if (auto it = exact_.find(agent_id); it != exact_.end()) return &rules_[it->second].policy_id;
  for (size_t i : patterns_)
    if (glob_match(rules_[i].pattern, agent_id)) return &rules_[i].policy_id;
  return nullptr;
}

const std::string* PolicyMapping::rule(std::string_view pattern) const {
  for (const auto& r : rules_)
    if (r.pattern == pattern) return &r.policy_id;
  return nullptr;
}

bool PolicyMapping::glob_match(std::string_view p, std::string_view s) {
  // Greedy with one backtrack point (the last '*'): O(|p| * |s|) at worst, no recursion.
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == s[si]))) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

PolicyMapping PolicyMapping::from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& m) { throw std::invalid_argument(m); };
  auto check = [&](const std::string& pattern, const nlohmann::json& pid, const std::string& where) {
    if (pattern.empty() || pattern.size() > 256) bad(where + ": a pattern must have 1 to 256 characters");
    if (!pid.is_string() || pid.get<std::string>().empty()) bad(where + " must be a policy id string");
  };
  PolicyMapping m;
  if (j.is_object()) {
    for (const auto& [pattern, pid] : j.items()) {
      check(pattern, pid, "'policy_mapping." + pattern + "'");
      m.add(pattern, pid.get<std::string>());
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      const auto& e = j[i];
      const std::string where = "'policy_mapping[" + std::to_string(i) + "]'";
      if (!e.is_array() || e.size() != 2 || !e[0].is_string()) bad(where + " must be [pattern, policy_id]");
      check(e[0].get<std::string>(), e[1], where);
      m.add(e[0].get<std::string>(), e[1].get<std::string>());
    }
  } else {
    bad("'policy_mapping' must be an object {agent_id_or_pattern: policy_id} or a list of "
        "[pattern, policy_id] pairs");
  }
  return m;
}

nlohmann::json PolicyMapping::to_json() const {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rules_) j.push_back({r.pattern, r.policy_id});
  return j;
}

}  // namespace tandem::core
