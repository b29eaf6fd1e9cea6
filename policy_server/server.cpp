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
      // A replica of a group keeps 1/N of the smoothing window: rank 0's row over every
      // replica's window then covers about metrics_num_episodes_for_smoothing episodes.
      stats((config.metrics_num_episodes_for_smoothing + config.group.size - 1) / config.group.size),
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
  if (c.group.active()) ctx_->group = form_replica_group(*ctx_);
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

namespace {
// Prometheus text format 0.0.4: label values escape \, " and newline; values are Go floats.
std::string label_value(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\')
      out += "\\\\";
    else if (ch == '"')
      out += "\\\"";
    else if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
  return out;
}
std::string sample_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}
struct Exposition {
  std::ostringstream o;
  // One family: HELP and TYPE once, then its samples ({label value, value}).
  void family(const char* name, const char* type, const char* help, const char* label,
              const std::vector<std::pair<std::string, double>>& samples) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    for (const auto& [l, v] : samples) {
      o << name;
      if (label) o << '{' << label << "=\"" << label_value(l) << "\"}";
      o << ' ' << sample_value(v) << '\n';
    }
  }
  void one(const char* name, const char* type, const char* help, double v) {
    family(name, type, help, nullptr, {{"", v}});
  }
};
}  // namespace

// Counters are the *_total families (monotonic, carried on by --restore); the rest are
// gauges. Live figures come from RunStats; per-iteration figures from the newest result row.
std::string Server::metrics_text() const {
  const auto m = ctx_->stats.peek();
  const auto row = learner_->last_row();
  const double nan = std::nan("");
  Exposition e;
  e.one("tandem_training_iteration", "gauge", "Training iterations completed",
        static_cast<double>(ctx_->training_iteration.load()));
  e.one("tandem_timesteps_total", "counter", "Env steps served",
        static_cast<double>(m.timesteps_total));
  e.one("tandem_agent_timesteps_total", "counter", "Agent steps served",
        static_cast<double>(m.agent_timesteps_total));
  e.one("tandem_episodes_total", "counter", "Episodes finished",
        static_cast<double>(m.episodes_total));
  e.one("tandem_episodes_timed_out_total", "counter",
        "Episodes dropped after episode_timeout_s idle", static_cast<double>(m.episodes_timed_out));
  e.one("tandem_connected_clients", "gauge", "Open WebSocket sessions",
        static_cast<double>(ctx_->stats.connected_clients.load()));
  e.one("tandem_open_episodes", "gauge", "Open episodes",
        static_cast<double>(ctx_->stats.open_episodes.load()));
  e.one("tandem_learner_errors_total", "counter", "Training steps that failed (weights kept)",
        static_cast<double>(ctx_->stats.learner_errors.load()));
  if (ctx_->group) {  // a replica of a group: these figures are this replica's own
    const auto t = ctx_->group->times();
    e.one("tandem_group_size", "gauge", "Replicas in this server's group", ctx_->group->size());
    e.one("tandem_group_rank", "gauge", "This replica's rank in its group", ctx_->group->rank());
    e.one("tandem_group_broken", "gauge", "1: the group lost a rank; this replica serves and no longer trains",
          ctx_->group_broken.load() ? 1.0 : 0.0);
    e.one("tandem_group_allreduces_total", "counter", "All-reduces this replica took part in",
          static_cast<double>(t.allreduces));
    e.one("tandem_group_allreduce_seconds_total", "counter", "Time in all-reduces, waiting for other ranks included",
          t.allreduce_s);
  }
  {  // per policy: the served weights' version and a checksum (equal on the replicas of a group)
    std::vector<std::pair<std::string, double>> version, sum;
    for (int p = 0; p < ctx_->policies.num_policies(); ++p) {
      const auto& id = ctx_->config.policies[static_cast<size_t>(p)].policy_id;
      if (ctx_->config.policies[static_cast<size_t>(p)].script) continue;
      const auto model = ctx_->policies.model(p);
      if (!model) continue;
      version.emplace_back(id, static_cast<double>(model->version()));
      sum.emplace_back(id, static_cast<double>(core::weights_checksum(*model->weights())));
    }
    e.family("tandem_weights_version", "gauge", "Version of the weights each policy is served with", "policy", version);
    e.family("tandem_weights_checksum", "gauge",
             "FNV-1a (32 bits) of the served weights' float32 bytes: equal on every replica of a group", "policy", sum);
  }
  e.one("tandem_backpressure_holds_total", "counter",
        "Times serving paused for the learner (one batch collected ahead, or a full batch waiting)",
        static_cast<double>(ctx_->stats.backpressure_holds.load()));
  e.one("tandem_io_errors_total", "counter", "Network handlers that threw (the server served on)",
        static_cast<double>(ctx_->stats.io_errors.load()));
  e.one("tandem_bad_batches_skipped_total", "counter", "Train batches skipped: non-finite or absurd values",
        static_cast<double>(ctx_->stats.bad_batches_skipped.load()));
  e.one("tandem_bad_sgd_steps_skipped_total", "counter", "SGD steps skipped or rolled back: non-finite loss or weights",
        static_cast<double>(ctx_->stats.bad_sgd_steps_skipped.load()));
  e.one("tandem_accept_failures_total", "counter", "accept() failures (EMFILE...); the listener backed off",
        static_cast<double>(ctx_->stats.accept_failures.load()));
  e.one("tandem_auth_failures_total", "counter", "Requests refused with HTTP 401 (missing or wrong token)",
        static_cast<double>(ctx_->stats.auth_failures.load()));
  e.one("tandem_refused_upgrades_total", "counter", "WebSocket upgrades refused with HTTP 400",
        static_cast<double>(ctx_->stats.refused_upgrades.load()));
  e.one("tandem_idle_closed_total", "counter", "Connections closed after idle_timeout_s without a frame",
        static_cast<double>(ctx_->stats.idle_closed.load()));
  e.one("tandem_inference_passes_total", "counter", "Forward passes of the inference batchers",
        static_cast<double>(ctx_->stats.inference_passes()));
  e.one("tandem_inference_agents_total", "counter", "Agents computed by those forward passes",
        static_cast<double>(ctx_->stats.inference_agents()));
  e.one("tandem_vector_entries_total", "counter", "Entries of vectorised frames (VectorRequest)",
        static_cast<double>(ctx_->stats.vector_entries.load()));
  e.one("tandem_http_inference_requests_total", "counter", "POSTs to the HTTP JSON inference endpoint",
        static_cast<double>(ctx_->stats.http_inference_requests.load()));
  e.one("tandem_stateless_actions_total", "counter", "Actions answered outside episodes (HTTP JSON)",
        static_cast<double>(ctx_->stats.stateless_actions.load()));
  e.one("tandem_checkpoint_errors_total", "counter", "Periodic checkpoints that failed",
        static_cast<double>(ctx_->stats.checkpoint_errors.load()));
  if (const auto* out = ctx_->output.get()) {  // config "output" (experience_output.h)
    const auto& oc = out->counters();
    e.one("tandem_output_lines_written_total", "counter", "Experience output: JSON lines (batches) written",
          static_cast<double>(oc.lines_written.load()));
    e.one("tandem_output_rows_written_total", "counter", "Experience output: rows (steps) written",
          static_cast<double>(oc.rows_written.load()));
    e.one("tandem_output_bytes_written_total", "counter", "Experience output: bytes written",
          static_cast<double>(oc.bytes_written.load()));
    e.one("tandem_output_batches_dropped_total", "counter",
          "Experience output: batches dropped (the queue was full, or the server was stopping)",
          static_cast<double>(oc.lines_dropped.load()));
    e.one("tandem_output_rows_dropped_total", "counter", "Experience output: rows of those batches",
          static_cast<double>(oc.rows_dropped.load()));
    e.one("tandem_output_write_errors_total", "counter",
          "Experience output: lines lost to a failed write (disk full, file size limit)",
          static_cast<double>(oc.write_errors.load()));
    e.one("tandem_output_rows_queued", "gauge", "Experience output: rows waiting for the disk",
          static_cast<double>(oc.rows_queued.load()));
  }
  e.one("tandem_episode_reward_mean", "gauge",
        "Mean return of the last metrics_num_episodes_for_smoothing training episodes (NaN before "
        "the first)",
        m.episode_reward.count ? m.episode_reward.mean : nan);
  e.one("tandem_episode_len_mean", "gauge", "Mean length of the same episodes",
        m.episode_reward.count ? m.episode_len_mean : nan);
  std::vector<std::pair<std::string, double>> pol(m.policy_reward_mean.begin(),
                                                  m.policy_reward_mean.end());
  e.family("tandem_policy_reward_mean", "gauge", "Mean return per policy over the same episodes",
           "policy", pol);
  e.one("tandem_mean_inference_batch_size", "gauge",
        "Agents per forward pass since the last result row", m.mean_inference_batch);
  e.one("tandem_env_steps_per_second", "gauge",
        "Env steps served per second over the last result row's iteration (0 before the first row)",
        row.env_steps_per_s);
  e.one("tandem_iteration_time_seconds", "gauge", "Wall time of the last result row's iteration",
        row.time_this_iter_s);
  e.one("tandem_learn_time_seconds", "gauge", "SGD time of the last training iteration",
        row.learn_time_s);
  e.one("tandem_evaluation_episode_reward_mean", "gauge",
        "Mean return of the evaluation (explore=false) episodes of the newest result row that had "
        "any "
        "(NaN before)",
        row.evaluation_reward_mean.value_or(nan));
  std::vector<std::pair<std::string, double>> cm(row.custom_metric_means.begin(),
                                                 row.custom_metric_means.end());
  e.family("tandem_custom_metric_mean", "gauge",
           "Per-iteration mean of each custom metric, from the newest result row that had it",
           "metric", cm);
  if (row.league) {  // the self-play league at the newest result row
    const auto& l = *row.league;
    e.one("tandem_league_win_rate", "gauge",
          "The main policy's win rate over the training games of the newest result row (NaN without games)",
          l.all.win_rate());
    e.one("tandem_league_size", "gauge", "League members, snapshots included, plus the main policy",
          static_cast<double>(l.league_size));
    e.one("tandem_league_snapshots", "gauge", "Frozen snapshots of the main policy in the league",
          static_cast<double>(l.snapshots));
    std::vector<std::pair<std::string, double>> vs;
    for (const auto& [policy, t] : l.by_opponent) {
      auto n = l.names.find(policy);
      vs.emplace_back(n != l.names.end() ? n->second : policy, t.win_rate());
    }
    e.family("tandem_league_opponent_win_rate", "gauge",
             "The main policy's win rate per opponent over the newest result row's training games", "opponent", vs);
  }
  return e.o.str();
}

}  // namespace tandem::server
