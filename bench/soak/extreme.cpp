// The extreme hostile client: values out of their space or absurd (obs, rewards, actions,
// agent counts, poisoned ReportSamples, ids), each answered with an Error
// (thread rules: hostile_clients.h).
#include "hostile_clients.h"

#include <chrono>
#include <limits>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "core/action_logp.h"
#include "raw_ws.h"
#include "run_state.h"
#include "support/uniform_report.h"

namespace tandem::soak {

namespace {

// A ReportSamples of T CartPole steps, uniform logits, action 0: valid until poisoned.
core::ReportSamples report(const std::string& ep, int T) {
  return test::uniform_report(ep, T, {0.01f, 0.02f, 0.03f, 0.04f}, 2, /*done=*/true);
}

}  // namespace

// Values out of their space or absurd: each gets an Error, none changes anything.
void extreme(int index, uint16_t port) {
  const int kind = kExtreme;
  ++g_stats[kind].clients;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<std::pair<const char*, core::Request>> bad;
  for (int conn = 0; !g_stop; ++conn) {
    const std::string id = "ex-" + std::to_string(index) + "-" + std::to_string(conn);
    const std::string ep = id + "-ep";
    RawWs ws;
    if (!connect_counted(kind, ws, port, id)) continue;
    uint64_t rid = 0;
    auto r = call(kind, ws, ++rid, core::StartEpisode{ep});
    if (!r || !std::holds_alternative<core::EpisodeStarted>(*r)) {
      if (r) unexpected(kind, "StartEpisode answered " + describe(*r));
      nap(1);
      continue;
    }
    ++g_open[kind];
    bad.clear();
    bad.emplace_back("obs 1e30", core::GetAction{ep, {agent_obs({1e30f, 0.f, 0.f, 0.f})}});
    bad.emplace_back("obs -3e38", core::GetAction{ep, {agent_obs({0.f, -3e38f, 0.f, 0.f})}});
    bad.emplace_back("obs NaN", core::GetAction{ep, {agent_obs({0.f, 0.f, nan, 0.f})}});
    bad.emplace_back("obs inf", core::GetAction{ep, {agent_obs({0.f, 0.f, 0.f, -inf})}});
    bad.emplace_back("obs 101 (Box [-100, 100])", core::GetAction{ep, {agent_obs({101.f, 0.f, 0.f, 0.f})}});
    bad.emplace_back("obs of size 3", core::GetAction{ep, {agent_obs({0.f, 0.f, 0.f})}});
    bad.emplace_back("obs of size 4096", core::GetAction{ep, {agent_obs(std::vector<float>(4096, 0.f))}});
    bad.emplace_back("reward 3e38", core::LogReturns{ep, {{"agent0", 3e38f, false}}});
    bad.emplace_back("reward -inf", core::LogReturns{ep, {{"agent0", -inf, false}}});
    bad.emplace_back("reward NaN", core::LogReturns{ep, {{"agent0", nan, false}}});
    bad.emplace_back("action 7 in Discrete(2)",
                     core::LogAction{ep, {agent_obs({0.f, 0.f, 0.f, 0.f})}, {{"agent0", {7}, {}}}});
    bad.emplace_back("action -1 in Discrete(2)",
                     core::LogAction{ep, {agent_obs({0.f, 0.f, 0.f, 0.f})}, {{"agent0", {-1}, {}}}});
    bad.emplace_back("continuous action 1e30 for a Discrete(2) agent",
                     core::LogAction{ep, {agent_obs({0.f, 0.f, 0.f, 0.f})}, {{"agent0", {}, {1e30f}}}});
    bad.emplace_back("action mask allowing nothing",
                     core::GetAction{ep, {core::AgentObs{"agent0", {0.f, 0.f, 0.f, 0.f}, {0.f, 0.f}}}});
    bad.emplace_back("action mask of NaN", core::GetAction{ep, {core::AgentObs{"agent0", {0.f, 0.f, 0.f, 0.f}, {nan, 1.f}}}});
    {
      core::GetAction g{ep, {}};
      for (int i = 0; i < 1000; ++i) g.agents.push_back(agent_obs({0.f, 0.f, 0.f, 0.f}, "a" + std::to_string(i)));
      bad.emplace_back("1000 agents the mapping cannot place", g);
      core::GetAction d{ep, {}};
      for (int i = 0; i < 1000; ++i) d.agents.push_back(agent_obs({0.f, 0.f, 0.f, 0.f}, "agent0"));
      bad.emplace_back("1000 copies of agent0", d);
      core::GetAction big{ep, {}};
      for (int i = 0; i < 2000; ++i) big.agents.push_back(agent_obs({1e30f, 0.f, 0.f, 0.f}, "b" + std::to_string(i)));
      bad.emplace_back("2000 agents", big);
      core::LogReturns lr{ep, {}};
      for (int i = 0; i < 1000; ++i) lr.rewards.push_back({"agent0", 1e6f, false});
      bad.emplace_back("1000 rewards of 1e6 for agent0", lr);
    }
    {
      auto rep = report(id + "-r1", 3);
      rep.fragments[0].steps.dist_inputs = {1e30f, -1e30f, 0.f, 0.f, 0.f, 0.f};
      rep.fragments[0].steps.action_logp[0] = core::action_logp(core::Space::discrete(2), std::vector<float>{1e30f, -1e30f},
                                                                std::vector<int64_t>{0}, {});
      bad.emplace_back("ReportSamples logits 1e30", rep);
      rep = report(id + "-r2", 3);
      rep.env_steps = int64_t{1} << 40;
      bad.emplace_back("ReportSamples env_steps 2^40", rep);
      // (A wrong episode_length alone is clamped, not refused, for an episode whose earlier
      // parts this server never saw: docs/SECURITY.md.)
      rep = report(id + "-r3", 3);
      rep.fragments[0].steps.vf_preds[0] = 1e30f;
      bad.emplace_back("ReportSamples vf_preds 1e30", rep);
      rep = report(id + "-r4", 3);
      rep.episode_reward = 1e30;
      bad.emplace_back("ReportSamples episode_reward 1e30", rep);
      rep = report(id + "-r5", 3);
      rep.fragments[0].steps.obs[1] = nan;
      bad.emplace_back("ReportSamples obs NaN", rep);
      rep = report(id + "-r6", 3);
      rep.fragments[0].steps.rewards[2] = 3e38f;
      bad.emplace_back("ReportSamples reward 3e38", rep);
      rep = report(id + "-r7", 3);
      rep.fragments[0].steps.action_logp[1] = -0.1f;
      bad.emplace_back("ReportSamples action_logp not matching its logits", rep);
      rep = report(id + "-r8", 3);
      rep.fragments[0].steps.actions[0] = 5;
      bad.emplace_back("ReportSamples action 5", rep);
    }
    bad.emplace_back("GetWeights of an unknown policy", core::GetWeights{"no-such-policy", -1});
    bad.emplace_back("StartEpisode with a 1 MiB id", core::StartEpisode{std::string(1 << 20, 'x')});
    bad.emplace_back("StartEpisode with a non-UTF-8 id", core::StartEpisode{"bad\xff\xfe"});
    bad.emplace_back("StartEpisode of an open episode", core::StartEpisode{ep});
    bad.emplace_back("GetAction of an unknown episode", core::GetAction{"no-such-episode", {agent_obs({0.f, 0.f, 0.f, 0.f})}});
    for (int round = 0; round < 20 && !g_stop; ++round)
      for (const auto& [what, req] : bad) {
        if (g_stop) break;
        expect_error(kind, ws, ++rid, req, what);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    // The episode never took a step; it stays open (episode_timeout_s outlasts the soak)
    // and is never ended, so it adds nothing to the counters.
  }
}

}  // namespace tandem::soak
