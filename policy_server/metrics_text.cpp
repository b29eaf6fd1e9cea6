// GET /metrics: the server's figures in Prometheus text format 0.0.4 (Server::metrics_text).
#include <spdlog/fmt/fmt.h>

#include <cmath>
#include <sstream>

#include "core/weight_tensors.h"
#include "policy_server/learner.h"
#include "policy_server/server.h"

namespace tandem::server {

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
    e.one("tandem_group_broken", "gauge", "1: the group broke (a rank gone or stopped, or weights that differ); this replica no longer trains",
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
