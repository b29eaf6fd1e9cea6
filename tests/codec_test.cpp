// The WebSocket codec: plain Request/Reply structs <-> verified FlatBuffers frames.
#include <doctest/doctest.h>

#include <flatbuffers/flatbuffers.h>

#include "core/weight_tensors.h"
#include "schemas/codec.h"
#include "schemas/tandem_generated.h"

using namespace tandem;
using namespace tandem::wire;

TEST_CASE("codec round trip of a GetAction; empty agent ids become agent0") {
  core::GetAction g{"ep-1", {{"agent1", {1.f, 2.f, 3.f}, {1.f, 0.f}}, {"", {4.f}, {}}}};
  auto d = decode_request(encode_request(42, g));
  REQUIRE(d.status.ok());
  CHECK(d.request_id == 42);
  const auto* m = std::get_if<core::GetAction>(&d.request);
  REQUIRE(m);
  CHECK(m->episode_id == "ep-1");
  REQUIRE(m->agents.size() == 2);
  CHECK(m->agents[0].agent_id == "agent1");
  CHECK(m->agents[0].obs == std::vector<float>{1.f, 2.f, 3.f});
  CHECK(m->agents[0].action_mask == std::vector<float>{1.f, 0.f});
  CHECK(m->agents[1].agent_id == "agent0");
}

TEST_CASE("codec round trip of every request type") {
  core::ReportSamples r;
  r.episode_id = "e";
  r.env_steps = 2;
  core::AgentFragment f{"a", {}};
  f.steps.obs = {1, 2};
  f.steps.actions = {1, 0};
  f.steps.action_logp = {-1, -2};
  f.steps.vf_preds = {0.5f, 0.25f};
  f.steps.dist_inputs = {0, 0, 0, 0};
  f.steps.rewards = {1, 2};
  f.steps.bootstrap_value = 3;
  r.fragments.push_back(f);
  r.agent_rewards = {{"a", 3.f, false}};
  std::vector<core::Request> all = {
      core::StartEpisode{"x", false, false},
      core::GetAction{"x", {{"a", {1}, {}}}},
      core::LogAction{"x", {{"a", {1}, {}}}, {{"a", {2}, {0.5f}}}},
      core::LogReturns{"x", {{"a", 1.5f, true}}},
      core::EndEpisode{"x", {{"a", {1}, {}}}, true, {{"m", 2.0}}},
      core::GetConfig{},
      core::GetWeights{"p", 7},
      r};
  for (const auto& req : all) {
    auto d = decode_request(encode_request(9, req));
    REQUIRE(d.status.ok());
    CHECK(d.request.index() == req.index());
    // Re-encoding the decoded request gives the same bytes (a resend is byte-identical).
    CHECK(encode_request(9, d.request) == encode_request(9, req));
  }
  auto d = decode_request(encode_request(1, all.back()));
  const auto& back = std::get<core::ReportSamples>(d.request);
  REQUIRE(back.fragments.size() == 1);
  CHECK(back.fragments[0].steps.rewards == std::vector<float>{1, 2});
  CHECK(back.fragments[0].steps.bootstrap_value == 3.f);
}

TEST_CASE("codec round trip of replies; large weights are chunked") {
  auto d = decode_reply(encode_reply_frame(7, core::Actions{{{"agent0", {3}, {}}}, 12}));
  REQUIRE(d.status.ok());
  const auto& a = std::get<core::Actions>(d.reply);
  CHECK(a.policy_version == 12);
  CHECK(a.actions.at(0).discrete == std::vector<int64_t>{3});
  auto e = decode_reply(encode_reply_frame(9, core::Error{core::ErrorCode::UnknownEpisode, "unknown episode 'x'"}));
  CHECK(std::get<core::Error>(e.reply).code == core::ErrorCode::UnknownEpisode);
  CHECK(std::get<core::Error>(e.reply).message == "unknown episode 'x'");

  // A weight set larger than two frames: its big tensor spans three frames as parts.
  const size_t per_frame = kWeightsChunkBytes / sizeof(float);
  core::WeightTensors tensors{{"a.weight", {2, 3}, {1, 2, 3, 4, 5, 6}},
                              {"big", {static_cast<int64_t>(per_frame * 2 + 10)}, {}},
                              {"log_std", {1}, {-0.5f}}};
  tensors[1].data.resize(per_frame * 2 + 10);
  for (size_t i = 0; i < tensors[1].data.size(); ++i) tensors[1].data[i] = static_cast<float>(i % 1000) * 0.5f;
  auto frames = encode_reply(3, core::whole_weights("p", 5, tensors));
  REQUIRE(frames.size() == 3);
  core::WeightAssembler parts;
  for (size_t i = 0; i < frames.size(); ++i) {
    CHECK(frames[i].size() <= kMaxFrameBytes);
    auto c = decode_reply(frames[i]);
    REQUIRE(c.status.ok());
    const auto& cw = std::get<core::Weights>(c.reply);
    CHECK(cw.chunk_index == static_cast<int32_t>(i));
    CHECK(cw.num_chunks == 3);
    REQUIRE(parts.add(cw).ok());
  }
  REQUIRE(parts.complete());
  CHECK(parts.version() == 5);
  CHECK(parts.take() == tensors);
}

