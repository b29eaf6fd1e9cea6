// Remote inference: every PolicyClient call is one request on one Connection; GetAction
// (and StartEpisode, GetConfig, a vectorised step) wait for their reply, the others are
// pipelined.
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
      if (conn_.connected()) conn_.drain();
    } catch (...) {
    }
  }

  std::string start_episode(std::optional<std::string> episode_id, bool training_enabled, bool explore) override {
    std::lock_guard lk(mu_);
    const std::string id = episode_id ? *episode_id : new_episode_id(conn_.rng);
    const uint64_t rid = conn_.next_id();
    return conn_.call_as<core::EpisodeStarted>(rid, core::StartEpisode{id, training_enabled, explore},
                                               named("StartEpisode", id))
        .episode_id;
  }

  std::map<std::string, Action> get_action(core::GetAction request) override {
    std::lock_guard lk(mu_);
    const uint64_t rid = conn_.next_id();
    const auto what = named("GetAction", request.episode_id);
    auto reply = conn_.call_as<core::Actions>(rid, request, what);
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
    const uint64_t rid = conn_.next_id();
    return conn_.call_as<core::VectorReply>(
        rid, request, "VectorRequest(" + std::to_string(request.entries.size()) + " entries)");
  }

  void log_action(core::LogAction request) override { pipeline(request.episode_id, "LogAction", std::move(request)); }
  void log_returns(core::LogReturns request) override { pipeline(request.episode_id, "LogReturns", std::move(request)); }
  void end_episode(core::EndEpisode request) override { pipeline(request.episode_id, "EndEpisode", std::move(request)); }

  void flush() override {
    std::lock_guard lk(mu_);
    conn_.drain();
    conn_.throw_pending();
  }
  std::string config_json() override {
    std::lock_guard lk(mu_);
    const uint64_t rid = conn_.next_id();
    return conn_.call_as<core::Config>(rid, core::GetConfig{}, "GetConfig").json;
  }
  int64_t reconnects() const override {
    std::lock_guard lk(mu_);
    return conn_.reconnects;
  }

 private:
  // No round trip of its own: the reply (Ack or Error) is read by a later call.
  void pipeline(std::string episode_id, const char* what, core::Request request) {
    std::lock_guard lk(mu_);
    conn_.throw_pending();
    const uint64_t rid = conn_.next_id();
    conn_.send(rid, request, named(what, episode_id));
  }

  mutable std::mutex mu_;
  Connection conn_;  // under mu_
};

}  // namespace

std::unique_ptr<ClientBackend> make_remote_backend(const std::string& address, const ClientOptions& options) {
  return std::make_unique<RemoteClient>(address, options);
}

}  // namespace tandem::client
