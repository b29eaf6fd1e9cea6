#include "core/episode_book.h"

#include <cstdio>

#include "core/text.h"

namespace tandem::core {

Status EpisodeBook::open(std::string& id, const std::string& owner) {
  if (static_cast<int64_t>(open_.size()) >= max_open_)
    return Status::error(ErrorCode::TooManyEpisodes, "too many open episodes (max_open_episodes=" +
                                                         std::to_string(max_open_) + "); end some episodes first");
  if (per_owner_.full(owner))
    return Status::error(ErrorCode::TooManyEpisodes, "this client has too many open episodes (max_episodes_per_client=" +
                                                         std::to_string(per_owner_.max()) + "); end some episodes first");
  if (id.empty()) {
    do {
      char buf[24];
      std::snprintf(buf, sizeof buf, "ep-%016llx", static_cast<unsigned long long>(rng_()));
      id = buf;
    } while (open_.count(id) || ended_.count(id));
  } else if (auto why = check_id(id, kMaxEpisodeIdBytes, "episode id"); !why.empty()) {
    return Status::error(ErrorCode::BadRequest, why);
  } else if (open_.count(id)) {
    return Status::error(ErrorCode::DuplicateEpisode, "episode " + quote(id) + " is already open");
  }
  ended_.erase(id);  // its entry in order_ is now stale (generation mismatch) and skipped
  open_.emplace(id, owner);
  per_owner_.add(owner);
  return {};
}

void EpisodeBook::end(const std::string& id) {
  auto it = open_.find(id);
  if (it == open_.end()) return;
  per_owner_.remove(it->second);
  open_.erase(it);
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
  return has_ended(id) ? Status::error(ErrorCode::UnknownEpisode, "episode " + quote(id) + " has already ended")
                       : Status::error(ErrorCode::UnknownEpisode, "unknown episode " + quote(id));
}

}  // namespace tandem::core
