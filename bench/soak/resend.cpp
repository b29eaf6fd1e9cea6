// The resend hostile client: every state-changing request twice, the replies byte-identical;
// now and then over a new connection, or an id reused by a different request
// (thread rules: hostile_clients.h).
#include "hostile_clients.h"

#include <memory>
#include <random>
#include <variant>

#include "raw_ws.h"
#include "run_state.h"
#include "sims/cartpole.h"

namespace tandem::soak {

void resend(int index, uint16_t port) {
  const int kind = kResend;
  ++g_stats[kind].clients;
  std::mt19937_64 rng(123 + static_cast<uint64_t>(index));
  sims::CartPole env(9000 + static_cast<uint64_t>(index));
  int64_t steps = 0, episodes = 0;
  for (int conn = 0; !g_stop; ++conn) {
    const std::string id = "rs-" + std::to_string(index) + "-" + std::to_string(conn);
    auto ws = std::make_unique<RawWs>();
    if (!connect_counted(kind, *ws, port, id)) continue;
    uint64_t rid = 1 + rng() % 1000;  // any start, increasing
    bool broken = false;
    // Sends `r` twice (the second time over a new connection now and then); returns the reply.
    auto twice = [&](const core::Request& r) -> std::optional<core::Reply> {
      ++rid;
      const auto frame = wire::encode_request(rid, r);
      std::string b1, b2;
      auto r1 = call(kind, *ws, rid, frame, &b1);
      if (!r1) return std::nullopt;
      if (rng() % 16 == 0) {  // the resend over a new connection under the same client id
        ws = std::make_unique<RawWs>();
        if (!ws->connect(port, id)) {
          unexpected(kind, "reconnect failed");
          return std::nullopt;
        }
        ++g_stats[kind].connections;
      }
      auto r2 = call(kind, *ws, rid, frame, &b2);
      if (!r2) return std::nullopt;
      if (b1 != b2) {
        unexpected(kind, "resend of request " + std::to_string(rid) + " answered " + describe(*r2) +
                             ", the original " + describe(*r1));
        return std::nullopt;
      }
      ++g_stats[kind].resends;
      if (rng() % 8 == 0) {  // a different request reusing the id
        auto r3 = call(kind, *ws, rid, core::LogReturns{core::episode_of(r), {{"agent0", 0.5f, false}}});
        if (r3 && !(std::holds_alternative<core::Error>(*r3) &&
                    std::get<core::Error>(*r3).code == core::ErrorCode::BadRequest))
          unexpected(kind, "a different request under a used id answered " + describe(*r3));
        else if (r3)
          got_error(kind, *r3);
      }
      return r1;
    };
    // Episodes over this connection (a new connection every few episodes).
    for (int e = 0; e < 5 && !g_stop && !broken; ++e) {
      const std::string ep = id + "-e" + std::to_string(e);
      auto r = twice(core::StartEpisode{ep});
      if (!r || !std::holds_alternative<core::EpisodeStarted>(*r)) {
        if (r) unexpected(kind, "StartEpisode answered " + describe(*r));
        broken = true;
        break;
      }
      auto obs = env.reset();
      bool terminated = false;
      for (;;) {
        r = twice(core::GetAction{ep, {agent_obs(vec(obs))}});
        const auto* acts = r ? std::get_if<core::Actions>(&*r) : nullptr;
        if (!acts || acts->actions.empty() || acts->actions[0].discrete.empty()) {
          if (r) unexpected(kind, "GetAction answered " + describe(*r));
          broken = true;
          break;
        }
        ++steps;
        const auto st = env.step(static_cast<int>(acts->actions[0].discrete[0]));
        obs = st.obs;
        r = twice(core::LogReturns{ep, {{"agent0", st.reward, false}}});
        if (!r || !std::holds_alternative<core::Ack>(*r)) {
          if (r) unexpected(kind, "LogReturns answered " + describe(*r));
          broken = true;
          break;
        }
        terminated = st.terminated;
        if (st.terminated || st.truncated || g_stop) break;
      }
      if (broken) break;
      r = twice(core::EndEpisode{ep, {agent_obs(vec(obs))}, !terminated, {}});
      if (r && std::holds_alternative<core::Ack>(*r))
        ++episodes;
      else {
        if (r) unexpected(kind, "EndEpisode answered " + describe(*r));
        broken = true;
      }
    }
    if (broken) nap(1);
  }
  g_stats[kind].steps += steps;
  g_stats[kind].episodes += episodes;
}

}  // namespace tandem::soak
