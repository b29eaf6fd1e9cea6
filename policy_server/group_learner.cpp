// The learner of one replica of a group (ctx.group; docs/ARCHITECTURE.md, "Past one machine").
//
// Data flow, every rank in lockstep (a tick every kTick while idle):
//   SampleQueue::wait_pending (local: until a fragment arrives, or kTick; at most one tick per
//   kMinTick)
//   -> tick: all-reduce of [pending_p per policy | timesteps_total | leaving_r per rank]
//   -> a policy whose steps pending over the group reach the group's batch trains on EVERY
//      rank: each takes what it has (possibly nothing) -> Algorithm::train (a collective:
//      gradients averaged per SGD step, whole-minibatch statistics shared, so the weights stay
//      bit-identical)
//   -> ranks r > 0 put their iteration's metrics in the store; rank 0 reads them and writes the
//      group's row (counters summed), checkpoints, and judges the stop criteria.
// The group's batch is group_size * train_batch_size (train_batch_size is per replica), so N
// replicas behave like one server with batch N * B. The rule for idle replicas: the group
// trains as soon as the ranks TOGETHER have that many steps of a policy, each adding what it
// has then, possibly nothing; a replica may serve ahead up to the whole group batch
// (Server: its sample hold is the group's batch), so busy replicas never wait for one whose
// clients are idle.
//
// Leaving and failure: rank 0 meeting a stop criterion says so in the next tick and every
// rank stops its server (one run). A rank that is stopped (SIGTERM) says it is leaving; a rank
// that dies is seen by the others' next collective (connection reset, or group_timeout_s).
// Either way the others stop training for good (the group is broken), say so in the log and in
// /metrics, and keep serving their clients with their last weights; to train again, restart
// the whole group (rank 0 with --restore from its newest checkpoint).
#include <spdlog/spdlog.h>

#include <limits>
#include <thread>

#include "policy_server/group_metrics.h"
#include "core/weight_tensors.h"
#include "policy_server/learner.h"

