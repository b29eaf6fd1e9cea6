#pragma once
// PolicyClient: what a simulator links to talk to one tandem-server, or a group of replicas
// acting as one policy (RLlib's PolicyClient).
//
//   PolicyClient client("ws://127.0.0.1:9900");
//   auto ep = client.start_episode();
//   auto a = client.get_action(ep, obs);      // one round trip
//   client.log_returns(ep, reward);           // pipelined: no round trip of its own
//   client.end_episode(ep, last_obs);         // pipelined
//
// Errors: a failing get_action/start_episode throws RequestError at once. log_returns,
// log_action and end_episode do not wait for their reply. A remote client holds
// log_returns and log_action and sends them in the frame of the next call (get_action,
// start_episode, end_episode, step, get_config, flush()), so that a step costs one frame
// each way; end_episode is sent at once.
// An Error the server sends for one of them is kept and thrown (as RequestError naming the
// failed request) by the first call that starts after it arrived, or by flush(), which
// sends what is held and waits until every request sent so far is answered. A call that
// has succeeded is never turned into an error. Handing an episode over to another client:
// flush() first, so that what this client holds reaches the server before the other's calls.
//
// Threading: all methods are thread-safe; calls on one client are serialised (one
// connection, one request in flight at a time). For concurrent episodes either step them
// all with one vectorised call (step(), get_actions(): one frame for N environments from
// one thread) or use one client per thread: the server batches the requests of all
// connections and all entries of vectorised frames into one forward pass per policy.
//
// Reconnects: if the connection drops, the client reconnects (backoff, up to
// reconnect_timeout_s) and resends every unanswered request; the server applies each
// request once (client id + request id) and answers a resend with the original's reply, so
// no step is lost or doubled. A server that restarted does not know the episodes of its
// previous run: their requests fail with UnknownEpisode (start a new episode).
//
// Several addresses (replicas of one policy: tandem-servers started with the same config):
//   PolicyClient client("ws://a:9900,ws://b:9900,ws://c:9900");   // or a std::vector
// Placement: an episode lives on ONE replica, its home fnv1a64(episode id) % replicas
// (replica_router.h; the next live one when its home is down): every call of the episode
// goes there, and the same id always lands on the same replica while it is up (also from
// another client with the same address list). start_episode() without an id makes the id
// first and places it by the same rule. step()/get_actions() split the frame by replica
// (one frame per replica, all in flight at once) and merge the replies in order.
// get_config() asks any live replica. Failover: a replica that cannot be reached again
// within failover_after_s is gone; its episodes move to the next live replica, where the
// client re-creates each (StartEpisode with the same id and flags) and gives again, in
// order, the calls the gone replica had not answered (each once: a call it answered is
// never sent again; its steps stay counted there), so the simulator sees no error. Moved
// episodes stay where they moved when the replica comes back; new episodes whose home it
// is go back to it (it is tried again at most every failover_after_s). The last live
// replica is waited for reconnect_timeout_s, as a single server is: then ConnectionError.
// A replica that hangs without closing its connection is not detected (as with one
// address). Local inference with several addresses: the first replica that answers takes
// every upload and weight fetch; when it is gone for failover_after_s the next one does
// (the report in flight is sent there once, the weights are fetched from it afresh).
//
// Linking: tandem_client (remote mode) has no LibTorch; InferenceMode::Local needs
// tandem_client_local linked as well.
//
// Local inference (InferenceMode::Local, RLlib's inference_mode="local"): the client pulls
// the server's configuration and weights, computes actions in this process (no round trip
// per step), uploads experience in the background when a fragment is complete or an
// episode ends, and refreshes weights in the background (every update_interval_s, and at
// once when an upload reply shows newer weights). Errors in local mode are the same
// RequestErrors as in remote mode, raised by the client itself; errors the server sends for
// an upload are thrown by the next call or by flush(). See local_worker.h for the threads.
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
  double reconnect_timeout_s = 30.0;  // remote: give up (throw ConnectionError) after this long
  // Several addresses: a replica that cannot be reached again within this long is gone and
  // its episodes move to the next live replica (kept below reconnect_timeout_s).
  double failover_after_s = 5.0;
  // A name for this client (at most 40 printable characters, no '/'), shown in the server's
  // log. The client sends "NAME/INCARNATION" as X-Tandem-Client at every (re)connect, with a
  // random incarnation per PolicyClient: the server applies each request of this client
  // exactly once, also when it is resent on a new connection, and two clients (or a
  // restarted simulator) given the same name never share a duplicate window.
  std::string client_id;
  // The server's bearer token (its auth_token_file). Empty: $TANDEM_TOKEN if set, else none.
  std::string auth_token;
  // wss:// only: a PEM file of the CA certificates to trust, or the server's self-signed
  // certificate to pin. Empty: the system's trust store. The certificate must name HOST.
  std::string tls_ca_file;
  // --- local inference only ---
  double update_interval_s = 10.0;       // poll the server for newer weights this often
  bool fetch_new_weights_at_once = true; // also fetch as soon as an upload reply shows newer ones
  // Server reachable: a call that completes a fragment waits (at most max_block_s) while more
  // than max_unsent_steps wait for upload. Uploads are quick unless the server holds its reply
  // because its learner is behind: the simulator then waits for training like a remote client
  // does, which keeps the experience on-policy. Larger values let the simulator run ahead.
  int64_t max_unsent_steps = 0;
  double max_block_s = 30.0;
  // Server unreachable: experience is kept up to this bound; beyond it the oldest is dropped.
  int64_t max_buffered_steps = 100000;
  double close_timeout_s = 5.0;          // the destructor uploads what is buffered for this long
  uint64_t seed = 0;                     // action sampling seed (0: random)
};

