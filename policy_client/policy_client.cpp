#include "policy_client/policy_client.h"

#include <cstdio>

#include "policy_client/connection.h"
#include "policy_client/local_worker.h"
#include "schemas/codec.h"

namespace tandem::client {

namespace fb = wire::fb;

// Remote mode: `conn` under `mu`. Local mode: `local` (thread-safe itself).
struct PolicyClient::Impl {
  InferenceMode mode = InferenceMode::Remote;
  std::mutex mu;
  std::unique_ptr<Connection> conn;
  std::unique_ptr<LocalWorker> local;
};

PolicyClient::PolicyClient(const std::string& address, InferenceMode mode, ClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->mode = mode;
  if (mode == InferenceMode::Local) {
    impl_->local = std::make_unique<LocalWorker>(address, options);
    return;
  }
  impl_->conn = std::make_unique<Connection>(address, options.reconnect_timeout_s);
  impl_->conn->reconnect("connecting");
  impl_->conn->reconnects = 0;
}

PolicyClient::PolicyClient(const std::string& address, InferenceMode mode, double update_interval_s)
    : PolicyClient(address, mode, [&] {
        ClientOptions o;
        o.update_interval_s = update_interval_s;
        return o;
      }()) {}

PolicyClient::~PolicyClient() {
  if (!impl_->conn) return;
  try {
    std::lock_guard lk(impl_->mu);
    // Let pipelined requests land before closing: the server then loses nothing when the
    // socket ends (Connection's destructor closes without a handshake).
    if (impl_->conn->connected()) impl_->conn->drain();
  } catch (...) {
  }
}

std::string PolicyClient::start_episode(std::optional<std::string> episode_id,
                                        bool training_enabled, bool explore) {
  if (impl_->local) return impl_->local->start_episode(std::move(episode_id), training_enabled, explore);
  std::lock_guard lk(impl_->mu);
  auto& c = *impl_->conn;
  const std::string id = episode_id ? *episode_id : new_episode_id(c.rng);
  const uint64_t rid = c.next_id();
  auto reply = c.call(rid, wire::encode_start_episode(rid, id, training_enabled, explore),
                      "StartEpisode(" + id + ")");
  return std::string(wire::view(fb::GetEnvelope(reply.data())->message_as_EpisodeStarted()->episode_id()));
}

namespace {
Action to_action(const fb::AgentAction* a) {
  Action out;
  auto d = wire::view(a->discrete());
  auto c = wire::view(a->continuous());
  out.discrete.assign(d.begin(), d.end());
  out.continuous.assign(c.begin(), c.end());
  return out;
}

// An absent agent id is RLlib's single agent.
constexpr const char* kAgent0 = "agent0";
}  // namespace

Action PolicyClient::get_action(const std::string& episode_id, std::span<const float> obs,
                                std::span<const float> action_mask) {
  if (impl_->local) {
    AgentObs o{{kAgent0, std::vector<float>(obs.begin(), obs.end())}};
    return impl_->local->get_action(episode_id, o, action_mask).at(kAgent0);
  }
  std::lock_guard lk(impl_->mu);
  auto& c = *impl_->conn;
  const uint64_t rid = c.next_id();
  wire::AgentObsView v{kAgent0, obs, action_mask};
  auto reply = c.call(rid, wire::encode_get_action(rid, episode_id, {&v, 1}),
                      "GetAction(" + episode_id + ")");
  const auto* acts = fb::GetEnvelope(reply.data())->message_as_Actions();
  if (!acts || !acts->actions() || acts->actions()->size() != 1)
    throw ConnectionError("server replied to GetAction without exactly one action");
  return to_action(acts->actions()->Get(0));
}

std::map<std::string, Action> PolicyClient::get_action(const std::string& episode_id,
                                                       const AgentObs& obs) {
  if (impl_->local) return impl_->local->get_action(episode_id, obs);
  std::lock_guard lk(impl_->mu);
  auto& c = *impl_->conn;
  const uint64_t rid = c.next_id();
  std::vector<wire::AgentObsView> views;
  for (const auto& [id, o] : obs) views.push_back({id, o});
  auto reply = c.call(rid, wire::encode_get_action(rid, episode_id, views),
                      "GetAction(" + episode_id + ")");
  const auto* acts = fb::GetEnvelope(reply.data())->message_as_Actions();
  std::map<std::string, Action> out;
  if (acts && acts->actions())
    for (const auto* a : *acts->actions()) out[std::string(wire::view(a->agent_id()))] = to_action(a);
  return out;
}

void PolicyClient::log_action(const std::string& episode_id, std::span<const float> obs,
                              const Action& action) {
  if (impl_->local) {
    impl_->local->log_action(episode_id, {{kAgent0, std::vector<float>(obs.begin(), obs.end())}},
                             {{kAgent0, action}});
    return;
  }
  std::lock_guard lk(impl_->mu);
  auto& c = *impl_->conn;
  c.throw_pending();
  const uint64_t rid = c.next_id();
  wire::AgentObsView v{kAgent0, obs};
  wire::AgentActionView a{kAgent0, action.discrete, action.continuous};
  c.send(wire::encode_log_action(rid, episode_id, {&v, 1}, {&a, 1}), rid,
         "LogAction(" + episode_id + ")");
}

void PolicyClient::log_returns(const std::string& episode_id, float reward) {
  log_returns(episode_id, std::map<std::string, float>{{kAgent0, reward}});
}

void PolicyClient::log_returns(const std::string& episode_id,
                               const std::map<std::string, float>& rewards,
                               const std::map<std::string, bool>& dones) {
  if (impl_->local) return impl_->local->log_returns(episode_id, rewards, dones);
  std::lock_guard lk(impl_->mu);
  auto& c = *impl_->conn;
  c.throw_pending();
  const uint64_t rid = c.next_id();
  std::vector<wire::AgentRewardView> v;
  for (const auto& [id, r] : rewards) {
    auto it = dones.find(id);
    v.push_back({id, r, it != dones.end() && it->second});
  }
  for (const auto& [id, d] : dones)
    if (!rewards.count(id)) v.push_back({id, 0.f, d});
  c.send(wire::encode_log_returns(rid, episode_id, v), rid, "LogReturns(" + episode_id + ")");
}

void PolicyClient::end_episode(const std::string& episode_id, std::span<const float> obs,
                               bool truncated, const std::map<std::string, double>& custom_metrics) {
  end_episode(episode_id, AgentObs{{kAgent0, std::vector<float>(obs.begin(), obs.end())}}, truncated,
              custom_metrics);
}

void PolicyClient::end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated,
                               const std::map<std::string, double>& custom_metrics) {
  if (impl_->local) return impl_->local->end_episode(episode_id, obs, truncated, custom_metrics);
  std::lock_guard lk(impl_->mu);
  auto& c = *impl_->conn;
  c.throw_pending();
  const uint64_t rid = c.next_id();
  std::vector<wire::AgentObsView> views;
  for (const auto& [id, o] : obs) views.push_back({id, o});
  std::vector<wire::MetricView> ms;
  for (const auto& [k, v] : custom_metrics) ms.push_back({k, v});
  c.send(wire::encode_end_episode(rid, episode_id, views, truncated, ms), rid,
         "EndEpisode(" + episode_id + ")");
}

void PolicyClient::flush() {
  if (impl_->local) return impl_->local->flush();
  std::lock_guard lk(impl_->mu);
  impl_->conn->drain();
  impl_->conn->throw_pending();
}

std::string PolicyClient::get_config() {
  if (impl_->local) return impl_->local->config_json();
  std::lock_guard lk(impl_->mu);
  auto& c = *impl_->conn;
  const uint64_t rid = c.next_id();
  auto reply = c.call(rid, wire::encode_get_config(rid), "GetConfig");
  return std::string(wire::view(fb::GetEnvelope(reply.data())->message_as_Config()->json()));
}

int64_t PolicyClient::reconnects() const {
  if (impl_->local) return impl_->local->stats().reconnects;
  std::lock_guard lk(impl_->mu);
  return impl_->conn->reconnects;
}

InferenceMode PolicyClient::mode() const { return impl_->mode; }

LocalStats PolicyClient::local_stats() const {
  return impl_->local ? impl_->local->stats() : LocalStats{};
}

}  // namespace tandem::client
