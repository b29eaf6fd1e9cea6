#include "policy_client/upload_report.h"

#include <algorithm>

namespace tandem::client {

namespace {
constexpr size_t kFragmentOverhead = 128;  // table, vector headers, agent id (approximate)

template <typename T>
std::vector<T> take_tail(std::vector<T>& v, size_t from) {
  std::vector<T> tail(v.begin() + static_cast<std::ptrdiff_t>(from), v.end());
  v.resize(from);
  return tail;
}
}  // namespace

size_t LocalFragment::bytes() const {
  return kFragmentOverhead + agent_id.size() +
         4 * (obs.size() + continuous.size() + action_logp.size() + vf_preds.size() +
              dist_inputs.size() + rewards.size()) +
         8 * discrete.size();
}

LocalFragment LocalFragment::split_off(int64_t from) {
  const auto T = size();
  const auto f = static_cast<size_t>(from);
  auto width = [&](size_t n) { return n / static_cast<size_t>(T); };
  LocalFragment tail;
  tail.agent_id = agent_id;
  tail.obs = take_tail(obs, f * width(obs.size()));
  tail.discrete = take_tail(discrete, f * width(discrete.size()));
  tail.continuous = take_tail(continuous, f * width(continuous.size()));
  tail.dist_inputs = take_tail(dist_inputs, f * width(dist_inputs.size()));
  tail.action_logp = take_tail(action_logp, f);
  tail.vf_preds = take_tail(vf_preds, f);
  tail.rewards = take_tail(rewards, f);
  tail.terminated = terminated;
  tail.bootstrap_value = bootstrap_value;
  terminated = false;
  bootstrap_value = tail.vf_preds.front();
  return tail;
}

int64_t UploadReport::steps() const {
  int64_t n = 0;
  for (const auto& f : fragments) n += f.size();
  return n;
}

wire::Frame UploadReport::encode(uint64_t rid) const {
  std::vector<wire::FragmentView> fv;
  fv.reserve(fragments.size());
  for (const auto& f : fragments)
    fv.push_back({f.agent_id, f.obs, f.discrete, f.continuous, f.action_logp, f.vf_preds,
                  f.dist_inputs, f.rewards, f.terminated, f.bootstrap_value});
  std::vector<wire::AgentRewardView> rv;
  for (const auto& [id, r] : agent_rewards) rv.push_back({id, r, false});
  std::vector<wire::MetricView> mv;
  for (const auto& [k, v] : custom_metrics) mv.push_back({k, v});
  wire::ReportSamplesView v;
  v.episode_id = episode_id;
  v.weights_version = weights_version;
  v.fragments = fv;
  v.env_steps = env_steps;
  v.training_enabled = training_enabled;
  v.explore = explore;
  v.episode_done = episode_done;
  v.episode_reward = episode_reward;
  v.episode_length = episode_length;
  v.agent_rewards = rv;
  v.custom_metrics = mv;
  return wire::encode_report_samples(rid, v);
}

std::vector<UploadReport> split_to_frame_limit(UploadReport r, size_t max_bytes) {
  const size_t budget = max_bytes > 4 * kFragmentOverhead ? max_bytes - 2 * kFragmentOverhead : max_bytes;
  // Cut fragments that alone exceed the budget into pieces that fit.
  std::vector<LocalFragment> pieces;
  for (auto& f : r.fragments) {
    while (f.bytes() > budget && f.size() > 1) {
      const size_t per_step = std::max<size_t>(1, (f.bytes() - kFragmentOverhead) / static_cast<size_t>(f.size()));
      const auto fit = static_cast<int64_t>(std::max<size_t>(1, (budget - kFragmentOverhead) / per_step));
      LocalFragment tail = f.split_off(std::min(fit, f.size() - 1));
      pieces.push_back(std::move(f));
      f = std::move(tail);
    }
    pieces.push_back(std::move(f));
  }
  // Pack the pieces into reports in order.
  UploadReport proto = r;
  proto.fragments.clear();
  proto.env_steps = 0;
  proto.episode_done = false;
  std::vector<UploadReport> out;
  size_t used = 0;
  for (auto& p : pieces) {
    if (out.empty() || (used + p.bytes() > budget && !out.back().fragments.empty())) {
      out.push_back(proto);
      used = 0;
    }
    used += p.bytes();
    out.back().fragments.push_back(std::move(p));
  }
  if (out.empty()) out.push_back(proto);
  out.front().env_steps = r.env_steps;
  out.back().episode_done = r.episode_done;
  if (!r.episode_done) {
    for (auto& o : out) {
      o.agent_rewards.clear();
      o.custom_metrics.clear();
    }
  } else {
    for (size_t i = 0; i + 1 < out.size(); ++i) {
      out[i].agent_rewards.clear();
      out[i].custom_metrics.clear();
    }
  }
  return out;
}

}  // namespace tandem::client
