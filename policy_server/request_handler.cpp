#include "policy_server/request_handler.h"

#include <algorithm>
#include <exception>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/overload.h"
#include "core/request_checks.h"
#include "core/text.h"
#include "core/weight_tensors.h"
#include "policy_server/inference_batcher.h"
#include "policy_server/vector_call.h"

namespace tandem::server {

using core::ErrorCode;
using core::Status;

void RequestHandler::handle(Caller caller, uint64_t fingerprint, core::Request request) {
  caller.mutating = core::is_mutating(request);
  if (caller.mutating) {
    auto a = ctx_.ledger.admit(caller.client, caller.request_id, fingerprint, caller.sink);
    switch (a.verdict) {
      case RequestLedger::Verdict::Apply: break;
      case RequestLedger::Verdict::Waiting: return;  // the original's reply comes to us too
      case RequestLedger::Verdict::Replay:
      case RequestLedger::Verdict::Refused:
        caller.sink->send(caller.request_id, std::move(a.reply));
        return;
    }
  }
  // The envelope (ids, list lengths) before anything else, also for reads.
  if (auto st = core::check_envelope(request); !st.ok()) return reply(caller, core::error_reply(st));
  if (auto* v = std::get_if<core::VectorRequest>(&request)) return vector(std::move(caller), std::move(*v));
  apply(std::move(caller), request);
}

template <class R>
void RequestHandler::apply(Caller caller, const R& request) {
  try {
    std::visit(core::Overload{
                   [&](const core::StartEpisode& m) { reply(caller, start_episode(m, caller.client)); },
                   [&](const core::GetAction& m) { act(caller, m.episode_id, m.agents, nullptr); },
                   [&](const core::LogAction& m) { act(caller, m.episode_id, m.agents, &m.actions); },
                   [&](const core::LogReturns& m) { reply(caller, log_returns(m)); },
                   [&](const core::EndEpisode& m) { reply(caller, end_episode(m)); },
                   [&](const core::GetConfig&) { reply(caller, core::Config{ctx_.config_json}); },
                   [&](const core::GetWeights& m) { reply(caller, get_weights(m)); },
                   [&](const core::ReportSamples& m) { report_samples(caller, m); },
                   [&](const core::VectorRequest&) {
                     reply(caller, core::Error{ErrorCode::BadRequest, "a VectorRequest cannot be nested"});
                   },
               },
               request);
  } catch (const std::exception& e) {
    reply(caller, core::Error{ErrorCode::Internal, e.what()});
  }
}

void RequestHandler::vector(Caller caller, core::VectorRequest request) {
  ctx_.stats.vector_entries.fetch_add(static_cast<int64_t>(request.entries.size()));
  auto call = std::make_shared<VectorCall>(
      caller.client, std::move(request),
      [this](Caller entry_caller, const core::EpisodeRequest& e) {
        // An entry's own envelope (ids, list lengths): a bad one fails alone.
        if (auto st = core::check_entry(e); !st.ok()) return reply(entry_caller, core::error_reply(st));
        apply(std::move(entry_caller), e);
      },
      [this, caller](core::VectorReply r) { reply(caller, std::move(r)); },
      [this](std::function<void()> task) { boost::asio::post(ctx_.ioc, std::move(task)); });
  call->run();
}

void RequestHandler::connection_closed(const std::string& client) {
  // A connection without a client id cannot be resent to: its ledger window is of no use.
  if (client.rfind("conn:", 0) == 0) ctx_.ledger.forget(client);
}

void RequestHandler::abandon(Episode& ep) {
  std::lock_guard lk(ep.mutex);
  ep.core.abandon();
  push_closed(ep, /*episode_over=*/true);
}

void RequestHandler::reply(const Caller& caller, core::Reply r) {
  if (caller.mutating)
    for (const auto& waiting : ctx_.ledger.complete(caller.client, caller.request_id, r))
      if (waiting != caller.sink) waiting->send(caller.request_id, r);
  caller.sink->send(caller.request_id, std::move(r));
}

void RequestHandler::push_closed(Episode& ep, bool episode_over) {
  const bool train = ep.core.training_enabled();
  auto* out = ctx_.output.get();
  const bool episodes = out && out->what() == OutputWhat::Episodes;
  for (auto& f : ep.core.take_closed()) {
    core::FragmentOrigin o{ep.core.id(), f.agent_id, f.agent_index, f.first_step, f.agent_done, std::move(f.next_obs)};
    if (episodes) {
      auto& rows = ep.output_rows[f.policy];
      core::append_fragment(rows, f.steps, o);
      if (rows.count >= out->config().max_episode_rows) {  // bounded memory: a long episode in parts
        out->write(f.policy, std::move(rows));
        rows = core::OfflineBatch{};
      }
    }
    if (train) ctx_.samples.push(f.policy, std::move(f.steps), std::move(o));
  }
  if (episodes && episode_over) {  // "episodes" output: the whole episode, one line per policy
    for (auto& [p, rows] : ep.output_rows) out->write(p, std::move(rows));
    ep.output_rows.clear();
  }
}

core::Reply RequestHandler::start_episode(const core::StartEpisode& m, const std::string& client) {
  auto r = ctx_.episodes.start(m.episode_id, m.training_enabled, m.explore, client);
  if (!r.episode) return core::error_reply(r.status);
  ctx_.stats.open_episodes.store(static_cast<int64_t>(ctx_.episodes.size()));
  return core::EpisodeStarted{r.episode->core.id()};
}

void RequestHandler::act(Caller caller, const std::string& episode_id,
                         const std::vector<core::AgentObs>& agents,
                         const std::vector<core::AgentAction>* actions) {
  Status st;
  auto ep = ctx_.episodes.find(episode_id, &st);
  if (!ep) return reply(caller, core::error_reply(st));
  auto req = std::make_shared<PendingAction>();
  {
    std::lock_guard lk(ep->mutex);
    ep->touch();
    if (st = ep->core.check_act(agents, actions, req->policies); !st.ok())
      return reply(caller, core::error_reply(st));
    req->explore = ep->core.explore();
  }
  const size_t n = agents.size();
  req->episode = ep;
  req->is_log_action = actions != nullptr;
  req->results.resize(n);
  for (size_t i = 0; i < n; ++i)
    add_row(*req, agents[i].agent_id, agents[i].obs, agents[i].action_mask,
            actions ? std::optional((*actions)[i]) : std::nullopt);
  // Scripted policies answer here, with the memory their episode keeps; the others in their
  // policy's batch.
  int batched = 0;
  {
    std::lock_guard lk(ep->mutex);
    for (size_t i = 0; i < n; ++i) {
      const auto& spec = ctx_.policies.spec(req->policies[i]);
      if (!spec.script) {
        ++batched;
        continue;
      }
      req->results[i] = ep->core.scripted_act(agents[i].agent_id, req->policies[i], agents[i].obs,
                                              agents[i].action_mask, ctx_.config.seed);
      // LogAction: the client's action, as for a learned policy.
      if (const auto& logged = req->logged[i]) core::adopt_logged_action(spec.action_space, *logged, req->results[i]);
    }
  }
  req->remaining.store(batched);
  req->caller = std::move(caller);  // last: until here a failure is answered through `caller`
  if (batched == 0) return complete(req);
  for (size_t i = 0; i < n; ++i)
    if (!ctx_.policies.spec(req->policies[i]).script)
      ctx_.policies.batcher(req->policies[i]).enqueue(req, static_cast<int>(i));
}

void RequestHandler::add_row(PendingAction& req, const std::string& agent_id, const std::vector<float>& raw_obs,
                             const std::vector<float>& mask, std::optional<core::AgentAction> logged) {
  req.agent_ids.push_back(agent_id);
  std::vector<float> pre;
  core::preprocess_observation(ctx_.policies.spec(req.policies[req.agent_ids.size() - 1]), raw_obs, pre);
  req.obs.push_back(std::move(pre));
  req.masks.push_back(mask);
  req.logged.push_back(std::move(logged));
}

void RequestHandler::compute_actions(Caller caller, const core::ComputeActions& m) {
  try {
    compute_actions_checked(caller, m);
  } catch (const std::exception& e) {  // never a request without an answer
    reply(caller, core::Error{ErrorCode::Internal, e.what()});
  }
}

void RequestHandler::compute_actions_checked(Caller& caller, const core::ComputeActions& m) {
  int p = -1;
  if (auto st = core::check_compute_actions(ctx_.policies, m, p); !st.ok()) return reply(caller, core::error_reply(st));
  const auto& spec = ctx_.policies.spec(p);
  const size_t n = m.observations.size();
  auto req = std::make_shared<PendingAction>();
  req->explore = m.explore;
  req->results.resize(n);
  req->policies.assign(n, p);
  static const std::vector<float> kNoMask;
  for (size_t i = 0; i < n; ++i)
    add_row(*req, std::to_string(i), m.observations[i], m.action_masks.empty() ? kNoMask : m.action_masks[i],
            std::nullopt);
  if (spec.script) {  // no episode, so no memory: the stateless model answers at once
    auto model = ctx_.policies.model(p);
    std::mt19937_64 rng(ctx_.config.seed * 0x9E3779B97F4A7C15ull + stateless_seq_.fetch_add(1));
    for (size_t i = 0; i < n; ++i) {
      std::vector<core::ActionResult> out;
      const uint8_t e = m.explore;
      model->compute_actions(req->obs[i], 1, req->masks[i], {&e, 1}, rng, out);
      req->results[i] = std::move(out[0]);
    }
    req->caller = std::move(caller);
    return complete(req);
  }
  req->remaining.store(static_cast<int>(n));
  req->caller = std::move(caller);  // last: until here a failure is answered through `caller`
  for (size_t i = 0; i < n; ++i) ctx_.policies.batcher(p).enqueue(req, static_cast<int>(i));
}

void RequestHandler::complete(const std::shared_ptr<PendingAction>& req) {
  {
    std::lock_guard lk(req->failure_mu);
    if (!req->failure.empty()) return reply(req->caller, core::Error{ErrorCode::Internal, req->failure});
  }
  const size_t n = req->agent_ids.size();
  if (!req->episode) {  // ComputeActions: nothing to record
    core::Actions a;
    a.policy_version = req->version.load();
    for (size_t i = 0; i < n; ++i)
      a.actions.push_back({req->agent_ids[i], req->results[i].discrete, req->results[i].continuous});
    ctx_.stats.stateless_actions.fetch_add(static_cast<int64_t>(n));
    return reply(req->caller, std::move(a));
  }
  auto& ep = *req->episode;
  core::Reply r = core::Ack{};
  if (!req->is_log_action) {
    core::Actions a;
    a.policy_version = req->version.load();
    for (size_t i = 0; i < n; ++i)
      a.actions.push_back({req->agent_ids[i], req->results[i].discrete, req->results[i].continuous});
    r = std::move(a);
  }
  {
    std::lock_guard lk(ep.mutex);
    const bool train = ep.core.training_enabled();
    for (size_t i = 0; i < n; ++i) {
      // Another client carrying the episode on may have ended the agent meanwhile.
      if (ep.core.agent_done(req->agent_ids[i])) continue;
      ep.core.record_step(req->agent_ids[i], req->policies[i], req->obs[i], req->results[i]);
      if (train) ctx_.samples.collected(req->policies[i], 1);
    }
    ep.core.end_env_step();
    push_closed(ep);
  }
  ctx_.stats.add_env_steps(1, static_cast<int64_t>(n));
  reply(req->caller, std::move(r));
}

core::Reply RequestHandler::log_returns(const core::LogReturns& m) {
  Status st;
  auto ep = ctx_.episodes.find(m.episode_id, &st);
  if (!ep) return core::error_reply(st);
  std::lock_guard lk(ep->mutex);
  ep->touch();
  if (st = ep->core.check_returns(m.rewards); !st.ok()) return core::error_reply(st);
  ep->core.add_returns(m.rewards);
  push_closed(*ep);
  return core::Ack{};
}

core::Reply RequestHandler::end_episode(const core::EndEpisode& m) {
  Status st;
  auto ep = ctx_.episodes.find(m.episode_id, &st);
  // An episode that has ended already: this is a resend (or a second client's end). Ack it.
  if (!ep) return ctx_.episodes.has_ended(m.episode_id) ? core::Reply(core::Ack{}) : core::error_reply(st);
  std::vector<int> policies;
  {
    std::lock_guard lk(ep->mutex);
    ep->touch();
    if (st = ep->core.check_end(m.agents, policies); !st.ok()) return core::error_reply(st);
  }
  std::map<std::string, float> last_values;
  if (m.truncated)
    last_values = algo::truncation_values(ctx_.policies, m.agents, policies,
                                          [this](int p) { return ctx_.policies.model(p); });
  std::map<std::string, double> metrics;
  for (const auto& cm : m.custom_metrics) metrics[cm.name] = cm.value;
  if (!ctx_.episodes.end(m.episode_id)) return core::Ack{};  // another client ended it meanwhile
  ctx_.stats.open_episodes.store(static_cast<int64_t>(ctx_.episodes.size()));
  std::lock_guard lk(ep->mutex);
  // The league's game, then the summary: a learner woken by the last fragments reports this
  // episode with them.
  if (ep->seating && !m.truncated) {  // a game cut short has no outcome
    auto returns = ep->core.agent_returns();
    std::erase_if(returns, [&](const auto& r) { return ep->core.agent_steps(r.first) == 0; });
    ctx_.league->record(*ep->seating, returns);
  }
  ctx_.stats.episode_finished(ep->core.finish(m.truncated, last_values, std::move(metrics), &m.agents));
  push_closed(*ep, /*episode_over=*/true);
  return core::Ack{};
}

core::Reply RequestHandler::get_weights(const core::GetWeights& m) {
  const int p = ctx_.policies.index_of(m.policy_id);
  if (p < 0)
    return core::Error{ErrorCode::UnknownPolicy, "unknown policy " + core::quote(m.policy_id)};
  auto snap = ctx_.policies.model(p);
  if (snap->version() <= m.have_version) {  // version -1, no tensors: the client's is current
    core::Weights current;
    current.policy_id = m.policy_id;
    return current;
  }
  return core::whole_weights(m.policy_id, snap->version(), *snap->weights());
}

void RequestHandler::report_samples(Caller caller, const core::ReportSamples& m) {
  if (ctx_.league)  // its episodes are seated here; a local client's never were
    return reply(caller, core::Error{ErrorCode::BadRequest,
                                     "this server runs a self-play league, which seats every episode's agents on "
                                     "the server: ReportSamples (local inference) is refused; use remote inference"});
  std::vector<core::ReportedFragment> frags;
  if (auto st = core::check_report(ctx_.policies, m, frags); !st.ok())
    return reply(caller, core::error_reply(st));
  ReportTally::Verified verified;
  if (auto st = ctx_.reports.admit(caller.client, m, ctx_.max_abs_reward, verified); !st.ok())
    return reply(caller, core::error_reply(st));
  std::vector<char> touched(static_cast<size_t>(ctx_.policies.num_policies()), 0);
  // Counters and the episode first: a learner woken by these samples then reports them in
  // the same iteration.
  int64_t agent_steps = 0;
  for (const auto& f : frags) agent_steps += f.steps.size();
  ctx_.stats.add_env_steps(m.env_steps, agent_steps);
  if (m.episode_done) {
    core::EpisodeSummary s;
    for (const auto& r : m.agent_rewards)
      s.policy_rewards[ctx_.policies.spec(ctx_.policies.policy_for(m.episode_id, r.agent_id)).policy_id] +=
          std::clamp(static_cast<double>(r.reward), -verified.clamp, verified.clamp);
    for (const auto& cm : m.custom_metrics) s.custom_metrics[cm.name] = cm.value;
    s.reward = verified.episode_reward;
    s.length = verified.episode_length;
    s.evaluation = !m.explore;
    ctx_.stats.episode_finished(std::move(s));
  }
  // "episodes" output: a local client's episode arrives in reports; each report's rows are
  // written as they come (one line per policy), tied together by eps_id.
  std::map<int, core::OfflineBatch> report_rows;
  const bool episodes = ctx_.output && ctx_.output->what() == OutputWhat::Episodes;
  for (size_t i = 0; i < frags.size(); ++i) {
    touched[static_cast<size_t>(frags[i].policy)] = 1;
    // Its place in the episode as the reports seen here tell it (ReportTally::Verified).
    core::FragmentOrigin origin = verified.origins.at(i);
    if (episodes) core::append_fragment(report_rows[frags[i].policy], frags[i].steps, origin);
    if (m.training_enabled) {
      ctx_.samples.collected(frags[i].policy, static_cast<int64_t>(frags[i].steps.size()));
      ctx_.samples.push(frags[i].policy, std::move(frags[i].steps), std::move(origin));
    }
  }
  for (auto& [p, rows] : report_rows) ctx_.output->write(p, std::move(rows));
  reply_when_learner_ready(std::move(caller), std::move(touched));
}

// Backpressure as in InferenceBatcher: while serving of a policy this report fed must wait
// for the learner (SampleQueue::must_wait), the reply is held (retried every millisecond).
// A report is a barrier on its connection, so nothing after it is applied meanwhile: a local
// client cannot run far ahead of training, and TCP pushes back on one that does not wait.
void RequestHandler::reply_when_learner_ready(Caller caller, std::vector<char> touched, bool held) {
  for (size_t p = 0; p < touched.size(); ++p) {
    if (touched[p] && ctx_.samples.must_wait(static_cast<int>(p))) {
      if (!held) ctx_.stats.backpressure_holds.fetch_add(1);
      auto timer = std::make_shared<boost::asio::steady_timer>(ctx_.ioc, std::chrono::milliseconds(1));
      timer->async_wait([this, timer, caller = std::move(caller), touched = std::move(touched)](
                            boost::system::error_code ec) mutable {
        if (!ec) reply_when_learner_ready(std::move(caller), std::move(touched), /*held=*/true);
      });
      return;
    }
  }
  reply(caller, core::SamplesAccepted{ctx_.policies.versions()});
}

}  // namespace tandem::server
