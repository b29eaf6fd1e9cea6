// The handover hostile client: episodes carried on by a new PolicyClient or a raw resend over
// a new connection after the first client went away, or abandoned (thread rules: hostile_clients.h).
#include "hostile_clients.h"

#include <array>
#include <exception>
#include <random>
#include <stdexcept>
#include <variant>

#include "policy_client/policy_client.h"
#include "raw_ws.h"
#include "run_state.h"
#include "sims/cartpole.h"

namespace tandem::soak {

namespace {

// EndEpisode over a raw connection; true when acknowledged (anything else is a failure).
bool end_episode_raw(RawWs& ws, uint64_t rid, const std::string& ep, const std::array<float, 4>& obs, bool terminated) {
  auto rep = call(kHandover, ws, rid, core::EndEpisode{ep, {agent_obs(vec(obs))}, !terminated, {}});
  if (rep && std::holds_alternative<core::Ack>(*rep)) return true;
  if (rep) unexpected(kHandover, "EndEpisode answered " + describe(*rep));
  return false;
}

}  // namespace

void handover(int index, const std::string& address, uint16_t port) {
  const int kind = kHandover;
  ++g_stats[kind].clients;
  std::mt19937_64 rng(99 + static_cast<uint64_t>(index));
  sims::CartPole env(5000 + static_cast<uint64_t>(index));
  int64_t steps = 0, episodes = 0;
  for (int cycle = 0; !g_stop; ++cycle) {
    try {
      std::string ep;
      std::array<float, 4> obs{};
      bool done = false, terminated = false;
      {
        client::ClientOptions o;
        o.client_id = "ho-" + std::to_string(index);
        client::PolicyClient a(address, client::InferenceMode::Remote, o);
        ++g_stats[kind].connections;
        ep = a.start_episode();
        obs = env.reset();
        const int k = 3 + static_cast<int>(rng() % 40);
        for (int t = 0; t < k; ++t) {
          const auto act = a.get_action(ep, obs);
          ++steps;
          ++g_stats[kind].requests;
          const auto st = env.step(static_cast<int>(act.as_int()));
          a.log_returns(ep, st.reward);
          obs = st.obs;
          if (st.terminated || st.truncated) {
            done = true;
            terminated = st.terminated;
            break;
          }
        }
        // Destroyed here, mid-episode: its last LogReturns may never reach the server.
      }
      const int variant = cycle % 3;
      if (variant == 0) {  // a new PolicyClient carries the episode on
        client::ClientOptions o;
        o.client_id = "ho-" + std::to_string(index);  // same name, new incarnation
        client::PolicyClient b(address, client::InferenceMode::Remote, o);
        ++g_stats[kind].connections;
        while (!done && !g_stop) {
          const auto act = b.get_action(ep, obs);
          ++steps;
          ++g_stats[kind].requests;
          const auto st = env.step(static_cast<int>(act.as_int()));
          b.log_returns(ep, st.reward);
          obs = st.obs;
          done = st.terminated || st.truncated;
          terminated = st.terminated;
        }
        b.end_episode(ep, obs, !terminated);
        b.flush();
        ++episodes;
      } else if (variant == 1) {  // a raw client: GetAction, connection dropped unread, resent
        const std::string id = "ho-raw-" + std::to_string(index) + "-" + std::to_string(cycle);
        uint64_t rid = 100;
        if (!done) {
          const auto frame = wire::encode_request(rid, core::GetAction{ep, {agent_obs(vec(obs))}});
          {
            RawWs w1;
            if (!w1.connect(port, id)) throw std::runtime_error("connect failed");
            ++g_stats[kind].connections;
            w1.send(frame, 10);
            // gone without reading the reply
          }
          RawWs w2;
          if (!w2.connect(port, id)) throw std::runtime_error("reconnect failed");
          ++g_stats[kind].connections;
          auto rep = call(kind, w2, rid, frame);
          if (!rep) continue;
          const auto* acts = std::get_if<core::Actions>(&*rep);
          if (!acts || acts->actions.empty() || acts->actions[0].discrete.empty()) {
            unexpected(kind, "resent GetAction after a dropped connection answered " + describe(*rep));
            continue;
          }
          ++steps;  // applied once, whichever connection it was applied for
          ++g_stats[kind].resends;
          auto st = env.step(static_cast<int>(acts->actions[0].discrete[0]));
          obs = st.obs;
          done = st.terminated || st.truncated;
          terminated = st.terminated;
          // Carry on over w2 to the end of the episode.
          while (!done && !g_stop) {
            rep = call(kind, w2, ++rid, core::LogReturns{ep, {{"agent0", st.reward, false}}});
            if (!rep || !std::holds_alternative<core::Ack>(*rep)) {
              if (rep) unexpected(kind, "LogReturns answered " + describe(*rep));
              break;
            }
            rep = call(kind, w2, ++rid, core::GetAction{ep, {agent_obs(vec(obs))}});
            acts = rep ? std::get_if<core::Actions>(&*rep) : nullptr;
            if (!acts || acts->actions.empty() || acts->actions[0].discrete.empty()) {
              if (rep) unexpected(kind, "GetAction answered " + describe(*rep));
              break;
            }
            ++steps;
            st = env.step(static_cast<int>(acts->actions[0].discrete[0]));
            obs = st.obs;
            done = st.terminated || st.truncated;
            terminated = st.terminated;
          }
          if (end_episode_raw(w2, ++rid, ep, obs, terminated)) ++episodes;
        } else {
          RawWs w;
          if (!w.connect(port, id)) throw std::runtime_error("connect failed");
          ++g_stats[kind].connections;
          if (end_episode_raw(w, rid, ep, obs, terminated)) ++episodes;
        }
      }
      // variant 2: abandoned (stays open: episode_timeout_s is longer than the soak); the
      // next cycle starts fresh.
      if (variant == 2) ++g_open[kind];
    } catch (const std::exception& e) {
      unexpected(kind, std::string("cycle ") + std::to_string(cycle) + ": " + e.what());
      nap(1);
    }
    nap(0.05);
  }
  g_stats[kind].steps += steps;
  g_stats[kind].episodes += episodes;
}

}  // namespace tandem::soak