// Local inference counters (PolicyClient::local_stats()).
struct LocalStats {
  int64_t weights_version = -1;                    // lowest version over the hosted policies
  std::map<std::string, int64_t> policy_versions;  // per policy id
  int64_t weight_updates = 0;                      // weight sets loaded (the first included)
  int64_t uploaded_steps = 0, uploaded_reports = 0;  // accepted by the server
  int64_t buffered_steps = 0;                      // waiting for upload now
  int64_t dropped_steps = 0, dropped_reports = 0;  // dropped: buffer full or closing unreachable
  int64_t rejected_reports = 0;                    // the server answered with an Error
  int64_t reconnects = 0;
  bool connected = true;                           // the last attempt reached the server
};

struct Action {
  std::vector<int64_t> discrete;
  std::vector<float> continuous;
  int64_t as_int() const { return discrete.empty() ? 0 : discrete[0]; }
};

using AgentObs = std::map<std::string, std::vector<float>>;
// A Dict observation by component name (the same type as core::NamedObs, core/named_obs.h):
// component -> its raw value; a nested component by its path ("outer.inner") or whole.
using NamedObs = std::map<std::string, std::vector<float>>;
// Agent id -> its named components (single agent: {{"agent0", named}}).
using AgentNamedObs = std::map<std::string, NamedObs>;

// One environment's single-agent observation for get_actions().
struct EpisodeObs {
  std::string episode_id;
  std::span<const float> obs;
  std::span<const float> action_mask = {};
};

class VectorStep;  // policy_client/vector_step.h
struct StepReply;

class RequestError : public std::runtime_error {
 public:
  RequestError(std::string code, std::string request, const std::string& message)
      : std::runtime_error(request + " failed: " + code + ": " + message),
        code(std::move(code)), request(std::move(request)), message(message) {}
  // The first of several kept errors (pipelined calls answered later), naming the others.
  RequestError(const RequestError& first, std::vector<std::string> others)
      : std::runtime_error(std::string(first.what()) + " (and " + std::to_string(others.size()) +
                           " more pipelined call(s) failed: " + join(others) + ")"),
        code(first.code), request(first.request), message(first.message), also_failed(std::move(others)) {}
  std::string code;     // the server's ErrorCode name, e.g. "UnknownEpisode"
  std::string request;  // e.g. "LogReturns(ep-1)"
  std::string message;  // the server's message
  std::vector<std::string> also_failed;  // "LogReturns(ep-2): UnknownEpisode" of the others

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + v[i];
    if (v.size() > 8) s += ", ...";
    return s;
  }
};

