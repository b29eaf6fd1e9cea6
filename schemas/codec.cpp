#include "schemas/codec.h"

#include <flatbuffers/flatbuffers.h>

namespace tandem::wire {
namespace {

// One builder per thread, reused: encoding allocates only the returned Frame.
flatbuffers::FlatBufferBuilder& builder() {
  thread_local flatbuffers::FlatBufferBuilder fbb(1024);
  fbb.Clear();
  return fbb;
}

Frame finish(flatbuffers::FlatBufferBuilder& fbb, uint64_t rid, fb::Message type,
             flatbuffers::Offset<void> msg) {
  auto env = fb::CreateEnvelope(fbb, kProtocolVersion, rid, type, msg);
  fbb.Finish(env, fb::EnvelopeIdentifier());
  return Frame(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

template <typename T>
flatbuffers::Offset<flatbuffers::Vector<T>> vec(flatbuffers::FlatBufferBuilder& fbb,
                                                std::span<const T> s) {
  return fbb.CreateVector(s.data(), s.size());
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::AgentObs>>> agent_obs(
    flatbuffers::FlatBufferBuilder& fbb, std::span<const AgentObsView> agents) {
  std::vector<flatbuffers::Offset<fb::AgentObs>> offs;
  offs.reserve(agents.size());
  for (const auto& a : agents) {
    auto id = fbb.CreateString(a.agent_id.data(), a.agent_id.size());
    auto obs = vec(fbb, a.obs);
    flatbuffers::Offset<flatbuffers::Vector<float>> mask;
    if (!a.action_mask.empty()) mask = vec(fbb, a.action_mask);
    offs.push_back(fb::CreateAgentObs(fbb, id, obs, 0, mask));
  }
  return fbb.CreateVector(offs);
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::AgentAction>>> agent_actions(
    flatbuffers::FlatBufferBuilder& fbb, std::span<const AgentActionView> actions) {
  std::vector<flatbuffers::Offset<fb::AgentAction>> offs;
  offs.reserve(actions.size());
  for (const auto& a : actions) {
    auto id = fbb.CreateString(a.agent_id.data(), a.agent_id.size());
    flatbuffers::Offset<flatbuffers::Vector<int64_t>> d;
    flatbuffers::Offset<flatbuffers::Vector<float>> c;
    if (!a.discrete.empty()) d = vec(fbb, a.discrete);
    if (!a.continuous.empty()) c = vec(fbb, a.continuous);
    offs.push_back(fb::CreateAgentAction(fbb, id, d, c));
  }
  return fbb.CreateVector(offs);
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Metric>>> metrics(
    flatbuffers::FlatBufferBuilder& fbb, std::span<const MetricView> ms) {
  std::vector<flatbuffers::Offset<fb::Metric>> offs;
  for (const auto& m : ms)
    offs.push_back(fb::CreateMetric(fbb, fbb.CreateString(m.name.data(), m.name.size()), m.value));
  return fbb.CreateVector(offs);
}

flatbuffers::Offset<flatbuffers::String> str(flatbuffers::FlatBufferBuilder& fbb,
                                             std::string_view s) {
  return fbb.CreateString(s.data(), s.size());
}

}  // namespace

Decoded decode_frame(std::span<const uint8_t> bytes) {
  Decoded d;
  auto fail = [&](fb::ErrorCode code, std::string msg) {
    d.envelope = nullptr;
    d.error = code;
    d.message = std::move(msg);
    return d;
  };
  if (bytes.size() > kMaxFrameBytes)
    return fail(fb::ErrorCode::BadFrame, "frame of " + std::to_string(bytes.size()) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(kMaxFrameBytes));
  if (bytes.size() < 8 || !fb::EnvelopeBufferHasIdentifier(bytes.data()))
    return fail(fb::ErrorCode::BadFrame, "not a Tandem frame (missing file identifier 'TNDM')");
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), /*max_depth=*/32,
                                 /*max_tables=*/1000000);
  if (!fb::VerifyEnvelopeBuffer(verifier))
    return fail(fb::ErrorCode::BadFrame, "frame failed FlatBuffers verification");
  const auto* env = fb::GetEnvelope(bytes.data());
  d.request_id = env->request_id();
  if (env->version() != kProtocolVersion)
    return fail(fb::ErrorCode::UnsupportedVersion,
                "protocol version " + std::to_string(env->version()) + " is not supported (this peer speaks " +
                    std::to_string(kProtocolVersion) + ")");
  if (env->message_type() == fb::Message::NONE || env->message() == nullptr)
    return fail(fb::ErrorCode::BadFrame, "envelope carries no message");
  d.envelope = env;
  return d;
}

Frame encode_start_episode(uint64_t rid, std::string_view episode_id, bool training_enabled,
                           bool explore) {
  auto& fbb = builder();
  auto m = fb::CreateStartEpisode(fbb, str(fbb, episode_id), training_enabled, explore);
  return finish(fbb, rid, fb::Message::StartEpisode, m.Union());
}

Frame encode_get_action(uint64_t rid, std::string_view episode_id,
                        std::span<const AgentObsView> agents) {
  auto& fbb = builder();
  auto id = str(fbb, episode_id);
  auto a = agent_obs(fbb, agents);
  return finish(fbb, rid, fb::Message::GetAction, fb::CreateGetAction(fbb, id, a).Union());
}

Frame encode_log_action(uint64_t rid, std::string_view episode_id,
                        std::span<const AgentObsView> agents,
                        std::span<const AgentActionView> actions) {
  auto& fbb = builder();
  auto id = str(fbb, episode_id);
  auto o = agent_obs(fbb, agents);
  auto a = agent_actions(fbb, actions);
  return finish(fbb, rid, fb::Message::LogAction, fb::CreateLogAction(fbb, id, o, a).Union());
}

Frame encode_log_returns(uint64_t rid, std::string_view episode_id,
                         std::span<const AgentRewardView> rewards) {
  auto& fbb = builder();
  auto id = str(fbb, episode_id);
  std::vector<flatbuffers::Offset<fb::AgentReward>> offs;
  offs.reserve(rewards.size());
  for (const auto& r : rewards)
    offs.push_back(fb::CreateAgentReward(fbb, str(fbb, r.agent_id), r.reward, r.done));
  auto v = fbb.CreateVector(offs);
  return finish(fbb, rid, fb::Message::LogReturns, fb::CreateLogReturns(fbb, id, v).Union());
}

Frame encode_end_episode(uint64_t rid, std::string_view episode_id,
                         std::span<const AgentObsView> agents, bool truncated,
                         std::span<const MetricView> custom_metrics) {
  auto& fbb = builder();
  auto id = str(fbb, episode_id);
  auto o = agent_obs(fbb, agents);
  auto m = metrics(fbb, custom_metrics);
  return finish(fbb, rid, fb::Message::EndEpisode,
                fb::CreateEndEpisode(fbb, id, o, truncated, m).Union());
}

Frame encode_get_config(uint64_t rid) {
  auto& fbb = builder();
  return finish(fbb, rid, fb::Message::GetConfig, fb::CreateGetConfig(fbb).Union());
}

Frame encode_get_weights(uint64_t rid, std::string_view policy_id, int64_t have_version) {
  auto& fbb = builder();
  auto m = fb::CreateGetWeights(fbb, str(fbb, policy_id), have_version);
  return finish(fbb, rid, fb::Message::GetWeights, m.Union());
}

Frame encode_report_samples(uint64_t rid, const ReportSamplesView& r) {
  auto& fbb = builder();
  std::vector<flatbuffers::Offset<fb::Fragment>> frags;
  frags.reserve(r.fragments.size());
  for (const auto& f : r.fragments) {
    auto id = str(fbb, f.agent_id);
    auto obs = vec(fbb, f.obs);
    auto d = vec(fbb, f.discrete);
    auto c = vec(fbb, f.continuous);
    auto lp = vec(fbb, f.action_logp);
    auto vf = vec(fbb, f.vf_preds);
    auto di = vec(fbb, f.dist_inputs);
    auto rw = vec(fbb, f.rewards);
    frags.push_back(fb::CreateFragment(fbb, id, obs, d, c, lp, vf, di, rw, f.terminated,
                                       f.bootstrap_value));
  }
  auto fv = fbb.CreateVector(frags);
  auto ep = str(fbb, r.episode_id);
  std::vector<flatbuffers::Offset<fb::AgentReward>> rews;
  for (const auto& a : r.agent_rewards)
    rews.push_back(fb::CreateAgentReward(fbb, str(fbb, a.agent_id), a.reward, a.done));
  auto rv = fbb.CreateVector(rews);
  auto m = metrics(fbb, r.custom_metrics);
  auto msg = fb::CreateReportSamples(fbb, ep, r.weights_version, fv, r.env_steps,
                                     r.training_enabled, r.explore, r.episode_done,
                                     r.episode_reward, r.episode_length, rv, m);
  return finish(fbb, rid, fb::Message::ReportSamples, msg.Union());
}

Frame encode_episode_started(uint64_t rid, std::string_view episode_id) {
  auto& fbb = builder();
  auto m = fb::CreateEpisodeStarted(fbb, str(fbb, episode_id));
  return finish(fbb, rid, fb::Message::EpisodeStarted, m.Union());
}

Frame encode_actions(uint64_t rid, std::span<const AgentActionView> actions,
                     int64_t policy_version) {
  auto& fbb = builder();
  auto a = agent_actions(fbb, actions);
  return finish(fbb, rid, fb::Message::Actions, fb::CreateActions(fbb, a, policy_version).Union());
}

Frame encode_ack(uint64_t rid) {
  auto& fbb = builder();
  return finish(fbb, rid, fb::Message::Ack, fb::CreateAck(fbb).Union());
}

Frame encode_config(uint64_t rid, std::string_view json) {
  auto& fbb = builder();
  auto m = fb::CreateConfig(fbb, str(fbb, json));
  return finish(fbb, rid, fb::Message::Config, m.Union());
}

Frame encode_weights(uint64_t rid, std::string_view policy_id, int64_t version, int32_t chunk_index,
                     int32_t num_chunks, std::span<const uint8_t> data) {
  auto& fbb = builder();
  auto pid = str(fbb, policy_id);
  auto d = vec(fbb, data);
  auto m = fb::CreateWeights(fbb, pid, version, chunk_index, num_chunks, d);
  return finish(fbb, rid, fb::Message::Weights, m.Union());
}

Frame encode_error(uint64_t rid, fb::ErrorCode code, std::string_view message) {
  auto& fbb = builder();
  auto m = fb::CreateError(fbb, code, str(fbb, message));
  return finish(fbb, rid, fb::Message::Error, m.Union());
}

Frame encode_samples_accepted(uint64_t rid, std::span<const int64_t> policy_versions) {
  auto& fbb = builder();
  auto m = fb::CreateSamplesAccepted(fbb, vec(fbb, policy_versions));
  return finish(fbb, rid, fb::Message::SamplesAccepted, m.Union());
}

const char* error_code_name(fb::ErrorCode code) { return fb::EnumNameErrorCode(code); }

}  // namespace tandem::wire
