#include "policy_server/group_metrics.h"

#include <algorithm>
#include <limits>

namespace tandem::server {

namespace {
nlohmann::json agg_json(const Aggregate& a) { return {a.mean, a.min, a.max, a.count}; }
// A non-finite value (a client's huge custom metrics can sum to inf) travels as JSON null.
double num(const nlohmann::json& j) {
  return j.is_null() ? std::numeric_limits<double>::quiet_NaN() : j.get<double>();
}
Aggregate agg_read(const nlohmann::json& j) {
  Aggregate a;
  a.mean = num(j.at(0));
  a.min = num(j.at(1));
  a.max = num(j.at(2));
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
  nlohmann::json episodes = nlohmann::json::array();
  for (const auto& e : m.new_episodes) episodes.push_back({e.reward, e.length, e.policy_rewards});
  return {{"timesteps_total", m.timesteps_total},
          {"agent_timesteps_total", m.agent_timesteps_total},
          {"episodes_total", m.episodes_total},
          {"episodes_this_iter", m.episodes_this_iter},
          {"episodes_timed_out", m.episodes_timed_out},
          {"new_episodes", std::move(episodes)},
          {"custom_metrics", aggs_json(m.custom_metrics)},
          {"evaluation_reward", agg_json(m.evaluation_reward)},
          {"evaluation_len_mean", m.evaluation_len_mean},
          {"evaluation_custom_metrics", aggs_json(m.evaluation_custom_metrics)},
          {"mean_inference_batch", m.mean_inference_batch},
          {"inference_passes", m.inference_passes},
          {"trained_steps", it.trained_steps},
          {"bad_batches_skipped", it.bad_batches_skipped},
          {"bad_sgd_steps_skipped", it.bad_sgd_steps_skipped},
          {"weights_checksums", it.weights_checksums}};
}

RankIteration read_iteration(const nlohmann::json& j) {
  RankIteration it;
  if (j.contains("failed")) throw std::runtime_error("it failed: " + j.at("failed").dump());
  auto& m = it.metrics;
  m.timesteps_total = j.at("timesteps_total").get<int64_t>();
  m.agent_timesteps_total = j.at("agent_timesteps_total").get<int64_t>();
  m.episodes_total = j.at("episodes_total").get<int64_t>();
  m.episodes_this_iter = j.at("episodes_this_iter").get<int64_t>();
  m.episodes_timed_out = j.at("episodes_timed_out").get<int64_t>();
  for (const auto& e : j.at("new_episodes")) {
    EpisodeSummary s;
    s.reward = e.at(0).get<double>();
    s.length = e.at(1).get<int64_t>();
    s.policy_rewards = e.at(2).get<std::map<std::string, double>>();
    m.new_episodes.push_back(std::move(s));
  }
  m.custom_metrics = aggs_read(j.at("custom_metrics"));
  m.evaluation_reward = agg_read(j.at("evaluation_reward"));
  m.evaluation_len_mean = num(j.at("evaluation_len_mean"));
  m.evaluation_custom_metrics = aggs_read(j.at("evaluation_custom_metrics"));
  m.mean_inference_batch = num(j.at("mean_inference_batch"));
  m.inference_passes = j.at("inference_passes").get<int64_t>();
  it.trained_steps = j.at("trained_steps").get<int64_t>();
  it.bad_batches_skipped = j.at("bad_batches_skipped").get<int64_t>();
  it.bad_sgd_steps_skipped = j.at("bad_sgd_steps_skipped").get<int64_t>();
  it.weights_checksums = j.at("weights_checksums").get<std::map<std::string, uint32_t>>();
  return it;
}

RankIteration GroupRows::merge(const std::vector<RankIteration>& ranks) {
  RankIteration out;
  auto& g = out.metrics;
  double eval_len_sum = 0, agents = 0;
  // The ranks' new episodes into the window in time order as far as known: episode i of a
  // rank's n at (i + 1) / n of the iteration, so that when they are more than the window
  // holds, the newest of every rank stay (not the last rank's only).
  struct Timed {
    double at;
    const EpisodeSummary* e;
  };
  std::vector<Timed> timed;
  for (const auto& r : ranks)
    for (size_t i = 0; i < r.metrics.new_episodes.size(); ++i)
      timed.push_back({static_cast<double>(i + 1) / static_cast<double>(r.metrics.new_episodes.size()),
                       &r.metrics.new_episodes[i]});
  std::stable_sort(timed.begin(), timed.end(), [](const Timed& a, const Timed& b) { return a.at < b.at; });
  for (const auto& t : timed) window_.episode_finished(*t.e);
  // Skipped or rolled-back SGD steps are group decisions that every rank counted: rank 0's.
  if (!ranks.empty()) out.bad_sgd_steps_skipped = ranks.front().bad_sgd_steps_skipped;
  for (const auto& r : ranks) {
    const auto& m = r.metrics;
    g.timesteps_total += m.timesteps_total;
    g.agent_timesteps_total += m.agent_timesteps_total;
    g.episodes_total += m.episodes_total;
    g.episodes_this_iter += m.episodes_this_iter;
    g.episodes_timed_out += m.episodes_timed_out;
    out.trained_steps += r.trained_steps;
    out.bad_batches_skipped += r.bad_batches_skipped;
    add(g.custom_metrics, m.custom_metrics);
    add(g.evaluation_reward, m.evaluation_reward);
    eval_len_sum += m.evaluation_len_mean * static_cast<double>(m.evaluation_reward.count);
    add(g.evaluation_custom_metrics, m.evaluation_custom_metrics);
    agents += m.mean_inference_batch * static_cast<double>(m.inference_passes);
    g.inference_passes += m.inference_passes;
  }
  const auto w = window_.peek();
  g.episode_reward = w.episode_reward;
  g.episode_len_mean = w.episode_len_mean;
  g.policy_reward_mean = w.policy_reward_mean;
  if (g.evaluation_reward.count)
    g.evaluation_len_mean = eval_len_sum / static_cast<double>(g.evaluation_reward.count);
  if (g.inference_passes) g.mean_inference_batch = agents / static_cast<double>(g.inference_passes);
  return out;
}

}  // namespace tandem::server
