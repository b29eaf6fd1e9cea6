#pragma once
// The episode core: RLlib's episode semantics, written once, for the server's episode
// registry and the local client alike.
//
//   GetAction/LogAction -> check_act() -> (forward pass by the caller) -> record_step() per
//                          agent, then end_env_step()
//   LogReturns          -> check_returns() -> add_returns(): a reward goes to the agent's last
//                          step (rewards logged between two actions add up); before its first
//                          action it only counts in the returns; `done` closes the agent
//   EndEpisode          -> check_end() -> finish(truncated, V(last obs)): terminal, or
//                          bootstrapped from the value of the last observation
//   timeout             -> abandon(): open fragments bootstrapped from their last value
//
// A fragment reaching rollout_fragment_length is cut when the agent's next step arrives and
// bootstrapped with that step's value estimate. Closed fragments wait in take_closed().
// Not thread-safe: the owner serialises calls (server: the episode's mutex; client: its own).
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/messages.h"
#include "core/policy_set.h"
#include "core/scripted_policy.h"
#include "core/status.h"

namespace tandem::core {

// What a finished episode contributes to the metrics.
struct EpisodeSummary {
  double reward = 0.0;                          // sum over all agents
  int64_t length = 0;                           // env steps (GetAction/LogAction requests)
  std::map<std::string, double> policy_rewards; // per policy id
  std::map<std::string, double> custom_metrics; // sent by the client with EndEpisode
  bool evaluation = false;                      // explore=false episodes are reported apart
};

// A fragment the episode has closed (cut, agent done, episode finished or abandoned).
struct ClosedFragment {
  std::string agent_id;
  int policy = -1;
  Trajectory steps;
  int agent_index = 0;          // FragmentOrigin's fields (core/trajectory.h)
  int64_t first_step = 0;
  bool agent_done = false;
  std::vector<float> next_obs;
};

// The policy mapping of one episode: `seats` (agent id -> policy index, drawn by the server's
// self-play league for this episode) first, then the hosted mapping.
class SeatedResolver final : public PolicyResolver {
 public:
  SeatedResolver(const PolicyResolver& base, std::map<std::string, int, std::less<>> seats)
      : base_(base), seats_(std::move(seats)) {}
  int policy_for(std::string_view episode_id, std::string_view agent_id) const override {
    auto it = seats_.find(agent_id);
    return it != seats_.end() ? it->second : base_.policy_for(episode_id, agent_id);
  }
  const PolicySpec& spec(int policy) const override { return base_.spec(policy); }
  int num_policies() const override { return base_.num_policies(); }

 private:
  const PolicyResolver& base_;
  const std::map<std::string, int, std::less<>> seats_;
};

class EpisodeCore {
 public:
  // `seats`: agents whose policy this episode fixes (the league's draw); the others follow
  // `policies`' mapping.
  EpisodeCore(const PolicyResolver& policies, std::string id, bool training_enabled, bool explore,
              std::map<std::string, int, std::less<>> seats = {});

  const std::string& id() const { return id_; }
  bool training_enabled() const { return training_enabled_; }
  bool explore() const { return explore_; }
  int64_t length() const { return length_; }

  // GetAction (actions == nullptr) / LogAction: at least one agent, each once, mapped, not
  // done; valid observation, mask and (LogAction: one per agent) action. Fills the policy
  // index of each agent.
  Status check_act(const std::vector<AgentObs>& agents, const std::vector<AgentAction>* actions,
                   std::vector<int>& policy_of_agent) const;
  // One step of one agent; `obs_row` as the owner stores observations (preprocessed on the
  // server, raw in a local client's upload). Call end_env_step() after the request's agents.
  void record_step(const std::string& agent_id, int policy, std::span<const float> obs_row,
                   const ActionResult& r);
  void end_env_step();

  Status check_returns(const std::vector<AgentReward>& rewards) const;
  void add_returns(const std::vector<AgentReward>& rewards);

  // EndEpisode: every listed agent mapped, each once; non-empty observations valid.
  Status check_end(const std::vector<AgentObs>& agents, std::vector<int>& policy_of_agent) const;
  // Closes every agent that is not done: truncated -> bootstrap from last_values[agent] (when
  // given, else its last value estimate); otherwise terminal.
  // `last_obs` (EndEpisode's observations, checked by check_end): each listed agent's final
  // observation becomes its fragment's next_obs (experience output's new_obs).
  EpisodeSummary finish(bool truncated, const std::map<std::string, float>& last_values,
                        std::map<std::string, double> custom_metrics,
                        const std::vector<AgentObs>* last_obs = nullptr);
  void abandon();

  std::vector<ClosedFragment> take_closed();
  bool has_closed() const { return !closed_.empty(); }
  // Env steps not reported yet, at most `at_most` of them (a local client's
  // ReportSamples.env_steps, bounded by the agent steps of the report).
  int64_t take_env_steps(int64_t at_most);
  // Env steps handed out by take_env_steps so far (a report's env_steps_before).
  int64_t reported_env_steps() const { return length_ - env_steps_unreported_; }
  // Per agent return so far (rewards logged for it while it was not done).
  std::map<std::string, double> agent_returns() const;
  double reward_total() const { return reward_total_; }
  bool agent_done(const std::string& agent_id) const;
  // Steps the agent acted in (GetAction/LogAction) in this episode.
  int64_t agent_steps(const std::string& agent_id) const;

  // The action of a scripted policy (`policy` has spec().script) for `agent_id`, with the
  // memory the script keeps for that agent in this episode (always_same's column, beat_last's
  // last board). On first use the memory's RNG is seeded from `seed` and both ids. The
  // caller records the step as for any policy (record_step).
  ActionResult scripted_act(const std::string& agent_id, int policy, std::span<const float> raw_obs,
                            std::span<const float> mask, uint64_t seed);

 private:
  struct Agent {
    int policy = -1;
    Trajectory fragment;  // being built
    int64_t steps = 0;
    int index = 0;  // order of appearance in the episode
    bool done = false;
    double reward_total = 0;
    // A reward logged now goes to a step (false: before the agent's first action, or once it
    // is done; it then counts in the returns only).
    bool attached() const { return !done && !fragment.rewards.empty(); }
  };
  Agent& agent(const std::string& agent_id, int policy);
  // `agent_done`: the agent's episode ends here (not a cut); `next_obs`: the observation after
  // the fragment's last step, when known.
  void close(const std::string& agent_id, Agent& a, bool terminated, float bootstrap_value, bool agent_done,
             std::span<const float> next_obs = {});

  const SeatedResolver policies_;
  const std::string id_;
  const bool training_enabled_, explore_;
  std::map<std::string, Agent> agents_;
  std::map<std::string, ScriptMemory> script_memory_;  // agent id -> its script's memory
  std::vector<ClosedFragment> closed_;
  int64_t length_ = 0, env_steps_unreported_ = 0;
  double reward_total_ = 0;
  // Sum of |reward| logged for agents while not attached to a step: bounded by
  // max_abs_reward for the whole episode, so new agent ids cannot inflate the return.
  double unattached_abs_ = 0;
};

}  // namespace tandem::core
