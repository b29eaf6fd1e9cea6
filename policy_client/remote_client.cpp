// Remote inference: every PolicyClient call is a request on one Connection. GetAction,
// StartEpisode, GetConfig and a vectorised step wait for their reply. LogReturns, LogAction
// and EndEpisode are pipelined (no round trip of their own). LogReturns and LogAction are
// held in the client and travel in the frame of the next call (one VectorRequest: held
// calls first, in order, then that call), so a simulator loop of get_action + log_returns
// costs one frame each way per step. EndEpisode is sent at once, with what is held, so the
// server sees every ended episode without a further call; so are kMaxHeld held calls.
#include <mutex>

#include "policy_client/client_backend.h"
#include "policy_client/connection.h"

namespace tandem::client {
namespace {

std::string named(const char* what, const std::string& episode_id) {
  return std::string(what) + "(" + episode_id + ")";
}

class RemoteClient final : public ClientBackend {
 public:
  static constexpr size_t kMaxHeld = 64;

  RemoteClient(const std::string& address, const ClientOptions& o)
      : conn_(address, o) {
    conn_.reconnect("connecting");
    conn_.reconnects = 0;
  }
  ~RemoteClient() override {
    try {
      std::lock_guard lk(mu_);
      // Let pipelined requests land before closing: the server then loses nothing when the
      // socket ends (Connection's destructor closes without a handshake).
      send_held();
      if (conn_.connected()) conn_.drain();
    } catch (...) {
    }
  }

  std::string start_episode(std::optional<std::string> episode_id, bool training_enabled, bool explore) override {
    std::lock_guard lk(mu_);
    const std::string id = episode_id ? *episode_id : new_episode_id(conn_.rng);
    return expect_reply<core::EpisodeStarted>(
               call(core::StartEpisode{id, training_enabled, explore}, named("StartEpisode", id)),
               named("StartEpisode", id))
        .episode_id;
  }

  std::map<std::string, Action> get_action(core::GetAction request) override {
    std::lock_guard lk(mu_);
    const auto what = named("GetAction", request.episode_id);
    auto reply = expect_reply<core::Actions>(call(request, what), what);
    std::map<std::string, Action> out;
    for (auto& a : reply.actions) out[a.agent_id] = Action{std::move(a.discrete), std::move(a.continuous)};
    for (const auto& a : request.agents)
      if (!out.count(a.agent_id))
        throw ConnectionError("server answered " + what + " without an action for agent '" + a.agent_id + "'");
    return out;
  }

  // One frame, one round trip; the server applies the entries in order.
  core::VectorReply step(const core::VectorRequest& request) override {
    std::lock_guard lk(mu_);
    send_held();
    const uint64_t rid = conn_.next_id();
    return conn_.call_as<core::VectorReply>(
        rid, request, "VectorRequest(" + std::to_string(request.entries.size()) + " entries)");
  }

  void log_action(core::LogAction request) override {
    auto what = named("LogAction", request.episode_id);  // before the move
    hold(std::move(what), std::move(request));
  }
  void log_returns(core::LogReturns request) override {
    auto what = named("LogReturns", request.episode_id);
    hold(std::move(what), std::move(request));
  }
  // Sent at once (with what is held): the server sees an episode end without a further call.
  void end_episode(core::EndEpisode request) override {
    std::lock_guard lk(mu_);
    auto what = named("EndEpisode", request.episode_id);
    hold_locked(std::move(what), std::move(request));
    send_held();
  }

  void flush() override {
    std::lock_guard lk(mu_);
    send_held();
    conn_.drain();
    conn_.throw_pending();
  }
  std::string config_json() override {
    std::lock_guard lk(mu_);
    send_held();
    const uint64_t rid = conn_.next_id();
    return conn_.call_as<core::Config>(rid, core::GetConfig{}, "GetConfig").json;
  }
  int64_t reconnects() const override {
    std::lock_guard lk(mu_);
    return conn_.reconnects;
  }

 private:
  // A pipelined call: no round trip of its own. Its reply (Ack or Error) is read by a later
  // call; an Error is thrown by the first call that starts after it arrived.
  void hold(std::string what, core::EpisodeRequest request) {
    std::lock_guard lk(mu_);
    hold_locked(std::move(what), std::move(request));
  }
  void hold_locked(std::string what, core::EpisodeRequest request) {
    conn_.throw_pending();
    held_.entries.push_back(std::move(request));
    held_names_.push_back(std::move(what));
    if (held_.entries.size() >= kMaxHeld) send_held();
  }

  // The held calls, pipelined (one frame; a single call as itself).
  void send_held() {
    if (held_.entries.empty()) return;
    const uint64_t rid = conn_.next_id();
    if (held_.entries.size() == 1)
      conn_.send(rid, core::to_request(std::move(held_.entries.front())), std::move(held_names_.front()));
    else
      conn_.send(rid, held_, std::to_string(held_.entries.size()) + " pipelined calls", std::move(held_names_));
    held_.entries.clear();
    held_names_.clear();
  }

  // A call that waits for its reply, with the held calls in front of it in the same frame.
  // The held calls' errors are kept for the next call; this call's reply is returned (an
  // Error thrown as RequestError).
  core::Reply call(core::EpisodeRequest request, const std::string& what) {
    conn_.throw_pending();  // before anything is sent: a failing call applies nothing
    const uint64_t rid = conn_.next_id();
    if (held_.entries.empty()) return conn_.call(rid, core::to_request(std::move(request)), what);
    held_.entries.push_back(std::move(request));
    held_names_.push_back(what);
    core::VectorRequest v = std::move(held_);
    auto names = std::move(held_names_);
    held_.entries.clear();
    held_names_.clear();
    const size_t n = v.entries.size();
    conn_.send(rid, v, std::to_string(n - 1) + " pipelined calls and " + what, names);
    auto reply = expect_reply<core::VectorReply>(conn_.wait(rid), what);
    if (reply.replies.size() != n)
      throw ConnectionError("server answered " + what + " (with " + std::to_string(n - 1) +
                            " pipelined calls) with " + std::to_string(reply.replies.size()) + " replies");
    for (size_t i = 0; i + 1 < n; ++i)
      if (const auto* e = std::get_if<core::Error>(&reply.replies[i]))
        conn_.keep(RequestError(core::error_code_name(e->code), names[i], e->message));
    core::Reply mine = std::visit([](auto&& r) -> core::Reply { return std::move(r); }, std::move(reply.replies.back()));
    if (auto e = error_of(mine, what)) throw *e;
    return mine;
  }

  mutable std::mutex mu_;
  Connection conn_;                      // under mu_
  core::VectorRequest held_;             // under mu_: pipelined calls not sent yet
  std::vector<std::string> held_names_;  // under mu_: their names, for errors
};

}  // namespace

std::unique_ptr<ClientBackend> make_remote_backend(const std::string& address, const ClientOptions& options) {
  return std::make_unique<RemoteClient>(address, options);
}

}  // namespace tandem::client