namespace tandem::server {

namespace {
constexpr auto kTick = std::chrono::milliseconds(20);
constexpr auto kMinTick = std::chrono::milliseconds(2);
constexpr double kDone = 1, kLeaving = 2;  // a rank's flag in the tick
}  // namespace

void Learner::group_loop() {
  algo::set_torch_num_threads(1);
  auto log = learner_log();
  auto& g = *ctx_.group;
  const auto& policies = ctx_.config.policies;
  const size_t np = policies.size();
  const int n = g.size(), rank = g.rank();
  std::vector<int64_t> need;  // the group's batch per policy
  for (const auto& p : policies)
    need.push_back(ctx_.config.is_trained(p.policy_id) ? p.config.train_batch_size * n
                                                       : std::numeric_limits<int64_t>::max());
  std::vector<double> tick(np + 1 + static_cast<size_t>(n));
  const size_t flags = np + 1;
  bool done = false;  // rank 0: a stop criterion was met
  GroupRows rows(ctx_.config.metrics_num_episodes_for_smoothing);  // rank 0
  std::vector<int64_t> pending(np, 0);
  std::string row_key;  // this iteration's row key while one is under way (ranks > 0 report failures there)
  auto last_tick = std::chrono::steady_clock::now();
  try {
    for (;;) {
      // --- The tick: the steps pending on each rank, the group's step count, who leaves.
      std::this_thread::sleep_until(last_tick + kMinTick);
      pending = ctx_.samples.wait_pending(pending, kTick);
      last_tick = std::chrono::steady_clock::now();
      std::fill(tick.begin(), tick.end(), 0.0);
      for (size_t p = 0; p < np; ++p) tick[p] = static_cast<double>(pending[p]);
      tick[np] = static_cast<double>(ctx_.stats.timesteps_total());
      tick[flags + static_cast<size_t>(rank)] = done ? kDone : stopping_.load() ? kLeaving : 0.0;
      g.sum(std::span<double>(tick));
      int left = -1;
      bool finished = false;
      for (int r = 0; r < n; ++r) {
        const double f = tick[flags + static_cast<size_t>(r)];
        if (f == kDone) finished = true;
        if (f == kLeaving && left < 0) left = r;
      }
      if (finished) {
        if (!done) {
          log->info("group: rank 0 met a stop criterion; this replica stops too");
          on_stop_();
        }
        return;
      }
      if (left == rank) return;  // this replica stops; the others were told
      if (left >= 0)
        throw algo::GroupError("group: rank " + std::to_string(left) + " left the group (it was stopped)");

      // --- One iteration of the policies some rank has a batch for.
      std::vector<char> train(np, 0);
      bool any = false;
      for (size_t p = 0; p < np; ++p) any |= (train[p] = tick[p] >= static_cast<double>(need[p]) ? 1 : 0) != 0;
      if (!any) continue;
      const auto group_steps = static_cast<int64_t>(tick[np]);
      row_key = "row/" + std::to_string(ctx_.training_iteration.load() + 1) + "/";
      std::vector<std::vector<core::FragmentOrigin>> origins;
      auto taken = ctx_.samples.take(train, &origins);
      const int64_t steps_at_take = ctx_.stats.timesteps_total();
      auto trained = train_taken(taken, origins, train, group_steps);
      const int64_t steps_while_training = ctx_.stats.timesteps_total() - steps_at_take;
      RankIteration mine{ctx_.stats.take_iteration(), trained.trained_steps, ctx_.stats.bad_batches_skipped.load(),
                         ctx_.stats.bad_sgd_steps_skipped.load(), {}};
      for (size_t p = 0; p < np; ++p)
        if (auto* a = ctx_.policies.algorithm(static_cast<int>(p)); a && train[p])
          mine.weights_checksums[policies[p].policy_id] = core::weights_checksum(*a->snapshot()->weights());

      // --- The row: rank 0 writes the group's.
      const std::string key = row_key;
      if (rank != 0) {
        g.put(key + std::to_string(rank), share_iteration(mine).dump());
        row_key.clear();
        finish_iteration(mine.metrics, std::move(trained), steps_while_training);  // this replica's /metrics
        continue;
      }
      std::vector<RankIteration> all{mine};
      for (int r = 1; r < n; ++r) {
        try {
          all.push_back(read_iteration(nlohmann::json::parse(g.get(key + std::to_string(r)))));
        } catch (const nlohmann::json::exception& e) {
          throw algo::GroupError("group: rank " + std::to_string(r) + " sent an unreadable result: " + e.what());
        } catch (const std::runtime_error& e) {
          throw algo::GroupError("group: rank " + std::to_string(r) + ": " + e.what());
        }
        g.erase(key + std::to_string(r));
        // The weights must be the same bits everywhere (a different build or CPU could round
        // differently): a rank that drifted breaks the group rather than train apart.
        if (all.back().weights_checksums != mine.weights_checksums)
          throw algo::GroupError("group: rank " + std::to_string(r) + "'s weights differ from rank 0's after iteration " +
                                 std::to_string(ctx_.training_iteration.load() + 1) +
                                 " (different builds or CPUs?): " + nlohmann::json(all.back().weights_checksums).dump() +
                                 " vs " + nlohmann::json(mine.weights_checksums).dump());
      }
      auto group = rows.merge(all);
      ctx_.group_totals = ServerContext::GroupTotals{group.metrics.timesteps_total,
                                                     group.metrics.agent_timesteps_total,
                                                     group.metrics.episodes_total};
      trained.trained_steps = group.trained_steps;
      trained.group_bad_batches = group.bad_batches_skipped;
      trained.group_bad_sgd_steps = group.bad_sgd_steps_skipped;
      done = finish_iteration(group.metrics, std::move(trained), steps_while_training);
    }
  } catch (const std::exception& e) {
    // GroupError: a rank is gone. Anything else: this rank failed inside the lockstep, and the
    // others wait for it in a collective (closing the connections tells them at once) or,
    // rank 0, for this rank's row in the store (the failure goes there).
    if (rank != 0 && !row_key.empty() && !g.broken()) {
      try {
        g.put(row_key + std::to_string(rank), nlohmann::json{{"failed", e.what()}}.dump());
      } catch (const std::exception&) {  // the store is gone too
      }
    }
    g.abort();
    ctx_.group_broken = true;
    ctx_.samples.release();
    for (size_t p = 0; p < np; ++p) ctx_.samples.trained(static_cast<int>(p));
    ctx_.stats.learner_errors.fetch_add(dynamic_cast<const algo::GroupError*>(&e) ? 0 : 1);
    if (ctx_.config.group.exit_on_failure) {
      log->critical("{}; the replica group is broken: rank {} exits (group_on_failure \"exit\"). To train again, "
                    "restart every rank (rank 0 with --restore from its newest checkpoint)",
                    e.what(), rank);
      group_failed_ = true;
      on_stop_();
      return;
    }
    log->critical(
        "{}; the replica group is broken: rank {} stops training and keeps serving its clients with its "
        "last weights (iteration {}). To train again, restart every rank (rank 0 with --restore from its "
        "newest checkpoint)",
        e.what(), rank, ctx_.training_iteration.load());
  }
}

}  // namespace tandem::server
