#pragma once
// The common interface of Tandem's simulators, shaped like RLlib's MultiAgentEnv:
// reset() and step() exchange dicts keyed by agent id. An agent that is absent from an
// observation dict does not act in the next step (turn-based and hierarchical sims rely
// on this). Observations are raw flat floats; the policy side preprocesses them
// (e.g. one-hot for Discrete / MultiDiscrete spaces).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tandem::sims {

using AgentId = std::string;
using Obs = std::vector<float>;          // raw observation, flat floats
using ObsDict = std::map<AgentId, Obs>;  // an agent absent from the dict does not act this step
using ActionDict = std::map<AgentId, int64_t>;  // discrete actions

struct StepResult {
  ObsDict obs;                         // next observation of each agent that acts next (or ended)
  std::map<AgentId, float> rewards;    // reward of each agent for this step
  std::map<AgentId, bool> terminated;  // the agent reached a terminal state (no bootstrap)
  std::map<AgentId, bool> truncated;   // the agent was cut off (time limit; bootstrap)
  bool all_done = false;               // episode over for everyone (RLlib's "__all__")
};

class MultiAgentEnv {
 public:
  virtual ~MultiAgentEnv() = default;
  // Starts a new episode and returns the first observations.
  virtual ObsDict reset() = 0;
  // Applies one action per acting agent and advances the simulation by one step.
  virtual StepResult step(const ActionDict& actions) = 0;
  // Every agent id the env may ever produce.
  virtual std::vector<AgentId> agent_ids() const = 0;
};

}  // namespace tandem::sims