// What a call throws for the kept errors of earlier pipelined calls (non-empty): the first,
// naming the others.
inline RequestError first_of(const std::vector<RequestError>& errors) {
  if (errors.size() == 1) return errors.front();
  std::vector<std::string> others;
  for (size_t i = 1; i < errors.size(); ++i) others.push_back(errors[i].request + ": " + errors[i].code);
  return RequestError(errors.front(), std::move(others));
}

class ConnectionError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The server refused the connection at the handshake (HTTP 401: no or wrong auth_token;
// HTTP 400: a bad client_id). Not retried: reconnecting would be refused again.
class RefusedError : public ConnectionError {
  using ConnectionError::ConnectionError;
};

class PolicyClient {
 public:
  // `address`: ws://HOST:PORT (or wss://), or several, comma-separated, for a replica group
  // ("ws://a:9900,ws://b:9900"): the same as the vector form below.
  explicit PolicyClient(const std::string& address, InferenceMode mode = InferenceMode::Remote,
                        ClientOptions options = {});
  // Several replicas of one policy (see "Several addresses" above); one address is the
  // single-server client.
  explicit PolicyClient(const std::vector<std::string>& addresses, InferenceMode mode = InferenceMode::Remote,
                        ClientOptions options = {});
  // RLlib's form: PolicyClient(address, InferenceMode::Local, update_interval_s).
  PolicyClient(const std::string& address, InferenceMode mode, double update_interval_s);
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
  // Multi-agent: one action per agent in `obs`; `action_masks` (agent id -> mask) for any of
  // them (1 = allowed; an agent without one may take any action).
  std::map<std::string, Action> get_action(const std::string& episode_id, const AgentObs& obs,
                                           const AgentObs& action_masks = {});
  void log_action(const std::string& episode_id, std::span<const float> obs, const Action& action);
  // Named components of Dict observation spaces (AgentNamedObs): the client flattens each
  // agent's components in the documented order (sorted keys, core/spaces.h) with the
  // observation space of the agent's policy (PolicySet::policy_for_agent over the server's
  // configuration: local mode has it; remote mode fetches it once, at the first named call)
  // and sends the flat vector. An unknown or missing component or a wrong size throws
  // RequestError("BadObservation", "GetAction(<ep>)", "agent 'a': component 'x' ...")
  // before anything is sent; an agent the mapping cannot place throws UnknownAgent.
  std::map<std::string, Action> get_action(const std::string& episode_id, const AgentNamedObs& obs,
                                           const AgentObs& action_masks = {});
  void log_action(const std::string& episode_id, const AgentNamedObs& obs,
                  const std::map<std::string, Action>& actions);
  void end_episode(const std::string& episode_id, const AgentNamedObs& obs, bool truncated = false,
                   const std::map<std::string, double>& custom_metrics = {});
  void log_returns(const std::string& episode_id, float reward);
  void log_returns(const std::string& episode_id, const std::map<std::string, float>& rewards,
                   const std::map<std::string, bool>& dones = {});
  void end_episode(const std::string& episode_id, std::span<const float> obs, bool truncated = false,
                   const std::map<std::string, double>& custom_metrics = {});
  void end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated = false,
                   const std::map<std::string, double>& custom_metrics = {});
  // Vectorised (policy_client/vector_step.h): every call of `s` in one frame and one round
  // trip, applied in order as if made singly. Throws RequestError for the first failed call
  // after the frame was applied.
  StepReply step(const VectorStep& s);
  // One action per environment (single agent), in one frame and one round trip.
  std::vector<Action> get_actions(std::span<const EpisodeObs> batch);
  // Waits for every outstanding reply (local: every buffered upload); throws the first
  // pipelined error.
  void flush();
  // The server's configuration (algorithm, policies, spaces, mapping) as JSON text.
  std::string get_config();
  int64_t reconnects() const;
  // Several addresses: how often a replica was declared gone and its episodes moved.
  int64_t failovers() const;
  InferenceMode mode() const;
  // Local mode: weight version, uploads, buffer and drop counters (remote: all defaults).
  LocalStats local_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  AgentObs flatten(const std::string& request, const AgentNamedObs& obs);
};

}  // namespace tandem::client
