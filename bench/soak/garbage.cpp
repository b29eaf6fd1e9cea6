// The garbage hostile client: frames that are no valid request, each answered with an Error
// (thread rules: hostile_clients.h).
#include "hostile_clients.h"

#include <chrono>
#include <random>
#include <thread>
#include <variant>

#include "raw_ws.h"
#include "run_state.h"

namespace tandem::soak {

void garbage(int index, uint16_t port) {
  const int kind = kGarbage;
  ++g_stats[kind].clients;
  std::mt19937_64 rng(77 + static_cast<uint64_t>(index));
  while (!g_stop) {
    RawWs ws;
    if (!connect_counted(kind, ws, port, "gb-" + std::to_string(index) + "-" + std::to_string(rng() % 1000000))) continue;
    for (int i = 0; i < 200 && !g_stop; ++i) {
      wire::Frame f;
      bool text = false;
      const int what = static_cast<int>(rng() % 4);
      if (what == 0 || what == 3) {  // random bytes
        f.resize(1 + rng() % 600);
        for (auto& b : f) b = static_cast<uint8_t>(rng());
      } else if (what == 1) {  // a valid frame cut short
        core::Request r = core::GetAction{"gb-ep", {agent_obs({0.01f, 0.02f, 0.03f, 0.04f})}};
        if (rng() % 2) r = core::StartEpisode{"gb-ep-" + std::to_string(i)};
        f = wire::encode_request(static_cast<uint64_t>(i + 1), r);
        f.resize(1 + rng() % (f.size() * 3 / 4));
      } else {  // a text frame
        text = true;
        const std::string s = "{\"command\": \"GET_ACTION\", \"episode_id\": \"x\"}";
        f.assign(s.begin(), s.end());
      }
      ++g_stats[kind].requests;
      if (!ws.send(f, 30, text)) {
        if (!g_stop) unexpected(kind, "could not send a garbage frame");
        break;
      }
      auto rep = ws.read(30);
      if (!rep) {
        unexpected(kind, "no reply to a garbage frame");
        break;
      }
      auto d = wire::decode_reply(*rep);
      if (d.status.ok() && std::holds_alternative<core::Error>(d.reply))
        got_error(kind, d.reply);
      else
        unexpected(kind, "garbage frame answered with " + (d.status.ok() ? describe(d.reply) : d.status.message));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

}  // namespace tandem::soak
