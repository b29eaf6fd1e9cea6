#include "algorithms/policy.h"

namespace tandem::algo {

std::map<std::string, float> truncation_values(
    const core::PolicyResolver& policies, const std::vector<core::AgentObs>& agents,
    const std::vector<int>& policy_of_agent,
    const std::function<std::shared_ptr<const InferenceModel>(int)>& model_of) {
  std::map<std::string, float> out;
  std::vector<float> pre, v;
  for (size_t i = 0; i < agents.size(); ++i) {
    if (agents[i].obs.empty()) continue;
    const int p = policy_of_agent.at(i);
    core::preprocess_observation(policies.spec(p), agents[i].obs, pre);
    model_of(p)->compute_values(pre, 1, v);
    out[agents[i].agent_id] = v.at(0);
  }
  return out;
}

}  // namespace tandem::algo
