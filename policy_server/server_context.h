#pragma once
// What a running server shares between its sessions, batchers and learner. Owned by Server;
// components take the parts they need (the registry a PolicyResolver, the batchers the
// policy table, the stats and the sample queue).
#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "algorithms/replica_group.h"
#include "core/offline_input.h"
#include "policy_server/episode_registry.h"
#include "policy_server/policy_table.h"
#include "policy_server/report_tally.h"
#include "policy_server/request_ledger.h"
#include "policy_server/run_stats.h"
#include "policy_server/experience_output.h"
#include "policy_server/sample_queue.h"
#include "policy_server/server_config.h"

namespace tandem::server {

struct ServerContext {
  ServerContext(ServerConfig cfg, boost::asio::io_context& ioc);

  ServerConfig config;
  boost::asio::io_context& ioc;
  RunStats stats;
  SampleQueue samples;
  std::unique_ptr<ExperienceOutput> output;  // config "output": experience as JSON lines
  std::unique_ptr<core::League> league;  // config "league": seats episodes, adds snapshots
  PolicyTable policies;
  EpisodeRegistry episodes;
  RequestLedger ledger;
  ReportTally reports;        // local-inference episodes: what their ReportSamples added up to
  double max_abs_reward = 0;  // the largest of the policies' max_abs_reward
  std::atomic<int64_t> training_iteration{0};
  std::atomic<double> time_total_s{0};
  std::string config_json;  // GetConfig reply, built once
  // Config "input": each policy's offline rows, read at start (empty for a policy that is
  // not trained, and for every policy without "input"). Read-only after the constructor.
  std::vector<core::OfflineData> offline;
  std::atomic<int64_t> offline_rows_total{0};  // offline rows trained on so far (timesteps_total offline)
  // A replica group (config group_size > 1; policy_server/replica_setup.h), formed before
  // serving; the learner thread uses it. Broken: training stopped, serving goes on.
  std::unique_ptr<algo::ReplicaGroup> group;
  std::atomic<bool> group_broken{false};
  // Rank 0: the group's counters at its newest result row, for its checkpoints (learner thread).
  struct GroupTotals {
    int64_t timesteps_total = 0, agent_timesteps_total = 0, episodes_total = 0;
  };
  std::optional<GroupTotals> group_totals;
};

}  // namespace tandem::server
