#include "policy_server/episode_registry.h"

namespace tandem::server {

EpisodeRegistry::EpisodeRegistry(const core::PolicyResolver& policies, int64_t max_open, uint64_t seed,
                                 int64_t max_per_client, core::League* league)
    : policies_(policies), league_(league), book_(max_open, seed, max_per_client) {}

EpisodeRegistry::Started EpisodeRegistry::start(std::string_view id, bool training_enabled, bool explore,
                                                const std::string& client) {
  std::lock_guard lk(mu_);
  std::string key(id);
  if (auto st = book_.open(key, client); !st.ok()) return {nullptr, std::move(st)};
  std::optional<core::Seating> seating;
  std::map<std::string, int, std::less<>> seats;
  if (league_) {  // evaluation games: the round robin's next turn
    seating = league_->seat(!explore);
    for (const auto& [agent, policy_id] : seating->policy_of_seat) {
      int p = -1;
      for (int i = 0; i < policies_.num_policies(); ++i)
        if (policies_.spec(i).policy_id == policy_id) p = i;
      seats[agent] = p;
    }
  }
  auto ep = std::make_shared<Episode>(policies_, key, training_enabled, explore, std::move(seats), std::move(seating));
  open_.emplace(key, ep);
  return {ep, {}};
}

std::shared_ptr<Episode> EpisodeRegistry::find(std::string_view id, core::Status* status) {
  std::lock_guard lk(mu_);
  auto it = open_.find(std::string(id));
  if (it != open_.end()) return it->second;
  if (status) *status = book_.not_open(id);
  return nullptr;
}

std::shared_ptr<Episode> EpisodeRegistry::end(std::string_view id) {
  std::lock_guard lk(mu_);
  auto it = open_.find(std::string(id));
  if (it == open_.end()) return nullptr;
  auto ep = std::move(it->second);
  open_.erase(it);
  book_.end(std::string(id));
  return ep;
}

bool EpisodeRegistry::has_ended(std::string_view id) const {
  std::lock_guard lk(mu_);
  return book_.has_ended(id);
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
      book_.end(it->first);
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
