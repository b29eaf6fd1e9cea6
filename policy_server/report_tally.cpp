#include "policy_server/report_tally.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>

#include "core/request_checks.h"
#include "core/text.h"

namespace tandem::server {

using core::ErrorCode;
using core::Status;

core::Status ReportTally::admit(const std::string& client, const core::ReportSamples& r, double max_abs_reward,
                                Verified& out) {
  std::lock_guard lk(mu_);
  auto it = open_.find(r.episode_id);
  if (it == open_.end()) {
    if (static_cast<int64_t>(open_.size()) >= max_open_)
      return Status::error(ErrorCode::TooManyEpisodes,
                           "too many episodes reporting at once (max_open_episodes=" + std::to_string(max_open_) + ")");
    if (per_client_.full(client))
      return Status::error(ErrorCode::TooManyEpisodes, "this client reports too many episodes at once "
                                                       "(max_episodes_per_client=" +
                                                           std::to_string(per_client_.max()) + ")");
  }
  Tally t = it == open_.end() ? Tally{client, 0, 0, {}, true} : it->second;
  // The client says how many env steps of the episode it reported before this report: when
  // that is not what this server counted (it restarted, the tally timed out, or the client
  // dropped reports while the server was away), the server has not seen the whole episode.
  if (r.env_steps_before != t.env_steps) t.whole = false;
  const bool known = t.whole;
  t.env_steps += r.env_steps;
  for (const auto& f : r.fragments)
    for (float x : f.steps.rewards) t.abs_reward += std::fabs(x);
  t.last = std::chrono::steady_clock::now();
  out.origins.clear();
  for (size_t i = 0; i < r.fragments.size(); ++i) {
    const auto& f = r.fragments[i];
    auto a = t.agents.find(f.agent_id);
    if (a == t.agents.end() && t.agents.size() < core::kMaxAgentsPerEpisode)
      a = t.agents.emplace(f.agent_id, Tally::Place{static_cast<int>(t.agents.size()), 0}).first;
    core::FragmentOrigin o{r.episode_id, f.agent_id, 0, 0, f.steps.terminated, {}};
    if (a != t.agents.end()) {
      o.agent_index = a->second.index;
      o.first_step = a->second.steps;
      a->second.steps += f.steps.size();
    }
    if (r.episode_done && !o.agent_done) {  // the agent's last fragment of a finished episode
      bool later = false;
      for (size_t k = i + 1; k < r.fragments.size() && !later; ++k) later = r.fragments[k].agent_id == f.agent_id;
      o.agent_done = !later;
    }
    out.origins.push_back(std::move(o));
  }
  if (r.episode_done) {
    const std::string who = "ReportSamples(" + core::quote(r.episode_id) + "): ";
    const double bound = t.abs_reward + max_abs_reward;
    std::set<std::string_view> seen;
    for (const auto& a : r.agent_rewards)
      if (!seen.insert(a.agent_id).second)
        return Status::error(ErrorCode::BadRequest, who + "agent " + core::quote(a.agent_id) +
                                                        " appears twice in agent_rewards");
    if (known) {
      // The server saw the whole episode: the totals must agree with it.
      if (r.episode_length != t.env_steps)
        return Status::error(ErrorCode::BadRequest, who + "episode_length " + std::to_string(r.episode_length) +
                                                        " is not the " + std::to_string(t.env_steps) +
                                                        " env steps reported for the episode");
      if (!(std::fabs(r.episode_reward) <= bound))
        return Status::error(ErrorCode::BadRequest, who + "episode_reward " + std::to_string(r.episode_reward) +
                                                        " is beyond what its reported rewards allow (" +
                                                        std::to_string(bound) + ")");
      for (const auto& a : r.agent_rewards)
        if (!(std::fabs(a.reward) <= bound))
          return Status::error(ErrorCode::BadRequest, who + "the return of agent " + core::quote(a.agent_id) +
                                                          " is beyond what its reported rewards allow");
    }
    // Unknown (its earlier reports went to a server that restarted, or its tally timed out):
    // the samples are kept and the totals clamped to what this server can verify.
    out.episode_length = std::min(r.episode_length, t.env_steps);
    out.episode_reward = std::clamp(r.episode_reward, -bound, bound);
    out.clamp = bound;
    if (it != open_.end()) erase(it);
    return {};
  }
  if (it == open_.end()) {
    open_.emplace(r.episode_id, std::move(t));
    per_client_.add(client);
  } else {
    it->second = std::move(t);
  }
  return {};
}

void ReportTally::erase(std::unordered_map<std::string, Tally>::iterator it) {
  per_client_.remove(it->second.client);
  open_.erase(it);
}

size_t ReportTally::sweep(std::chrono::steady_clock::duration idle) {
  std::lock_guard lk(mu_);
  const auto now = std::chrono::steady_clock::now();
  size_t n = 0;
  for (auto it = open_.begin(); it != open_.end();) {
    if (now - it->second.last > idle) {
      auto next = std::next(it);
      erase(it);
      it = next;
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

size_t ReportTally::size() const {
  std::lock_guard lk(mu_);
  return open_.size();
}

}  // namespace tandem::server
