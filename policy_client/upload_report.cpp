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

size_t fragment_bytes(const core::AgentFragment& f) {
  const auto& s = f.steps;
  return kFragmentOverhead + f.agent_id.size() +
         4 * (s.obs.size() + s.actions_cont.size() + s.action_logp.size() + s.vf_preds.size() +
              s.dist_inputs.size() + s.rewards.size()) +
         8 * s.actions.size();
}

core::AgentFragment split_off(core::AgentFragment& f, int64_t from) {
  auto& s = f.steps;
  const auto T = static_cast<size_t>(s.size());
  const auto k = static_cast<size_t>(from);
  auto width = [&](size_t n) { return n / T; };
  core::AgentFragment tail;
  tail.agent_id = f.agent_id;
  auto& t = tail.steps;
  t.obs_dim = s.obs_dim;
  t.obs = take_tail(s.obs, k * width(s.obs.size()));
  t.actions = take_tail(s.actions, k * width(s.actions.size()));
  t.actions_cont = take_tail(s.actions_cont, k * width(s.actions_cont.size()));
  t.dist_inputs = take_tail(s.dist_inputs, k * width(s.dist_inputs.size()));
  t.action_logp = take_tail(s.action_logp, k);
  t.vf_preds = take_tail(s.vf_preds, k);
  t.rewards = take_tail(s.rewards, k);
  t.terminated = s.terminated;
  t.bootstrap_value = s.bootstrap_value;
  s.terminated = false;
  s.bootstrap_value = t.vf_preds.front();
  return tail;
}

int64_t report_steps(const core::ReportSamples& r) {
  int64_t n = 0;
  for (const auto& f : r.fragments) n += f.steps.size();
  return n;
}

std::vector<core::ReportSamples> split_to_frame_limit(core::ReportSamples r, size_t max_bytes) {
  const size_t budget = max_bytes > 4 * kFragmentOverhead ? max_bytes - 2 * kFragmentOverhead : max_bytes;
  // Cut fragments that alone exceed the budget into pieces that fit.
  std::vector<core::AgentFragment> pieces;
  for (auto& f : r.fragments) {
    while (fragment_bytes(f) > budget && f.steps.size() > 1) {
      const size_t per_step =
          std::max<size_t>(1, (fragment_bytes(f) - kFragmentOverhead) / static_cast<size_t>(f.steps.size()));
      const auto fit = static_cast<int64_t>(std::max<size_t>(1, (budget - kFragmentOverhead) / per_step));
      auto tail = split_off(f, std::min(fit, f.steps.size() - 1));
      pieces.push_back(std::move(f));
      f = std::move(tail);
    }
    pieces.push_back(std::move(f));
  }
  // Pack the pieces into reports in order.
  core::ReportSamples proto = r;
  proto.fragments.clear();
  proto.env_steps = 0;
  proto.episode_done = false;
  std::vector<core::ReportSamples> out;
  size_t used = 0;
  for (auto& p : pieces) {
    if (out.empty() || (used + fragment_bytes(p) > budget && !out.back().fragments.empty())) {
      out.push_back(proto);
      used = 0;
    }
    used += fragment_bytes(p);
    out.back().fragments.push_back(std::move(p));
  }
  if (out.empty()) out.push_back(proto);
  // Each part carries at most its own agent steps of env steps (the server's rule).
  int64_t env_left = r.env_steps, before = r.env_steps_before;
  for (auto& part : out) {
    part.env_steps = std::min(env_left, report_steps(part));
    part.env_steps_before = before;
    env_left -= part.env_steps;
    before += part.env_steps;
  }
  out.back().episode_done = r.episode_done;
  for (size_t i = 0; i < out.size(); ++i)
    if (!r.episode_done || i + 1 < out.size()) {
      out[i].agent_rewards.clear();
      out[i].custom_metrics.clear();
    }
  return out;
}

}  // namespace tandem::client
