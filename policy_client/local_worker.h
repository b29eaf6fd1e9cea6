#pragma once
// Local inference (InferenceMode::Local): actions come from a copy of the server's policy in
// this process; the server only receives experience and sends weights.
//
// Data flow:
//   simulator thread: get_action -> the newest InferenceModel (shared_ptr, swapped by the
//     background thread) -> the step is appended to its agent's fragment -> a fragment that
//     is full (rollout_fragment_length, cut when the next step arrives), an agent that is
//     done and an ended episode become an UploadReport -> upload queue (bounded).
//   background thread (owns the connection): sends the oldest report (ReportSamples), waits
//     for SamplesAccepted (held by the server while its learner is behind), and fetches
//     weights (GetWeights, chunked) every update_interval_s or as soon as a reply shows a
//     newer version; builds the new model off the simulator thread.
//
// The simulator never waits for the network, except while the server holds an upload reply
// because its learner is behind (then at most max_block_s, as remote mode waits for a busy
// learner; see ClientOptions::max_unsent_steps).
// While the server is unreachable the client keeps acting with the last weights, reconnects
// with backoff, and beyond max_buffered_steps drops the oldest reports (counted, logged).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "algorithms/action_logp.h"
#include "algorithms/policy.h"
#include "policy_client/connection.h"
#include "policy_client/policy_client.h"
#include "policy_client/upload_report.h"

namespace tandem::client {

class LocalWorker {
 public:
  // Connects, reads the server's configuration and its current weights (throws
  // ConnectionError when the server cannot be reached within reconnect_timeout_s).
  LocalWorker(const std::string& address, const ClientOptions& options);
  // Uploads what is buffered (for up to close_timeout_s), then stops the background thread.
  ~LocalWorker();

  std::string start_episode(std::optional<std::string> episode_id, bool training_enabled, bool explore);
  std::map<std::string, Action> get_action(const std::string& episode_id, const AgentObs& obs,
                                           std::span<const float> single_agent_mask = {});
  void log_action(const std::string& episode_id, const AgentObs& obs,
                  const std::map<std::string, Action>& actions);
  void log_returns(const std::string& episode_id, const std::map<std::string, float>& rewards,
                   const std::map<std::string, bool>& dones);
  void end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated,
                   const std::map<std::string, double>& custom_metrics);
  // Waits until every buffered report is uploaded (up to reconnect_timeout_s); throws the
  // first error the server sent for an upload, or ConnectionError.
  void flush();
  const std::string& config_json() const { return config_json_; }
  LocalStats stats() const;

 private:
  struct AgentState {
    int policy = -1;
    LocalFragment frag;
    bool done = false;
    double reward_total = 0;  // rewards after the agent's first action
    bool acted = false;
  };
  struct Episode {
    bool training_enabled = true, explore = true;
    std::map<std::string, AgentState> agents;
    std::vector<LocalFragment> ready;  // completed fragments not queued yet
    int64_t env_steps_unreported = 0, length = 0;
    double reward = 0;
  };

  void load_config(const std::string& json);
  int policy_for(const std::string& agent_id) const;
  Episode& episode(const std::string& id, const char* request);
  std::shared_ptr<const algo::InferenceModel> model(int policy) const;
  void close_fragment(AgentState& a, bool terminated, float bootstrap, Episode& ep);
  // One forward pass of `policy` on a raw observation (result valid until the next call).
  algo::ActionResult& compute(int policy, std::span<const float> obs, std::span<const float> mask,
                              bool explore);
  void end_env_step(const std::string& episode_id, Episode& ep);
  void record_step(Episode& ep, const std::string& agent_id, int policy,
                   std::span<const float> obs, const algo::ActionResult& r);
  void queue_report(const std::string& id, Episode& ep, bool done,
                    const std::map<std::string, double>& metrics = {});
  void enqueue(UploadReport r);
  void throw_pending();

  // background thread
  void run();
  void upload_one(UploadReport& r);
  void fetch_weights(bool any_version = false);  // any_version: also older-numbered ones

  ClientOptions opt_;
  std::unique_ptr<Connection> conn_;  // after construction: the background thread's only
  std::string config_json_;
  std::vector<algo::PolicySpec> specs_;
  std::map<std::string, std::string> mapping_;

  mutable std::mutex models_mu_;
  std::vector<std::shared_ptr<const algo::InferenceModel>> models_;

  std::mutex mu_;  // simulator-side state
  std::map<std::string, Episode> episodes_;
  std::mt19937_64 rng_;
  std::vector<float> pre_, mask_;
  std::vector<algo::ActionResult> out_;

  mutable std::mutex qmu_;  // upload queue, errors, counters
  std::condition_variable work_cv_, room_cv_;
  std::deque<UploadReport> queue_;
  int64_t queued_steps_ = 0;
  bool uploading_ = false;         // the background thread holds a report
  std::vector<RequestError> errors_;
  bool stop_ = false;
  bool exited_ = false;            // run() has returned
  std::condition_variable exited_cv_;
  bool newer_weights_ = false;
  bool stalled_ = false;           // a wait for the uploader timed out; cleared by an upload
  bool refetch_all_ = false;       // background thread: reconnected, take the server's weights
  uint64_t current_rid_ = 0;       // request id of the report being uploaded (0: not sent yet)
  LocalStats stats_;
  std::chrono::steady_clock::time_point last_drop_log_{};
  std::atomic<bool> connected_{true};
  std::thread thread_;
};

}  // namespace tandem::client
