#include "policy_server/request_handler.h"

#include <cmath>
#include <exception>

#include <boost/asio/steady_timer.hpp>

#include "algorithms/action_logp.h"
#include "policy_server/report_samples.h"

namespace tandem::server {

using wire::fb::ErrorCode;
namespace fb = wire::fb;

namespace {
// An absent or empty agent id is the single agent "agent0" (RLlib's default agent id).
std::string agent_name(const flatbuffers::String* s) {
  auto id = wire::view(s);
  return id.empty() ? std::string("agent0") : std::string(id);
}

std::string unknown_episode(std::string_view id) {
  return "unknown episode '" + std::string(id) + "'";
}
}  // namespace

void RequestHandler::handle(const fb::Envelope& env, const std::shared_ptr<ReplySink>& sink) {
  const uint64_t rid = env.request_id();
  try {
    switch (env.message_type()) {
      case fb::Message::StartEpisode:
        return start_episode(rid, *env.message_as_StartEpisode(), *sink);
      case fb::Message::GetAction:
        return get_action(rid, *env.message_as_GetAction(), sink);
      case fb::Message::LogAction:
        return log_action(rid, *env.message_as_LogAction(), sink);
      case fb::Message::LogReturns:
        return log_returns(rid, *env.message_as_LogReturns(), *sink);
      case fb::Message::EndEpisode:
        return end_episode(rid, *env.message_as_EndEpisode(), *sink);
      case fb::Message::GetConfig:
        return sink->send(wire::encode_config(rid, ctx_.config_json));
      case fb::Message::GetWeights:
        return get_weights(rid, *env.message_as_GetWeights(), *sink);
      case fb::Message::ReportSamples:
        return report_samples(rid, *env.message_as_ReportSamples(), sink);
      default:
        return sink->send(wire::encode_error(
            rid, ErrorCode::BadRequest,
            std::string("message type '") + fb::EnumNameMessage(env.message_type()) +
                "' is a reply, not a request"));
    }
  } catch (const std::exception& e) {
    sink->send(wire::encode_error(rid, ErrorCode::Internal, e.what()));
  }
}

void RequestHandler::start_episode(uint64_t rid, const fb::StartEpisode& m, ReplySink& sink) {
  auto r = ctx_.episodes.start(wire::view(m.episode_id()), m.training_enabled(), m.explore());
  if (!r.episode && r.error == ErrorCode::DuplicateEpisode) {
    // The same StartEpisode resent after a reconnect is not a duplicate episode.
    if (auto ep = ctx_.episodes.find(wire::view(m.episode_id()))) {
      std::lock_guard lk(ep->mutex());
      if (ep->is_duplicate(rid)) return sink.send(wire::encode_episode_started(rid, ep->id()));
    }
  }
  if (!r.episode) return sink.send(wire::encode_error(rid, r.error, r.message));
  {
    std::lock_guard lk(r.episode->mutex());
    r.episode->mark_applied(rid);
  }
  sink.send(wire::encode_episode_started(rid, r.episode->id()));
}

void RequestHandler::get_action(uint64_t rid, const fb::GetAction& m,
                                const std::shared_ptr<ReplySink>& sink) {
  queue_actions(rid, wire::view(m.episode_id()), m.agents(), nullptr, sink);
}

void RequestHandler::log_action(uint64_t rid, const fb::LogAction& m,
                                const std::shared_ptr<ReplySink>& sink) {
  queue_actions(rid, wire::view(m.episode_id()), m.agents(), m.actions(), sink);
}

void RequestHandler::queue_actions(
    uint64_t rid, std::string_view episode_id,
    const flatbuffers::Vector<flatbuffers::Offset<fb::AgentObs>>* agents,
    const flatbuffers::Vector<flatbuffers::Offset<fb::AgentAction>>* actions,
    const std::shared_ptr<ReplySink>& sink) {
  auto error = [&](ErrorCode c, const std::string& msg) {
    sink->send(wire::encode_error(rid, c, msg));
  };
  auto ep = ctx_.episodes.find(episode_id);
  if (!ep) return error(ErrorCode::UnknownEpisode, unknown_episode(episode_id));
  if (!agents || agents->size() == 0) return error(ErrorCode::BadRequest, "no agent observations");
  if (actions && actions->size() != agents->size())
    return error(ErrorCode::BadRequest, "LogAction needs one action per observation");

  auto req = std::make_shared<PendingAction>();
  req->request_id = rid;
  req->sink = sink;
  req->episode = ep;
  req->is_log_action = actions != nullptr;
  const size_t n = agents->size();
  {
    std::lock_guard lk(ep->mutex());
    ep->touch();
    if (ep->is_duplicate(rid)) {
      // Resent after a reconnect: answer again, apply nothing.
      if (rid == ep->last_action_request()) return sink->send(ep->last_action_reply());
      return sink->send(wire::encode_ack(rid));
    }
    for (size_t i = 0; i < n; ++i) {
      const auto* a = agents->Get(static_cast<flatbuffers::uoffset_t>(i));
      const std::string id = agent_name(a->agent_id());
      for (const auto& prev : req->agent_ids)
        if (prev == id) return error(ErrorCode::BadRequest, "agent '" + id + "' appears twice");
      const int p = ctx_.config.policy_index_for(id);
      if (p < 0)
        return error(ErrorCode::UnknownAgent,
                     "agent '" + id + "' is not mapped to any policy of this server");
      if (const auto* t = ep->agent(id); t && t->done)
        return error(ErrorCode::UnknownAgent, "agent '" + id + "' is already done in episode '" +
                                                  ep->id() + "'");
      const auto& spec = ctx_.config.policies[p];
      auto raw = wire::view(a->obs());
      if (auto why = spec.observation_space.validate(raw); !why.empty())
        return error(ErrorCode::BadObservation, "agent '" + id + "': " + why);
      std::vector<float> pre(static_cast<size_t>(spec.observation_space.preprocessed_size()));
      spec.observation_space.preprocess(raw, pre.data());
      std::vector<float> mask;
      if (auto mk = wire::view(a->action_mask()); !mk.empty()) {
        const auto& as = spec.action_space;
        int64_t want = as.kind == algo::SpaceKind::Discrete ? as.n : 0;
        if (as.kind == algo::SpaceKind::MultiDiscrete)
          for (auto v : as.nvec) want += v;
        if (static_cast<int64_t>(mk.size()) != want)
          return error(ErrorCode::BadObservation, "agent '" + id + "': action_mask has " +
                                                      std::to_string(mk.size()) +
                                                      " values, the action space needs " +
                                                      std::to_string(want));
        mask.assign(mk.begin(), mk.end());
      }
      std::optional<algo::ActionResult> logged;
      if (actions) {
        const auto* act = actions->Get(static_cast<flatbuffers::uoffset_t>(i));
        algo::ActionResult r;
        auto d = wire::view(act->discrete());
        auto c = wire::view(act->continuous());
        r.discrete.assign(d.begin(), d.end());
        r.continuous.assign(c.begin(), c.end());
        if (auto why = algo::validate_action(spec.action_space, r.discrete, r.continuous); !why.empty())
          return error(ErrorCode::BadAction, "agent '" + id + "': " + why);
        logged = std::move(r);
      }
      req->agent_ids.push_back(id);
      req->policies.push_back(p);
      req->obs.push_back(std::move(pre));
      req->masks.push_back(std::move(mask));
      req->logged.push_back(std::move(logged));
    }
  }
  req->results.resize(n);
  req->remaining.store(static_cast<int>(n));
  for (size_t i = 0; i < n; ++i) ctx_.batchers[req->policies[i]]->enqueue(req, static_cast<int>(i));
}

void RequestHandler::complete(const std::shared_ptr<PendingAction>& req) {
  auto& ep = *req->episode;
  const size_t n = req->agent_ids.size();
  std::vector<wire::AgentActionView> views;
  views.reserve(n);
  for (size_t i = 0; i < n; ++i)
    views.push_back({req->agent_ids[i], req->results[i].discrete, req->results[i].continuous});
  wire::Frame reply = req->is_log_action ? wire::encode_ack(req->request_id)
                                         : wire::encode_actions(req->request_id, views, req->version);
  {
    std::lock_guard lk(ep.mutex());
    for (size_t i = 0; i < n; ++i) {
      auto& track = ep.ensure_agent(req->agent_ids[i], req->policies[i]);
      if (!track.done) ep.record_step(track, req->obs[i], req->results[i]);
    }
    ep.count_env_step();
    ep.mark_applied(req->request_id);
    ep.set_last_action_reply(req->request_id, reply);
  }
  ctx_.stats.add_env_steps(1, static_cast<int64_t>(n));
  req->sink->send(std::move(reply));
}

void RequestHandler::log_returns(uint64_t rid, const fb::LogReturns& m, ReplySink& sink) {
  auto ep = ctx_.episodes.find(wire::view(m.episode_id()));
  if (!ep)
    return sink.send(wire::encode_error(rid, ErrorCode::UnknownEpisode, unknown_episode(wire::view(m.episode_id()))));
  if (!m.rewards() || m.rewards()->size() == 0)
    return sink.send(wire::encode_error(rid, ErrorCode::BadRequest, "no rewards"));
  std::lock_guard lk(ep->mutex());
  ep->touch();
  if (ep->is_duplicate(rid)) return sink.send(wire::encode_ack(rid));
  // Validate everything first: a bad request changes nothing.
  for (const auto* r : *m.rewards()) {
    const std::string id = agent_name(r->agent_id());
    if (!std::isfinite(r->reward()))
      return sink.send(wire::encode_error(rid, ErrorCode::BadRequest,
                                          "reward of agent '" + id + "' is not finite"));
    if (ctx_.config.policy_index_for(id) < 0)
      return sink.send(wire::encode_error(rid, ErrorCode::UnknownAgent,
                                          "agent '" + id + "' is not mapped to any policy"));
  }
  for (const auto* r : *m.rewards()) {
    const std::string id = agent_name(r->agent_id());
    auto& t = ep->ensure_agent(id, ctx_.config.policy_index_for(id));
    if (t.done) {
      ep->add_pre_action_reward(r->reward());
      continue;
    }
    ep->add_reward(t, r->reward(), r->done());
  }
  ep->mark_applied(rid);
  sink.send(wire::encode_ack(rid));
}

void RequestHandler::end_episode(uint64_t rid, const fb::EndEpisode& m, ReplySink& sink) {
  const auto id = wire::view(m.episode_id());
  auto ep = ctx_.episodes.find(id);
  if (!ep)
    return sink.send(wire::encode_error(rid, ErrorCode::UnknownEpisode, unknown_episode(id)));
  std::map<std::string, float> last_values;
  std::map<std::string, double> metrics;
  if (m.agents()) {
    for (const auto* a : *m.agents()) {
      const std::string aid = agent_name(a->agent_id());
      const int p = ctx_.config.policy_index_for(aid);
      if (p < 0)
        return sink.send(wire::encode_error(rid, ErrorCode::UnknownAgent,
                                            "agent '" + aid + "' is not mapped to any policy"));
      const auto& space = ctx_.config.policies[p].observation_space;
      auto raw = wire::view(a->obs());
      if (raw.empty()) continue;
      if (auto why = space.validate(raw); !why.empty())
        return sink.send(wire::encode_error(rid, ErrorCode::BadObservation, "agent '" + aid + "': " + why));
      if (m.truncated()) {
        std::vector<float> pre(static_cast<size_t>(space.preprocessed_size()));
        space.preprocess(raw, pre.data());
        std::vector<float> v;
        ctx_.algorithms[p]->snapshot()->compute_values(pre, 1, v);
        last_values[aid] = v.at(0);
      }
    }
  }
  if (m.custom_metrics())
    for (const auto* cm : *m.custom_metrics())
      if (cm->name()) metrics[cm->name()->str()] = cm->value();
  EpisodeSummary summary;
  {
    std::lock_guard lk(ep->mutex());
    if (ep->is_duplicate(rid)) return sink.send(wire::encode_ack(rid));
    summary = ep->finish(m.truncated(), last_values, std::move(metrics));
    ep->mark_applied(rid);
  }
  ctx_.episodes.remove(id);
  ctx_.stats.episode_finished(std::move(summary));
  {
    std::lock_guard lk(ep->mutex());
    ep->release_samples();  // after the stats, so the learner's row includes this episode
  }
  sink.send(wire::encode_ack(rid));
}

void RequestHandler::get_weights(uint64_t rid, const fb::GetWeights& m, ReplySink& sink) {
  const int p = ctx_.config.policy_index(std::string(wire::view(m.policy_id())));
  if (p < 0)
    return sink.send(wire::encode_error(rid, ErrorCode::UnknownPolicy,
                                        "unknown policy '" + std::string(wire::view(m.policy_id())) + "'"));
  auto snap = ctx_.algorithms[p]->snapshot();
  if (snap->version() <= m.have_version())
    return sink.send(wire::encode_weights(rid, wire::view(m.policy_id()), -1, 0, 0, {}));
  const std::string blob = snap->serialize_weights();
  const size_t chunk = wire::kWeightsChunkBytes;
  const auto chunks = static_cast<int32_t>(std::max<size_t>(1, (blob.size() + chunk - 1) / chunk));
  for (int32_t i = 0; i < chunks; ++i) {
    const size_t off = static_cast<size_t>(i) * chunk;
    const size_t len = std::min(chunk, blob.size() - off);
    sink.send(wire::encode_weights(
        rid, wire::view(m.policy_id()), snap->version(), i, chunks,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(blob.data()) + off, len)));
  }
}