TEST_CASE("a reply sent as a request, and a request sent as a reply, are refused") {
  auto d = decode_request(encode_reply_frame(4, core::Ack{}));
  CHECK(d.status.code == core::ErrorCode::BadRequest);
  CHECK(d.status.message.find("'Ack' is a reply") != std::string::npos);
  CHECK(d.request_id == 4);
  auto r = decode_reply(encode_request(4, core::GetConfig{}));
  CHECK_FALSE(r.status.ok());
}

TEST_CASE("corrupted, truncated, oversized and foreign frames are rejected") {
  auto good = encode_request(1, core::GetAction{"ep", {{"agent0", std::vector<float>(16, 0.5f), {}}}});
  SUBCASE("truncated") {
    for (size_t n : {size_t(0), size_t(4), size_t(9), good.size() / 2, good.size() / 3}) {
      auto d = decode_request({good.data(), n});
      CHECK(d.status.code == core::ErrorCode::BadFrame);
    }
  }
  SUBCASE("corrupted bytes never crash and mostly fail verification") {
    int rejected = 0;
    for (size_t i = 0; i < good.size(); ++i) {
      auto bad = good;
      bad[i] ^= 0xFF;
      auto d = decode_request(bad);  // decoding copies every field: safe whatever verified
      if (!d.status.ok()) ++rejected;
    }
    CHECK(rejected > 0);
  }
  SUBCASE("oversized") {
    std::vector<uint8_t> big(kMaxFrameBytes + 1, 0);
    auto d = decode_request(big);
    CHECK(d.status.code == core::ErrorCode::BadFrame);
    CHECK(d.status.message.find("exceeds") != std::string::npos);
  }
  SUBCASE("foreign: another FlatBuffer without our identifier") {
    flatbuffers::FlatBufferBuilder fbb;
    auto s = fbb.CreateString("hello");
    fbb.Finish(s);
    auto d = decode_request({fbb.GetBufferPointer(), fbb.GetSize()});
    CHECK(d.status.message.find("identifier") != std::string::npos);
  }
  SUBCASE("wrong protocol version") {
    flatbuffers::FlatBufferBuilder fbb;
    auto env = fb::CreateEnvelope(fbb, kProtocolVersion + 1, 5, fb::Message::GetConfig,
                                  fb::CreateGetConfig(fbb).Union());
    fbb.Finish(env, fb::EnvelopeIdentifier());
    auto d = decode_request({fbb.GetBufferPointer(), fbb.GetSize()});
    CHECK(d.status.code == core::ErrorCode::UnsupportedVersion);
    CHECK(d.request_id == 5);
  }
  SUBCASE("envelope without a message") {
    flatbuffers::FlatBufferBuilder fbb;
    auto env = fb::CreateEnvelope(fbb, kProtocolVersion, 5);
    fbb.Finish(env, fb::EnvelopeIdentifier());
    CHECK(decode_request({fbb.GetBufferPointer(), fbb.GetSize()}).status.code == core::ErrorCode::BadFrame);
  }
}

TEST_CASE("fingerprints tell different frames apart and equal frames alike") {
  auto a = encode_request(1, core::LogReturns{"e", {{"agent0", 1.f, false}}});
  auto b = encode_request(1, core::LogReturns{"e", {{"agent0", 2.f, false}}});
  CHECK(fingerprint(a) == fingerprint(encode_request(1, core::LogReturns{"e", {{"agent0", 1.f, false}}})));
  CHECK(fingerprint(a) != fingerprint(b));
}
