#pragma once
// Everything a running server shares between its sessions, batchers and learner.
#include <atomic>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "algorithms/policy.h"
#include "policy_server/episode_registry.h"
#include "policy_server/inference_batcher.h"
#include "policy_server/report_samples.h"
#include "policy_server/run_stats.h"
#include "policy_server/sample_queue.h"
#include "policy_server/server_config.h"

namespace tandem::server {

struct ServerContext {
  ServerContext(ServerConfig cfg, boost::asio::io_context& ioc);

  ServerConfig config;
  boost::asio::io_context& ioc;
  RunStats stats;
  SampleQueue samples;
  EpisodeRegistry episodes;
  std::vector<std::unique_ptr<algo::Algorithm>> algorithms;  // one per policy, same order as config.policies
  std::vector<std::unique_ptr<InferenceBatcher>> batchers;   // one per policy
  std::atomic<int64_t> training_iteration{0};
  std::atomic<double> time_total_s{0};
  RecentRequests reports;                                    // ReportSamples already applied
  std::string config_json;                                   // GetConfig reply, built once
};

}  // namespace tandem::server
