#include "core/episode_book.h"

#include <cstdio>

namespace tandem::core {

Status EpisodeBook::open(std::string& id) {
  if (static_cast<int64_t>(open_.size()) >= max_open_)
    return Status::error(ErrorCode::TooManyEpisodes, "too many open episodes (max_open_episodes=" +
                                                         std::to_string(max_open_) + "); end some episodes first");
  if (id.empty()) {
    do {
      char buf[24];
      std::snprintf(buf, sizeof buf, "ep-%016llx", static_cast<unsigned long long>(rng_()));
      id = buf;
    } while (open_.count(id) || ended_.count(id));
  } else if (id.size() > kMaxIdLength) {
    return Status::error(ErrorCode::BadRequest, "episode id longer than " + std::to_string(kMaxIdLength) + " characters");
  } else if (open_.count(id)) {
    return Status::error(ErrorCode::DuplicateEpisode, "episode '" + id + "' is already open");
  }
  ended_.erase(id);  // its entry in order_ is now stale (generation mismatch) and skipped
  open_.insert(id);
  return {};
}

void EpisodeBook::end(const std::string& id) {
  if (!open_.erase(id)) return;
  const uint64_t g = ++generation_;
  ended_[id] = g;
  order_.emplace_back(id, g);
  while (ended_.size() > kTombstones && !order_.empty()) {
    auto [old, gen] = std::move(order_.front());
    order_.pop_front();
    if (auto it = ended_.find(old); it != ended_.end() && it->second == gen) ended_.erase(it);
  }
  // Stale entries (ids opened again) are dropped as they reach the front; bound them too.
  while (order_.size() > 2 * kTombstones) {
    auto [old, gen] = std::move(order_.front());
    order_.pop_front();
    if (auto it = ended_.find(old); it != ended_.end() && it->second == gen) ended_.erase(it);
  }
}

Status EpisodeBook::not_open(std::string_view id) const {
  const std::string shown(id.substr(0, 64));
  return has_ended(id) ? Status::error(ErrorCode::UnknownEpisode, "episode '" + shown + "' has already ended")
                       : Status::error(ErrorCode::UnknownEpisode, "unknown episode '" + shown + "'");
}

}  // namespace tandem::core