void RequestHandler::report_samples(uint64_t rid, const fb::ReportSamples& m,
                                    const std::shared_ptr<ReplySink>& sink) {
  auto error = [&](ErrorCode c, const std::string& msg) {
    sink->send(wire::encode_error(rid, c, msg));
  };
  const auto episode_id = wire::view(m.episode_id());
  constexpr int64_t kMaxCount = int64_t{1} << 40;  // far above any real episode or report
  if (m.env_steps() < 0 || m.env_steps() > kMaxCount || m.episode_length() < 0 ||
      m.episode_length() > kMaxCount || !std::isfinite(m.episode_reward()))
    return error(ErrorCode::BadRequest, "ReportSamples(" + std::string(episode_id) +
                                            "): env_steps, episode_length or episode_reward is invalid");
  // Validate every fragment before applying any.
  std::vector<std::pair<int, algo::Trajectory>> trajs;
  if (m.fragments()) {
    for (const auto* f : *m.fragments()) {
      const std::string id = agent_name(f->agent_id());
      const int p = ctx_.config.policy_index_for(id);
      if (p < 0)
        return error(ErrorCode::UnknownAgent,
                     "agent '" + id + "' is not mapped to any policy of this server");
      algo::Trajectory t;
      if (auto e = to_trajectory(*f, ctx_.config.policies[p], t)) return error(e.code, e.message);
      trajs.emplace_back(p, std::move(t));
    }
  }
  EpisodeSummary summary;
  if (m.episode_done()) {
    if (m.agent_rewards())
      for (const auto* r : *m.agent_rewards()) {
        const std::string id = agent_name(r->agent_id());
        const int p = ctx_.config.policy_index_for(id);
        if (p < 0 || !std::isfinite(r->reward()))
          return error(ErrorCode::BadRequest, "agent_rewards: agent '" + id +
                                                  "' is unmapped or its reward is not finite");
        summary.policy_rewards[ctx_.config.policies[p].policy_id] += r->reward();
      }
    if (m.custom_metrics())
      for (const auto* cm : *m.custom_metrics())
        if (cm->name()) summary.custom_metrics[cm->name()->str()] = cm->value();
    summary.reward = m.episode_reward();
    summary.length = m.episode_length();
    summary.evaluation = !m.explore();
  }

  std::vector<char> touched(ctx_.config.policies.size(), 0);
  if (ctx_.reports.insert(rid)) {  // a resend after a reconnect is answered, not applied
    // Counters and the episode first: a learner woken by these samples then reports them
    // in the same iteration.
    int64_t agent_steps = 0;
    for (auto& [p, t] : trajs) agent_steps += t.size();
    ctx_.stats.add_env_steps(m.env_steps(), agent_steps);
    if (m.episode_done()) ctx_.stats.episode_finished(std::move(summary));
    for (auto& [p, t] : trajs) {
      touched[p] = 1;
      if (m.training_enabled()) ctx_.samples.push(p, std::move(t));
    }
  }
  reply_when_learner_ready(rid, std::move(touched), sink, /*reading_held=*/false);
}

