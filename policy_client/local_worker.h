#pragma once
// Local inference (InferenceMode::Local): actions come from a copy of the server's policy in
// this process; the server only receives experience and sends weights.
//
// Data flow:
//   simulator thread: a call -> the episode core's checks (the server's own) -> the newest
//     InferenceModel (WeightFetcher) -> EpisodeCore records the step -> fragments it closed
//     (rollout_fragment_length, agent done, episode end) become a ReportSamples ->
//     UploadQueue::push (flow control, bounded).
//   background thread (owns the connection after construction): UploadQueue::take -> sends
//     ReportSamples, waits for SamplesAccepted (held by the server while its learner is
//     behind) -> WeightFetcher::fetch every update_interval_s, at once when a reply shows
//     newer weights, and after any reconnect (whatever the server's version numbers).
//
// The simulator never waits for the network, except through the UploadQueue's flow control.
// While the server is unreachable the client keeps acting with the last weights, reconnects
// with backoff, and resends the report in flight under its request id (applied once).
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/episode_book.h"
#include "core/episode_core.h"
#include "core/policy_set.h"
#include "policy_client/client_backend.h"
#include "policy_client/connection.h"
#include "policy_client/upload_queue.h"
#include "policy_client/weight_fetcher.h"

namespace tandem::client {

class LocalWorker final : public ClientBackend {
 public:
  // Connects, reads the server's configuration and its current weights (throws
  // ConnectionError when the server cannot be reached or answer within reconnect_timeout_s).
  // Several addresses (replicas): the first that answers (within failover_after_s each) takes
  // all traffic; when it is unreachable for failover_after_s the background thread moves to
  // the next (round robin), sends it the report in flight, and fetches its weights.
  LocalWorker(const std::vector<std::string>& addresses, const ClientOptions& options);
  // Uploads what is buffered (for up to close_timeout_s), then stops the background thread.
  ~LocalWorker() override;

  // Simulator side: thread-safe, serialised by mu_.
  std::string start_episode(std::optional<std::string> episode_id, bool training_enabled, bool explore) override;
  std::map<std::string, Action> get_action(core::GetAction request) override;
  void log_action(core::LogAction request) override;
  void log_returns(core::LogReturns request) override;
  void end_episode(core::EndEpisode request) override;
  // Waits until every buffered report is uploaded (up to reconnect_timeout_s); throws the
  // first error the server sent for an upload, or ConnectionError.
  void flush() override;
  void throw_kept_error() override;
  std::string config_json() override { return config_json_; }
  int64_t reconnects() const override { return local_stats().reconnects; }
  int64_t failovers() const override { return failovers_.load(); }
  LocalStats local_stats() const override;

 private:
  core::EpisodeCore& episode(const std::string& id, const char* request);
  // One forward pass of `policy` on a raw observation (result valid until the next call).
  // One agent's action: the model of a learned policy, or a scripted policy with the memory
  // `ep` keeps for the agent.
  core::ActionResult& compute(core::EpisodeCore& ep, const std::string& agent_id, int policy,
                              std::span<const float> obs, std::span<const float> mask, bool explore);
  // Queues the fragments the episode closed (and, when `done`, its summary) for upload.
  void report(core::EpisodeCore& ep, bool done, const std::vector<core::Metric>& metrics = {});

  // Constructor: connects conn_, reads the configuration and the weights (watchdog: timeout_s).
  void open(double timeout_s);
  int64_t reconnects_total() const {
    int64_t n = 0;
    for (const auto& c : conns_) n += c->reconnects;
    return n;
  }

  // Background thread.
  void run();
  void upload(core::ReportSamples& r);

  ClientOptions opt_;
  std::vector<std::unique_ptr<Connection>> conns_;  // one per address (fixed after construction)
  std::string endpoints_;                            // their endpoints, for messages
  // after construction: the background thread's only (abort() from the destructor goes to all)
  Connection* conn_ = nullptr;  // the active replica's
  size_t active_ = 0;
  std::atomic<int64_t> failovers_{0};
  std::string config_json_;
  core::PolicySet policies_;          // the server's policies and mapping (shared reader)
  std::unique_ptr<WeightFetcher> weights_;
  std::unique_ptr<UploadQueue> uploads_;

  std::mutex mu_;  // simulator-side state
  std::map<std::string, core::EpisodeCore> episodes_;
  std::unique_ptr<core::EpisodeBook> book_;  // the server's id rules (bound, duplicates, tombstones)
  std::mt19937_64 rng_;
  uint64_t script_seed_ = 0;  // seeds the scripts' per-episode memory (EpisodeCore::scripted_act)
  std::vector<float> pre_;
  std::vector<core::ActionResult> out_;

  // Background thread only.
  uint64_t current_rid_ = 0;  // request id of the report in flight (0: not sent yet)
  int64_t seen_reconnects_ = 0;

  std::mutex exit_mu_;
  std::condition_variable exit_cv_;
  bool exited_ = false;  // run() has returned (under exit_mu_)
  std::thread thread_;
};

}  // namespace tandem::client
