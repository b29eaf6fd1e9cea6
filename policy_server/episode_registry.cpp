#include "policy_server/episode_registry.h"

#include <cstdio>

namespace tandem::server {

using core::ErrorCode;
using core::Status;

EpisodeRegistry::EpisodeRegistry(const core::PolicyResolver& policies, int64_t max_open, uint64_t seed)
    : policies_(policies), max_open_(max_open), rng_(seed ^ 0x7a6d) {}

EpisodeRegistry::Started EpisodeRegistry::start(std::string_view id, bool training_enabled, bool explore) {
  std::lock_guard lk(mu_);
  if (static_cast<int64_t>(open_.size()) >= max_open_)
    return {nullptr, Status::error(ErrorCode::TooManyEpisodes,
                                   "too many open episodes (max_open_episodes=" + std::to_string(max_open_) +
                                       "); end some episodes first")};
  std::string key(id);
  if (key.empty()) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "ep-%llu-%08llx", static_cast<unsigned long long>(next_++),
                  static_cast<unsigned long long>(rng_() & 0xffffffffu));
    key = buf;
  } else if (key.size() > kMaxIdLength) {
    return {nullptr, Status::error(ErrorCode::BadRequest, "episode id longer than 256 characters")};
  } else if (open_.count(key)) {
    return {nullptr, Status::error(ErrorCode::DuplicateEpisode, "episode '" + key + "' is already open")};
  }
  // An id may be used again after its episode ended: the new episode replaces the tombstone.
  ended_.erase(key);
  auto ep = std::make_shared<Episode>(policies_, key, training_enabled, explore);
  open_.emplace(key, ep);
  return {ep, {}};
}

std::shared_ptr<Episode> EpisodeRegistry::find(std::string_view id, Status* status) {
  std::lock_guard lk(mu_);
  auto it = open_.find(std::string(id));
  if (it != open_.end()) return it->second;
  if (status) {
    const std::string shown(id.substr(0, 64));
    *status = ended_.count(std::string(id))
                  ? Status::error(ErrorCode::UnknownEpisode, "episode '" + shown + "' has already ended")
                  : Status::error(ErrorCode::UnknownEpisode, "unknown episode '" + shown + "'");
  }
  return nullptr;
}

void EpisodeRegistry::bury(const std::string& id) {
  if (!ended_.insert(id).second) return;
  ended_order_.push_back(id);
  while (ended_order_.size() > kTombstones) {
    ended_.erase(ended_order_.front());
    ended_order_.pop_front();
  }
}

std::shared_ptr<Episode> EpisodeRegistry::end(std::string_view id) {
  std::lock_guard lk(mu_);
  auto it = open_.find(std::string(id));
  if (it == open_.end()) return nullptr;
  auto ep = std::move(it->second);
  open_.erase(it);
  bury(std::string(id));
  return ep;
}

bool EpisodeRegistry::has_ended(std::string_view id) const {
  std::lock_guard lk(mu_);
  return ended_.count(std::string(id)) > 0;
}

std::vector<std::shared_ptr<Episode>> EpisodeRegistry::take_idle(std::chrono::steady_clock::duration idle) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<Episode>> out;
  std::lock_guard lk(mu_);
  for (auto it = open_.begin(); it != open_.end();) {
    bool is_idle;
    {
      std::lock_guard elk(it->second->mutex);
      is_idle = now - it->second->last_active > idle;
    }
    if (is_idle) {
      bury(it->first);
      out.push_back(std::move(it->second));
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

size_t EpisodeRegistry::size() const {
  std::lock_guard lk(mu_);
  return open_.size();
}

}  // namespace tandem::server
