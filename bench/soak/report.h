#pragma once
// The soak's report: the per-kind table (clients, connections, requests, errors, steps,
// episodes, resends; Error replies by code), the server's RSS over time, and the table of
// checks (server alive, /healthz, SIGTERM exit code, RSS bound, finite weights, training
// advanced, exact step/episode/open-episode accounting, io errors, client failures).
//
// Thread rules: main's thread only, after every client is joined and the sampler stopped.
#include <cstdint>
#include <string>
#include <vector>

#include "server_child.h"

namespace tandem::soak {

// What main measured; the counters in run_state hold the clients' side.
struct Figures {
  int clients = 0;
  double soak_s = 0, clients_done_s = 0;
  bool server_died = false;
  int healthz = 0;    // status of GET /healthz at the end
  int exit_code = 0;  // on SIGTERM (-2: the server had died)
  int64_t rss_start = 0, rss_warm = 0;
  double rss_factor = 2.0;
  std::vector<RssSampler::Sample> rss;
  std::string weights_problem;  // "" when the served weights are finite
  int64_t weights_version = -1;
  double iter_warm = 0;   // training_iteration after warm-up
  std::string m_end;      // /metrics at the end
  int64_t exp_steps = 0, exp_episodes = 0;  // as counted by the clients
  double srv_steps = 0, srv_eps = 0;        // as counted by the server
};

// Prints the tables, the checks and the first client failures; true when every check passed.
bool print_report(const Figures& f);

}  // namespace tandem::soak
