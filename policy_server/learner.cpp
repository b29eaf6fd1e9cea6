#include "policy_server/learner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "policy_server/checkpoint.h"

namespace tandem::server {

namespace {
nlohmann::json custom_to_json(const std::map<std::string, Aggregate>& metrics) {
  nlohmann::json cm = nlohmann::json::object();
  for (const auto& [k, a] : metrics) {
    cm[k + "_mean"] = a.mean;
    cm[k + "_min"] = a.min;
    cm[k + "_max"] = a.max;
  }
  return cm;
}
}  // namespace

// "batches" output: the fragments of a train batch as rows, with the batch's advantages and
// value targets (SampleBatch::append keeps the fragments' order).
core::OfflineBatch trained_rows(const std::vector<algo::Trajectory>& frags,
                                const std::vector<core::FragmentOrigin>& origins, const algo::SampleBatch& batch) {
  core::OfflineBatch rows;
  for (size_t i = 0; i < frags.size(); ++i)
    core::append_fragment(rows, frags[i], i < origins.size() ? origins[i] : core::FragmentOrigin{});
  if (rows.count == batch.count) {
    rows.advantages = batch.advantages;
    rows.value_targets = batch.value_targets;
  }
  return rows;
}

std::shared_ptr<spdlog::logger> learner_log() {
  auto l = spdlog::get("learner");
  return l ? l : spdlog::default_logger()->clone("learner");
}

nlohmann::json metrics_to_json(const IterationMetrics& m) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json j;
  j["timesteps_total"] = m.timesteps_total;
  j["agent_timesteps_total"] = m.agent_timesteps_total;
  j["episodes_total"] = m.episodes_total;
  j["episodes_this_iter"] = m.episodes_this_iter;
  j["episodes_timed_out"] = m.episodes_timed_out;
  j["episode_reward_mean"] = m.episode_reward.count ? num(m.episode_reward.mean) : nlohmann::json();
  j["episode_reward_min"] = m.episode_reward.count ? num(m.episode_reward.min) : nlohmann::json();
  j["episode_reward_max"] = m.episode_reward.count ? num(m.episode_reward.max) : nlohmann::json();
  j["episode_len_mean"] = m.episode_reward.count ? num(m.episode_len_mean) : nlohmann::json();
  j["policy_reward_mean"] = m.policy_reward_mean;
  j["custom_metrics"] = custom_to_json(m.custom_metrics);
  if (m.evaluation_reward.count) {
    j["evaluation"] = {{"episode_reward_mean", m.evaluation_reward.mean},
                       {"episode_reward_min", m.evaluation_reward.min},
                       {"episode_reward_max", m.evaluation_reward.max},
                       {"episode_len_mean", m.evaluation_len_mean},
                       {"episodes_this_iter", m.evaluation_reward.count},
                       {"custom_metrics", custom_to_json(m.evaluation_custom_metrics)}};
  }
  j["mean_inference_batch_size"] = m.mean_inference_batch;
  return j;
}

Learner::Learner(ServerContext& ctx, std::function<void()> on_stop_criteria)
    : ctx_(ctx),
      on_stop_(std::move(on_stop_criteria)),
      writer_(ctx.config.group.rank == 0 ? std::make_unique<ResultsWriter>(ctx.config.results_dir) : nullptr) {}

Learner::~Learner() { stop(); }

void Learner::start() {
  t_start_ = t_row_ = std::chrono::steady_clock::now();
  time_base_s_ = ctx_.time_total_s.load();
  steps_at_row_ = ctx_.stats.timesteps_total();
  thread_ = std::thread([this] {
    // Nothing thrown on this thread may take the server down: log it, count it, stop cleanly.
    try {
      if (!ctx_.config.train)
        report_loop();
      else if (ctx_.group)
        group_loop();
      else if (!ctx_.config.input.empty())
        offline_loop();
      else
        loop();
    } catch (const std::exception& e) {
      ctx_.stats.learner_errors.fetch_add(1);
      learner_log()->critical("learner thread failed: {}; stopping the server", e.what());
      gave_up_ = true;
      on_stop_();
    }
  });
}

