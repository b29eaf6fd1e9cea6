// Untrusted clients, values: every value a client sends is checked against its space and
// every count against what the server can verify, so that no request a client can craft
// poisons the policy, ends the run, stalls the server or echoes garbage. Each case is one
// attack of issue 11 ("Why"), sent to a real tandem-server process by a raw client; each
// bad input gets an Error naming the field and changes nothing.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "algorithms/policy.h"
#include "policy_client/policy_client.h"
#include "core/action_logp.h"
#include "support/raw_client.h"
#include "support/requests.h"
#include "support/server_process.h"
#include "support/uniform_report.h"

using namespace tandem;
using core::ErrorCode;

namespace {

std::string error_message(const core::Reply& r) {
  const auto* e = std::get_if<core::Error>(&r);
  return e ? e->message : "(not an Error: " + test::describe(r) + ")";
}

// A report of one agent's `T` steps with uniform logits over Discrete(3), action 0.
core::ReportSamples report(const std::string& ep, int T, bool done) {
  return test::uniform_report(ep, T, {0.1f, 0.2f}, 3, done);
}

}  // namespace

TEST_CASE("values out of their space, or absurd, are refused before they reach training") {
  auto cfg = test::config_for("untrusted_values");
  cfg["policies"]["p"]["observation_space"] = {{"type", "box"}, {"shape", {2}}, {"low", 0}, {"high", 1}};
  cfg["policies"]["q"] = {{"observation_space", {{"type", "box"}, {"shape", {2}}}},
                          {"action_space", {{"type", "box"}, {"shape", {1}}, {"low", -1}, {"high", 1}}}};
  cfg["policy_mapping"] = {{"agent0", "p"}, {"cont", "q"}};
  test::ServerProcess s(cfg, "untrusted_values", {"--no-train"});
  test::RawClient c(s.port(), "values");
  uint64_t rid = 1;
  REQUIRE(test::started(c.call(rid++, test::start("e")), "e"));

  SUBCASE("an observation of 1e30 in a Box [0, 1] (and one just outside the tolerance)") {
    for (float x : {1e30f, 1.001f, -0.01f}) {
      auto r = c.call(rid++, test::get_action("e", {x, 0.5f}));
      CHECK(test::is_error(r, ErrorCode::BadObservation));
      CHECK(error_message(r).find("outside its bounds [0, 1]") != std::string::npos);
    }
    // Float rounding at a bound is accepted (tolerance 1e-4 * max(1, |bound|)).
    CHECK(test::is<core::Actions>(c.call(rid++, test::get_action("e", {1.00005f, -0.00005f}))));
  }
  SUBCASE("a Box action of -1e30 (and of 1.5 in [-1, 1]) in LogAction") {
    for (float a : {-1e30f, 1.5f}) {
      core::LogAction la{"e", {test::agent_obs({1.f, 2.f}, "cont")}, {{"cont", {}, {a}}}};
      auto r = c.call(rid++, la);
      CHECK(test::is_error(r, ErrorCode::BadAction));
      CHECK(error_message(r).find("'cont'") != std::string::npos);
    }
  }
  SUBCASE("an action with the part its space lacks (found by the fuzzer: it broke the learner's batches)") {
    core::LogAction box_with_discrete{"e", {test::agent_obs({1.f, 2.f}, "cont")}, {{"cont", {1}, {0.5f}}}};
    CHECK(test::is_error(c.call(rid++, box_with_discrete), ErrorCode::BadAction));
    core::LogAction discrete_with_cont{"e", {test::agent_obs({0.5f, 0.5f})}, {{"agent0", {1}, {0.1f, 0.2f}}}};
    CHECK(test::is_error(c.call(rid++, discrete_with_cont), ErrorCode::BadAction));
  }
  SUBCASE("a finite reward of 3e38, and rewards that add up beyond max_abs_reward in one step") {
    REQUIRE(test::is<core::Actions>(c.call(rid++, test::get_action("e", {0.5f, 0.5f}))));
    auto r = c.call(rid++, test::log_returns("e", 3e38f));
    CHECK(test::is_error(r, ErrorCode::BadRequest));
    CHECK(error_message(r).find("max_abs_reward") != std::string::npos);
    CHECK(test::is<core::Ack>(c.call(rid++, test::log_returns("e", 6e5f))));
    CHECK(test::is_error(c.call(rid++, test::log_returns("e", 6e5f)), ErrorCode::BadRequest));
    // Before any action the bound holds as well (the episode's return cannot be inflated).
    REQUIRE(test::started(c.call(rid++, test::start("e2")), "e2"));
    CHECK(test::is<core::Ack>(c.call(rid++, test::log_returns("e2", -9e5f))));
    CHECK(test::is_error(c.call(rid++, test::log_returns("e2", -9e5f)), ErrorCode::BadRequest));
  }
  SUBCASE("ReportSamples with logits (1e30, -1e30, 0) and their matching log-prob") {
    auto rep = report("r1", 1, true);
    rep.fragments[0].steps.dist_inputs = {1e30f, -1e30f, 0.f};
    rep.fragments[0].steps.actions = {1};
    rep.fragments[0].steps.action_logp = {core::action_logp(core::Space::discrete(3), rep.fragments[0].steps.dist_inputs,
                                                            std::vector<int64_t>{1}, {})};
    auto r = c.call(rid++, rep);
    CHECK(test::is_error(r, ErrorCode::BadRequest));
    CHECK(error_message(r).find("dist_inputs") != std::string::npos);
  }
  SUBCASE("ReportSamples with env_steps = 2^40, a wrong episode_length, an absurd episode_reward") {
    auto rep = report("r2", 3, true);
    rep.env_steps = int64_t{1} << 40;
    auto r = c.call(rid++, rep);
    CHECK(test::is_error(r, ErrorCode::BadRequest));
    CHECK(error_message(r).find("env_steps") != std::string::npos);
    rep = report("r2", 3, true);
    rep.episode_reward = 1e30;
    CHECK(error_message(c.call(rid++, rep)).find("episode_reward") != std::string::npos);
    rep = report("r2", 3, true);
    rep.agent_rewards.push_back(rep.agent_rewards[0]);
    CHECK(error_message(c.call(rid++, rep)).find("appears twice") != std::string::npos);
    // A first part, then a last part whose episode_length disagrees with the parts.
    REQUIRE(test::is<core::SamplesAccepted>(c.call(rid++, report("r4", 2, false))));
    rep = report("r4", 3, true);
    rep.env_steps_before = 2;
    rep.episode_length = 1000;
    CHECK(error_message(c.call(rid++, rep)).find("episode_length") != std::string::npos);
    CHECK(s.metric("tandem_timesteps_total") == 2);
    CHECK(s.metric("tandem_episodes_total") == 0);
    // An episode whose earlier parts this server never saw (it restarted): the samples are
    // kept, the totals clamped to what it can verify.
    rep = report("r5", 3, true);
    rep.env_steps_before = 100;  // the client reported 100 steps before, elsewhere
    rep.episode_length = int64_t{1} << 40;
    rep.episode_reward = 1e12;
    CHECK(test::is<core::SamplesAccepted>(c.call(rid++, rep)));
    CHECK(s.metric("tandem_timesteps_total") == 5);
    CHECK(s.metric("tandem_episodes_total") == 1);
    CHECK(s.metric("tandem_episode_len_mean") == 3);
    CHECK(s.metric("tandem_episode_reward_mean") <= 3 + 1e6);
  }
  SUBCASE("ReportSamples with value estimates of 1e30, or a Box log_std of 50") {
    auto rep = report("r6", 3, true);
    rep.fragments[0].steps.vf_preds[1] = 1e30f;
    CHECK(error_message(c.call(rid++, rep)).find("vf_preds[1]") != std::string::npos);
    rep = report("r6", 3, false);
    rep.fragments[0].steps.terminated = false;
    rep.fragments[0].steps.bootstrap_value = 1e30f;
    CHECK(error_message(c.call(rid++, rep)).find("bootstrap_value") != std::string::npos);
    core::ReportSamples box;
    box.episode_id = "r7";
    core::AgentFragment f;
    f.agent_id = "cont";
    f.steps.obs = {0.f, 0.f};
    f.steps.actions_cont = {0.f};
    f.steps.dist_inputs = {0.f, 50.f};  // mean 0, log_std 50
    f.steps.action_logp = {core::action_logp(core::Space::box({1}, -1, 1), f.steps.dist_inputs, {},
                                             std::vector<float>{0.f})};
    f.steps.vf_preds = {0.f};
    f.steps.rewards = {0.f};
    box.fragments.push_back(f);
    box.env_steps = 1;
    CHECK(error_message(c.call(rid++, box)).find("dist_inputs[1]") != std::string::npos);
  }
  SUBCASE("an episode reported in parts: episode_length must be the sum of the parts' env_steps") {
    CHECK(test::is<core::SamplesAccepted>(c.call(rid++, report("r3", 4, false))));
    auto last = report("r3", 2, true);
    last.env_steps_before = 4;
    last.episode_length = 6;
    last.episode_reward = 6;
    CHECK(test::is<core::SamplesAccepted>(c.call(rid++, last)));
    CHECK(s.metric("tandem_timesteps_total") == 6);
  }
  SUBCASE("a GetAction with 100,000 distinct agents is refused at once; others are served") {
    core::GetAction big{"e", {}};
    for (int i = 0; i < 100000; ++i) big.agents.push_back(test::agent_obs({0.5f, 0.5f}, "a" + std::to_string(i)));
    const auto t0 = test::Clock::now();
    auto r = c.call(rid++, big);
    CHECK(test::is_error(r, ErrorCode::BadRequest));
    CHECK(error_message(r).find("at most 1024") != std::string::npos);
    CHECK(test::Clock::now() - t0 < std::chrono::seconds(2));
    test::RawClient other(s.port(), "other");
    CHECK(test::started(other.call(1, test::start("o")), "o"));
  }
  SUBCASE("ids: non-UTF-8 and control characters refused; error messages quote little of them") {
    CHECK(test::is_error(c.call(rid++, test::start("bad\xff\xfe")), ErrorCode::BadRequest));
    CHECK(test::is_error(c.call(rid++, test::start("tab\there")), ErrorCode::BadRequest));
    CHECK(test::is_error(c.call(rid++, test::get_action("\xc0\xaf", {0.5f, 0.5f})), ErrorCode::BadRequest));
    const std::string huge(1 << 20, 'x');
    for (const auto& req : {test::start(huge), test::get_action(huge, {0.5f, 0.5f}),
                            core::Request(core::GetWeights{huge, -1})}) {
      auto r = c.call(rid++, req);
      REQUIRE(test::is<core::Error>(r));
      CHECK(error_message(r).size() < 200);
    }
    core::GetAction agent_utf8{"e", {test::agent_obs({0.5f, 0.5f}, "\xed\xa0\x80")}};  // a surrogate
    CHECK(test::is_error(c.call(rid++, agent_utf8), ErrorCode::BadRequest));
    // Valid UTF-8 beyond ASCII is fine.
    CHECK(test::started(c.call(rid++, test::start("épisode-ü")), "épisode-ü"));
  }
  SUBCASE("an action mask that allows nothing is refused") {
    core::GetAction g{"e", {core::AgentObs{"agent0", {0.5f, 0.5f}, {0.f, 0.f, 0.f}}}};
    auto r = c.call(rid++, g);
    CHECK(test::is_error(r, ErrorCode::BadObservation));
    CHECK(error_message(r).find("allows no action") != std::string::npos);
  }
  CHECK(s.metric("tandem_io_errors_total") == 0);
}

