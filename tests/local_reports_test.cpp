// ReportSamples as the server sees it (a resend applied once, each bad field refused with its
// name) and the client-side split of a report that would not fit in one frame.
#include <doctest/doctest.h>

#include "support/local_rig.h"

using namespace tandem;
using namespace tandem::test_local;
TEST_CASE("ReportSamples: a resent request is applied once; bad fragments are refused") {
  auto j = config();
  j["policy_mapping"] = {{"agent0", "p"}};
  Running r(j);
  BlockingSocket ws(r.srv->port());
  auto roundtrip = [&](const wire::Frame& f) { return ws.roundtrip(f); };
  core::ReportSamples rep;
  rep.episode_id = "ep";
  rep.env_steps = 2;
  core::AgentFragment f;
  f.agent_id = "agent0";
  f.steps.obs = {0.f, 1.f, 2.f, 3.f};
  f.steps.actions = {0, 2};
  f.steps.action_logp = {-1.0986123f, -1.0986123f};  // log(1/3): uniform logits below
  f.steps.vf_preds = {0.5f, 0.5f};
  f.steps.dist_inputs = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  f.steps.rewards = {1.f, 1.f};
  f.steps.terminated = true;
  rep.fragments.push_back(f);
  rep.episode_done = true;
  rep.episode_reward = 2;
  rep.episode_length = 2;

  auto kind = [](const wire::Frame& fr) {
    auto d = wire::decode_reply(fr);
    REQUIRE(d.status.ok());
    return std::string(core::reply_name(d.reply));
  };
  auto message = [](const wire::Frame& fr) {
    auto d = wire::decode_reply(fr);
    return std::get<core::Error>(d.reply).message;
  };
  auto encode = [](uint64_t rid, const core::ReportSamples& r) { return wire::encode_request(rid, r); };
  const auto frame = encode(4242, rep);
  CHECK(kind(roundtrip(frame)) == "SamplesAccepted");
  CHECK(kind(roundtrip(frame)) == "SamplesAccepted");  // resend: answered
  CHECK(steps_in(r.take()) == 2);                                        // applied once
  CHECK(r.ctx().stats.peek().episodes_total == 1);
  CHECK(r.ctx().stats.peek().timesteps_total == 2);

  auto bad = rep;
  bad.fragments[0].steps.obs.pop_back();
  auto reply = roundtrip(encode(1, bad));
  REQUIRE(kind(reply) == "Error");
  CHECK(message(reply).find("obs has 3 values, 2 steps need 4") != std::string::npos);
  bad = rep;
  bad.fragments[0].steps.action_logp[1] = NAN;
  reply = roundtrip(encode(2, bad));
  REQUIRE(kind(reply) == "Error");
  CHECK(message(reply).find("action_logp is not finite") != std::string::npos);
  bad = rep;
  bad.fragments[0].steps.action_logp[0] = -1e30f;  // would make PPO's ratio infinite
  reply = roundtrip(encode(4, bad));
  REQUIRE(kind(reply) == "Error");
  CHECK(message(reply).find("is not the log-prob of the action") != std::string::npos);
  bad = rep;
  bad.fragments[0].steps.actions[1] = 3;
  reply = roundtrip(encode(3, bad));
  REQUIRE(kind(reply) == "Error");
  CHECK(message(reply).find("step 1") != std::string::npos);
  bad = rep;
  bad.fragments.push_back(rep.fragments[0]);
  bad.fragments[1].agent_id = "stranger";
  reply = roundtrip(encode(5, bad));
  REQUIRE(kind(reply) == "Error");
  CHECK(message(reply).find("agent 'stranger' is not mapped") != std::string::npos);
  bad = rep;
  bad.fragments.push_back(rep.fragments[0]);
  bad.fragments[1].steps.rewards.clear();
  reply = roundtrip(encode(6, bad));
  REQUIRE(kind(reply) == "Error");
  CHECK(message(reply).find("no steps") != std::string::npos);
  // Nothing of the refused reports was applied.
  CHECK(r.take().empty());
  CHECK(r.ctx().stats.peek().episodes_total == 1);
  CHECK(r.ctx().stats.peek().timesteps_total == 2);
}

TEST_CASE("split_to_frame_limit: pieces fit, chain their bootstrap values and keep every step") {
  core::ReportSamples rep;
  rep.episode_id = "big";
  rep.env_steps = 100;
  rep.episode_done = true;
  rep.custom_metrics = {{"m", 1.0}};
  core::AgentFragment frag;
  frag.agent_id = "a";
  auto& f = frag.steps;
  for (int t = 0; t < 100; ++t) {
    for (int k = 0; k < 1000; ++k) f.obs.push_back(static_cast<float>(t));
    f.actions.push_back(t % 3);
    f.action_logp.push_back(-1.f);
    f.vf_preds.push_back(static_cast<float>(t));
    f.dist_inputs.insert(f.dist_inputs.end(), {0.f, 0.f, 0.f});
    f.rewards.push_back(1.f);
  }
  f.terminated = true;
  rep.fragments.push_back(frag);
  auto parts = client::split_to_frame_limit(rep, 100000);  // ~4 KB per step -> ~24 per part
  REQUIRE(parts.size() >= 4);
  int64_t steps = 0, env = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    REQUIRE(parts[i].fragments.size() == 1);
    const auto& p = parts[i].fragments[0].steps;
    CHECK(client::fragment_bytes(parts[i].fragments[0]) <= 100000);
    CHECK(p.obs.size() == static_cast<size_t>(p.size()) * 1000);
    CHECK(p.obs.front() == static_cast<float>(steps));
    steps += p.size();
    env += parts[i].env_steps;
    const bool last = i + 1 == parts.size();
    CHECK(parts[i].episode_done == last);
    CHECK(p.terminated == last);
    CHECK(parts[i].custom_metrics.empty() == !last);
    if (!last) CHECK(p.bootstrap_value == static_cast<float>(steps));  // next piece's first value
  }
  CHECK(steps == 100);
  CHECK(env == 100);
}

