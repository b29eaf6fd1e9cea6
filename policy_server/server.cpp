#include "policy_server/server.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include <boost/asio/executor_work_guard.hpp>

#include "policy_server/checkpoint.h"
#include "policy_server/learner.h"
#include "policy_server/request_handler.h"
#include "policy_server/session.h"

namespace tandem::server {

ServerContext::ServerContext(ServerConfig cfg, boost::asio::io_context& ctx_ioc)
    : config(std::move(cfg)),
      ioc(ctx_ioc),
      stats(config.metrics_num_episodes_for_smoothing),
      samples(config.policies.size()),
      episodes(config.policies, samples, stats, config.max_open_episodes, config.seed) {}

Server::Server(ServerConfig cfg) {
  algo::set_torch_num_threads(1);
  ctx_ = std::make_unique<ServerContext>(std::move(cfg), ioc_);
  handler_ = std::make_unique<RequestHandler>(*ctx_);
  const auto& c = ctx_->config;
  for (size_t i = 0; i < c.policies.size(); ++i) {
    ctx_->algorithms.push_back(algo::make_algorithm(c.algorithm, c.policies[i], c.seed + 1000 * i));
    ctx_->batchers.push_back(std::make_unique<InferenceBatcher>(
        ioc_, *ctx_->algorithms.back(), c.seed + 17 + i, ctx_->stats,
        [h = handler_.get()](const std::shared_ptr<PendingAction>& r) { h->complete(r); },
        &ctx_->samples, static_cast<int>(i),
        c.train && c.sample_backpressure ? c.policies[i].config.train_batch_size : 0));
  }
  if (!c.restore.empty()) restore_checkpoint(*ctx_, c.restore);
  ctx_->config_json = c.to_json().dump();
  learner_ = std::make_unique<Learner>(*ctx_, [this] { request_stop(); });
}

Server::~Server() { stop(); }

void Server::start() {
  const auto& c = ctx_->config;
  auto addr = boost::asio::ip::make_address(c.host);
  listener_ = std::make_shared<Listener>(
      ioc_, tcp::endpoint(addr, c.port), c.io_threads > 1, *handler_, ctx_->stats,
      [this](std::string_view target) -> HttpReply {
        if (target == "/healthz") return {200, "text/plain", "ok\n"};
        if (target == "/metrics") return {200, "text/plain; version=0.0.4", metrics_text()};
        if (target == "/results") {
          std::ifstream in(ctx_->config.results_dir + "/result.json");
          std::stringstream ss;
          ss << in.rdbuf();
          return {200, "application/x-ndjson", ss.str()};
        }
        return {404, "text/plain", "not found: try /healthz, /metrics, /results\n"};
      });
  listener_->run();
  sweep_ = std::make_unique<boost::asio::steady_timer>(ioc_);
  schedule_sweep();
  for (int i = 0; i < c.io_threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  if (c.train) learner_->start();
}

const ServerConfig& Server::config() const { return ctx_->config; }

uint16_t Server::port() const { return listener_ ? listener_->port() : 0; }

void Server::schedule_sweep() {
  sweep_->expires_after(std::chrono::seconds(1));
  sweep_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const auto idle = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(ctx_->config.episode_timeout_s));
    for (auto& ep : ctx_->episodes.take_idle(idle)) {
      std::lock_guard lk(ep->mutex());
      ep->abandon();
      ctx_->stats.episode_timed_out();
      spdlog::warn("episode '{}' timed out after {:.0f}s idle; its steps were kept for training",
                   ep->id(), ctx_->config.episode_timeout_s);
    }
    schedule_sweep();
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
  if (ctx_->config.checkpoint_at_end && learner_->trained()) {
    try {
      spdlog::info("checkpoint {}", save_checkpoint(*ctx_));
    } catch (const std::exception& e) {
      spdlog::error("checkpoint at end failed: {}", e.what());
    }
  }
  if (sweep_) boost::asio::post(ioc_, [this] { sweep_->cancel(); });
  // Give close handshakes a moment, then stop the loop.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ioc_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

std::string Server::metrics_text() const {
  auto m = ctx_->stats.peek();
  std::ostringstream o;
  auto gauge = [&](const char* name, const char* help, double v, const std::string& labels = "") {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n"
      << name << labels << ' ' << v << '\n';
  };
  gauge("tandem_training_iteration", "Training iterations completed",
        static_cast<double>(ctx_->training_iteration.load()));
  gauge("tandem_timesteps_total", "Env steps served", static_cast<double>(m.timesteps_total));
  gauge("tandem_episodes_total", "Episodes finished", static_cast<double>(m.episodes_total));
  gauge("tandem_connected_clients", "Open WebSocket sessions",
        static_cast<double>(ctx_->stats.connected_clients.load()));
  gauge("tandem_open_episodes", "Open episodes", static_cast<double>(ctx_->stats.open_episodes.load()));
  gauge("tandem_episode_reward_mean", "Mean episode reward (smoothing window)", m.episode_reward.mean);
  gauge("tandem_mean_inference_batch_size", "Agents per forward pass", m.mean_inference_batch);
  o << "# HELP tandem_policy_reward_mean Mean reward per policy\n# TYPE tandem_policy_reward_mean gauge\n";
  for (const auto& [p, v] : m.policy_reward_mean)
    o << "tandem_policy_reward_mean{policy=\"" << p << "\"} " << v << '\n';
  return o.str();
}

}  // namespace tandem::server