TEST_CASE("rewards for many new agent ids cannot inflate an episode's return; agents per episode are bounded") {
  auto cfg = test::config_for("untrusted_new_agents");
  cfg["policy_mapping"] = {{"*", "p"}};
  test::ServerProcess s(cfg, "untrusted_new_agents", {"--no-train"});
  test::RawClient c(s.port(), "agents");
  uint64_t rid = 1;
  REQUIRE(test::started(c.call(rid++, test::start("e")), "e"));
  REQUIRE(test::is<core::Actions>(c.call(rid++, test::get_action("e", {0.5f, 0.5f}))));
  core::LogReturns many{"e", {}};
  for (int i = 0; i < 1000; ++i) many.rewards.push_back({"x" + std::to_string(i), 1e6f, false});
  auto r = c.call(rid++, many);
  CHECK(test::is_error(r, ErrorCode::BadRequest));
  CHECK(error_message(r).find("outside any step") != std::string::npos);
  // Rewards that reach no step share ONE allowance of max_abs_reward per episode.
  CHECK(test::is<core::Ack>(c.call(rid++, core::LogReturns{"e", {{"y1", 4e5f, false}, {"y2", -4e5f, false}}})));
  CHECK(test::is_error(c.call(rid++, core::LogReturns{"e", {{"y3", 4e5f, false}}}), ErrorCode::BadRequest));
  // The agent that acted still gets its step's reward.
  CHECK(test::is<core::Ack>(c.call(rid++, test::log_returns("e", 9e5f))));
  // At most 1024 agents per episode, over several requests.
  for (int k = 0; k < 2; ++k) {
    core::GetAction g{"e", {}};
    for (int i = 0; i < 1000; ++i) g.agents.push_back(test::agent_obs({0.5f, 0.5f}, "g" + std::to_string(k * 1000 + i)));
    auto a = c.call(rid++, g);
    if (k == 0) CHECK(test::is<core::Actions>(a));
    else CHECK(error_message(a).find("at most 1024 agents") != std::string::npos);
  }
  REQUIRE(test::is<core::Ack>(c.call(rid++, core::EndEpisode{"e", {}, false, {}})));
  CHECK(test::eventually([&] { return s.metric("tandem_episodes_total") == 1; }));
  CHECK(s.metric("tandem_episode_reward_mean") == doctest::Approx(9e5));
}

