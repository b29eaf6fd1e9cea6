#include "policy_server/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <boost/asio/executor_work_guard.hpp>

#include "algorithms/scripted_model.h"
#include "core/model_description.h"
#include "policy_server/checkpoint.h"
#include "policy_server/inference_batcher.h"
#include "policy_server/learner.h"
#include "policy_server/offline_sampler.h"
#include "policy_server/replica_setup.h"
#include "policy_server/request_handler.h"
#include "policy_server/listener.h"
#include "policy_server/static_files.h"
#include "policy_server/tls_context.h"
#include "schemas/codec.h"

namespace tandem::server {

ServerContext::ServerContext(ServerConfig cfg, boost::asio::io_context& ctx_ioc)
    : config(std::move(cfg)),
      ioc(ctx_ioc),
      stats(config.metrics_num_episodes_for_smoothing),
      samples(config.policies.size()),
      league(config.league ? std::make_unique<core::League>(*config.league, config.seed) : nullptr),
      policies(config.policy_set()),
      episodes(policies, config.max_open_episodes, config.seed, config.max_episodes_per_client, league.get()),
      reports(config.max_open_episodes, config.max_episodes_per_client) {
  for (const auto& p : config.policies) max_abs_reward = std::max(max_abs_reward, p.config.max_abs_reward);
  if (!config.output.dir.empty()) {
    std::vector<std::string> ids;
    std::vector<core::Space> actions;
    for (const auto& p : config.policies) {
      ids.push_back(p.policy_id);
      actions.push_back(p.action_space);
    }
    output = std::make_unique<ExperienceOutput>(
        config.output,
        std::move(ids), std::move(actions));
    samples.set_output(output.get());
  }
}

Server::Server(ServerConfig cfg) : ioc_(std::make_unique<boost::asio::io_context>()) {
  algo::set_torch_num_threads(1);
  // Replicas of a group sample their own actions (rank 0 sends its weights to the others).
  if (cfg.group.active()) cfg.seed += 1000003ULL * static_cast<uint64_t>(cfg.group.rank);
  ctx_ = std::make_unique<ServerContext>(std::move(cfg), *ioc_);
  handler_ = std::make_unique<RequestHandler>(*ctx_);
  const auto& c = ctx_->config;
  for (size_t i = 0; i < c.policies.size(); ++i) {
    const int p = static_cast<int>(i);
    if (c.policies[i].script)  // scripted: served from the request core, never trained
      ctx_->policies.freeze(p, algo::make_scripted_model(c.policies[i]));
    else
      ctx_->policies.set_algorithm(p, algo::make_algorithm(c.algorithm, c.policies[i], c.seed + 1000 * i));
    ctx_->policies.batcher_slot(p) = std::make_unique<InferenceBatcher>(
        *ioc_, ctx_->policies, p, c.seed + 17 + i, ctx_->stats,
        [h = handler_.get()](const std::shared_ptr<PendingAction>& r) { h->complete(r); },
        &ctx_->samples);
    if (c.train && c.input.empty() && c.sample_backpressure && c.is_trained(c.policies[i].policy_id)) {
      // In a replica group a replica may collect the whole group's batch (a partner may be
      // idle), but while the group trains only its own share (group_learner.cpp).
      const int64_t share = c.policies[i].config.train_batch_size;
      const int64_t batch = share * c.group.size;
      ctx_->samples.set_hold(p, batch, c.sample_ahead_steps < 0 ? share : c.sample_ahead_steps);
    }
  }
  // Offline training (config "input"): the rows are read now, so that a bad file stops the
  // start; simulators are served but their steps are not trained on.
  ctx_->samples.set_accepting(c.train && c.input.empty());
  if (c.train && !c.input.empty()) load_offline_input(*ctx_);
  if (c.train && c.input.empty())  // an offline algorithm would fail on the first online batch
    for (size_t i = 0; i < c.policies.size(); ++i)
      if (auto* a = ctx_->policies.algorithm(static_cast<int>(i)); a && a->trains_offline() && c.is_trained(c.policies[i].policy_id))
        throw std::invalid_argument("algorithm '" + c.algorithm + "' trains from offline data only: set 'input' "
                                    "(docs/OFFLINE.md), or serve its checkpoint with --no-train");
  if (ctx_->output && !c.train && c.output.what == OutputWhat::Batches)
    spdlog::warn("output '{}' writes the batches this server trains on, and it does not train (--no-train): "
                 "nothing will be written; set output_config.what to \"episodes\"", c.output.dir);
  if (!c.restore.empty() && c.group.rank == 0) restore_checkpoint(*ctx_, c.restore);
  if (!c.restore.empty() && c.group.rank != 0)
    spdlog::info("group: rank {} ignores --restore: rank 0 restores and sends its state to the group", c.group.rank);
  if (c.group.active()) {
    ctx_->group = form_replica_group(*ctx_);
    ctx_->stats.keep_new_episodes(true);
  }
  for (size_t i = 0; i < c.policies.size(); ++i) {
    if (c.is_trained(c.policies[i].policy_id)) continue;
    const int p = static_cast<int>(i);
    if (auto* a = ctx_->policies.algorithm(p)) ctx_->policies.freeze(p, a->snapshot());
    ctx_->samples.set_trained(p, false);
  }
  {  // GetConfig: the configuration, and each policy's model stated for clients in any language
    auto j = c.to_json();
    j["models"] = core::describe_models(c.policy_set());
    j["protocol_version"] = wire::kProtocolVersion;
    ctx_->config_json = j.dump();
  }
  learner_ = std::make_unique<Learner>(*ctx_, [this] { request_stop(); });
}

Server::~Server() {
  stop();
  // Teardown order: whatever is bound to the io_context (timers, batchers holding requests)
  // goes first, then the io_context with the handlers still queued in it (they hold
  // sessions, whose destructors use the stats and the handler), and only then the context.
  listener_.reset();
  sweep_.reset();
  signals_.reset();
  for (int p = 0; p < ctx_->policies.num_policies(); ++p) ctx_->policies.batcher_slot(p).reset();
  ioc_.reset();
}

void Server::start() {
  const auto& c = ctx_->config;
  auto addr = boost::asio::ip::make_address(c.host);
  listener_ = std::make_shared<Listener>(
      *ioc_, tcp::endpoint(addr, c.port), c.io_threads > 1, *handler_, ctx_->stats,
      [this](std::string_view target) -> HttpReply {
        if (target == "/healthz") return {200, "text/plain", "ok\n"};
        if (is_static_path(target)) {
          auto r = serve_static(ctx_->config.static_dir, target);
          return {r.status, std::move(r.content_type), std::move(r.body)};
        }
        if (target == "/metrics") return {200, "text/plain; version=0.0.4", metrics_text()};
        if (target == "/results") {
          std::ifstream in(ctx_->config.results_dir + "/result.json");
          std::stringstream ss;
          ss << in.rdbuf();
          return {200, "application/x-ndjson", ss.str()};
        }
        return {404, "text/plain", "not found: try /healthz, /metrics, /results, /play/, or POST /v1/policies/<policy_id>/actions\n"};
      },
      SessionOptions{c.auth_token,
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(c.idle_timeout_s)),
                     std::chrono::seconds(30), c.http_inference_paths},
      c.tls_cert_file.empty() ? nullptr : make_server_tls_context(c.tls_cert_file, c.tls_key_file));
  listener_->run();
  sweep_ = std::make_unique<boost::asio::steady_timer>(*ioc_);
  schedule_sweep();
  for (int i = 0; i < c.io_threads; ++i)
    threads_.emplace_back([this] {
      // An exception out of a handler must not take the server down: log, count, carry on.
      for (;;) {
        try {
          ioc_->run();
          return;
        } catch (const std::exception& e) {
          ctx_->stats.io_errors.fetch_add(1);
          spdlog::error("I/O thread: a handler failed: {}; serving on", e.what());
        }
      }
    });
  learner_->start();  // trains, or with --no-train only writes result rows
}

