#include "policy_client/policy_client.h"

#include "policy_client/client_backend.h"

namespace tandem::client {

namespace {
using core::kDefaultAgentId;

std::vector<core::AgentObs> agents_of(const AgentObs& obs) {
  std::vector<core::AgentObs> out;
  out.reserve(obs.size());
  for (const auto& [id, o] : obs) out.push_back({id, o, {}});
  return out;
}
}  // namespace

struct PolicyClient::Impl {
  InferenceMode mode = InferenceMode::Remote;
  std::unique_ptr<ClientBackend> backend;
};

PolicyClient::PolicyClient(const std::string& address, InferenceMode mode, ClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->mode = mode;
  if (mode == InferenceMode::Remote) {
    impl_->backend = make_remote_backend(address, options);
    return;
  }
  if (!make_local_backend)
    throw std::logic_error(
        "InferenceMode::Local needs the local-inference library: link tandem_client_local");
  impl_->backend = make_local_backend(address, options);
}

PolicyClient::PolicyClient(const std::string& address, InferenceMode mode, double update_interval_s)
    : PolicyClient(address, mode, [&] {
        ClientOptions o;
        o.update_interval_s = update_interval_s;
        return o;
      }()) {}

PolicyClient::~PolicyClient() = default;

std::string PolicyClient::start_episode(std::optional<std::string> episode_id, bool training_enabled,
                                        bool explore) {
  return impl_->backend->start_episode(std::move(episode_id), training_enabled, explore);
}

Action PolicyClient::get_action(const std::string& episode_id, std::span<const float> obs,
                                std::span<const float> action_mask) {
  core::GetAction r{episode_id, {{kDefaultAgentId, {obs.begin(), obs.end()}, {action_mask.begin(), action_mask.end()}}}};
  return impl_->backend->get_action(std::move(r)).at(kDefaultAgentId);
}

std::map<std::string, Action> PolicyClient::get_action(const std::string& episode_id, const AgentObs& obs) {
  return impl_->backend->get_action(core::GetAction{episode_id, agents_of(obs)});
}

void PolicyClient::log_action(const std::string& episode_id, std::span<const float> obs, const Action& action) {
  impl_->backend->log_action(core::LogAction{episode_id,
                                             {{kDefaultAgentId, {obs.begin(), obs.end()}, {}}},
                                             {{kDefaultAgentId, action.discrete, action.continuous}}});
}

void PolicyClient::log_returns(const std::string& episode_id, float reward) {
  impl_->backend->log_returns(core::LogReturns{episode_id, {{kDefaultAgentId, reward, false}}});
}

void PolicyClient::log_returns(const std::string& episode_id, const std::map<std::string, float>& rewards,
                               const std::map<std::string, bool>& dones) {
  core::LogReturns r{episode_id, {}};
  for (const auto& [id, v] : rewards) {
    auto it = dones.find(id);
    r.rewards.push_back({id, v, it != dones.end() && it->second});
  }
  for (const auto& [id, d] : dones)
    if (!rewards.count(id)) r.rewards.push_back({id, 0.f, d});
  impl_->backend->log_returns(std::move(r));
}

void PolicyClient::end_episode(const std::string& episode_id, std::span<const float> obs, bool truncated,
                               const std::map<std::string, double>& custom_metrics) {
  end_episode(episode_id, AgentObs{{kDefaultAgentId, std::vector<float>(obs.begin(), obs.end())}}, truncated,
              custom_metrics);
}

void PolicyClient::end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated,
                               const std::map<std::string, double>& custom_metrics) {
  core::EndEpisode r{episode_id, agents_of(obs), truncated, {}};
  for (const auto& [k, v] : custom_metrics) r.custom_metrics.push_back({k, v});
  impl_->backend->end_episode(std::move(r));
}

void PolicyClient::flush() { impl_->backend->flush(); }
std::string PolicyClient::get_config() { return impl_->backend->config_json(); }
int64_t PolicyClient::reconnects() const { return impl_->backend->reconnects(); }
InferenceMode PolicyClient::mode() const { return impl_->mode; }
LocalStats PolicyClient::local_stats() const { return impl_->backend->local_stats(); }

}  // namespace tandem::client
