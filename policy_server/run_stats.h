#pragma once
// Counters and episode statistics of a running server, read once per training iteration
// (result.json) and by GET /metrics. I/O threads add to it; the learner takes iteration
// snapshots. Every member is guarded by mu_ or atomic.
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/episode_core.h"

namespace tandem::server {

using core::EpisodeSummary;

struct Aggregate {
  double mean = 0, min = 0, max = 0;
  int64_t count = 0;
};

// The metrics of one training iteration (RLlib's names where they exist).
struct IterationMetrics {
  int64_t timesteps_total = 0;       // env steps served so far
  int64_t agent_timesteps_total = 0; // agent steps served so far
  int64_t episodes_total = 0;
  int64_t episodes_this_iter = 0;
  int64_t episodes_timed_out = 0;
  Aggregate episode_reward;          // over the smoothing window
  double episode_len_mean = 0;
  std::map<std::string, double> policy_reward_mean;
  std::map<std::string, Aggregate> custom_metrics;  // over episodes of this iteration
  Aggregate evaluation_reward;       // evaluation episodes finished this iteration
  double evaluation_len_mean = 0;
  std::map<std::string, Aggregate> evaluation_custom_metrics;  // of those evaluation episodes
  double mean_inference_batch = 0;   // agents per forward pass this iteration
  int64_t inference_passes = 0;      // forward passes this iteration
  // take_iteration only: the training episodes finished this iteration (the newest
  // smoothing-window's worth), for a replica group's rank 0 (group_metrics.h).
  std::vector<EpisodeSummary> new_episodes;
};

class RunStats {
 public:
  explicit RunStats(int64_t smoothing_window) : window_(smoothing_window) {}

  void add_env_steps(int64_t env, int64_t agent) {
    env_steps_.fetch_add(env, std::memory_order_relaxed);
    agent_steps_.fetch_add(agent, std::memory_order_relaxed);
  }
  void add_inference_batch(int64_t size);
  void episode_finished(EpisodeSummary s);
  void episode_timed_out() { timed_out_.fetch_add(1, std::memory_order_relaxed); }

  // Setup only: keep each iteration's training episodes for take_iteration's new_episodes (a
  // replica group's rank 0 needs every rank's; a lone server does not copy them).
  void keep_new_episodes(bool on) { keep_new_ = on; }
  // Metrics since the previous call (per-iteration parts reset).
  IterationMetrics take_iteration();
  // The current view without resetting anything (for /metrics).
  IterationMetrics peek() const;

  // Counters carried on from a checkpoint.
  void restore_counters(int64_t env_steps, int64_t agent_steps, int64_t episodes) {
    env_steps_ = env_steps;
    agent_steps_ = agent_steps;
    std::lock_guard lk(mu_);
    episodes_total_ = episodes;
  }
  int64_t timesteps_total() const { return env_steps_.load(std::memory_order_relaxed); }
  // Forward passes served and the agents they computed, since the start (no lock: hot path).
  int64_t inference_passes() const { return inference_passes_.load(std::memory_order_relaxed); }
  int64_t inference_agents() const { return inference_agents_.load(std::memory_order_relaxed); }
  std::atomic<int64_t> connected_clients{0};
  std::atomic<int64_t> open_episodes{0};
  std::atomic<int64_t> learner_errors{0};     // failed training steps (the server kept serving)
  std::atomic<int64_t> checkpoint_errors{0};  // failed periodic checkpoints
  std::atomic<int64_t> io_errors{0};          // network handlers that threw
  std::atomic<int64_t> backpressure_holds{0}; // times serving paused for a busy learner
  std::atomic<int64_t> bad_batches_skipped{0};   // train batches the learner's guard refused
  std::atomic<int64_t> bad_sgd_steps_skipped{0}; // SGD steps it skipped or rolled back
  std::atomic<int64_t> accept_failures{0};    // accept() errors (EMFILE...): the listener backed off
  std::atomic<int64_t> auth_failures{0};      // requests refused with 401 (no or wrong token)
  std::atomic<int64_t> refused_upgrades{0};   // upgrades refused with 400 (bad X-Tandem-Client)
  std::atomic<int64_t> idle_closed{0};        // connections closed after idle_timeout_s
  std::atomic<int64_t> vector_entries{0};     // entries of VectorRequests (each also counted as its request)
  std::atomic<int64_t> stateless_actions{0};  // actions answered outside episodes (HTTP JSON)
  std::atomic<int64_t> http_inference_requests{0};  // POSTs to the HTTP JSON endpoint (any answer)

 private:
  IterationMetrics build(bool reset_iteration);

  const int64_t window_;
  bool keep_new_ = false;
  std::atomic<int64_t> env_steps_{0}, agent_steps_{0}, timed_out_{0};
  mutable std::mutex mu_;
  std::deque<EpisodeSummary> recent_;           // last `window_` training-mode episodes
  int64_t episodes_total_ = 0;
  int64_t episodes_this_iter_ = 0;
  std::vector<EpisodeSummary> iter_custom_;     // this iteration's episodes with custom metrics
  std::deque<EpisodeSummary> iter_training_;    // this iteration's training episodes (at most window_)
  std::vector<EpisodeSummary> iter_eval_;       // this iteration's evaluation episodes
  std::atomic<int64_t> inference_passes_{0}, inference_agents_{0};
  int64_t passes_at_take_ = 0, agents_at_take_ = 0;  // under mu_: the counters at the last take
};

}  // namespace tandem::server
