// The well-behaved CartPole clients (thread rules: good_clients.h).
#include "good_clients.h"

#include <exception>

#include "policy_client/policy_client.h"
#include "run_state.h"
#include "sims/cartpole.h"

namespace tandem::soak {

void good_client(int kind, int index, const std::string& address) {
  ++g_stats[kind].clients;
  ++g_stats[kind].connections;
  int64_t steps = 0, episodes = 0;
  try {
    client::ClientOptions o;
    o.client_id = std::string(kind_name(kind)) + "-" + std::to_string(index);
    o.update_interval_s = 2;
    o.seed = 1000 + static_cast<uint64_t>(index);
    const auto mode = kind == kLocal ? client::InferenceMode::Local : client::InferenceMode::Remote;
    client::PolicyClient c(address, mode, o);
    sims::CartPole env(static_cast<uint64_t>(index) * 7919 + 1);
    while (!g_stop) {
      const auto ep = c.start_episode();
      auto obs = env.reset();
      for (;;) {
        const auto a = c.get_action(ep, obs);
        ++steps;
        const auto st = env.step(static_cast<int>(a.as_int()));
        c.log_returns(ep, st.reward);
        obs = st.obs;
        if (st.terminated || st.truncated) {
          c.end_episode(ep, obs, /*truncated=*/!st.terminated);
          ++episodes;
          break;
        }
        if (g_stop) {  // the soak is over: end the episode here, bootstrapped
          c.end_episode(ep, obs, /*truncated=*/true);
          ++episodes;
          break;
        }
      }
    }
    c.flush();
    if (kind == kLocal) {
      const auto s = c.local_stats();
      if (s.dropped_steps != 0 || s.rejected_reports != 0 || s.buffered_steps != 0)
        unexpected(kind, "local client " + std::to_string(index) + ": dropped " + std::to_string(s.dropped_steps) +
                             " steps, " + std::to_string(s.rejected_reports) + " reports rejected, " +
                             std::to_string(s.buffered_steps) + " still buffered");
      g_stats[kind].requests += s.uploaded_reports;
    }
    g_stats[kind].requests += steps;
  } catch (const std::exception& e) {
    unexpected(kind, "client " + std::to_string(index) + ": " + e.what());
  }
  g_stats[kind].steps += steps;
  g_stats[kind].episodes += episodes;
}

}  // namespace tandem::soak
