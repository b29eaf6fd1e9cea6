#pragma once
// Agents of one simulation routed to several policy servers: the --route / --inference
// options of the multi-server examples (two_trainers, item_sale) and, per simulator thread,
// one PolicyClient per server with the episode calls split by server.
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "policy_client/policy_client.h"
#include "sims/multi_agent_env.h"

namespace tandem::examples {

// A bad command-line value; the message names the program and the value (exit code 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Routing {
  std::map<std::string, std::string> server_of_agent;           // agent id -> ws:// URL
  std::map<std::string, client::InferenceMode> mode_of_server;  // every routed URL -> its mode
};

// `inference`: remote | local (every server) or URL=remote|local (that server; later values
// win). Returns the mode of each of `urls`.
std::map<std::string, client::InferenceMode> parse_inference_modes(
    const std::string& program, const std::vector<std::string>& inference,
    const std::vector<std::string>& urls);

// `routes`: AGENT=URL each; `inference` as above. Every agent of `required_agents` must be
// routed.
Routing parse_routing(const std::string& program, const std::vector<std::string>& routes,
                      const std::vector<std::string>& inference,
                      const std::vector<std::string>& required_agents);

// One simulator thread's clients (one per server) and its current episode on each server.
class RoutedEpisode {
 public:
  RoutedEpisode(const Routing& routing, const client::ClientOptions& options);
  // Starts an episode on every server.
  void start(bool training_enabled, bool explore);
  // Each agent's observation goes to its server: one request per server.
  sims::ActionDict get_action(const sims::ObsDict& obs);
  void log_returns(const std::map<sims::AgentId, float>& rewards);
  // Ends the episode on every server with its agents' last observations.
  void end(const sims::ObsDict& obs, bool truncated,
           const std::map<std::string, double>& custom_metrics);
  // Waits for every pipelined reply; throws the first error.
  void flush();

 private:
  std::map<std::string, std::map<sims::AgentId, sims::Obs>> by_server(
      const sims::ObsDict& obs) const;

  const Routing& routing_;
  std::map<std::string, std::unique_ptr<client::PolicyClient>> clients_;  // URL -> client
  std::map<std::string, std::string> episode_;                            // URL -> episode id
};

}  // namespace tandem::examples
