// The learner thread's offline loop (config "input", docs/OFFLINE.md): Learner::offline_loop.
//
// Data flow per iteration, for every trained policy: OfflineSampler::next(train_batch_size)
// (whole episode pieces, seeded shuffle) -> Algorithm::train_offline (publishes new weights,
// which serving picks up as online) -> the weighted importance sampling estimate of the new
// policy on the same rows (when they carry action_logp) -> one result row -> checkpoints by
// checkpoint_frequency -> stop criteria (training_iteration; timesteps_total = offline rows
// trained on). Serving goes on meanwhile; connected simulators' steps are served, not trained.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "algorithms/off_policy_estimate.h"
#include "policy_server/learner.h"
#include "policy_server/offline_sampler.h"

namespace tandem::server {
namespace {

nlohmann::json estimate_json(const algo::OffPolicyEstimate& e) {
  return {{"v_behavior", e.v_behavior}, {"v_behavior_std", e.v_behavior_std}, {"v_target", e.v_target},
          {"v_target_std", e.v_target_std}, {"v_gain", e.v_gain}, {"v_delta", e.v_delta},
          {"episodes", e.episodes}};
}

}  // namespace

void Learner::offline_loop() {
  algo::set_torch_num_threads(1);
  auto log = learner_log();
  const auto& policies = ctx_.config.policies;
  std::vector<std::unique_ptr<OfflineSampler>> samplers(policies.size());
  int trained_policies = 0;
  for (size_t p = 0; p < policies.size(); ++p) {
    if (!ctx_.policies.algorithm(static_cast<int>(p)) || p >= ctx_.offline.size() || ctx_.offline[p].rows == 0) continue;
    samplers[p] = std::make_unique<OfflineSampler>(ctx_.offline[p], ctx_.config.seed * 7919 + 31 * p + 1,
                                                   ctx_.config.input_shuffle);
    ++trained_policies;
  }
  while (!stopping_) {
    nlohmann::json learner = nlohmann::json::object(), estimates = nlohmann::json::object();
    int64_t trained_rows = 0;
    double learn_time = 0;
    bool failed = false;
    for (size_t p = 0; p < policies.size() && !stopping_; ++p) {
      if (!samplers[p]) continue;
      auto* algorithm = ctx_.policies.algorithm(static_cast<int>(p));
      const auto& cfg = policies[p].config;
      try {
        const core::OfflineBatch rows = samplers[p]->next(cfg.train_batch_size);
        const auto t0 = std::chrono::steady_clock::now();
        auto stats = algorithm->train_offline(rows, ctx_.offline_rows_total.load() + trained_rows);
        learn_time += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        trained_rows += rows.count;
        note_guard(*algorithm, stats);
        nlohmann::json s(stats);
        s["num_steps_trained"] = rows.count;
        s["weights_version"] = algorithm->snapshot()->version();
        s["input_epochs"] = samplers[p]->epochs();
        // The new policy's return on these rows' episodes, estimated from the behaviour's.
        nlohmann::json ope;
        if (rows.action_logp.size() == static_cast<size_t>(rows.count)) {
          const auto logp = algo::target_logp(*algorithm->snapshot(), policies[p].action_space, rows);
          const auto est = algo::wis_estimate(rows, logp, cfg.gamma);
          if (std::isfinite(est.v_target) && std::isfinite(est.v_behavior) && std::isfinite(est.v_target_std))
            ope = {{"wis", estimate_json(est)}};
          else  // e.g. LogAction rows: their action_logp is the serving policy's, not the behaviour's
            ope = {{"wis", nullptr},
                   {"skipped", "the importance ratios overflow: the rows' action_logp does not describe the "
                               "policy that chose the actions (LogAction steps carry the serving policy's log-prob)"}};
        } else {
          ope = {{"wis", nullptr}, {"skipped", "the rows have no action_logp: no estimate"}};
        }
        s["off_policy_estimation"] = ope;
        learner[policies[p].policy_id] = s;
        estimates[policies[p].policy_id] = std::move(ope);
      } catch (const std::exception& e) {
        failed = true;
        ctx_.stats.learner_errors.fetch_add(1);
        log->error("offline training of policy '{}' failed ({} failures so far): {}; serving its last weights",
                   policies[p].policy_id, ctx_.stats.learner_errors.load(), e.what());
      }
    }
    consecutive_failures_ = failed ? consecutive_failures_ + 1 : 0;
    if (consecutive_failures_ >= kMaxConsecutiveFailures) {
      log->critical("{} training iterations in a row failed; stopping the server", consecutive_failures_);
      gave_up_ = true;
      on_stop_();
      break;
    }
    if (trained_rows == 0) continue;
    const int64_t rows_total = ctx_.offline_rows_total += trained_rows;
    const int64_t iter = ++ctx_.training_iteration;
    trained_any_ = true;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_row_).count();
    auto m = ctx_.stats.take_iteration();  // serving: what connected simulators did meanwhile
    auto row = metrics_to_json(m);
    row["timesteps_total"] = rows_total;  // offline: rows trained on (RLlib counts the rows read)
    row["env_steps_served_total"] = m.timesteps_total;
    row["num_steps_trained_this_iter"] = trained_rows;
    row["samples_per_s"] = dt > 0 ? static_cast<double>(trained_rows) / dt : 0.0;  // offline rows per wall second
    row["learn_samples_per_s"] = learn_time > 0 ? static_cast<double>(trained_rows) / learn_time : 0.0;
    row["num_bad_batches_skipped"] = ctx_.stats.bad_batches_skipped.load();
    row["num_bad_sgd_steps_skipped"] = ctx_.stats.bad_sgd_steps_skipped.load();
    row["info"] = {{"learner", learner}};
    // RLlib's layout {"wis": {...}} for the one trained policy; keyed by policy with several.
    row["off_policy_estimation"] = trained_policies == 1 && estimates.size() == 1 ? estimates.begin().value() : estimates;
    write_row(std::move(row), m, iter, learn_time);
    std::string loss;
    for (const auto& [pid, s] : learner.items())
      loss += fmt::format(" {}: imitation_loss {:.4f} vf_loss {:.4f}", pid, s.value("imitation_loss", s.value("policy_loss", 0.0)),
                          s.value("vf_loss", 0.0));
    log->info("iter {:4d}  offline rows {:8d} |{} | {:.0f} rows/s", iter, rows_total, loss,
              dt > 0 ? static_cast<double>(trained_rows) / dt : 0.0);
    // Offline: timesteps are the rows trained on; episode_reward_mean does not apply.
    if (end_iteration(iter, rows_total, std::nullopt)) break;
  }
}

}  // namespace tandem::server