TEST_CASE("a relu model trained on legal but extreme observations keeps finite weights") {
  // An unbounded Box: 1e30 is legal; observation_clip (default 1e4) bounds what the model sees.
  auto cfg = test::config_for("untrusted_extreme_obs");
  cfg["config"]["model"] = {{"fcnet_hiddens", {16}}, {"fcnet_activation", "relu"}};
  cfg["config"]["train_batch_size"] = 32;
  test::ServerProcess s(cfg, "untrusted_extreme_obs");
  test::RawClient c(s.port(), "extreme");
  uint64_t rid = 1;
  for (int ep = 0; ep < 6; ++ep) {
    const std::string id = "x" + std::to_string(ep);
    REQUIRE(test::started(c.call(rid++, test::start(id)), id));
    for (int t = 0; t < 10; ++t) {
      const float big = (t % 2 ? 1e30f : -3e37f);
      REQUIRE(test::is<core::Actions>(c.call(rid++, test::get_action(id, {big, 1e20f}))));
      REQUIRE(test::is<core::Ack>(c.call(rid++, test::log_returns(id, 1e6f))));
    }
    REQUIRE(test::is<core::Ack>(c.call(rid++, test::end_episode(id, {1e30f, 0.f}))));
  }
  CHECK(test::eventually([&] { return s.metric("tandem_training_iteration") >= 1; }, 30));
  // The served weights are finite: the actions the server computes stay finite.
  auto w = c.call(rid++, core::GetWeights{"p", -1});
  REQUIRE(test::is<core::Weights>(w));
  const auto& weights = std::get<core::Weights>(w);
  core::PolicySpec spec{"p", core::Space::box({2}), core::Space::discrete(3), {}, {}};
  spec.config.merge_json(cfg["config"]);
  core::WeightAssembler parts;
  REQUIRE(parts.add(weights).ok());
  REQUIRE(parts.complete());
  auto model = algo::load_inference_model(spec, parts.take(), weights.version);
  std::mt19937_64 rng(1);
  std::vector<algo::ActionResult> out;
  const std::vector<float> obs{1e4f, 1e4f};  // the clipped extreme
  model->compute_actions(obs, 1, {}, {}, rng, out);
  for (float x : out[0].dist_inputs) CHECK(std::isfinite(x));
  CHECK(std::isfinite(out[0].vf_pred));
}

