#pragma once
// PolicyClient: what a simulator links to talk to one tandem-server (RLlib's PolicyClient).
//
//   PolicyClient client("ws://127.0.0.1:9900");
//   auto ep = client.start_episode();
//   auto a = client.get_action(ep, obs);      // one round trip
//   client.log_returns(ep, reward);           // pipelined: no round trip of its own
//   client.end_episode(ep, last_obs);         // pipelined
//
// Errors: a failing get_action/start_episode throws RequestError at once. log_returns,
// log_action and end_episode do not wait for their reply; an Error the server sends for one
// of them is kept and thrown (as RequestError naming the failed request) by the first call
// that starts after it arrived, or by flush(), which waits until every request sent so far
// is answered. Replies arrive in order, so the error of a pipelined request is thrown at the
// latest by the second call after it; a call that has succeeded is never turned into an error.
//
// Threading: all methods are thread-safe; calls on one client are serialised (one
// connection, one request in flight at a time). For concurrent episodes use one client per
// thread: the server batches the requests of all connections into one forward pass.
//
// Reconnects: if the connection drops, the client reconnects (backoff, up to
// reconnect_timeout_s) and resends every unanswered request; the server applies each
// request of an episode once (request ids), so no step is lost or doubled.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace tandem::client {

enum class InferenceMode { Remote, Local };

struct ClientOptions {
  double reconnect_timeout_s = 30.0;  // give up (throw ConnectionError) after this long
};

struct Action {
  std::vector<int64_t> discrete;
  std::vector<float> continuous;
  int64_t as_int() const { return discrete.empty() ? 0 : discrete[0]; }
};

using AgentObs = std::map<std::string, std::vector<float>>;

class RequestError : public std::runtime_error {
 public:
  RequestError(std::string code, std::string request, const std::string& message)
      : std::runtime_error(request + " failed: " + code + ": " + message),
        code(std::move(code)), request(std::move(request)) {}
  std::string code;     // the server's ErrorCode name, e.g. "UnknownEpisode"
  std::string request;  // e.g. "LogReturns(ep-1)"
};

class ConnectionError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

class PolicyClient {
 public:
  explicit PolicyClient(const std::string& address, InferenceMode mode = InferenceMode::Remote,
                        ClientOptions options = {});
  ~PolicyClient();
  PolicyClient(const PolicyClient&) = delete;
  PolicyClient& operator=(const PolicyClient&) = delete;

  // Opens an episode; without an id the client makes a unique one. explore=false gives
  // greedy actions (evaluation); training_enabled=false episodes are never trained on.
  std::string start_episode(std::optional<std::string> episode_id = std::nullopt,
                            bool training_enabled = true, bool explore = true);
  // Single agent ("agent0").
  Action get_action(const std::string& episode_id, std::span<const float> obs,
                    std::span<const float> action_mask = {});
  // Multi-agent: one action per agent in `obs`.
  std::map<std::string, Action> get_action(const std::string& episode_id, const AgentObs& obs);
  void log_action(const std::string& episode_id, std::span<const float> obs, const Action& action);
  void log_returns(const std::string& episode_id, float reward);
  void log_returns(const std::string& episode_id, const std::map<std::string, float>& rewards,
                   const std::map<std::string, bool>& dones = {});
  void end_episode(const std::string& episode_id, std::span<const float> obs, bool truncated = false,
                   const std::map<std::string, double>& custom_metrics = {});
  void end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated = false,
                   const std::map<std::string, double>& custom_metrics = {});
  // Waits for every outstanding reply; throws the first pipelined error.
  void flush();
  // The server's configuration (algorithm, policies, spaces, mapping) as JSON text.
  std::string get_config();
  int64_t reconnects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::client
