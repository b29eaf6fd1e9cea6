#include "policy_server/report_samples.h"

#include <cmath>

#include "algorithms/action_logp.h"

namespace tandem::server {

using wire::fb::ErrorCode;

namespace {
template <typename T>
std::span<const T> span_of(const flatbuffers::Vector<T>* v) {
  return v ? std::span<const T>(v->data(), v->size()) : std::span<const T>{};
}

bool all_finite(std::span<const float> v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}
}  // namespace

FragmentError to_trajectory(const wire::fb::Fragment& f, const algo::PolicySpec& spec,
                            algo::Trajectory& out) {
  const std::string who = "fragment of agent '" + std::string(wire::view(f.agent_id())) + "'";
  auto bad = [&](ErrorCode c, const std::string& m) { return FragmentError{c, who + ": " + m}; };
  const auto& os = spec.observation_space;
  const auto& as = spec.action_space;
  const auto rewards = span_of(f.rewards());
  const auto logp = span_of(f.action_logp());
  const auto vf = span_of(f.vf_preds());
  const auto obs = span_of(f.obs());
  const auto disc = span_of(f.discrete());
  const auto cont = span_of(f.continuous());
  const auto dist = span_of(f.dist_inputs());
  const auto T = static_cast<int64_t>(rewards.size());
  if (T == 0) return bad(ErrorCode::BadRequest, "no steps");
  auto size_is = [&](const char* name, size_t got, int64_t width) -> FragmentError {
    if (static_cast<int64_t>(got) == T * width) return {};
    return bad(ErrorCode::BadRequest, std::string(name) + " has " + std::to_string(got) +
                                          " values, " + std::to_string(T) + " steps need " +
                                          std::to_string(T * width));
  };
  if (auto e = size_is("action_logp", logp.size(), 1)) return e;
  if (auto e = size_is("vf_preds", vf.size(), 1)) return e;
  if (auto e = size_is("obs", obs.size(), os.raw_size())) return e;
  const int64_t dw = algo::discrete_action_width(as), cw = algo::continuous_action_width(as);
  const int64_t dd = algo::dist_dim(as);
  if (auto e = size_is("discrete", disc.size(), dw)) return e;
  if (auto e = size_is("continuous", cont.size(), cw)) return e;
  if (auto e = size_is("dist_inputs", dist.size(), dd)) return e;
  if (!all_finite(rewards)) return bad(ErrorCode::BadRequest, "a reward is not finite");
  if (!all_finite(logp)) return bad(ErrorCode::BadRequest, "an action_logp is not finite");
  if (!all_finite(vf)) return bad(ErrorCode::BadRequest, "a vf_pred is not finite");
  if (!all_finite(dist)) return bad(ErrorCode::BadRequest, "a dist_input is not finite");
  if (!std::isfinite(f.bootstrap_value()))
    return bad(ErrorCode::BadRequest, "bootstrap_value is not finite");

  const int64_t raw = os.raw_size(), pre = os.preprocessed_size();
  out = algo::Trajectory{};
  out.obs_dim = pre;
  out.obs.resize(static_cast<size_t>(T * pre));
  for (int64_t t = 0; t < T; ++t) {
    auto row = obs.subspan(static_cast<size_t>(t * raw), static_cast<size_t>(raw));
    if (auto why = os.validate(row); !why.empty())
      return bad(ErrorCode::BadObservation, "step " + std::to_string(t) + ": " + why);
    os.preprocess(row, out.obs.data() + t * pre);
    const auto d = disc.subspan(static_cast<size_t>(t * dw), static_cast<size_t>(dw));
    const auto c = cont.subspan(static_cast<size_t>(t * cw), static_cast<size_t>(cw));
    if (auto why = algo::validate_action(as, d, c); !why.empty())
      return bad(ErrorCode::BadAction, "step " + std::to_string(t) + ": " + why);
    // The log-prob enters PPO's ratio as exp(new - old): it must be the one of this action
    // under the sent distribution, or one bad client could blow up everyone's weights.
    const float lp = algo::action_logp(as, dist.subspan(static_cast<size_t>(t * dd), static_cast<size_t>(dd)), d, c);
    if (!std::isfinite(lp) || std::fabs(lp - logp[t]) > 1e-3f + 1e-4f * std::fabs(lp))
      return bad(ErrorCode::BadRequest, "step " + std::to_string(t) + ": action_logp " +
                                            std::to_string(logp[t]) + " is not the log-prob of the action under dist_inputs (" +
                                            std::to_string(lp) + ")");
  }
  out.actions.assign(disc.begin(), disc.end());
  out.actions_cont.assign(cont.begin(), cont.end());
  out.action_logp.assign(logp.begin(), logp.end());
  out.vf_preds.assign(vf.begin(), vf.end());
  out.dist_inputs.assign(dist.begin(), dist.end());
  out.rewards.assign(rewards.begin(), rewards.end());
  out.terminated = f.terminated();
  out.bootstrap_value = f.terminated() ? 0.f : f.bootstrap_value();
  return {};
}

bool RecentRequests::insert(uint64_t id) {
  std::lock_guard lk(mu_);
  if (!set_.insert(id).second) return false;
  order_.push_back(id);
  if (order_.size() > capacity_) {
    set_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace tandem::server
