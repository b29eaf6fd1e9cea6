#include "policy_client/local_worker.h"

#include <chrono>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace tandem::client {

namespace fb = wire::fb;
using Clock = std::chrono::steady_clock;

namespace {
// The bytes a report may fill (the rest of the frame is headroom for the envelope).
constexpr size_t kReportBudget = wire::kMaxFrameBytes - (64u << 10);

std::string request_name(const char* what, const std::string& episode_id) {
  return std::string(what) + "(" + episode_id + ")";
}
}  // namespace

LocalWorker::LocalWorker(const std::string& address, const ClientOptions& options)
    : opt_(options) {
  conn_ = std::make_unique<Connection>(address, opt_.reconnect_timeout_s);
  rng_.seed(opt_.seed ? opt_.seed : conn_->rng());
  // A server that accepts the connection but never answers must not block the constructor:
  // a watchdog aborts the socket after reconnect_timeout_s.
  std::mutex wd_mu;
  std::condition_variable wd_cv;
  bool done = false, fired = false;
  std::thread watchdog([&] {
    std::unique_lock lk(wd_mu);
    if (!wd_cv.wait_for(lk, std::chrono::duration<double>(opt_.reconnect_timeout_s), [&] { return done; })) {
      fired = true;
      conn_->abort();
    }
  });
  auto finish_watchdog = [&] {
    {
      std::lock_guard lk(wd_mu);
      done = true;
    }
    wd_cv.notify_all();
    watchdog.join();
  };
  try {
    conn_->reconnect("connecting");
    conn_->reconnects = 0;
    const uint64_t rid = conn_->next_id();
    auto reply = conn_->call(rid, wire::encode_get_config(rid), "GetConfig");
    load_config(std::string(wire::view(fb::GetEnvelope(reply.data())->message_as_Config()->json())));
    models_.resize(specs_.size());
    fetch_weights();
  } catch (...) {
    finish_watchdog();
    if (fired)
      throw ConnectionError("tandem-server at " + conn_->endpoint() + " did not answer within " +
                            std::to_string(opt_.reconnect_timeout_s) + " s");
    throw;
  }
  finish_watchdog();
  if (fired)
    throw ConnectionError("tandem-server at " + conn_->endpoint() + " did not answer in time");
  for (size_t p = 0; p < models_.size(); ++p)
    if (!models_[p])
      throw ConnectionError("tandem-server at " + conn_->endpoint() + " sent no weights for policy '" +
                            specs_[p].policy_id + "'");
  // From here on only the background thread uses the connection; it never gives up, and
  // retries in short rounds so that it notices a closing client.
  conn_->set_reconnect_timeout(1.0);
  thread_ = std::thread([this] { run(); });
}