// Backpressure as in InferenceBatcher: while a whole train batch of a policy this report fed
// waits for a busy learner, the reply is held (retried every millisecond), so a local client
// cannot run far ahead of training. The reply carries every policy's newest weight version.
void RequestHandler::reply_when_learner_ready(uint64_t rid, std::vector<char> touched,
                                              const std::shared_ptr<ReplySink>& sink,
                                              bool reading_held) {
  const bool hold = ctx_.config.train && ctx_.config.sample_backpressure;
  for (size_t p = 0; hold && p < touched.size(); ++p) {
    if (touched[p] && ctx_.samples.steps_pending(static_cast<int>(p)) >=
                          ctx_.config.policies[p].config.train_batch_size) {
      if (!reading_held) sink->hold_reading();
      auto timer = std::make_shared<boost::asio::steady_timer>(ctx_.ioc, std::chrono::milliseconds(1));
      timer->async_wait([this, timer, rid, touched = std::move(touched), sink](boost::system::error_code ec) mutable {
        if (!ec) reply_when_learner_ready(rid, std::move(touched), sink, /*reading_held=*/true);
      });
      return;
    }
  }
  std::vector<int64_t> versions;
  for (const auto& a : ctx_.algorithms) versions.push_back(a->snapshot()->version());
  sink->send(wire::encode_samples_accepted(rid, versions));
  if (reading_held) sink->resume_reading();
}

}  // namespace tandem::server
