#pragma once
// The hosted policies and the policy mapping (agent id or glob pattern -> policy id,
// core/policy_mapping.h), as RLlib's `multiagent` config. One reader serves the server (its config file) and the local
// client (the server's GetConfig reply), so both place agents and read spaces alike.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/policy_mapping.h"
#include "core/policy_spec.h"

namespace tandem::core {

// Which policy acts for an agent. The server's PolicyTable and the local client's PolicySet
// implement it; the episode core and the request checks only see this.
class PolicyResolver {
 public:
  virtual ~PolicyResolver() = default;
  // Index of the policy for `agent_id` in `episode_id`, or -1 when the mapping cannot place it.
  virtual int policy_for(std::string_view episode_id, std::string_view agent_id) const = 0;
  virtual const PolicySpec& spec(int policy) const = 0;
  virtual int num_policies() const = 0;
};

struct PolicySet : PolicyResolver {
  std::vector<PolicySpec> policies;           // in policy_order
  PolicyMapping mapping;                       // agent id or pattern -> policy id

  int index_of(std::string_view policy_id) const;  // -1 when not hosted
  int policy_for_agent(std::string_view agent_id) const;
  int policy_for(std::string_view, std::string_view agent_id) const override {
    return policy_for_agent(agent_id);
  }
  const PolicySpec& spec(int policy) const override { return policies.at(static_cast<size_t>(policy)); }
  int num_policies() const override { return static_cast<int>(policies.size()); }
};

// Reads `j["policies"]` ({id: {observation_space, action_space, config}}), in the order of
// `j["policy_order"]` when present, and `j["policy_mapping"]` (PolicyMapping::from_json;
// required with several policies; one policy maps "*"). Each policy's "config" is applied on top of `base`.
// Throws std::invalid_argument naming the bad key.
PolicySet read_policies(const nlohmann::json& j, const AlgoConfig& base);
// {"policies": ..., "policy_order": [...], "policy_mapping": ...} (read back by read_policies).
void write_policies(const PolicySet& s, nlohmann::json& j);

}  // namespace tandem::core
