#include "policy_client/replica_router.h"

#include <stdexcept>

namespace tandem::client {

uint64_t episode_hash(std::string_view episode_id) {
  uint64_t h = 14695981039346656037ull;  // the FNV offset basis
  for (unsigned char c : episode_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

size_t home_replica(std::string_view episode_id, size_t replicas) {
  return replicas == 0 ? 0 : static_cast<size_t>(episode_hash(episode_id) % replicas);
}

std::vector<std::string> split_addresses(const std::string& addresses) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = addresses.find(',', start);
    std::string a = addresses.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto b = a.find_first_not_of(" \t"), e = a.find_last_not_of(" \t");
    a = b == std::string::npos ? std::string() : a.substr(b, e - b + 1);
    if (a.empty()) throw std::invalid_argument("empty address in '" + addresses + "'");
    out.push_back(std::move(a));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

ReplicaRouter::ReplicaRouter(size_t replicas)
    : live_(replicas, true), down_since_(replicas), ended_(replicas) {}

void ReplicaRouter::set_live(size_t r, bool up) {
  if (live_[r] && !up) down_since_[r] = Clock::now();
  live_[r] = up;
}

std::optional<size_t> ReplicaRouter::live_from(size_t r) const {
  for (size_t k = 0; k < live_.size(); ++k)
    if (live_[(r + k) % live_.size()]) return (r + k) % live_.size();
  return std::nullopt;
}

std::optional<size_t> ReplicaRouter::live_after(size_t r) const {
  for (size_t k = 1; k < live_.size(); ++k)
    if (live_[(r + k) % live_.size()]) return (r + k) % live_.size();
  return std::nullopt;
}

ReplicaRouter::Episode* ReplicaRouter::find(const std::string& id) {
  auto it = episodes_.find(id);
  return it == episodes_.end() ? nullptr : &it->second;
}

ReplicaRouter::Episode& ReplicaRouter::add(const std::string& id, size_t r) {
  auto& e = episodes_[id];
  e = Episode{};
  e.replica = r;
  return e;
}

size_t ReplicaRouter::move_all(size_t from, size_t to) {
  size_t n = 0;
  for (auto& [id, e] : episodes_)
    if (e.replica == from) {
      e.replica = to;
      e.needs_start = true;
      ++n;
    }
  for (auto& id : ended_[from]) ended_[to].push_back(std::move(id));
  ended_[from].clear();
  return n;
}

void ReplicaRouter::note_ended(const std::string& id) {
  auto* e = find(id);
  if (!e || e->ended) return;
  e->ended = true;
  ended_[e->replica].push_back(id);
}

void ReplicaRouter::forget_ended(size_t r) {
  for (const auto& id : ended_[r]) {
    auto it = episodes_.find(id);
    if (it != episodes_.end() && it->second.ended && it->second.replica == r) episodes_.erase(it);
  }
  ended_[r].clear();
}

}  // namespace tandem::client
