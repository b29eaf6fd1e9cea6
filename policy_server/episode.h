#pragma once
// One open episode: per-agent trajectory builders with RLlib's semantics.
//
//   GetAction  -> record_step(agent, obs, action)   appends a step with reward 0
//   LogReturns -> add_reward(agent, r, done)        adds r to the agent's last step
//                                                   (rewards before its first action
//                                                   only count in the episode return)
//   EndEpisode -> finish(truncated, V(last obs))    terminal, or bootstrapped when truncated
//
// A fragment reaching rollout_fragment_length is cut when the agent's next step arrives and
// bootstrapped with that step's value estimate. Finished fragments of training-enabled
// episodes go to the SampleQueue. Callers hold mutex() around every call.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "algorithms/policy.h"
#include "policy_server/run_stats.h"
#include "policy_server/sample_queue.h"
#include "schemas/codec.h"

namespace tandem::server {

struct AgentTrack {
  int policy = -1;
  algo::Trajectory traj;   // the fragment being built
  int64_t steps = 0;       // steps of this agent in the episode
  bool done = false;       // LogReturns(done) ended this agent
  double reward_total = 0;
};

class Episode {
 public:
  Episode(std::string id, bool training_enabled, bool explore,
          const std::vector<algo::PolicySpec>& policies, SampleQueue& queue);

  const std::string& id() const { return id_; }
  bool training_enabled() const { return training_enabled_; }
  bool explore() const { return explore_; }
  std::mutex& mutex() { return mu_; }

  // Requests of one client carry increasing ids from a random 62-bit start; a repeat
  // (resent after a reconnect) is a duplicate and must not be applied twice. Ids far below
  // the last one come from another client that carries the episode on: not duplicates.
  bool is_duplicate(uint64_t request_id) const {
    return request_id != 0 && request_id <= last_request_id_ &&
           last_request_id_ - request_id < kDuplicateWindow;
  }
  static constexpr uint64_t kDuplicateWindow = 1u << 20;
  void mark_applied(uint64_t request_id) { last_request_id_ = request_id; }
  const wire::Frame& last_action_reply() const { return last_action_reply_; }
  uint64_t last_action_request() const { return last_action_request_; }
  void set_last_action_reply(uint64_t rid, wire::Frame f) {
    last_action_request_ = rid;
    last_action_reply_ = std::move(f);
  }

  AgentTrack* agent(const std::string& agent_id);
  AgentTrack& ensure_agent(const std::string& agent_id, int policy);

  void record_step(AgentTrack& a, std::span<const float> obs_pre, const algo::ActionResult& r);
  void add_reward(AgentTrack& a, float reward, bool done);
  void add_pre_action_reward(float reward) { reward_total_ += reward; }
  void count_env_step() { ++length_; }
  int64_t length() const { return length_; }

  // Closes every agent: truncated -> bootstrap with `last_values[agent]` (when known, else the
  // agent's last value estimate); otherwise terminal. The last fragments are held back until
  // release_samples(), so the caller can record the summary in RunStats first: a learner
  // woken by them then reports the episode in the same iteration.
  EpisodeSummary finish(bool truncated, const std::map<std::string, float>& last_values,
                        std::map<std::string, double> custom_metrics);
  void release_samples();
  // Drops the episode (timeout): open fragments are bootstrapped from their last value.
  void abandon();

  void touch() { last_active_ = std::chrono::steady_clock::now(); }
  std::chrono::steady_clock::time_point last_active() const { return last_active_; }

 private:
  void close_fragment(AgentTrack& a, bool terminated, float bootstrap_value);

  const std::string id_;
  const bool training_enabled_, explore_;
  const std::vector<algo::PolicySpec>& policies_;
  SampleQueue& queue_;
  std::mutex mu_;
  std::map<std::string, AgentTrack> agents_;
  bool hold_samples_ = false;                            // set by finish()
  std::vector<std::pair<int, algo::Trajectory>> held_;   // (policy, fragment) until release
  int64_t length_ = 0;
  double reward_total_ = 0;
  uint64_t last_request_id_ = 0;
  uint64_t last_action_request_ = 0;
  wire::Frame last_action_reply_;
  std::chrono::steady_clock::time_point last_active_ = std::chrono::steady_clock::now();
};

}  // namespace tandem::server
