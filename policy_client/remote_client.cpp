// Remote inference: every PolicyClient call is a request on one Connection. GetAction,
// StartEpisode, GetConfig and a vectorised step wait for their reply. LogReturns, LogAction
// and EndEpisode are pipelined (no round trip of their own). LogReturns and LogAction are
// held in the client and travel in the frame of the next call (one VectorRequest: held
// calls first, in order, then that call), so a simulator loop of get_action + log_returns
// costs one frame each way per step. EndEpisode is sent at once, with what is held, so the
// server sees every ended episode without a further call; so are kMaxHeld held calls.
#include <mutex>
#include <utility>

#include "core/overload.h"
#include "core/request_checks.h"

#include "policy_client/client_backend.h"
#include "policy_client/connection.h"
#include "policy_client/request_builders.h"

namespace tandem::client {
namespace {

using requests::call_name;

class RemoteClient final : public ClientBackend {
 public:
  static constexpr size_t kMaxHeld = 64;
  static constexpr size_t kMaxHeldBytes = wire::kMaxFrameBytes / 4;  // room for the call that carries them

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
      // Not when the server is gone: reconnecting could take reconnect_timeout_s here.
      if (conn_.connected()) {
        send_held();
        conn_.drain();
      }
    } catch (...) {
    }
  }

  std::string start_episode(std::optional<std::string> episode_id, bool training_enabled, bool explore) override {
    std::lock_guard lk(mu_);
    const std::string id = episode_id ? *episode_id : new_episode_id(conn_.rng);
    return expect_reply<core::EpisodeStarted>(
               call(core::StartEpisode{id, training_enabled, explore}, call_name("StartEpisode", id)),
               call_name("StartEpisode", id))
        .episode_id;
  }

  std::map<std::string, Action> get_action(core::GetAction request) override {
    std::lock_guard lk(mu_);
    const auto what = call_name("GetAction", request.episode_id);
    auto reply = expect_reply<core::Actions>(call(request, what), what);
    return requests::actions_by_agent(request, std::move(reply), what);
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
    auto what = call_name("LogAction", request.episode_id);  // before the move
    hold(std::move(what), std::move(request));
  }
  void log_returns(core::LogReturns request) override {
    auto what = call_name("LogReturns", request.episode_id);
    hold(std::move(what), std::move(request));
  }
  // Sent at once (with what is held): the server sees an episode end without a further call.
  void end_episode(core::EndEpisode request) override {
    std::lock_guard lk(mu_);
    auto what = call_name("EndEpisode", request.episode_id);
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
    // One frame stays within the server's bounds (entries, agents, bytes): what is held goes
    // first when this call would not fit with it.
    const auto size = frame_size(request);
    if (held_agents_ + size.agents > core::kMaxAgentsPerVector || held_bytes_ + size.bytes > kMaxHeldBytes)
      send_held();
    held_.entries.push_back(std::move(request));
    held_names_.push_back(std::move(what));
    held_agents_ += size.agents;
    held_bytes_ += size.bytes;
    if (held_.entries.size() >= kMaxHeld) send_held();
  }

  struct FrameSize {
    size_t agents = 0, bytes = 0;  // bytes: an upper estimate of the encoded size
  };
  static FrameSize frame_size(const core::EpisodeRequest& r) {
    FrameSize s;
    auto add_agents = [&](const std::vector<core::AgentObs>& agents) {
      s.agents += agents.size();
      for (const auto& a : agents) s.bytes += 64 + a.agent_id.size() + 4 * (a.obs.size() + a.action_mask.size());
    };
    std::visit(core::Overload{[&](const core::GetAction& m) { add_agents(m.agents); },
                              [&](const core::LogAction& m) {
                                add_agents(m.agents);
                                for (const auto& a : m.actions)
                                  s.bytes += 64 + a.agent_id.size() + 8 * a.discrete.size() + 4 * a.continuous.size();
                              },
                              [&](const core::LogReturns& m) {
                                s.agents += m.rewards.size();
                                for (const auto& a : m.rewards) s.bytes += 48 + a.agent_id.size();
                              },
                              [&](const core::EndEpisode& m) { add_agents(m.agents); },
                              [&](const core::StartEpisode&) {}},
               r);
    s.bytes += 64 + core::episode_of(r).size();
    return s;
  }

  // Takes what is held out of the client (before anything can throw: a call is never sent
  // twice under two request ids).
  std::pair<core::VectorRequest, std::vector<std::string>> take_held() {
    held_agents_ = held_bytes_ = 0;
    return {std::exchange(held_, {}), std::exchange(held_names_, {})};
  }

  // The held calls, pipelined (one frame; a single call as itself).
  void send_held() {
    if (held_.entries.empty()) return;
    auto [v, names] = take_held();
    const uint64_t rid = conn_.next_id();
    if (v.entries.size() == 1)
      conn_.send(rid, core::to_request(std::move(v.entries.front())), std::move(names.front()));
    else
      conn_.send(rid, v, std::to_string(v.entries.size()) + " pipelined calls", std::move(names));
  }

  // A call that waits for its reply, with the held calls in front of it in the same frame.
  // The held calls' errors are kept for the next call; this call's reply is returned (an
  // Error thrown as RequestError).
  core::Reply call(core::EpisodeRequest request, const std::string& what) {
    conn_.throw_pending();  // before anything is sent: a failing call applies nothing
    const uint64_t rid = conn_.next_id();
    if (held_.entries.empty()) return conn_.call(rid, core::to_request(std::move(request)), what);
    const auto size = frame_size(request);
    if (held_agents_ + size.agents > core::kMaxAgentsPerVector || held_bytes_ + size.bytes > kMaxHeldBytes) {
      send_held();  // this call would not fit in one frame with them
      return conn_.call(conn_.next_id(), core::to_request(std::move(request)), what);
    }
    auto [v, names] = take_held();
    v.entries.push_back(std::move(request));
    names.push_back(what);
    const size_t n = v.entries.size();
    conn_.send(rid, v, std::to_string(n - 1) + " pipelined calls and " + what, names);
    auto frame_reply = conn_.wait(rid);
    // The frame refused whole (it should not be: the client keeps to the bounds).
    if (auto e = error_of(frame_reply, what)) throw *e;
    auto reply = expect_reply<core::VectorReply>(std::move(frame_reply), what);
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
  size_t held_agents_ = 0, held_bytes_ = 0;  // under mu_: what held_ adds to a frame
};

}  // namespace

std::unique_ptr<ClientBackend> make_remote_backend(const std::string& address, const ClientOptions& options) {
  return std::make_unique<RemoteClient>(address, options);
}

}  // namespace tandem::client
