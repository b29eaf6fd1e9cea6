#include "schemas/codec.h"

#include <flatbuffers/flatbuffers.h>

#include "schemas/tandem_generated.h"

namespace tandem::wire {

static_assert(static_cast<uint16_t>(core::ErrorCode::Internal) ==
              static_cast<uint16_t>(fb::ErrorCode::Internal));
static_assert(static_cast<uint16_t>(core::ErrorCode::BadRequest) ==
              static_cast<uint16_t>(fb::ErrorCode::BadRequest));

namespace {

using FBB = flatbuffers::FlatBufferBuilder;

// One builder per thread, reused: encoding allocates only the returned Frame.
FBB& builder() {
  thread_local FBB fbb(1024);
  fbb.Clear();
  return fbb;
}

Frame finish(FBB& fbb, uint64_t rid, fb::Message type, flatbuffers::Offset<void> msg) {
  auto env = fb::CreateEnvelope(fbb, kProtocolVersion, rid, type, msg);
  fbb.Finish(env, fb::EnvelopeIdentifier());
  return Frame(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

// ---- encoding helpers ----
template <typename T>
flatbuffers::Offset<flatbuffers::Vector<T>> vec(FBB& fbb, const std::vector<T>& v) {
  return fbb.CreateVector(v.data(), v.size());
}
template <typename T>
flatbuffers::Offset<flatbuffers::Vector<T>> opt_vec(FBB& fbb, const std::vector<T>& v) {
  return v.empty() ? 0 : vec(fbb, v);
}
flatbuffers::Offset<flatbuffers::String> str(FBB& fbb, const std::string& s) {
  return fbb.CreateString(s.data(), s.size());
}
auto agent_obs(FBB& fbb, const std::vector<core::AgentObs>& agents) {
  std::vector<flatbuffers::Offset<fb::AgentObs>> offs;
  offs.reserve(agents.size());
  for (const auto& a : agents)
    offs.push_back(fb::CreateAgentObs(fbb, str(fbb, a.agent_id), vec(fbb, a.obs), 0,
                                      opt_vec(fbb, a.action_mask)));
  return fbb.CreateVector(offs);
}
auto agent_actions(FBB& fbb, const std::vector<core::AgentAction>& actions) {
  std::vector<flatbuffers::Offset<fb::AgentAction>> offs;
  offs.reserve(actions.size());
  for (const auto& a : actions)
    offs.push_back(fb::CreateAgentAction(fbb, str(fbb, a.agent_id), opt_vec(fbb, a.discrete),
                                         opt_vec(fbb, a.continuous)));
  return fbb.CreateVector(offs);
}
auto agent_rewards(FBB& fbb, const std::vector<core::AgentReward>& rs) {
  std::vector<flatbuffers::Offset<fb::AgentReward>> offs;
  offs.reserve(rs.size());
  for (const auto& r : rs) offs.push_back(fb::CreateAgentReward(fbb, str(fbb, r.agent_id), r.reward, r.done));
  return fbb.CreateVector(offs);
}
auto metrics(FBB& fbb, const std::vector<core::Metric>& ms) {
  std::vector<flatbuffers::Offset<fb::Metric>> offs;
  for (const auto& m : ms) offs.push_back(fb::CreateMetric(fbb, str(fbb, m.name), m.value));
  return fbb.CreateVector(offs);
}
auto fragments(FBB& fbb, const std::vector<core::AgentFragment>& fs) {
  std::vector<flatbuffers::Offset<fb::Fragment>> offs;
  offs.reserve(fs.size());
  for (const auto& f : fs) {
    const auto& s = f.steps;
    auto id = str(fbb, f.agent_id);
    auto obs = vec(fbb, s.obs);
    auto d = vec(fbb, s.actions);
    auto c = vec(fbb, s.actions_cont);
    auto lp = vec(fbb, s.action_logp);
    auto vf = vec(fbb, s.vf_preds);
    auto di = vec(fbb, s.dist_inputs);
    auto rw = vec(fbb, s.rewards);
    offs.push_back(fb::CreateFragment(fbb, id, obs, d, c, lp, vf, di, rw, s.terminated, s.bootstrap_value));
  }
  return fbb.CreateVector(offs);
}

// ---- decoding helpers (the frame is verified: every pointer read here is in bounds) ----
std::string text(const flatbuffers::String* s) { return s ? std::string(s->data(), s->size()) : std::string(); }
std::string agent_id(const flatbuffers::String* s) {
  return s && s->size() ? text(s) : std::string(core::kDefaultAgentId);
}
template <typename T>
std::vector<T> copy(const flatbuffers::Vector<T>* v) {
  return v ? std::vector<T>(v->data(), v->data() + v->size()) : std::vector<T>();
}
std::vector<core::AgentObs> agent_obs(const flatbuffers::Vector<flatbuffers::Offset<fb::AgentObs>>* v) {
  std::vector<core::AgentObs> out;
  if (!v) return out;
  out.reserve(v->size());
  for (const auto* a : *v) out.push_back({agent_id(a->agent_id()), copy(a->obs()), copy(a->action_mask())});
  return out;
}
std::vector<core::AgentAction> agent_actions(
    const flatbuffers::Vector<flatbuffers::Offset<fb::AgentAction>>* v) {
  std::vector<core::AgentAction> out;
  if (!v) return out;
  out.reserve(v->size());
  for (const auto* a : *v) out.push_back({agent_id(a->agent_id()), copy(a->discrete()), copy(a->continuous())});
  return out;
}
std::vector<core::AgentReward> agent_rewards(
    const flatbuffers::Vector<flatbuffers::Offset<fb::AgentReward>>* v) {
  std::vector<core::AgentReward> out;
  if (!v) return out;
  out.reserve(v->size());
  for (const auto* r : *v) out.push_back({agent_id(r->agent_id()), r->reward(), r->done()});
  return out;
}
std::vector<core::Metric> metrics(const flatbuffers::Vector<flatbuffers::Offset<fb::Metric>>* v) {
  std::vector<core::Metric> out;
  if (v)
    for (const auto* m : *v)
      if (m->name()) out.push_back({text(m->name()), m->value()});
  return out;
}
std::vector<core::AgentFragment> fragments(const flatbuffers::Vector<flatbuffers::Offset<fb::Fragment>>* v) {
  std::vector<core::AgentFragment> out;
  if (!v) return out;
  out.reserve(v->size());
  for (const auto* f : *v) {
    core::AgentFragment a;
    a.agent_id = agent_id(f->agent_id());
    auto& s = a.steps;
    s.obs = copy(f->obs());
    s.actions = copy(f->discrete());
    s.actions_cont = copy(f->continuous());
    s.action_logp = copy(f->action_logp());
    s.vf_preds = copy(f->vf_preds());
    s.dist_inputs = copy(f->dist_inputs());
    s.rewards = copy(f->rewards());
    s.terminated = f->terminated();
    s.bootstrap_value = f->bootstrap_value();
    out.push_back(std::move(a));
  }
  return out;
}

// Size, identifier, structure, version, a message present. Null + status on failure.
const fb::Envelope* verify(std::span<const uint8_t> bytes, uint64_t& rid, core::Status& st) {
  auto fail = [&](core::ErrorCode c, std::string m) -> const fb::Envelope* {
    st = core::Status::error(c, std::move(m));
    return nullptr;
  };
  if (bytes.size() > kMaxFrameBytes)
    return fail(core::ErrorCode::BadFrame, "frame of " + std::to_string(bytes.size()) +
                                               " bytes exceeds the limit of " + std::to_string(kMaxFrameBytes));
  if (bytes.size() < 8 || !fb::EnvelopeBufferHasIdentifier(bytes.data()))
    return fail(core::ErrorCode::BadFrame, "not a Tandem frame (missing file identifier 'TNDM')");
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), /*max_depth=*/32, /*max_tables=*/1000000);
  if (!fb::VerifyEnvelopeBuffer(verifier))
    return fail(core::ErrorCode::BadFrame, "frame failed FlatBuffers verification");
  const auto* env = fb::GetEnvelope(bytes.data());
  rid = env->request_id();
  if (env->version() != kProtocolVersion)
    return fail(core::ErrorCode::UnsupportedVersion,
                "protocol version " + std::to_string(env->version()) + " is not supported (this peer speaks " +
                    std::to_string(kProtocolVersion) + ")");
  if (env->message_type() == fb::Message::NONE || env->message() == nullptr)
    return fail(core::ErrorCode::BadFrame, "envelope carries no message");
  return env;
}

}  // namespace

DecodedRequest decode_request(std::span<const uint8_t> bytes) {
  DecodedRequest d;
  const auto* env = verify(bytes, d.request_id, d.status);
  if (!env) return d;
  switch (env->message_type()) {
    case fb::Message::StartEpisode: {
      const auto* m = env->message_as_StartEpisode();
      d.request = core::StartEpisode{text(m->episode_id()), m->training_enabled(), m->explore()};
      return d;
    }
    case fb::Message::GetAction: {
      const auto* m = env->message_as_GetAction();
      d.request = core::GetAction{text(m->episode_id()), agent_obs(m->agents())};
      return d;
    }
    case fb::Message::LogAction: {
      const auto* m = env->message_as_LogAction();
      d.request = core::LogAction{text(m->episode_id()), agent_obs(m->agents()), agent_actions(m->actions())};
      return d;
    }
    case fb::Message::LogReturns: {
      const auto* m = env->message_as_LogReturns();
      d.request = core::LogReturns{text(m->episode_id()), agent_rewards(m->rewards())};
      return d;
    }
    case fb::Message::EndEpisode: {
      const auto* m = env->message_as_EndEpisode();
      d.request = core::EndEpisode{text(m->episode_id()), agent_obs(m->agents()), m->truncated(),
                                   metrics(m->custom_metrics())};
      return d;
    }
    case fb::Message::GetConfig:
      d.request = core::GetConfig{};
      return d;
    case fb::Message::GetWeights: {
      const auto* m = env->message_as_GetWeights();
      d.request = core::GetWeights{text(m->policy_id()), m->have_version()};
      return d;
    }
    case fb::Message::ReportSamples: {
      const auto* m = env->message_as_ReportSamples();
      core::ReportSamples r;
      r.episode_id = text(m->episode_id());
      r.weights_version = m->weights_version();
      r.fragments = fragments(m->fragments());
      r.env_steps = m->env_steps();
      r.training_enabled = m->training_enabled();
      r.explore = m->explore();
      r.episode_done = m->episode_done();
      r.episode_reward = m->episode_reward();
      r.episode_length = m->episode_length();
      r.agent_rewards = agent_rewards(m->agent_rewards());
      r.custom_metrics = metrics(m->custom_metrics());
      d.request = std::move(r);
      return d;
    }
    default: break;
  }
  const auto t = static_cast<unsigned>(env->message_type());
  const char* name = t <= static_cast<unsigned>(fb::Message::MAX) ? fb::EnumNameMessage(env->message_type()) : "";
  d.status = core::Status::error(
      core::ErrorCode::BadRequest,
      name[0] ? std::string("message type '") + name + "' is a reply, not a request"
              : "unknown message type " + std::to_string(t) + " (this server speaks protocol " +
                    std::to_string(kProtocolVersion) + ")");
  return d;
}

DecodedReply decode_reply(std::span<const uint8_t> bytes) {
  DecodedReply d;
  const auto* env = verify(bytes, d.request_id, d.status);
  if (!env) return d;
  switch (env->message_type()) {
    case fb::Message::EpisodeStarted:
      d.reply = core::EpisodeStarted{text(env->message_as_EpisodeStarted()->episode_id())};
      return d;
    case fb::Message::Actions: {
      const auto* m = env->message_as_Actions();
      d.reply = core::Actions{agent_actions(m->actions()), m->policy_version()};
      return d;
    }
    case fb::Message::Ack: d.reply = core::Ack{}; return d;
    case fb::Message::Config: d.reply = core::Config{text(env->message_as_Config()->json())}; return d;
    case fb::Message::Weights: {
      const auto* m = env->message_as_Weights();
      d.reply = core::Weights{text(m->policy_id()), m->version(), m->chunk_index(), m->num_chunks(), copy(m->data())};
      return d;
    }
    case fb::Message::SamplesAccepted:
      d.reply = core::SamplesAccepted{copy(env->message_as_SamplesAccepted()->policy_versions())};
      return d;
    case fb::Message::Error: {
      const auto* m = env->message_as_Error();
      d.reply = core::Error{static_cast<core::ErrorCode>(m->code()), text(m->message())};
      return d;
    }
    default: break;
  }
  d.status = core::Status::error(core::ErrorCode::BadFrame, "the frame is a request or of an unknown type, not a reply");
  return d;
}

Frame encode_request(uint64_t rid, const core::Request& request) {
  auto& fbb = builder();
  struct V {
    FBB& fbb;
    uint64_t rid;
    Frame operator()(const core::StartEpisode& m) {
      auto o = fb::CreateStartEpisode(fbb, str(fbb, m.episode_id), m.training_enabled, m.explore);
      return finish(fbb, rid, fb::Message::StartEpisode, o.Union());
    }
    Frame operator()(const core::GetAction& m) {
      auto id = str(fbb, m.episode_id);
      auto a = agent_obs(fbb, m.agents);
      return finish(fbb, rid, fb::Message::GetAction, fb::CreateGetAction(fbb, id, a).Union());
    }
    Frame operator()(const core::LogAction& m) {
      auto id = str(fbb, m.episode_id);
      auto o = agent_obs(fbb, m.agents);
      auto a = agent_actions(fbb, m.actions);
      return finish(fbb, rid, fb::Message::LogAction, fb::CreateLogAction(fbb, id, o, a).Union());
    }
    Frame operator()(const core::LogReturns& m) {
      auto id = str(fbb, m.episode_id);
      auto r = agent_rewards(fbb, m.rewards);
      return finish(fbb, rid, fb::Message::LogReturns, fb::CreateLogReturns(fbb, id, r).Union());
    }
    Frame operator()(const core::EndEpisode& m) {
      auto id = str(fbb, m.episode_id);
      auto o = agent_obs(fbb, m.agents);
      auto ms = metrics(fbb, m.custom_metrics);
      return finish(fbb, rid, fb::Message::EndEpisode, fb::CreateEndEpisode(fbb, id, o, m.truncated, ms).Union());
    }
    Frame operator()(const core::GetConfig&) {
      return finish(fbb, rid, fb::Message::GetConfig, fb::CreateGetConfig(fbb).Union());
    }
    Frame operator()(const core::GetWeights& m) {
      auto o = fb::CreateGetWeights(fbb, str(fbb, m.policy_id), m.have_version);
      return finish(fbb, rid, fb::Message::GetWeights, o.Union());
    }
    Frame operator()(const core::ReportSamples& r) {
      auto fv = fragments(fbb, r.fragments);
      auto ep = str(fbb, r.episode_id);
      auto rv = agent_rewards(fbb, r.agent_rewards);
      auto m = metrics(fbb, r.custom_metrics);
      auto o = fb::CreateReportSamples(fbb, ep, r.weights_version, fv, r.env_steps, r.training_enabled,
                                       r.explore, r.episode_done, r.episode_reward, r.episode_length, rv, m);
      return finish(fbb, rid, fb::Message::ReportSamples, o.Union());
    }
  };
  return std::visit(V{fbb, rid}, request);
}

std::vector<Frame> encode_reply(uint64_t rid, const core::Reply& reply) {
  std::vector<Frame> out;
  if (const auto* w = std::get_if<core::Weights>(&reply)) {
    // Split a large blob into frames under the frame limit; the client reassembles them.
    const size_t chunk = kWeightsChunkBytes;
    const auto chunks = static_cast<int32_t>(std::max<size_t>(1, (w->data.size() + chunk - 1) / chunk));
    for (int32_t i = 0; i < chunks; ++i) {
      const size_t off = static_cast<size_t>(i) * chunk;
      const size_t len = std::min(chunk, w->data.size() - std::min(off, w->data.size()));
      auto& fbb = builder();
      auto pid = str(fbb, w->policy_id);
      auto d = fbb.CreateVector(w->data.data() + off, len);
      auto m = fb::CreateWeights(fbb, pid, w->version, i, chunks, d);
      out.push_back(finish(fbb, rid, fb::Message::Weights, m.Union()));
    }
    return out;
  }
  auto& fbb = builder();
  struct V {
    FBB& fbb;
    uint64_t rid;
    Frame operator()(const core::EpisodeStarted& m) {
      auto o = fb::CreateEpisodeStarted(fbb, str(fbb, m.episode_id));
      return finish(fbb, rid, fb::Message::EpisodeStarted, o.Union());
    }
    Frame operator()(const core::Actions& m) {
      auto a = agent_actions(fbb, m.actions);
      return finish(fbb, rid, fb::Message::Actions, fb::CreateActions(fbb, a, m.policy_version).Union());
    }
    Frame operator()(const core::Ack&) { return finish(fbb, rid, fb::Message::Ack, fb::CreateAck(fbb).Union()); }
    Frame operator()(const core::Config& m) {
      return finish(fbb, rid, fb::Message::Config, fb::CreateConfig(fbb, str(fbb, m.json)).Union());
    }
    Frame operator()(const core::Weights&) { return {}; }  // handled above
    Frame operator()(const core::SamplesAccepted& m) {
      auto o = fb::CreateSamplesAccepted(fbb, vec(fbb, m.policy_versions));
      return finish(fbb, rid, fb::Message::SamplesAccepted, o.Union());
    }
    Frame operator()(const core::Error& m) {
      auto o = fb::CreateError(fbb, static_cast<fb::ErrorCode>(m.code), str(fbb, m.message));
      return finish(fbb, rid, fb::Message::Error, o.Union());
    }
  };
  out.push_back(std::visit(V{fbb, rid}, reply));
  return out;
}

Frame encode_reply_frame(uint64_t rid, const core::Reply& reply) {
  return std::move(encode_reply(rid, reply).front());
}

uint64_t fingerprint(std::span<const uint8_t> bytes) {
  // FNV-1a, 64 bit.
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace tandem::wire