const ServerConfig& Server::config() const { return ctx_->config; }

bool Server::failed() const { return learner_ && learner_->gave_up(); }

bool Server::group_failed() const { return learner_ && learner_->group_failed(); }

uint16_t Server::port() const { return listener_ ? listener_->port() : 0; }

void Server::schedule_sweep() {
  sweep_->expires_after(std::chrono::seconds(1));
  sweep_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const auto idle = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(ctx_->config.episode_timeout_s));
    for (auto& ep : ctx_->episodes.take_idle(idle)) {
      handler_->abandon(*ep);
      ctx_->stats.episode_timed_out();
      spdlog::warn("episode '{}' timed out after {:.0f}s idle; its steps were kept for training",
                   ep->core.id(), ctx_->config.episode_timeout_s);
    }
    if (const size_t n = ctx_->reports.sweep(idle))
      spdlog::warn("{} local-inference episode(s) sent no report for {:.0f}s; their tallies were dropped", n,
                   ctx_->config.episode_timeout_s);
    ctx_->stats.open_episodes.store(static_cast<int64_t>(ctx_->episodes.size()));
    schedule_sweep();
  });
}

void Server::stop_on_signals() {
  signals_ = std::make_unique<boost::asio::signal_set>(*ioc_, SIGINT, SIGTERM);
  signals_->async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    request_stop();
  });
}

void Server::request_stop() {
  {
    std::lock_guard lk(mu_);
    stop_requested_ = true;
  }
  cv_.notify_all();
}

void Server::wait() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [this] { return stop_requested_; });
}

void Server::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    stopped_ = true;
    stop_requested_ = true;
  }
  cv_.notify_all();
  if (listener_) {
    listener_->stop();
    listener_->close_sessions();
  }
  learner_->stop();
  if (ctx_->config.checkpoint_at_end && learner_->trained() && ctx_->config.group.rank == 0) {
    try {
      spdlog::info("checkpoint {}", save_checkpoint(*ctx_));
    } catch (const std::exception& e) {
      spdlog::error("checkpoint at end failed: {}", e.what());
    }
  }
  if (sweep_) boost::asio::post(*ioc_, [this] { sweep_->cancel(); });
  if (signals_) boost::asio::post(*ioc_, [this] { signals_->cancel(); });
  // Give close handshakes a moment, then stop the loop.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ioc_->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  if (ctx_->output) ctx_->output->stop();  // writes every batch it accepted
}

}  // namespace tandem::server
