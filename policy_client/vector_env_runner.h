#pragma once
// VectorEnvRunner: drives N copies of a simulator (sims::MultiAgentEnv) from ONE thread
// through one PolicyClient, one frame and one round trip per step of all N (a vectorised
// env, as EnvPool or gym's VectorEnv). Each step() sends, in one VectorStep, what the last
// step produced (rewards; the end of every finished episode and the start of its
// successor) and the get_action of every env, then applies the actions to the envs.
//
//   std::vector<std::unique_ptr<sims::MultiAgentEnv>> envs;  // N copies, own seeds
//   VectorEnvRunner runner(client, std::move(envs));
//   while (runner.env_steps() < budget) runner.step();
//   runner.finish();                                           // the last rewards and ends
//
// Semantics per episode are those of single calls: rewards of a step are logged before the
// next get_action; an agent reported terminated is done; an episode with all_done ends,
// truncated when an agent was truncated and none terminated (bootstrapped from V(last obs)).
// Not thread-safe: one thread owns a runner.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "policy_client/policy_client.h"
#include "policy_client/vector_step.h"
#include "sims/multi_agent_env.h"

namespace tandem::client {

struct FinishedEpisode {
  std::string episode_id;
  double reward = 0;   // sum over agents and steps
  int64_t length = 0;  // env steps
};

class VectorEnvRunner {
 public:
  // Each env adds at most 4 calls to a step's frame (rewards, end, start, get_action).
  static constexpr size_t kMaxEnvs = 256;
  struct Options {
    bool training_enabled = true;
    bool explore = true;
  };
  VectorEnvRunner(PolicyClient& client, std::vector<std::unique_ptr<sims::MultiAgentEnv>> envs,
                  Options options);
  VectorEnvRunner(PolicyClient& client, std::vector<std::unique_ptr<sims::MultiAgentEnv>> envs)
      : VectorEnvRunner(client, std::move(envs), Options{}) {}

  // One env step of every env: one round trip. Returns the episodes that ended in it.
  std::vector<FinishedEpisode> step();
  // Sends what the last step left (rewards, ends) and waits for every reply. Episodes still
  // running stay open (the server abandons them after episode_timeout_s, as it does a
  // simulator that stopped). The runner is done afterwards.
  void finish();

  int64_t env_steps() const { return env_steps_; }
  size_t num_envs() const { return slots_.size(); }

 private:
  struct Slot {
    std::unique_ptr<sims::MultiAgentEnv> env;
    std::string episode_id;  // empty: the next step starts a new episode
    sims::ObsDict obs;  // agents that act next
    double reward = 0;
    int64_t length = 0;
  };
  PolicyClient& client_;
  Options options_;
  std::vector<Slot> slots_;
  VectorStep pending_;  // what the last step produced, sent with the next get_actions
  VectorStep sending_;  // the frame in flight
  int64_t env_steps_ = 0;
  bool finished_ = false;
};

}  // namespace tandem::client
