#include "policy_server/episode_registry.h"

#include <cstdio>

namespace tandem::server {

EpisodeRegistry::EpisodeRegistry(const std::vector<algo::PolicySpec>& policies,
                                 SampleQueue& queue, RunStats& stats, int64_t max_open,
                                 uint64_t seed)
    : policies_(policies), queue_(queue), stats_(stats), max_open_(max_open), rng_(seed ^ 0x7a6d) {}

EpisodeRegistry::Started EpisodeRegistry::start(std::string_view id, bool training_enabled,
                                                bool explore) {
  using wire::fb::ErrorCode;
  std::lock_guard lk(mu_);
  if (static_cast<int64_t>(open_.size()) >= max_open_)
    return {nullptr, ErrorCode::TooManyEpisodes,
            "too many open episodes (max_open_episodes=" + std::to_string(max_open_) +
                "); end some episodes first"};
  std::string key(id);
  if (key.empty()) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "ep-%llu-%08llx", static_cast<unsigned long long>(next_++),
                  static_cast<unsigned long long>(rng_() & 0xffffffffu));
    key = buf;
  } else if (key.size() > 256) {
    return {nullptr, ErrorCode::BadRequest, "episode id longer than 256 characters"};
  } else if (open_.count(key)) {
    return {nullptr, ErrorCode::DuplicateEpisode, "episode '" + key + "' is already open"};
  }
  auto ep = std::make_shared<Episode>(key, training_enabled, explore, policies_, queue_);
  open_.emplace(key, ep);
  stats_.open_episodes.store(static_cast<int64_t>(open_.size()));
  return {ep, ErrorCode::None, {}};
}

std::shared_ptr<Episode> EpisodeRegistry::find(std::string_view id) {
  std::lock_guard lk(mu_);
  auto it = open_.find(std::string(id));
  return it == open_.end() ? nullptr : it->second;
}

std::shared_ptr<Episode> EpisodeRegistry::remove(std::string_view id) {
  std::lock_guard lk(mu_);
  auto it = open_.find(std::string(id));
  if (it == open_.end()) return nullptr;
  auto ep = std::move(it->second);
  open_.erase(it);
  stats_.open_episodes.store(static_cast<int64_t>(open_.size()));
  return ep;
}

std::vector<std::shared_ptr<Episode>> EpisodeRegistry::take_idle(
    std::chrono::steady_clock::duration idle) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<Episode>> out;
  std::lock_guard lk(mu_);
  for (auto it = open_.begin(); it != open_.end();) {
    bool is_idle;
    {
      std::lock_guard elk(it->second->mutex());
      is_idle = now - it->second->last_active() > idle;
    }
    if (is_idle) {
      out.push_back(std::move(it->second));
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
  stats_.open_episodes.store(static_cast<int64_t>(open_.size()));
  return out;
}

size_t EpisodeRegistry::size() const {
  std::lock_guard lk(mu_);
  return open_.size();
}

}  // namespace tandem::server
