// request_fuzz_seeds DIR: writes request_fuzz's seed corpus into DIR (created if missing).
// Valid frames of every request type (wire::encode_request), alone and in sequences, for the
// server of fuzz/fuzz_format.h; episode ids "fz-N" recur across seeds, so a GetAction seed
// finds the episode a StartEpisode seed opened. Generated at build/run time, never committed.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/action_logp.h"
#include "core/spaces.h"
#include "fuzz/fuzz_format.h"
#include "schemas/codec.h"

namespace {

using namespace tandem;
using core::AgentObs;

struct Record {
  uint8_t control = 0;
  core::Request request;
  uint64_t request_id = 1;
};

std::vector<uint8_t> input(const std::vector<Record>& records) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < records.size(); ++i) {
    if (i) out.insert(out.end(), fuzz::kSeparator.begin(), fuzz::kSeparator.end());
    out.push_back(records[i].control);
    const auto f = wire::encode_request(records[i].request_id, records[i].request);
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

// Auto ids (the harness numbers them) unless kOwnId is set: then 1, 2, ... as written.
std::vector<Record> seq(std::vector<core::Request> reqs, uint8_t control = 0) {
  std::vector<Record> out;
  uint64_t id = 1;
  for (auto& r : reqs) out.push_back({control, std::move(r), id++});
  return out;
}

AgentObs cart_obs(float x = 0.1f, std::string agent = "agent0") { return {std::move(agent), {x, -0.2f, 0.03f, 0.4f}, {}}; }
AgentObs arm_obs() { return {"arm", {0.5f, -0.5f, 2.f}, {}}; }
AgentObs pick_obs(float s = 3.f) { return {"pick", {s}, {1.f, 0.f, 1.f, 1.f, 1.f}}; }  // mask: 3 + 2 actions

core::Request start(const std::string& ep, bool train = true, bool explore = true) {
  return core::StartEpisode{ep, train, explore};
}
core::Request act(const std::string& ep, std::vector<AgentObs> agents) { return core::GetAction{ep, std::move(agents)}; }
core::Request rewards(const std::string& ep, std::vector<core::AgentReward> r) { return core::LogReturns{ep, std::move(r)}; }
core::Request reward(const std::string& ep, float r = 1.f) { return rewards(ep, {{"agent0", r, false}}); }
core::Request end(const std::string& ep, std::vector<AgentObs> last, bool truncated = false) {
  return core::EndEpisode{ep, std::move(last), truncated, {{"score", 2.5}}};
}

// A local-inference fragment whose action_logp matches its dist_inputs.
core::AgentFragment fragment(const std::string& agent, const core::Space& as, std::vector<float> obs_step,
                             std::vector<float> dist, std::vector<int64_t> disc, std::vector<float> cont, int T) {
  core::AgentFragment f{agent, {}};
  auto& s = f.steps;
  s.obs_dim = static_cast<int64_t>(obs_step.size());
  const float lp = core::action_logp(as, dist, disc, cont);
  for (int t = 0; t < T; ++t) {
    s.obs.insert(s.obs.end(), obs_step.begin(), obs_step.end());
    s.actions.insert(s.actions.end(), disc.begin(), disc.end());
    s.actions_cont.insert(s.actions_cont.end(), cont.begin(), cont.end());
    s.dist_inputs.insert(s.dist_inputs.end(), dist.begin(), dist.end());
    s.action_logp.push_back(lp);
    s.vf_preds.push_back(0.25f * static_cast<float>(t));
    s.rewards.push_back(1.f);
  }
  s.bootstrap_value = 0.5f;
  return f;
}

core::Request report(const std::string& ep, bool done, bool multi, int64_t length = 3) {
  core::ReportSamples r;
  r.episode_id = ep;
  r.fragments.push_back(fragment("agent0", core::Space::discrete(2), {0.1f, 0.f, -0.1f, 0.2f}, {0.3f, -0.3f}, {1}, {}, 3));
  if (multi) {
    r.fragments.push_back(fragment("arm", core::Space::box({2}, -1.f, 1.f), {0.f, 1.f, -1.f},
                                   {0.1f, -0.1f, -0.5f, -0.5f}, {}, {0.2f, -0.3f}, 2));
    r.fragments.push_back(fragment("pick", core::Space::multi_discrete({3, 2}), {2.f},
                                   {0.f, 0.5f, -0.5f, 0.1f, 0.2f}, {2, 0}, {}, 2));
    r.training_enabled = false;
    r.explore = false;
  }
  r.env_steps = 3;
  r.episode_done = done;
  r.episode_reward = 3.0;
  r.episode_length = length;  // the env steps of all the episode's reports
  if (done) r.agent_rewards = {{"agent0", 3.f, true}};
  r.custom_metrics = {{"len", 3.0}};
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const core::AgentAction cart_a{"agent0", {1}, {}}, arm_a{"arm", {}, {0.4f, -0.9f}}, pick_a{"pick", {2, 1}, {}};
  std::vector<std::pair<std::string, std::vector<Record>>> seeds = {
      // One frame of each request type. Across inputs: fz-1 opened here, used by the next ones.
      {"single-start", seq({start("fz-1")})},
      {"single-get-action", seq({act("fz-1", {cart_obs()})})},
      {"single-log-action", seq({core::LogAction{"fz-1", {cart_obs(0.2f)}, {cart_a}}})},
      {"single-log-returns", seq({reward("fz-1", 0.5f)})},
      {"single-end", seq({end("fz-1", {cart_obs()}, /*truncated=*/true)})},
      {"single-get-config", seq({core::GetConfig{}})},
      {"single-get-weights", seq({core::GetWeights{"cart", -1}})},
      {"single-report", seq({report("fz-r1", true, false)})},
      // Whole episodes in one input.
      {"seq-cartpole", seq({start("fz-2"), act("fz-2", {cart_obs(0.1f)}), reward("fz-2"), act("fz-2", {cart_obs(0.2f)}),
                            reward("fz-2"), act("fz-2", {cart_obs(0.3f)}), reward("fz-2"), act("fz-2", {cart_obs(0.4f)}),
                            reward("fz-2"), act("fz-2", {cart_obs(0.5f)}), reward("fz-2"), end("fz-2", {cart_obs()})})},
      {"seq-multi-agent",
       seq({start("fz-3"), act("fz-3", {cart_obs(), arm_obs(), pick_obs()}),
            core::LogAction{"fz-3", {cart_obs(0.3f), arm_obs(), pick_obs(1.f)}, {cart_a, arm_a, pick_a}},
            rewards("fz-3", {{"agent0", 1.f, true}, {"arm", 0.5f, false}, {"pick", -1.f, false}}),
            act("fz-3", {arm_obs(), pick_obs(4.f)}), end("fz-3", {arm_obs(), pick_obs(0.f)}, true)})},
      {"seq-eval-generated-id", seq({start("", false, false), core::GetWeights{"arm", 0}, core::GetWeights{"nope", -1}})},
      {"seq-report-multi", seq({report("fz-r2", false, true), report("fz-r2", true, true, 6)})},
      // Vectorised frames: several episodes in one frame, one episode's steps in one frame
      // (entries waiting for its action in flight), a failing entry among good ones.
      {"vector-many-episodes",
       seq({core::VectorRequest{{core::StartEpisode{"fz-v1"}, core::StartEpisode{"fz-v2"},
                                 core::GetAction{"fz-v1", {cart_obs(0.1f)}}, core::GetAction{"fz-v2", {cart_obs(0.2f)}}}},
            core::VectorRequest{{core::LogReturns{"fz-v1", {{"agent0", 1.f, false}}}, core::GetAction{"fz-v1", {cart_obs()}},
                                 core::LogReturns{"fz-v2", {{"agent0", 1.f, false}}},
                                 core::EndEpisode{"fz-v2", {cart_obs()}, true, {}}}}})},
      {"vector-one-episode",
       seq({core::VectorRequest{{core::StartEpisode{"fz-v3"}, core::GetAction{"fz-v3", {cart_obs(0.1f)}},
                                 core::LogReturns{"fz-v3", {{"agent0", 1.f, false}}},
                                 core::GetAction{"fz-v3", {cart_obs(0.2f)}}, core::GetAction{"nope", {cart_obs()}},
                                 core::EndEpisode{"fz-v3", {cart_obs()}, false, {}}}}})},
      // Two clients carry one episode on; an anonymous connection ends it.
      {"seq-handover", {{0, start("fz-4")}, {2, act("fz-4", {cart_obs()})}, {2, reward("fz-4")}, {3, end("fz-4", {})}}},
      // The client's own request ids, each frame resent; then id 2 reused by another request.
      {"seq-resend", {{fuzz::kOwnId | fuzz::kResend, start("fz-5"), 1},
                      {fuzz::kOwnId | fuzz::kResend, act("fz-5", {cart_obs()}), 2},
                      {fuzz::kOwnId, reward("fz-5"), 2},
                      {fuzz::kOwnId | fuzz::kResend, end("fz-5", {cart_obs()}), 3},
                      {fuzz::kOwnId | fuzz::kResend, end("fz-5", {cart_obs()}), 4}}},
      // The idle sweep abandons the episode; later requests find it ended.
      {"seq-sweep", {{0, start("fz-6")}, {0, act("fz-6", {cart_obs()})}, {fuzz::kSweep, reward("fz-6")},
                     {0, act("fz-6", {cart_obs()})}, {0, end("fz-6", {})}}},
      // Regression (found by this fuzzer): a logged action with the part its space lacks was
      // recorded, and the learner could not batch that fragment with the policy's others.
      {"regress-stray-action-part",
       seq({start("fz-8"), core::LogAction{"fz-8", {arm_obs()}, {{"arm", {1}, {0.1f, 0.2f}}}},
            core::LogAction{"fz-8", {cart_obs()}, {{"agent0", {1}, {0.5f}}}}, act("fz-8", {arm_obs(), cart_obs()}),
            end("fz-8", {arm_obs(), cart_obs()}, true)})},
      // Across inputs: fz-7 opened, acted on and ended by three inputs.
      {"cross-start", seq({start("fz-7")})},
      {"cross-act", seq({act("fz-7", {cart_obs(), pick_obs()}), rewards("fz-7", {{"pick", 1.f, true}})})},
      {"cross-end", seq({end("fz-7", {cart_obs()}, true)})},
  };
  for (const auto& [name, records] : seeds) {
    const auto bytes = input(records);
    std::ofstream out(dir / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
      return 1;
    }
  }
  std::printf("%zu seeds in %s\n", seeds.size(), dir.c_str());
  return 0;
}