TEST_CASE("a local client's turn-based episode passes the report checks with exact accounting") {
  // Two agents acting in turn, fragments cut every 4 agent steps: a report's env steps can
  // exceed its agent steps, so the client defers the surplus to the next report.
  auto cfg = test::config_for("untrusted_turns");
  cfg["config"]["rollout_fragment_length"] = 4;
  cfg["policy_mapping"] = {{"*", "p"}};
  test::ServerProcess s(cfg, "untrusted_turns", {"--no-train"});
  client::ClientOptions o;
  o.update_interval_s = 0.2;
  client::PolicyClient c(s.address(), client::InferenceMode::Local, o);
  for (int e = 0; e < 3; ++e) {
    auto ep = c.start_episode();
    for (int t = 0; t < 31; ++t) {
      const std::string who = t % 2 ? "b" : "a";
      auto a = c.get_action(ep, client::AgentObs{{who, std::vector<float>{0.1f * t, 0.f}}});
      REQUIRE(a.size() == 1);
      c.log_returns(ep, std::map<std::string, float>{{who, 1.f}});
    }
    c.end_episode(ep, client::AgentObs{{"a", {0.f, 0.f}}, {"b", {0.f, 0.f}}});
  }
  c.flush();
  CHECK(c.local_stats().rejected_reports == 0);
  CHECK(s.metric_reaches("tandem_timesteps_total", 93) == 93);
  CHECK(s.metric("tandem_episodes_total") == 3);
  CHECK(s.metric("tandem_episode_len_mean") == 31);
  CHECK(s.metric("tandem_episode_reward_mean") == 31);
}