LocalWorker::~LocalWorker() {
  {
    std::lock_guard lk(qmu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  room_cv_.notify_all();
  if (!thread_.joinable()) return;
  // The background thread uploads what is buffered for up to close_timeout_s. A server that
  // holds a reply or stopped answering would block its read forever: abort the socket then.
  {
    std::unique_lock lk(qmu_);
    const auto limit = std::chrono::duration<double>(opt_.close_timeout_s + 0.5);
    if (!exited_cv_.wait_for(lk, limit, [&] { return exited_; })) {
      lk.unlock();
      spdlog::warn("local PolicyClient: no upload to {} within close_timeout_s; closing the socket",
                   conn_->endpoint());
      conn_->abort();
    }
  }
  thread_.join();
}

void LocalWorker::load_config(const std::string& text) {
  config_json_ = text;
  try {
    const auto j = nlohmann::json::parse(text);
    std::vector<std::string> order;
    if (j.contains("policy_order")) {
      order = j.at("policy_order").get<std::vector<std::string>>();
    } else {
      for (const auto& [id, p] : j.at("policies").items()) order.push_back(id);
    }
    for (const auto& id : order) {
      const auto& p = j.at("policies").at(id);
      algo::PolicySpec s;
      s.policy_id = id;
      s.observation_space = algo::Space::from_json(p.at("observation_space"));
      s.action_space = algo::Space::from_json(p.at("action_space"));
      s.config.merge_json(p.at("config"));
      specs_.push_back(std::move(s));
    }
    mapping_ = j.at("policy_mapping").get<std::map<std::string, std::string>>();
  } catch (const std::exception& e) {
    throw ConnectionError("cannot use the configuration of tandem-server at " + conn_->endpoint() +
                          ": " + e.what());
  }
}

int LocalWorker::policy_for(const std::string& agent_id) const {
  auto it = mapping_.find(agent_id);
  if (it == mapping_.end()) it = mapping_.find("*");
  if (it == mapping_.end()) return -1;
  for (size_t i = 0; i < specs_.size(); ++i)
    if (specs_[i].policy_id == it->second) return static_cast<int>(i);
  return -1;
}

std::shared_ptr<const algo::InferenceModel> LocalWorker::model(int policy) const {
  std::lock_guard lk(models_mu_);
  return models_[static_cast<size_t>(policy)];
}

void LocalWorker::throw_pending() {
  std::lock_guard lk(qmu_);
  if (errors_.empty()) return;
  auto e = errors_.front();
  errors_.clear();
  throw e;
}

LocalWorker::Episode& LocalWorker::episode(const std::string& id, const char* request) {
  auto it = episodes_.find(id);
  if (it == episodes_.end())
    throw RequestError("UnknownEpisode", request_name(request, id), "unknown episode '" + id + "'");
  return it->second;
}

std::string LocalWorker::start_episode(std::optional<std::string> episode_id,
                                       bool training_enabled, bool explore) {
  throw_pending();
  std::lock_guard lk(mu_);
  const std::string id = episode_id ? *episode_id : new_episode_id(rng_);
  auto [it, inserted] = episodes_.try_emplace(id);
  if (!inserted)
    throw RequestError("DuplicateEpisode", request_name("StartEpisode", id),
                       "episode '" + id + "' is already open");
  it->second.training_enabled = training_enabled;
  it->second.explore = explore;
  return id;
}

void LocalWorker::close_fragment(AgentState& a, bool terminated, float bootstrap, Episode& ep) {
  if (a.frag.size() == 0) return;
  a.frag.terminated = terminated;
  a.frag.bootstrap_value = terminated ? 0.f : bootstrap;
  ep.ready.push_back(std::move(a.frag));
  a.frag = LocalFragment{};
}

std::map<std::string, Action> LocalWorker::get_action(const std::string& episode_id,
                                                      const AgentObs& obs,
                                                      std::span<const float> single_agent_mask) {
  throw_pending();
  std::lock_guard lk(mu_);
  auto& ep = episode(episode_id, "GetAction");
  const auto what = request_name("GetAction", episode_id);
  if (obs.empty()) throw RequestError("BadRequest", what, "no agent observations");
  // Validate every agent first: a bad call changes nothing.
  std::vector<int> policies;
  for (const auto& [id, o] : obs) {
    const int p = policy_for(id);
    if (p < 0) throw RequestError("UnknownAgent", what, "agent '" + id + "' is not mapped to any policy of this server");
    if (auto it = ep.agents.find(id); it != ep.agents.end() && it->second.done)
      throw RequestError("UnknownAgent", what, "agent '" + id + "' is already done in episode '" + episode_id + "'");
    if (auto why = specs_[p].observation_space.validate(o); !why.empty())
      throw RequestError("BadObservation", what, "agent '" + id + "': " + why);
    if (!single_agent_mask.empty() &&
        static_cast<int64_t>(single_agent_mask.size()) != algo::dist_dim(specs_[p].action_space))
      throw RequestError("BadObservation", what, "agent '" + id + "': action_mask has " +
                                                     std::to_string(single_agent_mask.size()) +
                                                     " values, the action space needs " +
                                                     std::to_string(algo::dist_dim(specs_[p].action_space)));
    policies.push_back(p);
  }
  std::map<std::string, Action> actions;
  size_t i = 0;
  for (const auto& [id, o] : obs) {
    const int p = policies[i++];
    auto& r = compute(p, o, single_agent_mask, ep.explore);
    record_step(ep, id, p, o, r);
    actions[id] = Action{r.discrete, r.continuous};
  }
  end_env_step(episode_id, ep);
  return actions;
}

algo::ActionResult& LocalWorker::compute(int policy, std::span<const float> obs,
                                         std::span<const float> mask, bool explore) {
  const auto& space = specs_[policy].observation_space;
  pre_.resize(static_cast<size_t>(space.preprocessed_size()));
  space.preprocess(obs, pre_.data());
  const uint8_t e = explore ? 1 : 0;
  model(policy)->compute_actions(pre_, 1, mask, {&e, 1}, rng_, out_);
  return out_[0];
}

// Appends one step to the agent's fragment; a full fragment is cut first and bootstrapped
// from this step's value (as the server's Episode::record_step does).
void LocalWorker::record_step(Episode& ep, const std::string& agent_id, int policy,
                              std::span<const float> obs, const algo::ActionResult& r) {
  auto& a = ep.agents[agent_id];
  a.policy = policy;
  a.acted = true;
  if (a.frag.size() >= specs_[policy].config.rollout_fragment_length)
    close_fragment(a, false, r.vf_pred, ep);
  auto& f = a.frag;
  f.agent_id = agent_id;
  f.obs.insert(f.obs.end(), obs.begin(), obs.end());
  f.discrete.insert(f.discrete.end(), r.discrete.begin(), r.discrete.end());
  f.continuous.insert(f.continuous.end(), r.continuous.begin(), r.continuous.end());
  f.action_logp.push_back(r.logp);
  f.vf_preds.push_back(r.vf_pred);
  f.dist_inputs.insert(f.dist_inputs.end(), r.dist_inputs.begin(), r.dist_inputs.end());
  f.rewards.push_back(0.f);
}

// After every agent of a get_action/log_action call is recorded: one env step; fragments the
// call completed go to the upload queue.
void LocalWorker::end_env_step(const std::string& episode_id, Episode& ep) {
  ++ep.env_steps_unreported;
  ++ep.length;
  if (!ep.ready.empty()) queue_report(episode_id, ep, false);
}

void LocalWorker::log_action(const std::string& episode_id, const AgentObs& obs,
                             const std::map<std::string, Action>& actions) {
  throw_pending();
  std::lock_guard lk(mu_);
  auto& ep = episode(episode_id, "LogAction");
  const auto what = request_name("LogAction", episode_id);
  for (const auto& [id, o] : obs) {
    const int p = policy_for(id);
    if (p < 0) throw RequestError("UnknownAgent", what, "agent '" + id + "' is not mapped to any policy of this server");
    if (auto why = specs_[p].observation_space.validate(o); !why.empty())
      throw RequestError("BadObservation", what, "agent '" + id + "': " + why);
    auto act = actions.find(id);
    if (act == actions.end()) throw RequestError("BadRequest", what, "LogAction needs one action per observation");
    if (auto why = algo::validate_action(specs_[p].action_space, act->second.discrete,
                                         act->second.continuous);
        !why.empty())
      throw RequestError("BadAction", what, "agent '" + id + "': " + why);
  }
  for (const auto& [id, o] : obs) {
    if (auto it = ep.agents.find(id); it != ep.agents.end() && it->second.done) continue;
    const int p = policy_for(id);
    const auto& act = actions.at(id);
    // Keep the model's value and distribution; take the simulator's action and its
    // log-probability under that distribution (as the server does for remote LogAction).
    auto& r = compute(p, o, {}, /*explore=*/false);
    r.discrete = act.discrete;
    r.continuous = act.continuous;
    r.logp = algo::action_logp(specs_[p].action_space, r.dist_inputs, act.discrete, act.continuous);
    record_step(ep, id, p, o, r);
  }
  end_env_step(episode_id, ep);
}

void LocalWorker::log_returns(const std::string& episode_id,
                              const std::map<std::string, float>& rewards,
                              const std::map<std::string, bool>& dones) {
  throw_pending();
  std::lock_guard lk(mu_);
  auto& ep = episode(episode_id, "LogReturns");
  const auto what = request_name("LogReturns", episode_id);
  for (const auto& [id, r] : rewards) {
    if (!std::isfinite(r)) throw RequestError("BadRequest", what, "reward of agent '" + id + "' is not finite");
    if (policy_for(id) < 0) throw RequestError("UnknownAgent", what, "agent '" + id + "' is not mapped to any policy");
  }
  for (const auto& [id, d] : dones)
    if (policy_for(id) < 0) throw RequestError("UnknownAgent", what, "agent '" + id + "' is not mapped to any policy");
  for (const auto& [id, r] : rewards) {
    ep.reward += r;
    auto it = ep.agents.find(id);
    if (it == ep.agents.end() || it->second.done || !it->second.acted) continue;
    it->second.reward_total += r;
    if (!it->second.frag.rewards.empty()) it->second.frag.rewards.back() += r;
  }
  for (const auto& [id, d] : dones) {
    if (!d) continue;
    auto& a = ep.agents[id];
    if (a.done) continue;
    if (a.policy < 0) a.policy = policy_for(id);
    close_fragment(a, true, 0.f, ep);
    a.done = true;
  }
  if (!ep.ready.empty()) queue_report(episode_id, ep, false);
}

void LocalWorker::end_episode(const std::string& episode_id, const AgentObs& obs, bool truncated,
                              const std::map<std::string, double>& custom_metrics) {
  throw_pending();
  std::lock_guard lk(mu_);
  auto& ep = episode(episode_id, "EndEpisode");
  const auto what = request_name("EndEpisode", episode_id);
  std::map<std::string, float> last_values;
  for (const auto& [id, o] : obs) {
    const int p = policy_for(id);
    if (p < 0) throw RequestError("UnknownAgent", what, "agent '" + id + "' is not mapped to any policy");
    if (o.empty()) continue;
    if (auto why = specs_[p].observation_space.validate(o); !why.empty())
      throw RequestError("BadObservation", what, "agent '" + id + "': " + why);
    if (truncated) {
      pre_.resize(static_cast<size_t>(specs_[p].observation_space.preprocessed_size()));
      specs_[p].observation_space.preprocess(o, pre_.data());
      std::vector<float> v;
      model(p)->compute_values(pre_, 1, v);
      last_values[id] = v.at(0);
    }
  }
  for (auto& [id, a] : ep.agents) {
    if (a.done) continue;
    float boot = a.frag.vf_preds.empty() ? 0.f : a.frag.vf_preds.back();
    if (auto it = last_values.find(id); it != last_values.end()) boot = it->second;
    close_fragment(a, !truncated, boot, ep);
    a.done = true;
  }
  queue_report(episode_id, ep, true, custom_metrics);
  episodes_.erase(episode_id);
}

void LocalWorker::queue_report(const std::string& id, Episode& ep, bool done,
                               const std::map<std::string, double>& metrics) {
  UploadReport r;
  r.episode_id = id;
  {
    std::lock_guard lk(models_mu_);
    r.weights_version = models_.empty() || !models_[0] ? 0 : models_[0]->version();
  }
  r.fragments = std::move(ep.ready);
  ep.ready.clear();
  r.env_steps = ep.env_steps_unreported;
  ep.env_steps_unreported = 0;
  r.training_enabled = ep.training_enabled;
  r.explore = ep.explore;
  r.episode_done = done;
  if (done) {
    r.episode_reward = ep.reward;
    r.episode_length = ep.length;
    for (const auto& [aid, a] : ep.agents) r.agent_rewards.emplace_back(aid, static_cast<float>(a.reward_total));
    r.custom_metrics.assign(metrics.begin(), metrics.end());
  }
  for (auto& part : split_to_frame_limit(std::move(r), kReportBudget)) enqueue(std::move(part));
}

// Flow control. While the server is reachable the caller waits (at most max_block_s) until
// no more than max_unsent_steps wait in the queue: uploads are quick unless the server holds
// its reply because its learner is behind, so the simulator then waits for training exactly
// as a remote client does, and the experience stays close to the weights being trained.
// While the server is unreachable nothing waits; beyond max_buffered_steps the oldest
// reports are dropped (counted and logged).
void LocalWorker::enqueue(UploadReport r) {
  std::unique_lock lk(qmu_);
  const int64_t n = r.steps();
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(opt_.max_block_s));
  const bool room = room_cv_.wait_until(lk, deadline, [&] {
    return !connected_ || stop_ || stalled_ || queued_steps_ <= opt_.max_unsent_steps;
  });
  if (!room) {
    // The server accepts the connection but does not answer: stop waiting for it until an
    // upload goes through again.
    stalled_ = true;
    spdlog::warn("local PolicyClient: {} has not accepted an upload for {} s; going on without "
                 "waiting (experience is buffered)", conn_->endpoint(), opt_.max_block_s);
  }
  while (queued_steps_ + n > opt_.max_buffered_steps && !queue_.empty()) {
    const auto& old = queue_.front();
    stats_.dropped_steps += old.steps();
    stats_.dropped_reports += 1;
    queued_steps_ -= old.steps();
    queue_.pop_front();
    if (Clock::now() - last_drop_log_ > std::chrono::seconds(10)) {
      last_drop_log_ = Clock::now();
      spdlog::warn("local PolicyClient: upload buffer full ({} steps) and server {}; dropped the "
                   "oldest experience ({} steps dropped so far)",
                   opt_.max_buffered_steps, connected_ ? "slow" : "unreachable", stats_.dropped_steps);
    }
  }
  queued_steps_ += n;
  queue_.push_back(std::move(r));
  lk.unlock();
  work_cv_.notify_one();
}

void LocalWorker::flush() {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(opt_.reconnect_timeout_s));
  {
    std::unique_lock lk(qmu_);
    if (!room_cv_.wait_until(lk, deadline, [&] { return queue_.empty() && !uploading_; }))
      throw ConnectionError("flush: " + std::to_string(queued_steps_) +
                            " buffered steps could not be uploaded to " + conn_->endpoint() +
                            " within " + std::to_string(opt_.reconnect_timeout_s) + " s");
  }
  throw_pending();
}

