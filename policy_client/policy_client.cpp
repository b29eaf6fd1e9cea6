#include "policy_client/policy_client.h"

#include <nlohmann/json.hpp>

#include "core/named_obs.h"
#include "core/policy_set.h"
#include "core/text.h"

#include "policy_client/client_backend.h"
#include "policy_client/replica_router.h"
#include "policy_client/request_builders.h"
#include "policy_client/vector_step.h"

namespace tandem::client {

using core::kDefaultAgentId;

struct PolicyClient::Impl {
  InferenceMode mode = InferenceMode::Remote;
  std::unique_ptr<ClientBackend> backend;
  // The server's policies, read at the first call with named components (GetConfig).
  std::mutex policies_mutex;
  std::optional<core::PolicySet> policies;
};

PolicyClient::PolicyClient(const std::string& address, InferenceMode mode, ClientOptions options)
    : PolicyClient(address.find(',') == std::string::npos ? std::vector<std::string>{address}
                                                          : split_addresses(address),
                   mode, std::move(options)) {}

PolicyClient::PolicyClient(const std::vector<std::string>& addresses, InferenceMode mode, ClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->mode = mode;
  if (addresses.empty()) throw std::invalid_argument("PolicyClient: no server address");
  if (mode == InferenceMode::Remote) {
    impl_->backend = addresses.size() == 1 ? make_remote_backend(addresses.front(), options)
                                           : make_replica_backend(addresses, options);
    return;
  }
  if (!make_local_backend)
    throw std::logic_error(
        "InferenceMode::Local needs the local-inference library: link tandem_client_local");
  impl_->backend = make_local_backend(addresses, options);
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
  return impl_->backend->get_action(requests::get_action(episode_id, obs, action_mask)).at(kDefaultAgentId);
}

std::map<std::string, Action> PolicyClient::get_action(const std::string& episode_id, const AgentObs& obs,
                                                       const AgentObs& action_masks) {
  return impl_->backend->get_action(core::GetAction{episode_id, requests::agents_of(obs, action_masks)});
}

void PolicyClient::log_action(const std::string& episode_id, std::span<const float> obs, const Action& action) {
  impl_->backend->log_action(requests::log_action(episode_id, obs, action));
}

void PolicyClient::log_returns(const std::string& episode_id, float reward) {
  impl_->backend->log_returns(requests::log_returns(episode_id, reward));
}

void PolicyClient::log_returns(const std::string& episode_id, const std::map<std::string, float>& rewards,
                               const std::map<std::string, bool>& dones) {
  impl_->backend->log_returns(requests::log_returns(episode_id, rewards, dones));
}

void PolicyClient::end_episode(const std::string& episode_id, std::span<const float> obs, bool truncated,
                               const std::map<std::string, double>& custom_metrics) {
  end_episode(episode_id, requests::single_agent(obs), truncated, custom_metrics);
}

void PolicyClient::end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated,
                               const std::map<std::string, double>& custom_metrics) {
  impl_->backend->end_episode(requests::end_episode(episode_id, obs, truncated, custom_metrics));
}

AgentObs PolicyClient::flatten(const std::string& request, const AgentNamedObs& obs) {
  const core::PolicySet* set = nullptr;
  {
    std::lock_guard lock(impl_->policies_mutex);
    if (!impl_->policies)
      impl_->policies = core::read_policies(nlohmann::json::parse(impl_->backend->config_json()), core::AlgoConfig{});
    set = &*impl_->policies;
  }
  AgentObs flat;
  for (const auto& [agent_id, named] : obs) {
    const int p = set->policy_for_agent(agent_id);
    if (p < 0)
      throw RequestError("UnknownAgent", request,
                         "agent " + core::quote(agent_id) + ": the policy mapping places no policy");
    auto& out = flat[agent_id];
    if (auto st = core::flatten_named(set->spec(p).observation_space, named, out); !st.ok())
      throw RequestError(core::error_code_name(st.code), request, "agent " + core::quote(agent_id) + ": " + st.message);
  }
  return flat;
}

std::map<std::string, Action> PolicyClient::get_action(const std::string& episode_id, const AgentNamedObs& obs,
                                                       const AgentObs& action_masks) {
  return get_action(episode_id, flatten(requests::call_name("GetAction", episode_id), obs), action_masks);
}

void PolicyClient::log_action(const std::string& episode_id, const AgentNamedObs& obs,
                              const std::map<std::string, Action>& actions) {
  const auto flat = flatten(requests::call_name("LogAction", episode_id), obs);
  core::LogAction r{episode_id, requests::agents_of(flat), {}};
  for (const auto& a : r.agents) {
    auto it = actions.find(a.agent_id);
    if (it == actions.end())
      throw RequestError("BadAction", requests::call_name("LogAction", episode_id),
                         "no action for agent " + core::quote(a.agent_id));
    r.actions.push_back({a.agent_id, it->second.discrete, it->second.continuous});
  }
  impl_->backend->log_action(std::move(r));
}

void PolicyClient::end_episode(const std::string& episode_id, const AgentNamedObs& obs, bool truncated,
                               const std::map<std::string, double>& custom_metrics) {
  end_episode(episode_id, flatten(requests::call_name("EndEpisode", episode_id), obs), truncated, custom_metrics);
}

StepReply PolicyClient::step(const VectorStep& s) {
  if (s.empty()) return {};
  return to_step_reply(s.request(), impl_->backend->step(s.request()));
}

std::vector<Action> PolicyClient::get_actions(std::span<const EpisodeObs> batch) {
  VectorStep s;
  for (const auto& e : batch) s.get_action(e.episode_id, e.obs, e.action_mask);
  auto r = step(s);
  std::vector<Action> out;
  out.reserve(batch.size());
  for (size_t k = 0; k < batch.size(); ++k) out.push_back(r.action(k));
  return out;
}

void PolicyClient::flush() { impl_->backend->flush(); }
std::string PolicyClient::get_config() { return impl_->backend->config_json(); }
int64_t PolicyClient::reconnects() const { return impl_->backend->reconnects(); }
int64_t PolicyClient::failovers() const { return impl_->backend->failovers(); }
InferenceMode PolicyClient::mode() const { return impl_->mode; }
LocalStats PolicyClient::local_stats() const { return impl_->backend->local_stats(); }

}  // namespace tandem::client
