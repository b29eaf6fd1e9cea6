#include "policy_server/run_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tandem::server {

void RunStats::add_inference_batch(int64_t size) {
  inference_passes_.fetch_add(1, std::memory_order_relaxed);
  inference_agents_.fetch_add(size, std::memory_order_relaxed);
}

void RunStats::episode_finished(EpisodeSummary s) {
  std::lock_guard lk(mu_);
  ++episodes_total_;
  ++episodes_this_iter_;
  if (s.evaluation) {
    iter_eval_.push_back(std::move(s));
    return;
  }
  if (!s.custom_metrics.empty()) iter_custom_.push_back(s);
  if (keep_new_) {
    iter_training_.push_back(s);
    while (static_cast<int64_t>(iter_training_.size()) > window_) iter_training_.pop_front();
  }
  recent_.push_back(std::move(s));
  while (static_cast<int64_t>(recent_.size()) > window_) recent_.pop_front();
}

namespace {
template <typename It, typename F>
Aggregate aggregate(It begin, It end, F value) {
  Aggregate a;
  a.min = std::numeric_limits<double>::infinity();
  a.max = -std::numeric_limits<double>::infinity();
  double sum = 0;
  for (auto it = begin; it != end; ++it) {
    double v = value(*it);
    sum += v;
    a.min = std::min(a.min, v);
    a.max = std::max(a.max, v);
    ++a.count;
  }
  if (a.count == 0) return Aggregate{};
  a.mean = sum / static_cast<double>(a.count);
  return a;
}

// Per metric name, over the episodes that sent it.
std::map<std::string, Aggregate> aggregate_custom(const std::vector<EpisodeSummary>& episodes) {
  std::map<std::string, std::vector<double>> values;
  for (const auto& e : episodes)
    for (const auto& [k, v] : e.custom_metrics)
      if (std::isfinite(v)) values[k].push_back(v);  // a NaN from a client would poison the mean
  std::map<std::string, Aggregate> out;
  for (const auto& [k, vs] : values) out[k] = aggregate(vs.begin(), vs.end(), [](double v) { return v; });
  return out;
}
}  // namespace

IterationMetrics RunStats::build(bool reset) {
  IterationMetrics m;
  m.timesteps_total = env_steps_.load();
  m.agent_timesteps_total = agent_steps_.load();
  m.episodes_timed_out = timed_out_.load();
  m.episodes_total = episodes_total_;
  m.episodes_this_iter = episodes_this_iter_;
  m.episode_reward = aggregate(recent_.begin(), recent_.end(), [](auto& e) { return e.reward; });
  if (!recent_.empty()) {
    double len = 0;
    std::map<std::string, std::pair<double, int64_t>> pol;
    for (const auto& e : recent_) {
      len += static_cast<double>(e.length);
      for (const auto& [p, r] : e.policy_rewards) {
        pol[p].first += r;
        pol[p].second += 1;
      }
    }
    m.episode_len_mean = len / static_cast<double>(recent_.size());
    for (const auto& [p, sr] : pol) m.policy_reward_mean[p] = sr.first / static_cast<double>(sr.second);
  }
  m.custom_metrics = aggregate_custom(iter_custom_);
  m.evaluation_custom_metrics = aggregate_custom(iter_eval_);
  m.evaluation_reward =
      aggregate(iter_eval_.begin(), iter_eval_.end(), [](auto& e) { return e.reward; });
  if (!iter_eval_.empty()) {
    double len = 0;
    for (const auto& e : iter_eval_) len += static_cast<double>(e.length);
    m.evaluation_len_mean = len / static_cast<double>(iter_eval_.size());
  }
  const int64_t passes = inference_passes_.load() - passes_at_take_;
  const int64_t agents = inference_agents_.load() - agents_at_take_;
  m.mean_inference_batch = passes ? static_cast<double>(agents) / static_cast<double>(passes) : 0.0;
  m.inference_passes = passes;
  if (reset) {
    m.new_episodes.assign(iter_training_.begin(), iter_training_.end());
    iter_training_.clear();
    episodes_this_iter_ = 0;
    iter_custom_.clear();
    iter_eval_.clear();
    passes_at_take_ += passes;
    agents_at_take_ += agents;
  }
  return m;
}

IterationMetrics RunStats::take_iteration() {
  std::lock_guard lk(mu_);
  return build(true);
}

IterationMetrics RunStats::peek() const {
  std::lock_guard lk(mu_);
  return const_cast<RunStats*>(this)->build(false);
}

}  // namespace tandem::server
