#include "core/policy_set.h"

#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/scripted_policy.h"

namespace tandem::core {
namespace {
[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

void check_keys(const nlohmann::json& j, const std::string& where, const std::set<std::string>& known) {
  if (!j.is_object()) bad("'" + where + "' must be a JSON object");
  for (const auto& [k, v] : j.items())
    if (!known.count(k)) {
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
      bad("unknown key '" + where + "." + k + "' (known: " + list + ")");
    }
}

PolicySpec read_policy(const std::string& id, const nlohmann::json& pj, const AlgoConfig& base) {
  const std::string where = "policies." + id;
  check_keys(pj, where, {"observation_space", "action_space", "config", "scripted"});
  PolicySpec spec;
  spec.policy_id = id;
  if (!pj.contains("observation_space")) bad("'" + where + ".observation_space' is required");
  if (!pj.contains("action_space")) bad("'" + where + ".action_space' is required");
  try {
    spec.observation_space = Space::from_json(pj.at("observation_space"));
  } catch (const std::exception& e) {
    bad("'" + where + ".observation_space': " + e.what());
  }
  try {
    spec.action_space = Space::from_json(pj.at("action_space"));
  } catch (const std::exception& e) {
    bad("'" + where + ".action_space': " + e.what());
  }
  if (spec.action_space.composite())
    bad("'" + where + ".action_space': a " + spec.action_space.describe().substr(0, 200) +
        " action space is not supported (Dict and Tuple are observation spaces only; use Box, "
        "Discrete or MultiDiscrete)");
  if (pj.contains("scripted")) {
    const auto& sj = pj.at("scripted");
    if (sj.is_string()) spec.script = script_kind_from_name(sj.get<std::string>());
    if (!spec.script)
      bad("'" + where + ".scripted' must be one of \"random\", \"always_same\", \"linear\", "
          "\"beat_last\"");
    if (auto st = ScriptedPolicy::check_spaces(*spec.script, spec.observation_space, spec.action_space);
        !st.ok())
      bad("'" + where + "': " + st.message);
  }
  spec.config = base;
  if (pj.contains("config")) {
    try {
      spec.config.merge_json(pj.at("config"));
    } catch (const std::invalid_argument& e) {
      bad("in '" + where + ".config': " + e.what());
    }
  }
  return spec;
}
}  // namespace

int PolicySet::index_of(std::string_view policy_id) const {
  for (size_t i = 0; i < policies.size(); ++i)
    if (policies[i].policy_id == policy_id) return static_cast<int>(i);
  return -1;
}

int PolicySet::policy_for_agent(std::string_view agent_id) const {
  const std::string* pid = mapping.policy_for(agent_id);
  return pid ? index_of(*pid) : -1;
}

PolicySet read_policies(const nlohmann::json& j, const AlgoConfig& base) {
  PolicySet s;
  if (!j.contains("policies")) bad("'policies' is required (at least one policy with its spaces)");
  const auto& pols = j.at("policies");
  if (!pols.is_object() || pols.empty()) bad("'policies' must be a non-empty object");
  std::vector<std::string> order;
  if (j.contains("policy_order")) {
    const auto& o = j.at("policy_order");
    if (!o.is_array()) bad("'policy_order' must be a list of policy ids");
    for (const auto& id : o) {
      if (!id.is_string() || !pols.contains(id.get<std::string>()))
        bad("'policy_order' names a policy that 'policies' does not hold: " + id.dump());
      order.push_back(id.get<std::string>());
    }
    if (order.size() != pols.size()) bad("'policy_order' must list every policy once");
  } else {
    for (const auto& [id, p] : pols.items()) order.push_back(id);
  }
  for (const auto& id : order) {
    if (s.index_of(id) >= 0) bad("'policy_order' lists '" + id + "' twice");
    s.policies.push_back(read_policy(id, pols.at(id), base));
  }
  if (j.contains("policy_mapping")) {
    s.mapping = PolicyMapping::from_json(j.at("policy_mapping"));
    for (const auto& r : s.mapping.rules())
      if (s.index_of(r.policy_id) < 0)
        bad("'policy_mapping." + r.pattern + "' names unknown policy '" + r.policy_id + "'");
  } else if (s.policies.size() == 1) {
    s.mapping.add("*", s.policies.front().policy_id);
  } else {
    bad("'policy_mapping' is required when more than one policy is hosted");
  }
  return s;
}

void write_policies(const PolicySet& s, nlohmann::json& j) {
  nlohmann::json pols = nlohmann::json::object();
  nlohmann::json order = nlohmann::json::array();
  for (const auto& p : s.policies) {
    pols[p.policy_id] = {{"observation_space", p.observation_space.to_json()},
                         {"action_space", p.action_space.to_json()},
                         {"config", p.config.to_json()}};
    if (p.script) pols[p.policy_id]["scripted"] = script_kind_name(*p.script);
    order.push_back(p.policy_id);
  }
  j["policies"] = pols;
  j["policy_order"] = order;  // JSON objects are unordered: the index order of policy_versions
  j["policy_mapping"] = s.mapping.to_json();  // [[pattern, policy_id], ...]: keeps the order
}

}  // namespace tandem::core
