#include <doctest/doctest.h>

#include <flatbuffers/flatbuffers.h>

#include "schemas/codec.h"

using namespace tandem::wire;

TEST_CASE("codec round trip of a GetAction") {
  std::vector<float> obs{1.f, 2.f, 3.f}, mask{1.f, 0.f};
  AgentObsView a{"agent1", obs, mask};
  auto f = encode_get_action(42, "ep-1", {&a, 1});
  auto d = decode_frame(f);
  REQUIRE(d);
  CHECK(d.envelope->request_id() == 42);
  REQUIRE(d.envelope->message_type() == fb::Message::GetAction);
  const auto* m = d.envelope->message_as_GetAction();
  CHECK(view(m->episode_id()) == "ep-1");
  REQUIRE(m->agents()->size() == 1);
  CHECK(view(m->agents()->Get(0)->agent_id()) == "agent1");
  auto o = view(m->agents()->Get(0)->obs());
  CHECK(std::vector<float>(o.begin(), o.end()) == obs);
  CHECK(view(m->agents()->Get(0)->action_mask()).size() == 2);
}

TEST_CASE("codec round trip of replies") {
  std::vector<int64_t> act{3};
  AgentActionView a{"agent0", act};
  auto d = decode_frame(encode_actions(7, {&a, 1}, 12));
  REQUIRE(d);
  CHECK(d.envelope->message_as_Actions()->policy_version() == 12);
  CHECK(d.envelope->message_as_Actions()->actions()->Get(0)->discrete()->Get(0) == 3);
  auto e = decode_frame(encode_error(9, fb::ErrorCode::UnknownEpisode, "unknown episode 'x'"));
  REQUIRE(e);
  CHECK(e.envelope->message_as_Error()->code() == fb::ErrorCode::UnknownEpisode);
  CHECK(view(e.envelope->message_as_Error()->message()) == "unknown episode 'x'");
}

TEST_CASE("corrupted, truncated, oversized and foreign frames are rejected") {
  std::vector<float> obs(16, 0.5f);
  AgentObsView a{"agent0", obs};
  auto good = encode_get_action(1, "ep", {&a, 1});
  SUBCASE("truncated") {
    for (size_t n : {size_t(0), size_t(4), size_t(9), good.size() / 2, good.size() / 3}) {
      auto d = decode_frame({good.data(), n});
      CHECK_FALSE(d);
      CHECK(d.error == fb::ErrorCode::BadFrame);
    }
  }
  SUBCASE("corrupted offsets never crash and mostly fail verification") {
    int rejected = 0;
    for (size_t i = 0; i < good.size(); ++i) {
      auto bad = good;
      bad[i] ^= 0xFF;
      auto d = decode_frame(bad);
      if (!d) ++rejected;
      // Whatever verifies must be safe to read.
      if (d && d.envelope->message_type() == fb::Message::GetAction) {
        const auto* m = d.envelope->message_as_GetAction();
        if (m->agents())
          for (const auto* ag : *m->agents()) (void)view(ag->obs()).size();
      }
    }
    CHECK(rejected > 0);
  }
  SUBCASE("oversized") {
    std::vector<uint8_t> big(kMaxFrameBytes + 1, 0);
    auto d = decode_frame(big);
    CHECK_FALSE(d);
    CHECK(d.message.find("exceeds") != std::string::npos);
  }
  SUBCASE("foreign: another FlatBuffer without our identifier") {
    flatbuffers::FlatBufferBuilder fbb;
    auto s = fbb.CreateString("hello");
    fbb.Finish(s);
    auto d = decode_frame({fbb.GetBufferPointer(), fbb.GetSize()});
    CHECK_FALSE(d);
    CHECK(d.message.find("identifier") != std::string::npos);
  }
  SUBCASE("wrong protocol version") {
    flatbuffers::FlatBufferBuilder fbb;
    auto env = fb::CreateEnvelope(fbb, kProtocolVersion + 1, 5, fb::Message::GetConfig,
                                  fb::CreateGetConfig(fbb).Union());
    fbb.Finish(env, fb::EnvelopeIdentifier());
    auto d = decode_frame({fbb.GetBufferPointer(), fbb.GetSize()});
    CHECK_FALSE(d);
    CHECK(d.error == fb::ErrorCode::UnsupportedVersion);
    CHECK(d.request_id == 5);
  }
  SUBCASE("envelope without a message") {
    flatbuffers::FlatBufferBuilder fbb;
    auto env = fb::CreateEnvelope(fbb, kProtocolVersion, 5);
    fbb.Finish(env, fb::EnvelopeIdentifier());
    CHECK_FALSE(decode_frame({fbb.GetBufferPointer(), fbb.GetSize()}));
  }
}
