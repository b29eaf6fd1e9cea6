#include "schemas/message_codec.h"

namespace tandem::wire::detail {

namespace {

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

}  // namespace

// ---- requests ----
flatbuffers::Offset<fb::StartEpisode> put(FBB& fbb, const core::StartEpisode& m) {
  return fb::CreateStartEpisode(fbb, str(fbb, m.episode_id), m.training_enabled, m.explore);
}
flatbuffers::Offset<fb::GetAction> put(FBB& fbb, const core::GetAction& m) {
  auto id = str(fbb, m.episode_id);
  auto a = agent_obs(fbb, m.agents);
  return fb::CreateGetAction(fbb, id, a);
}
flatbuffers::Offset<fb::LogAction> put(FBB& fbb, const core::LogAction& m) {
  auto id = str(fbb, m.episode_id);
  auto o = agent_obs(fbb, m.agents);
  auto a = agent_actions(fbb, m.actions);
  return fb::CreateLogAction(fbb, id, o, a);
}
flatbuffers::Offset<fb::LogReturns> put(FBB& fbb, const core::LogReturns& m) {
  auto id = str(fbb, m.episode_id);
  auto r = agent_rewards(fbb, m.rewards);
  return fb::CreateLogReturns(fbb, id, r);
}
flatbuffers::Offset<fb::EndEpisode> put(FBB& fbb, const core::EndEpisode& m) {
  auto id = str(fbb, m.episode_id);
  auto o = agent_obs(fbb, m.agents);
  auto ms = metrics(fbb, m.custom_metrics);
  return fb::CreateEndEpisode(fbb, id, o, m.truncated, ms);
}
flatbuffers::Offset<fb::GetConfig> put(FBB& fbb, const core::GetConfig&) { return fb::CreateGetConfig(fbb); }
flatbuffers::Offset<fb::GetWeights> put(FBB& fbb, const core::GetWeights& m) {
  return fb::CreateGetWeights(fbb, str(fbb, m.policy_id), m.have_version);
}
flatbuffers::Offset<fb::ReportSamples> put(FBB& fbb, const core::ReportSamples& r) {
  auto fv = fragments(fbb, r.fragments);
  auto ep = str(fbb, r.episode_id);
  auto rv = agent_rewards(fbb, r.agent_rewards);
  auto m = metrics(fbb, r.custom_metrics);
  return fb::CreateReportSamples(fbb, ep, r.weights_version, fv, r.env_steps, r.training_enabled, r.explore,
                                 r.episode_done, r.episode_reward, r.episode_length, rv, m, r.env_steps_before);
}

core::StartEpisode get(const fb::StartEpisode& m) {
  return {text(m.episode_id()), m.training_enabled(), m.explore()};
}
core::GetAction get(const fb::GetAction& m) { return {text(m.episode_id()), agent_obs(m.agents())}; }
core::LogAction get(const fb::LogAction& m) {
  return {text(m.episode_id()), agent_obs(m.agents()), agent_actions(m.actions())};
}
core::LogReturns get(const fb::LogReturns& m) { return {text(m.episode_id()), agent_rewards(m.rewards())}; }
core::EndEpisode get(const fb::EndEpisode& m) {
  return {text(m.episode_id()), agent_obs(m.agents()), m.truncated(), metrics(m.custom_metrics())};
}
core::GetWeights get(const fb::GetWeights& m) { return {text(m.policy_id()), m.have_version()}; }
core::ReportSamples get(const fb::ReportSamples& m) {
  core::ReportSamples r;
  r.episode_id = text(m.episode_id());
  r.weights_version = m.weights_version();
  r.fragments = fragments(m.fragments());
  r.env_steps = m.env_steps();
  r.training_enabled = m.training_enabled();
  r.explore = m.explore();
  r.episode_done = m.episode_done();
  r.episode_reward = m.episode_reward();
  r.episode_length = m.episode_length();
  r.agent_rewards = agent_rewards(m.agent_rewards());
  r.custom_metrics = metrics(m.custom_metrics());
  r.env_steps_before = m.env_steps_before();
  return r;
}

// ---- replies ----
flatbuffers::Offset<fb::EpisodeStarted> put(FBB& fbb, const core::EpisodeStarted& m) {
  return fb::CreateEpisodeStarted(fbb, str(fbb, m.episode_id));
}
flatbuffers::Offset<fb::Actions> put(FBB& fbb, const core::Actions& m) {
  auto a = agent_actions(fbb, m.actions);
  return fb::CreateActions(fbb, a, m.policy_version);
}
flatbuffers::Offset<fb::Ack> put(FBB& fbb, const core::Ack&) { return fb::CreateAck(fbb); }
flatbuffers::Offset<fb::Config> put(FBB& fbb, const core::Config& m) {
  return fb::CreateConfig(fbb, str(fbb, m.json));
}
flatbuffers::Offset<fb::SamplesAccepted> put(FBB& fbb, const core::SamplesAccepted& m) {
  return fb::CreateSamplesAccepted(fbb, vec(fbb, m.policy_versions));
}
flatbuffers::Offset<fb::Weights> put(FBB& fbb, const core::Weights& m) {
  std::vector<flatbuffers::Offset<fb::TensorPart>> parts;
  parts.reserve(m.tensors.size());
  for (const auto& t : m.tensors)
    parts.push_back(fb::CreateTensorPart(fbb, str(fbb, t.name), vec(fbb, t.shape), t.offset, vec(fbb, t.data)));
  auto pid = str(fbb, m.policy_id);
  return fb::CreateWeights(fbb, pid, m.version, m.chunk_index, m.num_chunks, fbb.CreateVector(parts));
}
flatbuffers::Offset<fb::Error> put(FBB& fbb, const core::Error& m) {
  return fb::CreateError(fbb, static_cast<fb::ErrorCode>(m.code), str(fbb, m.message));
}

core::EpisodeStarted get(const fb::EpisodeStarted& m) { return {text(m.episode_id())}; }
core::Actions get(const fb::Actions& m) { return {agent_actions(m.actions()), m.policy_version()}; }
core::Config get(const fb::Config& m) { return {text(m.json())}; }
core::Weights get(const fb::Weights& m) {
  core::Weights w{text(m.policy_id()), m.version(), m.chunk_index(), m.num_chunks(), {}};
  if (const auto* ts = m.tensors()) {
    w.tensors.reserve(ts->size());
    for (const auto* t : *ts) w.tensors.push_back({text(t->name()), copy(t->shape()), t->offset(), copy(t->data())});
  }
  return w;
}
core::SamplesAccepted get(const fb::SamplesAccepted& m) { return {copy(m.policy_versions())}; }
core::Error get(const fb::Error& m) { return {static_cast<core::ErrorCode>(m.code()), text(m.message())}; }

}  // namespace tandem::wire::detail
