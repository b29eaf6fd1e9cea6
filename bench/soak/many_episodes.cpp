// The many-episodes hostile client: episodes opened up to the per-client cap, refused beyond
// it, then ended (thread rules: hostile_clients.h).
#include "hostile_clients.h"

#include <variant>
#include <vector>

#include "raw_ws.h"
#include "run_state.h"

namespace tandem::soak {

void many_episodes(int index, uint16_t port, int64_t cap) {
  const int kind = kManyEpisodes;
  ++g_stats[kind].clients;
  int64_t episodes = 0;
  for (int cycle = 0; !g_stop; ++cycle) {
    const std::string id = "me-" + std::to_string(index) + "-" + std::to_string(cycle);
    RawWs ws;
    if (!connect_counted(kind, ws, port, id)) continue;
    uint64_t rid = 0;
    std::vector<std::string> open;
    bool refused = false;
    for (int64_t i = 0; i <= cap + 1 && !refused; ++i) {
      const std::string ep = id + "-" + std::to_string(i);
      auto r = call(kind, ws, ++rid, core::StartEpisode{ep});
      if (!r) break;
      if (std::holds_alternative<core::EpisodeStarted>(*r)) {
        open.push_back(ep);
      } else if (const auto* e = std::get_if<core::Error>(&*r); e && e->code == core::ErrorCode::TooManyEpisodes) {
        refused = true;
        got_error(kind, *r);
        if (static_cast<int64_t>(open.size()) != cap)
          unexpected(kind, "TooManyEpisodes after " + std::to_string(open.size()) + " episodes, cap " + std::to_string(cap));
        // Once more: still refused.
        auto r2 = call(kind, ws, ++rid, core::StartEpisode{ep + "-again"});
        if (r2 && std::holds_alternative<core::Error>(*r2) &&
            std::get<core::Error>(*r2).code == core::ErrorCode::TooManyEpisodes)
          got_error(kind, *r2);
        else if (r2)
          unexpected(kind, "a second StartEpisode over the cap answered " + describe(*r2));
      } else {
        unexpected(kind, "StartEpisode answered " + describe(*r));
        break;
      }
    }
    if (!refused && !open.empty() && !g_stop) unexpected(kind, "never refused after " + std::to_string(open.size()) + " episodes");
    nap(1);  // hold them a while
    for (const auto& ep : open) {
      auto r = call(kind, ws, ++rid, core::EndEpisode{ep, {agent_obs({0.f, 0.f, 0.f, 0.f})}, false, {}});
      if (!r) break;
      if (std::holds_alternative<core::Ack>(*r))
        ++episodes;
      else
        unexpected(kind, "EndEpisode of an open episode answered " + describe(*r));
    }
    nap(1);
  }
  g_stats[kind].episodes += episodes;
}

}  // namespace tandem::soak
