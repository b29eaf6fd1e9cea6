#pragma once
// The policy mapping: agent id -> policy id, RLlib's policy_mapping_fn written as data.
//
//   {"robot_1_high": "special", "*_high": "high_level_policy", "*_low": "low_level_policy"}
//
// Resolution: an agent id listed exactly (no '*' or '?') wins; otherwise the patterns are
// tried in the written order and the first that matches wins ('*': any run of characters,
// also none; '?': exactly one character; nothing else is special, so agent ids holding '*'
// or '?' can only be mapped by pattern). No match: the agent is not placed (UnknownAgent).
// "*" alone is the usual default and matches every agent.
//
// Written order: a JSON object's keys are sorted by nlohmann::json, so the config loader
// (server_config.cpp) reads the file's mapping in its written order and hands it on as the
// list form [[pattern, policy_id], ...], which keeps order; to_json writes that form
// (GetConfig, checkpoints), which the local clients read back.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tandem::core {

class PolicyMapping {
 public:
  struct Rule {
    std::string pattern;
    std::string policy_id;
    bool operator==(const Rule&) const = default;
  };

  // Appends a rule; a pattern given twice keeps its first place and takes the new policy.
  void add(std::string pattern, std::string policy_id);
  // The policy id for `agent_id`, or nullptr when no rule matches.
  const std::string* policy_for(std::string_view agent_id) const;
  const std::vector<Rule>& rules() const { return rules_; }
  bool empty() const { return rules_.empty(); }
  // The policy id of the rule written exactly as `pattern` (nullptr: none).
  const std::string* rule(std::string_view pattern) const;

  static bool is_pattern(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }
  // Glob match of the whole of `s` (`*` and `?` only): one backtrack point, no recursion,
  // O(|p| * |s|) at worst.
  static bool glob_match(std::string_view pattern, std::string_view s);

  // {pattern: policy_id, ...} (in the object's iteration order) or [[pattern, policy_id], ...].
  // Throws std::invalid_argument naming the bad entry (policy ids are checked by the caller).
  static PolicyMapping from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;  // the list form: keeps the order
  bool operator==(const PolicyMapping& o) const { return rules_ == o.rules_; }

 private:
  std::vector<Rule> rules_;                                // written order
  std::map<std::string, size_t, std::less<>> exact_;       // literal id -> index in rules_
  std::vector<size_t> patterns_;                           // indices of pattern rules, in order
};

}  // namespace tandem::core
