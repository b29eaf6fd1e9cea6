#pragma once
// The learner thread.
//
// Data flow: SampleQueue::wait_take (fragments of every policy that has train_batch_size
// steps) -> SampleBatch::append (GAE) -> Algorithm::train (SGD; publishes a new immutable
// weight snapshot that the batchers pick up on their next flush) -> one result row
// (ResultsWriter) -> stop criteria. Serving never waits for it.
//
// With config.input (offline training, docs/OFFLINE.md) the same thread trains from the rows
// read at start instead (offline_loop, offline_learner.cpp): OfflineSampler::next ->
// Algorithm::train_offline -> off-policy estimate -> result row -> checkpoints, stop criteria.
//
// With config.train == false (--no-train) the same thread trains nothing: every
// report_interval_s, and once more at stop(), it writes a result row (episodes, timesteps,
// evaluation and custom metrics) if at least one episode finished since the previous row.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "core/league.h"
#include "policy_server/results_writer.h"
#include "policy_server/server_context.h"

namespace spdlog {
class logger;
}

namespace tandem::server {

std::shared_ptr<spdlog::logger> learner_log();  // the "learner" logger

// The newest result row in typed form, for GET /metrics.
struct LastRow {
  int64_t training_iteration = 0;
  double time_this_iter_s = 0;
  double learn_time_s = 0;     // SGD time in that iteration (0 without training)
  double env_steps_per_s = 0;  // env steps served during that iteration / its wall time
  std::optional<double> evaluation_reward_mean;       // newest row that had evaluation episodes
  std::map<std::string, double> custom_metric_means;  // newest value of each custom metric
  std::optional<core::LeagueIteration> league;        // the league at the newest row (with a league)
};

class Learner {
 public:
  // `on_stop_criteria` is called (from the learner thread) when a stop criterion is met.
  Learner(ServerContext& ctx, std::function<void()> on_stop_criteria);
  ~Learner();
  void start();  // trains (config.train) or only reports
  void stop();   // joins; without training, writes a last row for episodes not yet reported
  nlohmann::json last_result() const;
  LastRow last_row() const;
  bool trained() const { return trained_any_; }
  // The learner stopped the server because training kept failing (tandem-server exits 3).
  bool gave_up() const { return gave_up_; }
  // The replica group broke and config group_on_failure is "exit" (tandem-server exits 4).
  bool group_failed() const { return group_failed_; }
  static constexpr int kMaxConsecutiveFailures = 5;

 private:
  void loop();
  void offline_loop();  // offline_learner.cpp
  void group_loop();    // group_learner.cpp: a replica of a group (ctx.group)
  // What training the taken batches gave (learner thread).
  struct Trained {
    bool any = false, failed = false;
    nlohmann::json learner = nlohmann::json::object();  // per policy: its TrainStats and lags
    int64_t trained_steps = 0;
    double learn_time = 0;
    // Rank 0 of a group: the group's guard counts (else this server's RunStats).
    std::optional<int64_t> group_bad_batches, group_bad_sgd_steps;
  };
  // Trains every policy p with train[p] on taken[p] (SampleBatch with GAE; in a group also an
  // empty one); a failure is logged and counted (in a group: rethrown).
  Trained train_taken(std::vector<std::vector<algo::Trajectory>>& taken,
                      const std::vector<std::vector<core::FragmentOrigin>>& origins,
                      const std::vector<char>& train, int64_t timesteps_total);
  // The iteration's result row from `m` (its counters and episodes) and `trained`, then
  // end_iteration. Returns whether a stop criterion was met.
  bool finish_iteration(const IterationMetrics& m, Trained trained, int64_t steps_while_training);
  void report_loop();
  // With a league: its iteration (win rates; with `judge`, maybe a new snapshot) into `row`.
  void add_league(nlohmann::json& row, bool judge);
  // What the train guard skipped or rolled back in the last train call: logged and counted.
  void note_guard(algo::Algorithm& algorithm, const algo::TrainStats& stats);
  // After iteration `iter`'s row: a checkpoint when checkpoint_frequency says so, then the
  // stop criteria (on_stop_ when one is met: returns true). Learner thread.
  bool end_iteration(int64_t iter, int64_t timesteps_total, std::optional<double> reward_mean);
  // Completes `row` with the iteration's timing, writes it and remembers it.
  void write_row(nlohmann::json row, const IterationMetrics& m, int64_t iter, double learn_time);

  ServerContext& ctx_;
  std::function<void()> on_stop_;
  std::unique_ptr<ResultsWriter> writer_;  // null on replicas other than rank 0
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> trained_any_{false};
  std::atomic<bool> gave_up_{false};
  std::atomic<bool> group_failed_{false};
  int consecutive_failures_ = 0;  // learner thread only
  std::mutex wake_mu_;
  std::condition_variable wake_;
  // Row timing (learner thread only).
  std::chrono::steady_clock::time_point t_start_, t_row_;
  double time_base_s_ = 0;  // time_total_s carried on from a checkpoint
  int64_t steps_at_row_ = 0;
  mutable std::mutex mu_;
  nlohmann::json last_;
  LastRow last_row_;
};

nlohmann::json metrics_to_json(const IterationMetrics& m);

}  // namespace tandem::server