void Learner::stop() {
  {
    std::lock_guard lk(wake_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  ctx_.samples.stop();
  if (thread_.joinable()) thread_.join();
}

nlohmann::json Learner::last_result() const {
  std::lock_guard lk(mu_);
  return last_;
}

LastRow Learner::last_row() const {
  std::lock_guard lk(mu_);
  return last_row_;
}

void Learner::add_league(nlohmann::json& row, bool judge) {
  auto& league = *ctx_.league;
  const auto& lc = league.config();
  const int main = ctx_.policies.index_of(lc.main_policy);
  // A snapshot: the main policy's newest published weights (immutable) served by the slot.
  auto it = league.end_iteration(judge, [&](int slot) {
    ctx_.policies.install(ctx_.policies.index_of(lc.slot_policy(slot)), ctx_.policies.model(main));
  });
  row["league"] = core::league_json(it);
  if (it.evaluation.games) {
    if (!row.contains("evaluation")) row["evaluation"] = nlohmann::json::object();
    row["evaluation"]["league"] = core::evaluation_league_json(it);
  }
  if (it.added)
    learner_log()->info("league: {} joins (win rate {:.3f} over {} games){}; league size {}", *it.added,
                        it.all.win_rate(), it.all.games, it.dropped ? ", " + *it.dropped + " leaves" : "",
                        it.league_size);
  std::lock_guard lk(mu_);
  last_row_.league = std::move(it);
}

void Learner::write_row(nlohmann::json row, const IterationMetrics& m, int64_t iter,
                        double learn_time) {
  const auto now = std::chrono::steady_clock::now();
  const double dt = std::chrono::duration<double>(now - t_row_).count();
  const double total = time_base_s_ + std::chrono::duration<double>(now - t_start_).count();
  const double steps_per_s =
      dt > 0 ? static_cast<double>(m.timesteps_total - steps_at_row_) / dt : 0.0;
  row["training_iteration"] = iter;
  row["time_this_iter_s"] = dt;
  row["time_total_s"] = total;
  row["learn_time_s"] = learn_time;
  row["env_steps_per_s"] = steps_per_s;
  row["algorithm"] = ctx_.config.algorithm;
  t_row_ = now;
  steps_at_row_ = m.timesteps_total;
  ctx_.time_total_s = total;
  {
    // Before the file: /metrics is never behind result.json.
    std::lock_guard lk(mu_);
    last_ = row;
    last_row_.training_iteration = iter;
    last_row_.time_this_iter_s = dt;
    last_row_.learn_time_s = learn_time;
    last_row_.env_steps_per_s = steps_per_s;
    if (m.evaluation_reward.count) last_row_.evaluation_reward_mean = m.evaluation_reward.mean;
    for (const auto& [k, a] : m.custom_metrics) last_row_.custom_metric_means[k] = a.mean;
  }
  if (writer_) writer_->write(row);
}

Learner::Trained Learner::train_taken(std::vector<std::vector<algo::Trajectory>>& taken,
                                      const std::vector<std::vector<core::FragmentOrigin>>& origins,
                                      const std::vector<char>& train, int64_t timesteps_total) {
  auto log = learner_log();
  const auto& policies = ctx_.config.policies;
  Trained out;
  for (size_t p = 0; p < taken.size(); ++p) {
    if (!train[p]) continue;
    auto* algorithm = ctx_.policies.algorithm(static_cast<int>(p));
    if (!algorithm) {  // served, never trained
      ctx_.samples.trained(static_cast<int>(p));
      continue;
    }
    // A failed training step is logged and counted; the server keeps serving the last
    // published weights. kMaxConsecutiveFailures failed iterations in a row stop it. In a
    // replica group a failure breaks the group instead (group_loop): the other ranks wait in
    // the collectives this rank left.
    try {
      const auto& cfg = policies[p].config;
      algo::SampleBatch batch;
      batch.obs_dim = policies[p].observation_space.preprocessed_size();
      for (const auto& t : taken[p]) batch.append(t, cfg.gamma, cfg.lambda_, cfg.use_gae, cfg.use_critic);
      if (ctx_.output && ctx_.output->what() == OutputWhat::Batches && batch.count > 0)
        ctx_.output->write(static_cast<int>(p), trained_rows(taken[p], origins[p], batch));
      // How far behind the weights being trained the behaviour policy of this batch was
      // (serving overlaps training by one batch, SampleQueue::must_wait: steps collected
      // while the previous batch trained are 1 behind; steps of fragments that were still
      // open when it was taken can be 2 behind).
      const int64_t trained_version = algorithm->snapshot()->version();
      int64_t max_lag = 0, stale_steps = 0;
      for (const auto& t : taken[p]) {
        if (t.behaviour_version < 0) continue;
        const int64_t lag = trained_version - t.behaviour_version;
        max_lag = std::max(max_lag, lag);
        if (lag > 1) stale_steps += t.size();
      }
      const auto t0 = std::chrono::steady_clock::now();
      auto stats = algorithm->train(batch, timesteps_total);
      out.learn_time += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // Serving resumes (if it was held); what it collected meanwhile is the next batch's.
      const int64_t collected_while_training = ctx_.samples.trained(static_cast<int>(p));
      out.trained_steps += batch.count;
      note_guard(*algorithm, stats);
      nlohmann::json s(stats);
      s["num_steps_trained"] = batch.count;
      if (auto g = stats.find("group_rows"); g != stats.end()) {  // a replica group's
        s["num_steps_trained"] = g->second;
        s["num_steps_trained_this_replica"] = batch.count;  // the lag figures below are this replica's
      }
      s["max_behaviour_lag"] = max_lag;   // weight versions between behaviour and training
      s["steps_behind_more_than_one"] = stale_steps;
      s["steps_collected_while_training"] = collected_while_training;
      s["weights_version"] = algorithm->snapshot()->version();
      out.learner[policies[p].policy_id] = s;
      out.any = true;
    } catch (const std::exception& e) {
      ctx_.samples.trained(static_cast<int>(p));
      if (ctx_.group) throw;
      out.failed = true;
      ctx_.stats.learner_errors.fetch_add(1);
      log->error("training policy '{}' failed ({} failures so far): {}; serving its last weights",
                 policies[p].policy_id, ctx_.stats.learner_errors.load(), e.what());
    }
  }
  return out;
}

bool Learner::finish_iteration(const IterationMetrics& m, Trained trained, int64_t steps_while_training) {
  auto log = learner_log();
  const int64_t iter = ++ctx_.training_iteration;
  trained_any_ = true;
  auto row = metrics_to_json(m);
  row["num_steps_trained_this_iter"] = trained.trained_steps;
  // Env steps served between taking these batches and publishing their weights.
  row["env_steps_while_training"] = steps_while_training;
  row["num_bad_batches_skipped"] = trained.group_bad_batches.value_or(ctx_.stats.bad_batches_skipped.load());
  row["num_bad_sgd_steps_skipped"] = trained.group_bad_sgd_steps.value_or(ctx_.stats.bad_sgd_steps_skipped.load());
  row["info"] = {{"learner", std::move(trained.learner)}};
  if (ctx_.group) row["group_size"] = ctx_.group->size();
  if (ctx_.league) add_league(row, /*judge=*/true);
  write_row(std::move(row), m, iter, trained.learn_time);
  const auto last = last_row();
  std::string pol;
  for (const auto& [k, v] : m.policy_reward_mean) pol += fmt::format(" {}={:.2f}", k, v);
  log->info(
      "iter {:4d}  steps {:8d}  episodes {:6d}  reward_mean {:8.2f}  len_mean {:6.1f} {} | "
      "{:.2f}s ({:.2f}s learn)",
      iter, m.timesteps_total, m.episodes_total, m.episode_reward.mean, m.episode_len_mean, pol,
      last.time_this_iter_s, trained.learn_time);
  return end_iteration(iter, m.timesteps_total,
                       m.episode_reward.count > 0 ? std::optional<double>(m.episode_reward.mean) : std::nullopt);
}

void Learner::loop() {
  algo::set_torch_num_threads(1);
  auto log = learner_log();
  const auto& policies = ctx_.config.policies;
  std::vector<int64_t> need;
  for (const auto& p : policies) need.push_back(p.config.train_batch_size);
  while (!stopping_) {
    std::vector<std::vector<core::FragmentOrigin>> origins;
    auto taken = ctx_.samples.wait_take(need, std::chrono::milliseconds(200), &origins);
    if (stopping_) break;
    const int64_t steps_at_take = ctx_.stats.timesteps_total();  // RunStats: counted apart from SampleQueue
    std::vector<char> train(taken.size());
    for (size_t p = 0; p < taken.size(); ++p) train[p] = !taken[p].empty();
    auto trained = train_taken(taken, origins, train, ctx_.stats.timesteps_total());
    const int64_t steps_while_training = ctx_.stats.timesteps_total() - steps_at_take;
    consecutive_failures_ = trained.failed ? consecutive_failures_ + 1 : 0;
    if (consecutive_failures_ >= kMaxConsecutiveFailures) {
      log->critical("{} training iterations in a row failed; stopping the server", consecutive_failures_);
      gave_up_ = true;
      on_stop_();
      break;
    }
    if (!trained.any) continue;
    if (finish_iteration(ctx_.stats.take_iteration(), std::move(trained), steps_while_training)) break;
  }
  // Stopping: nothing may wait for training that will not happen.
  for (int p = 0; p < static_cast<int>(policies.size()); ++p) ctx_.samples.trained(p);
}

void Learner::note_guard(algo::Algorithm& algorithm, const algo::TrainStats& stats) {
  // The guard against poisoned data (algorithms/torch/train_guard.h) skipped or rolled back
  // what it had to: log it, count it, carry on (this is not a failure).
  for (const auto& problem : algorithm.take_problems()) learner_log()->warn("{}", problem);
  auto count = [&](const char* key) {
    auto it = stats.find(key);
    return it == stats.end() ? int64_t{0} : static_cast<int64_t>(it->second);
  };
  ctx_.stats.bad_batches_skipped.fetch_add(count("num_bad_batches_skipped"));
  ctx_.stats.bad_sgd_steps_skipped.fetch_add(count("num_bad_sgd_steps_skipped"));
}

bool Learner::end_iteration(int64_t iter, int64_t timesteps_total, std::optional<double> reward_mean) {
  auto log = learner_log();
  if (ctx_.config.group.rank != 0) return false;  // rank 0 checkpoints and judges for the group
  if (ctx_.config.checkpoint_frequency > 0 && iter % ctx_.config.checkpoint_frequency == 0) {
    try {
      log->info("checkpoint {}", save_checkpoint(ctx_));
    } catch (const std::exception& e) {
      ctx_.stats.checkpoint_errors.fetch_add(1);
      log->error("checkpoint at iteration {} failed: {}; training goes on", iter, e.what());
    }
  }
  const auto& stop = ctx_.config.stop;
  const bool done = (stop.training_iteration && iter >= stop.training_iteration) ||
                    (stop.timesteps_total && timesteps_total >= stop.timesteps_total) ||
                    (stop.episode_reward_mean && reward_mean && *reward_mean >= *stop.episode_reward_mean);
  if (done) {
    log->info("stop criterion reached at iteration {}", iter);
    on_stop_();
  }
  return done;
}

void Learner::report_loop() {
  auto log = learner_log();
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(ctx_.config.report_interval_s));
  for (bool last = false; !last;) {
    {
      std::unique_lock lk(wake_mu_);
      last = wake_.wait_for(lk, interval, [this] { return stopping_.load(); });
    }
    if (ctx_.stats.peek().episodes_this_iter == 0) continue;
    auto m = ctx_.stats.take_iteration();
    auto row = metrics_to_json(m);
    row["num_steps_trained_this_iter"] = 0;
    row["info"] = {{"learner", nlohmann::json::object()}};
    if (ctx_.league) add_league(row, /*judge=*/false);
    write_row(std::move(row), m, ctx_.training_iteration.load(), 0.0);
    log->info(
        "no-train report  steps {:8d}  episodes {:6d}  reward_mean {:8.2f}  evaluation {} "
        "episodes, reward_mean {:8.2f}",
        m.timesteps_total, m.episodes_total,
        m.episode_reward.count ? m.episode_reward.mean : std::nan(""), m.evaluation_reward.count,
        m.evaluation_reward.count ? m.evaluation_reward.mean : std::nan(""));
  }
}

}  // namespace tandem::server
