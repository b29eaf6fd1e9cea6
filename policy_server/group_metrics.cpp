#include "policy_server/group_metrics.h"

#include <algorithm>

namespace tandem::server {

namespace {
nlohmann::json agg_json(const Aggregate& a) { return {a.mean, a.min, a.max, a.count}; }
Aggregate agg_read(const nlohmann::json& j) {
  Aggregate a;
  a.mean = j.at(0).get<double>();
  a.min = j.at(1).get<double>();
  a.max = j.at(2).get<double>();
  a.count = j.at(3).get<int64_t>();
  return a;
}
nlohmann::json aggs_json(const std::map<std::string, Aggregate>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, a] : m) j[k] = agg_json(a);
  return j;
}
std::map<std::string, Aggregate> aggs_read(const nlohmann::json& j) {
  std::map<std::string, Aggregate> m;
  for (const auto& [k, v] : j.items()) m[k] = agg_read(v);
  return m;
}

// `into` and `a` together: means weighted by their counts.
void add(Aggregate& into, const Aggregate& a) {
  if (a.count == 0) return;
  if (into.count == 0) {
    into = a;
    return;
  }
  const double n = static_cast<double>(into.count + a.count);
  into.mean = (into.mean * static_cast<double>(into.count) + a.mean * static_cast<double>(a.count)) / n;
  into.min = std::min(into.min, a.min);
  into.max = std::max(into.max, a.max);
  into.count += a.count;
}
void add(std::map<std::string, Aggregate>& into, const std::map<std::string, Aggregate>& a) {
  for (const auto& [k, v] : a) add(into[k], v);
}
}  // namespace

nlohmann::json share_iteration(const RankIteration& it) {
  const auto& m = it.metrics;
  return {{"timesteps_total", m.timesteps_total},
          {"agent_timesteps_total", m.agent_timesteps_total},
          {"episodes_total", m.episodes_total},
          {"episodes_this_iter", m.episodes_this_iter},
          {"episodes_timed_out", m.episodes_timed_out},
          {"episode_reward", agg_json(m.episode_reward)},
          {"episode_len_mean", m.episode_len_mean},
          {"policy_reward_mean", m.policy_reward_mean},
          {"custom_metrics", aggs_json(m.custom_metrics)},
          {"evaluation_reward", agg_json(m.evaluation_reward)},
          {"evaluation_len_mean", m.evaluation_len_mean},
          {"evaluation_custom_metrics", aggs_json(m.evaluation_custom_metrics)},
          {"mean_inference_batch", m.mean_inference_batch},
          {"trained_steps", it.trained_steps}};
}

RankIteration read_iteration(const nlohmann::json& j) {
  RankIteration it;
  auto& m = it.metrics;
  m.timesteps_total = j.at("timesteps_total").get<int64_t>();
  m.agent_timesteps_total = j.at("agent_timesteps_total").get<int64_t>();
  m.episodes_total = j.at("episodes_total").get<int64_t>();
  m.episodes_this_iter = j.at("episodes_this_iter").get<int64_t>();
  m.episodes_timed_out = j.at("episodes_timed_out").get<int64_t>();
  m.episode_reward = agg_read(j.at("episode_reward"));
  m.episode_len_mean = j.at("episode_len_mean").get<double>();
  m.policy_reward_mean = j.at("policy_reward_mean").get<std::map<std::string, double>>();
  m.custom_metrics = aggs_read(j.at("custom_metrics"));
  m.evaluation_reward = agg_read(j.at("evaluation_reward"));
  m.evaluation_len_mean = j.at("evaluation_len_mean").get<double>();
  m.evaluation_custom_metrics = aggs_read(j.at("evaluation_custom_metrics"));
  m.mean_inference_batch = j.at("mean_inference_batch").get<double>();
  it.trained_steps = j.at("trained_steps").get<int64_t>();
  return it;
}

RankIteration merge_iterations(const std::vector<RankIteration>& ranks) {
  RankIteration out;
  auto& g = out.metrics;
  double len_sum = 0, eval_len_sum = 0, batch_sum = 0;
  std::map<std::string, double> policy_sum;
  std::map<std::string, double> policy_weight;
  for (const auto& r : ranks) {
    const auto& m = r.metrics;
    g.timesteps_total += m.timesteps_total;
    g.agent_timesteps_total += m.agent_timesteps_total;
    g.episodes_total += m.episodes_total;
    g.episodes_this_iter += m.episodes_this_iter;
    g.episodes_timed_out += m.episodes_timed_out;
    out.trained_steps += r.trained_steps;
    add(g.episode_reward, m.episode_reward);
    len_sum += m.episode_len_mean * static_cast<double>(m.episode_reward.count);
    // Per-policy means weighted by the episodes of the rank's window (the best weight a rank
    // reports; exact when each rank's episodes use every policy alike).
    for (const auto& [k, v] : m.policy_reward_mean) {
      const auto w = static_cast<double>(std::max<int64_t>(1, m.episode_reward.count));
      policy_sum[k] += v * w;
      policy_weight[k] += w;
    }
    add(g.custom_metrics, m.custom_metrics);
    add(g.evaluation_reward, m.evaluation_reward);
    eval_len_sum += m.evaluation_len_mean * static_cast<double>(m.evaluation_reward.count);
    add(g.evaluation_custom_metrics, m.evaluation_custom_metrics);
    batch_sum += m.mean_inference_batch;
  }
  if (g.episode_reward.count) g.episode_len_mean = len_sum / static_cast<double>(g.episode_reward.count);
  if (g.evaluation_reward.count)
    g.evaluation_len_mean = eval_len_sum / static_cast<double>(g.evaluation_reward.count);
  for (const auto& [k, s] : policy_sum) g.policy_reward_mean[k] = s / policy_weight[k];
  if (!ranks.empty()) g.mean_inference_batch = batch_sum / static_cast<double>(ranks.size());
  return out;
}

}  // namespace tandem::server
