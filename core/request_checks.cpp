#include "core/request_checks.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "core/action_logp.h"
#include "core/overload.h"
#include "core/text.h"

namespace tandem::core {

namespace {
bool all_finite(std::span<const float> v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}
std::string agent_label(const std::string& id) { return "agent " + quote(id) + ": "; }

Status bad_id(std::string why) { return Status::error(ErrorCode::BadRequest, std::move(why)); }

Status check_count(size_t n, size_t max, const char* what) {
  if (n <= max) return {};
  return Status::error(ErrorCode::BadRequest, std::string(what) + ": " + std::to_string(n) +
                                                  " in one request, at most " + std::to_string(max));
}

Status check_agent_ids(const auto& list) {
  for (const auto& a : list)
    if (auto why = check_id(a.agent_id, kMaxAgentIdBytes, "agent id"); !why.empty()) return bad_id(why);
  return {};
}

Status check_metrics(const std::vector<Metric>& ms) {
  if (auto s = check_count(ms.size(), kMaxMetricsPerRequest, "custom_metrics"); !s.ok()) return s;
  for (const auto& m : ms) {
    // (A non-finite value is accepted and left out of the aggregates, as before.)
    if (auto why = check_id(m.name, kMaxNameBytes, "custom metric"); !why.empty()) return bad_id(why);
  }
  return {};
}

Status check_episode_id(const std::string& id) {
  if (auto why = check_id(id, kMaxEpisodeIdBytes, "episode id"); !why.empty()) return bad_id(why);
  return {};
}
}  // namespace

namespace {
Status all(std::initializer_list<Status> ss) {
  for (const auto& s : ss)
    if (!s.ok()) return s;
  return Status{};
}
Status check_msg(const StartEpisode& m) { return check_episode_id(m.episode_id); }
Status check_msg(const GetAction& m) {
  return all({check_episode_id(m.episode_id), check_count(m.agents.size(), kMaxAgentsPerFrame, "agents"),
              check_agent_ids(m.agents)});
}
Status check_msg(const LogAction& m) {
  return all({check_episode_id(m.episode_id), check_count(m.agents.size(), kMaxAgentsPerFrame, "agents"),
              check_count(m.actions.size(), kMaxAgentsPerFrame, "actions"), check_agent_ids(m.agents),
              check_agent_ids(m.actions)});
}
Status check_msg(const LogReturns& m) {
  return all({check_episode_id(m.episode_id), check_count(m.rewards.size(), kMaxAgentsPerFrame, "rewards"),
              check_agent_ids(m.rewards)});
}
Status check_msg(const EndEpisode& m) {
  return all({check_episode_id(m.episode_id), check_count(m.agents.size(), kMaxAgentsPerFrame, "agents"),
              check_agent_ids(m.agents), check_metrics(m.custom_metrics)});
}
Status check_msg(const GetConfig&) { return Status{}; }
Status check_msg(const GetWeights& m) {
  if (auto why = check_id(m.policy_id, kMaxNameBytes, "policy id"); !why.empty()) return bad_id(why);
  return Status{};
}
Status check_msg(const ReportSamples& m) {
  return all({check_episode_id(m.episode_id), check_count(m.fragments.size(), kMaxFragmentsPerReport, "fragments"),
              check_count(m.agent_rewards.size(), kMaxFragmentsPerReport, "agent_rewards"),
              check_agent_ids(m.fragments), check_agent_ids(m.agent_rewards), check_metrics(m.custom_metrics)});
}
Status check_msg(const VectorRequest& m) {
  if (auto s = check_count(m.entries.size(), kMaxEntriesPerVector, "entries"); !s.ok()) return s;
  size_t agents = 0;
  for (const auto& e : m.entries)
    agents += std::visit(Overload{[](const StartEpisode&) -> size_t { return 0; },
                                  [](const LogReturns& x) { return x.rewards.size(); },
                                  [](const auto& x) { return x.agents.size(); }},
                         e);
  return check_count(agents, kMaxAgentsPerVector, "agents over all entries");
}
}  // namespace

Status check_entry(const EpisodeRequest& e) {
  return std::visit([](const auto& x) { return check_msg(x); }, e);
}

Status check_envelope(const Request& r) {
  return std::visit([](const auto& m) { return check_msg(m); }, r);
}

int64_t mask_size(const Space& as) {
  if (as.kind == SpaceKind::Discrete) return as.n;
  int64_t n = 0;
  if (as.kind == SpaceKind::MultiDiscrete)
    for (auto v : as.nvec) n += v;
  return n;
}

Status check_observation(const PolicySpec& spec, const std::string& agent_id,
                         std::span<const float> obs, std::span<const float> action_mask) {
  if (auto why = spec.observation_space.validate(obs); !why.empty())
    return Status::error(ErrorCode::BadObservation, agent_label(agent_id) + why);
  if (action_mask.empty()) return {};
  const int64_t want = mask_size(spec.action_space);
  if (static_cast<int64_t>(action_mask.size()) != want)
    return Status::error(ErrorCode::BadObservation,
                         agent_label(agent_id) + "action_mask has " + std::to_string(action_mask.size()) +
                             " values, the action space " + spec.action_space.describe() + " needs " +
                             std::to_string(want));
  // Every (sub-)action needs at least one allowed value, or sampling would pick a masked one.
  std::vector<int64_t> parts = spec.action_space.kind == SpaceKind::Discrete
                                   ? std::vector<int64_t>{spec.action_space.n}
                                   : spec.action_space.nvec;
  size_t off = 0;
  for (size_t c = 0; c < parts.size(); ++c) {
    bool any = false;
    for (int64_t k = 0; k < parts[c]; ++k) {
      const float m = action_mask[off + static_cast<size_t>(k)];
      if (m != 0.f && m != 1.f)
        return Status::error(ErrorCode::BadObservation,
                             agent_label(agent_id) + "action_mask values must be 0 or 1");
      any = any || m == 1.f;
    }
    if (!any)
      return Status::error(ErrorCode::BadObservation,
                           agent_label(agent_id) + "action_mask allows no action" +
                               (parts.size() > 1 ? " of component " + std::to_string(c) : std::string()));
    off += static_cast<size_t>(parts[c]);
  }
  return {};
}

Status check_action(const PolicySpec& spec, const std::string& agent_id,
                    std::span<const int64_t> discrete, std::span<const float> continuous,
                    std::span<const float> action_mask) {
  if (auto why = validate_action(spec.action_space, discrete, continuous); !why.empty())
    return Status::error(ErrorCode::BadAction, agent_label(agent_id) + why);
  for (size_t i = 0; i < continuous.size(); ++i)
    if (std::fabs(continuous[i]) > kMaxAbsAction)
      return Status::error(ErrorCode::BadAction, agent_label(agent_id) + "action element " + std::to_string(i) +
                                                     " is " + std::to_string(continuous[i]) + ", beyond +-" +
                                                     std::to_string(kMaxAbsAction));
  if (action_mask.empty() || spec.action_space.kind == SpaceKind::Box) return {};
  // (The mask was checked against the space by check_observation.)
  size_t off = 0;
  for (size_t c = 0; c < discrete.size(); ++c) {
    if (action_mask[off + static_cast<size_t>(discrete[c])] != 1.f)
      return Status::error(ErrorCode::BadAction, agent_label(agent_id) + "action " + std::to_string(discrete[c]) +
                                                     (discrete.size() > 1 ? " of component " + std::to_string(c) : "") +
                                                     " is masked out by its own action_mask");
    off += static_cast<size_t>(spec.action_space.kind == SpaceKind::Discrete ? spec.action_space.n
                                                                              : spec.action_space.nvec[c]);
  }
  return {};
}

Status check_agents(const PolicyResolver& policies, const std::string& episode_id,
                    const std::vector<AgentObs>& agents, bool allow_empty,
                    std::vector<int>& policy_of_agent) {
  policy_of_agent.clear();
  if (agents.empty() && !allow_empty)
    return Status::error(ErrorCode::BadRequest, "no agent observations");
  if (auto s = check_count(agents.size(), kMaxAgentsPerFrame, "agents"); !s.ok()) return s;
  if (auto s = check_agent_ids(agents); !s.ok()) return s;
  std::unordered_set<std::string_view> seen;
  seen.reserve(agents.size());
  for (const auto& a : agents) {
    if (!seen.insert(a.agent_id).second)
      return Status::error(ErrorCode::BadRequest, "agent " + quote(a.agent_id) + " appears twice");
    const int p = policies.policy_for(episode_id, a.agent_id);
    if (p < 0)
      return Status::error(ErrorCode::UnknownAgent,
                           "agent " + quote(a.agent_id) + " is not mapped to any policy of this server");
    policy_of_agent.push_back(p);
  }
  return {};
}

void adopt_logged_action(const Space& action_space, const AgentAction& logged, ActionResult& r) {
  r.discrete = logged.discrete;
  r.continuous = logged.continuous;
  r.logp = action_logp(action_space, r.dist_inputs, r.discrete, r.continuous);
}

namespace {
// One fragment -> a training trajectory (observations preprocessed).
Status to_training(const AgentFragment& f, const PolicySpec& spec, Trajectory& out) {
  const std::string who = "fragment of agent " + quote(f.agent_id) + ": ";
  auto bad = [&](ErrorCode c, const std::string& m) { return Status::error(c, who + m); };
  const auto& os = spec.observation_space;
  const auto& as = spec.action_space;
  const auto& s = f.steps;
  const int64_t T = s.size();
  if (T == 0) return bad(ErrorCode::BadRequest, "no steps");
  auto size_is = [&](const char* name, size_t got, int64_t width) -> Status {
    if (static_cast<int64_t>(got) == T * width) return {};
    return bad(ErrorCode::BadRequest, std::string(name) + " has " + std::to_string(got) +
                                          " values, " + std::to_string(T) + " steps need " +
                                          std::to_string(T * width));
  };
  const int64_t dw = discrete_action_width(as), cw = continuous_action_width(as), dd = dist_dim(as);
  for (auto st : {size_is("action_logp", s.action_logp.size(), 1), size_is("vf_preds", s.vf_preds.size(), 1),
                  size_is("obs", s.obs.size(), os.raw_size()), size_is("discrete", s.actions.size(), dw),
                  size_is("continuous", s.actions_cont.size(), cw),
                  size_is("dist_inputs", s.dist_inputs.size(), dd)})
    if (!st.ok()) return st;
  const double max_r = spec.config.max_abs_reward;
  for (size_t t = 0; t < s.rewards.size(); ++t)
    if (!std::isfinite(s.rewards[t]) || std::fabs(s.rewards[t]) > max_r)
      return bad(ErrorCode::BadRequest, "reward of step " + std::to_string(t) + " is " + std::to_string(s.rewards[t]) +
                                            ": rewards must be finite and within +-max_abs_reward (" +
                                            std::to_string(max_r) + ")");
  // Value estimates enter the advantages: bounded by what returns within max_abs_reward can
  // be (10x, for a model's overshoot), so one report cannot make the learner skip a batch.
  const double max_v = std::min(1e11, 10.0 * max_r / std::max(1e-3, 1.0 - spec.config.gamma));
  for (size_t t = 0; t < s.vf_preds.size(); ++t)
    if (!(std::fabs(s.vf_preds[t]) <= max_v))
      return bad(ErrorCode::BadRequest, "vf_preds[" + std::to_string(t) + "] is beyond +-" + std::to_string(max_v));
  if (!(std::fabs(s.bootstrap_value) <= max_v))
    return bad(ErrorCode::BadRequest, "bootstrap_value is beyond +-" + std::to_string(max_v));
  const bool box = as.kind == SpaceKind::Box;
  const size_t box_dim = box ? static_cast<size_t>(as.raw_size()) : 0;  // Box dist_inputs: mean, then log_std
  for (size_t k = 0; k < s.dist_inputs.size(); ++k) {
    const float x = s.dist_inputs[k];
    const bool log_std = box && (k % (2 * box_dim)) >= box_dim;
    const bool ok = box ? std::fabs(x) <= (log_std ? kMaxAbsLogStd : kMaxAbsDistInput)
                        : (std::fabs(x) <= kMaxAbsLogit || x == kMaskedLogit);
    if (!ok)
      return bad(ErrorCode::BadRequest, "dist_inputs[" + std::to_string(k) + "] is " + std::to_string(x) +
                                            ", beyond +-" +
                                            std::to_string(box ? (log_std ? kMaxAbsLogStd : kMaxAbsDistInput) : kMaxAbsLogit));
  }
  for (size_t k = 0; k < s.actions_cont.size(); ++k)
    if (std::fabs(s.actions_cont[k]) > kMaxAbsAction)
      return bad(ErrorCode::BadAction, "action element " + std::to_string(k) + " is beyond +-" +
                                           std::to_string(kMaxAbsAction));
  if (!all_finite(s.action_logp)) return bad(ErrorCode::BadRequest, "an action_logp is not finite");
  if (!all_finite(s.vf_preds)) return bad(ErrorCode::BadRequest, "a vf_pred is not finite");
  if (!all_finite(s.dist_inputs)) return bad(ErrorCode::BadRequest, "a dist_input is not finite");
  if (!std::isfinite(s.bootstrap_value)) return bad(ErrorCode::BadRequest, "bootstrap_value is not finite");

  const int64_t raw = os.raw_size(), pre = os.preprocessed_size();
  out = Trajectory{};
  out.obs_dim = pre;
  out.obs.resize(static_cast<size_t>(T * pre));
  const std::span<const float> obs(s.obs), dist(s.dist_inputs), cont(s.actions_cont);
  const std::span<const int64_t> disc(s.actions);
  for (int64_t t = 0; t < T; ++t) {
    auto row = obs.subspan(static_cast<size_t>(t * raw), static_cast<size_t>(raw));
    if (auto why = os.validate(row); !why.empty())
      return bad(ErrorCode::BadObservation, "step " + std::to_string(t) + ": " + why);
    os.preprocess(row, out.obs.data() + t * pre, static_cast<float>(spec.config.observation_clip));
    const auto d = disc.subspan(static_cast<size_t>(t * dw), static_cast<size_t>(dw));
    const auto c = cont.subspan(static_cast<size_t>(t * cw), static_cast<size_t>(cw));
    // Box samples are the model's raw (unclipped) Gaussian draws: bounded in magnitude above,
    // not by the space's bounds.
    if (auto why = box ? std::string() : validate_action(as, d, c); !why.empty())
      return bad(ErrorCode::BadAction, "step " + std::to_string(t) + ": " + why);
    // The log-prob enters PPO's ratio as exp(new - old): it must be the one of this action
    // under the sent distribution, or one bad client could blow up everyone's weights.
    const float lp = action_logp(as, dist.subspan(static_cast<size_t>(t * dd), static_cast<size_t>(dd)), d, c);
    const float sent = s.action_logp[static_cast<size_t>(t)];
    if (!std::isfinite(lp) || std::fabs(lp - sent) > 1e-3f + 1e-4f * std::fabs(lp))
      return bad(ErrorCode::BadRequest, "step " + std::to_string(t) + ": action_logp " +
                                            std::to_string(sent) +
                                            " is not the log-prob of the action under dist_inputs (" +
                                            std::to_string(lp) + ")");
  }
  out.actions = s.actions;
  out.actions_cont = s.actions_cont;
  out.action_logp = s.action_logp;
  out.vf_preds = s.vf_preds;
  out.dist_inputs = s.dist_inputs;
  out.rewards = s.rewards;
  out.terminated = s.terminated;
  out.bootstrap_value = s.terminated ? 0.f : s.bootstrap_value;
  return {};
}
}  // namespace

Status check_report(const PolicyResolver& policies, const ReportSamples& r,
                    std::vector<ReportedFragment>& out) {
  out.clear();
  if (auto s = check_envelope(r); !s.ok()) return s;
  int64_t agent_steps = 0;
  for (const auto& f : r.fragments) agent_steps += f.steps.size();
  if (r.env_steps < 0 || r.env_steps > agent_steps)
    return Status::error(ErrorCode::BadRequest,
                         "ReportSamples(" + quote(r.episode_id) + "): env_steps " + std::to_string(r.env_steps) +
                             " must be in [0, " + std::to_string(agent_steps) +
                             "], the agent steps of its fragments (every env step has an acting agent)");
  if (r.env_steps_before < 0)
    return Status::error(ErrorCode::BadRequest,
                         "ReportSamples(" + quote(r.episode_id) + "): env_steps_before must be >= 0, got " +
                             std::to_string(r.env_steps_before));
  if (r.episode_length < 0 || !std::isfinite(r.episode_reward))
    return Status::error(ErrorCode::BadRequest,
                         "ReportSamples(" + quote(r.episode_id) + "): episode_length or episode_reward is invalid");
  std::vector<ReportedFragment> frags;
  frags.reserve(r.fragments.size());
  for (const auto& f : r.fragments) {
    const int p = policies.policy_for(r.episode_id, f.agent_id);
    if (p < 0)
      return Status::error(ErrorCode::UnknownAgent,
                           "agent " + quote(f.agent_id) + " is not mapped to any policy of this server");
    ReportedFragment rf;
    rf.policy = p;
    if (auto s = to_training(f, policies.spec(p), rf.steps); !s.ok()) return s;
    rf.steps.behaviour_version = std::max<int64_t>(-1, r.weights_version);  // as the client says
    frags.push_back(std::move(rf));
  }
  for (const auto& a : r.agent_rewards)
    if (policies.policy_for(r.episode_id, a.agent_id) < 0 || !std::isfinite(a.reward))
      return Status::error(ErrorCode::BadRequest, "agent_rewards: agent " + quote(a.agent_id) +
                                                      " is unmapped or its reward is not finite");
  out = std::move(frags);
  return {};
}

Status check_compute_actions(const PolicyResolver& policies, const ComputeActions& m, int& policy) {
  policy = -1;
  for (int p = 0; p < policies.num_policies(); ++p)
    if (policies.spec(p).policy_id == m.policy_id) policy = p;
  if (policy < 0) return Status::error(ErrorCode::UnknownPolicy, "no policy " + quote(m.policy_id) + " here");
  if (m.observations.empty()) return Status::error(ErrorCode::BadRequest, "no observations");
  if (m.observations.size() > kMaxAgentsPerFrame)
    return Status::error(ErrorCode::BadRequest, "at most " + std::to_string(kMaxAgentsPerFrame) +
                                                    " observations per request, got " +
                                                    std::to_string(m.observations.size()));
  if (!m.action_masks.empty() && m.action_masks.size() != m.observations.size())
    return Status::error(ErrorCode::BadRequest, std::to_string(m.action_masks.size()) + " action masks for " +
                                                    std::to_string(m.observations.size()) + " observations");
  const auto& spec = policies.spec(policy);
  for (size_t i = 0; i < m.observations.size(); ++i) {
    const std::span<const float> mask = m.action_masks.empty() ? std::span<const float>{} : m.action_masks[i];
    if (auto st = check_observation(spec, "row " + std::to_string(i), m.observations[i], mask); !st.ok()) return st;
  }
  return {};
}

}  // namespace tandem::core
