// Agents routed to policy servers; see agent_routing.h.
#include "examples/agent_routing.h"

namespace tandem::examples {

std::map<std::string, client::InferenceMode> parse_inference_modes(
    const std::string& program, const std::vector<std::string>& inference,
    const std::vector<std::string>& urls) {
  // Inference mode per server URL ("" = the default for servers not named).
  std::map<std::string, client::InferenceMode> named{{"", client::InferenceMode::Remote}};
  for (const auto& m : inference) {
    const auto eq = m.rfind('=');
    const std::string url = eq == std::string::npos ? "" : m.substr(0, eq);
    const std::string v = eq == std::string::npos ? m : m.substr(eq + 1);
    if (v != "remote" && v != "local") {
      throw UsageError(program + ": --inference must be remote, local or URL=remote|local, got '" +
                       m + "'");
    }
    named[url] = v == "local" ? client::InferenceMode::Local : client::InferenceMode::Remote;
  }
  std::map<std::string, client::InferenceMode> out;
  for (const auto& url : urls) out[url] = named.count(url) ? named.at(url) : named.at("");
  return out;
}

Routing parse_routing(const std::string& program, const std::vector<std::string>& routes,
                      const std::vector<std::string>& inference,
                      const std::vector<std::string>& required_agents) {
  Routing r;
  for (const auto& route : routes) {
    const auto eq = route.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == route.size()) {
      throw UsageError(program + ": --route must be AGENT=URL, got '" + route + "'");
    }
    r.server_of_agent[route.substr(0, eq)] = route.substr(eq + 1);
  }
  for (const auto& agent : required_agents) {
    if (!r.server_of_agent.count(agent)) throw UsageError(program + ": no --route for " + agent);
  }
  std::vector<std::string> urls;
  for (const auto& [agent, url] : r.server_of_agent) urls.push_back(url);
  r.mode_of_server = parse_inference_modes(program, inference, urls);
  return r;
}

RoutedEpisode::RoutedEpisode(const Routing& routing, const client::ClientOptions& options)
    : routing_(routing) {
  for (const auto& [url, mode] : routing_.mode_of_server) {
    clients_[url] = std::make_unique<client::PolicyClient>(url, mode, options);
  }
}

void RoutedEpisode::start(bool training_enabled, bool explore) {
  for (auto& [url, c] : clients_)
    episode_[url] = c->start_episode(std::nullopt, training_enabled, explore);
}

std::map<std::string, std::map<sims::AgentId, sims::Obs>> RoutedEpisode::by_server(
    const sims::ObsDict& obs) const {
  std::map<std::string, std::map<sims::AgentId, sims::Obs>> out;
  for (const auto& [agent, o] : obs) out[routing_.server_of_agent.at(agent)][agent] = o;
  return out;
}

sims::ActionDict RoutedEpisode::get_action(const sims::ObsDict& obs) {
  sims::ActionDict actions;
  for (auto& [url, agents] : by_server(obs)) {
    for (auto& [agent, action] : clients_.at(url)->get_action(episode_.at(url), agents)) {
      actions[agent] = action.as_int();
    }
  }
  return actions;
}

void RoutedEpisode::log_returns(const std::map<sims::AgentId, float>& rewards) {
  std::map<std::string, std::map<std::string, float>> per_server;
  for (const auto& [agent, r] : rewards) per_server[routing_.server_of_agent.at(agent)][agent] = r;
  for (auto& [url, rw] : per_server) clients_.at(url)->log_returns(episode_.at(url), rw);
}

void RoutedEpisode::end(const sims::ObsDict& obs, bool truncated,
                        const std::map<std::string, double>& custom_metrics) {
  auto last = by_server(obs);
  for (auto& [url, c] : clients_)
    c->end_episode(episode_.at(url), last[url], truncated, custom_metrics);
}

void RoutedEpisode::flush() {
  for (auto& [url, c] : clients_) c->flush();
}

}  // namespace tandem::examples