LocalStats LocalWorker::stats() const {
  LocalStats s;
  {
    std::lock_guard lk(qmu_);
    s = stats_;
    s.buffered_steps = queued_steps_;
    s.connected = connected_;
  }
  std::lock_guard lk(models_mu_);
  s.weights_version = -1;
  for (size_t p = 0; p < models_.size(); ++p) {
    const auto v = models_[p] ? models_[p]->version() : -1;
    s.policy_versions[specs_[p].policy_id] = v;
    s.weights_version = s.weights_version < 0 ? v : std::min(s.weights_version, v);
  }
  return s;
}

// ---- background thread ----

void LocalWorker::run() {
  struct Exit {  // tells the destructor, whatever way run() ends
    LocalWorker* w;
    ~Exit() {
      std::lock_guard lk(w->qmu_);
      w->exited_ = true;
      w->exited_cv_.notify_all();
    }
  } exit_note{this};
  const auto secs = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  auto next_poll = Clock::now() + secs(opt_.update_interval_s);
  auto backoff = std::chrono::milliseconds(20);
  std::optional<Clock::time_point> stop_deadline;
  std::optional<UploadReport> current;
  auto drop_current = [&] {  // caller holds qmu_
    if (current) {
      stats_.dropped_steps += current->steps();
      stats_.dropped_reports += 1;
    }
    if (current_rid_) conn_->forget(current_rid_);  // never resent once counted as dropped
    current.reset();
    current_rid_ = 0;
    uploading_ = false;
    room_cv_.notify_all();
  };
  for (;;) {
    {
      std::unique_lock lk(qmu_);
      if (!current)
        work_cv_.wait_until(lk, next_poll, [&] { return stop_ || !queue_.empty() || newer_weights_; });
      if (stop_ && !stop_deadline) stop_deadline = Clock::now() + secs(opt_.close_timeout_s);
      if (stop_ && !current && queue_.empty()) return;
      if (stop_deadline && Clock::now() > *stop_deadline) {
        const int64_t lost = queued_steps_ + (current ? current->steps() : 0);
        spdlog::warn("local PolicyClient: closing with {} steps not uploaded to {}", lost, conn_->endpoint());
        drop_current();
        stats_.dropped_steps += queued_steps_;
        stats_.dropped_reports += static_cast<int64_t>(queue_.size());
        queue_.clear();
        queued_steps_ = 0;
        return;
      }
      if (!current && !queue_.empty()) {
        current = std::move(queue_.front());
        queue_.pop_front();
        queued_steps_ -= current->steps();
        current_rid_ = 0;
        uploading_ = true;
        room_cv_.notify_all();
      }
    }
    try {
      if (!conn_->connected()) conn_->reconnect("reconnecting");  // resends an unanswered report
      if (!connected_) spdlog::info("local PolicyClient: connected again to {}", conn_->endpoint());
      {
        std::lock_guard lk(qmu_);
        connected_ = true;
      }
      backoff = std::chrono::milliseconds(20);
      if (current) {
        upload_one(*current);  // may reconnect inside (and resend under the same request id)
        std::lock_guard lk(qmu_);
        current.reset();
        current_rid_ = 0;
        uploading_ = false;
        stalled_ = false;
        room_cv_.notify_all();
      }
      bool fetch = false;
      {
        std::lock_guard lk(qmu_);
        if (conn_->reconnects != stats_.reconnects) {
          // Reconnected (here or inside a send/wait): the server may have restarted with other,
          // or older-numbered, weights. Take its current ones whatever their version.
          stats_.reconnects = conn_->reconnects;
          refetch_all_ = true;
        }
        fetch = !stop_ && (newer_weights_ || refetch_all_ || Clock::now() >= next_poll);
        newer_weights_ = false;
      }
      if (fetch) {
        next_poll = Clock::now() + secs(opt_.update_interval_s);
        fetch_weights(refetch_all_);  // on failure refetch_all_ stays set
        refetch_all_ = false;
      }
    } catch (const ConnectionError& e) {
      if (connected_)
        spdlog::warn("local PolicyClient: {}; acting with the last weights, retrying", e.what());
      conn_->disconnect();
      {
        std::lock_guard lk(qmu_);
        connected_ = false;
      }
      room_cv_.notify_all();  // callers waiting for room stop waiting: the server is gone
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    } catch (const std::exception& e) {
      // Never let the thread die: keep the error for the simulator's next call (once), drop
      // the report it concerned, and pause before the next attempt.
      {
        std::lock_guard lk(qmu_);
        if (errors_.empty())
          errors_.emplace_back("Internal", "local PolicyClient background thread", e.what());
        drop_current();
      }
      spdlog::warn("local PolicyClient: {}", e.what());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }
}

// Sends one report (once: a resend after a reconnect reuses its request id, so the server
// applies it once) and waits for its reply. True when the report is done with.
void LocalWorker::upload_one(UploadReport& r) {
  if (current_rid_ == 0) {
    current_rid_ = conn_->next_id();
    conn_->send(r.encode(current_rid_), current_rid_, request_name("ReportSamples", r.episode_id));
  }
  auto reply = conn_->wait(current_rid_);
  const auto* env = fb::GetEnvelope(reply.data());
  std::lock_guard lk(qmu_);
  if (auto e = error_of(*env, request_name("ReportSamples", r.episode_id))) {
    if (errors_.empty()) errors_.push_back(std::move(*e));
    stats_.rejected_reports += 1;
    return;
  }
  if (const auto* ok = env->message_as_SamplesAccepted()) {
    stats_.uploaded_steps += r.steps();
    stats_.uploaded_reports += 1;
    if (opt_.fetch_new_weights_at_once && ok->policy_versions()) {
      std::lock_guard mk(models_mu_);
      for (size_t p = 0; p < models_.size() && p < ok->policy_versions()->size(); ++p)
        if (models_[p] && ok->policy_versions()->Get(static_cast<flatbuffers::uoffset_t>(p)) > models_[p]->version())
          newer_weights_ = true;
    }
  }
}

void LocalWorker::fetch_weights(bool any_version) {
  for (size_t p = 0; p < specs_.size(); ++p) {
    const auto have = models_[p] && !any_version ? model(static_cast<int>(p))->version() : -1;
    const uint64_t rid = conn_->next_id();
    auto first = conn_->call(rid, wire::encode_get_weights(rid, specs_[p].policy_id, have),
                             "GetWeights(" + specs_[p].policy_id + ")");
    const auto* w = fb::GetEnvelope(first.data())->message_as_Weights();
    if (!w) throw ConnectionError("server answered GetWeights with something else");
    if (w->version() < 0) continue;  // ours is current
    const int64_t version = w->version();
    const int32_t chunks = w->num_chunks();
    std::string blob(reinterpret_cast<const char*>(w->data() ? w->data()->data() : nullptr),
                     w->data() ? w->data()->size() : 0);
    for (int32_t i = 1; i < chunks; ++i) {
      auto more = conn_->wait_more(rid);
      const auto* c = fb::GetEnvelope(more.data())->message_as_Weights();
      if (!c || c->chunk_index() != i || !c->data())
        throw ConnectionError("server sent weight chunks out of order");
      blob.append(reinterpret_cast<const char*>(c->data()->data()), c->data()->size());
    }
    auto m = algo::load_inference_model(specs_[p], blob, version);
    {
      std::lock_guard lk(models_mu_);
      models_[p] = std::move(m);
    }
    std::lock_guard lk(qmu_);
    stats_.weight_updates += 1;
  }
}

}  // namespace tandem::client
