#include "policy_client/vector_env_runner.h"

#include <stdexcept>

namespace tandem::client {

VectorEnvRunner::VectorEnvRunner(PolicyClient& client, std::vector<std::unique_ptr<sims::MultiAgentEnv>> envs,
                                 Options options)
    : client_(client), options_(options) {
  if (envs.empty()) throw std::invalid_argument("VectorEnvRunner needs at least one env");
  if (envs.size() > kMaxEnvs)
    throw std::invalid_argument("VectorEnvRunner drives at most " + std::to_string(kMaxEnvs) + " envs (one frame per step)");
  for (auto& e : envs) {
    Slot s;
    s.env = std::move(e);
    s.obs = s.env->reset();
    slots_.push_back(std::move(s));
  }
}

std::vector<FinishedEpisode> VectorEnvRunner::step() {
  if (finished_) throw std::logic_error("VectorEnvRunner::step after finish()");
  for (auto& s : slots_) {
    if (s.episode_id.empty())
      s.episode_id = pending_.start_episode(std::nullopt, options_.training_enabled, options_.explore);
    pending_.get_action(s.episode_id, s.obs);
  }
  // What was built goes out now and is never sent again, whatever step() throws.
  sending_.clear();
  std::swap(sending_, pending_);
  auto reply = client_.step(sending_);
  std::vector<FinishedEpisode> done;
  for (size_t i = 0; i < slots_.size(); ++i) {
    auto& s = slots_[i];
    sims::ActionDict actions;
    for (const auto& [agent, a] : reply.actions[i]) actions[agent] = a.as_int();
    auto r = s.env->step(actions);
    ++env_steps_;
    ++s.length;
    std::map<std::string, bool> dones;
    bool terminated = false, truncated = false;
    for (const auto& [agent, t] : r.terminated) terminated |= t;
    for (const auto& [agent, t] : r.truncated) truncated |= t;
    for (const auto& [agent, v] : r.rewards) s.reward += v;
    if (!r.all_done)
      for (const auto& [agent, t] : r.terminated)
        if (t) dones[agent] = true;
    pending_.log_returns(s.episode_id, r.rewards, dones);
    if (r.all_done) {
      pending_.end_episode(s.episode_id, r.obs, truncated && !terminated);
      done.push_back({s.episode_id, s.reward, s.length});
      s.obs = s.env->reset();
      s.reward = 0;
      s.length = 0;
      s.episode_id.clear();  // the next step starts its successor
    } else {
      s.obs = std::move(r.obs);
    }
  }
  return done;
}

void VectorEnvRunner::finish() {
  if (finished_) return;
  finished_ = true;
  sending_.clear();
  std::swap(sending_, pending_);
  if (!sending_.empty()) client_.step(sending_);
  client_.flush();
}

}  // namespace tandem::client
