#include "policy_client/local_worker.h"

#include <chrono>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/request_checks.h"
#include "policy_client/upload_report.h"

namespace tandem::client {

using Clock = std::chrono::steady_clock;

namespace {
// The bytes a report may fill (the rest of the frame is headroom for the envelope).
constexpr size_t kReportBudget = wire::kMaxFrameBytes - (64u << 10);

std::string named(const char* what, const std::string& episode_id) {
  return std::string(what) + "(" + episode_id + ")";
}
void throw_if(const core::Status& s, const std::string& what) {
  if (!s.ok()) throw RequestError(core::error_code_name(s.code), what, s.message);
}
Clock::duration secs(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}
}  // namespace

std::unique_ptr<ClientBackend> make_local_backend(const std::vector<std::string>& addresses,
                                                  const ClientOptions& options) {
  return std::make_unique<LocalWorker>(addresses, options);
}

LocalWorker::LocalWorker(const std::vector<std::string>& addresses, const ClientOptions& options) : opt_(options) {
  for (const auto& a : addresses) {
    conns_.push_back(std::make_unique<Connection>(a, opt_));
    endpoints_ += (endpoints_.empty() ? "" : ", ") + conns_.back()->endpoint();
  }
  conn_ = conns_.front().get();
  rng_.seed(opt_.seed ? opt_.seed : conn_->rng());
  script_seed_ = rng_();
  uploads_ = std::make_unique<UploadQueue>(opt_, endpoints_);
  if (conns_.size() == 1) {
    open(opt_.reconnect_timeout_s);
  } else {
    // Several replicas: the first that answers within failover_after_s.
    const double each = std::min(opt_.failover_after_s, opt_.reconnect_timeout_s);
    for (size_t i = 0;; ++i) {
      active_ = i;
      conn_ = conns_[i].get();
      conn_->set_reconnect_timeout(each);
      try {
        open(each);
        break;
      } catch (const RefusedError&) {
        throw;
      } catch (const ConnectionError& e) {
        if (i + 1 == conns_.size())
          throw ConnectionError("no tandem-server replica answered (" + endpoints_ + "); last: " + e.what());
        spdlog::warn("local PolicyClient: {}; trying the next replica", e.what());
      }
    }
  }
  // From here on only the background thread uses the connections; it never gives up, and
  // retries in short rounds so that it notices a closing client.
  for (auto& c : conns_) c->set_reconnect_timeout(1.0);
  thread_ = std::thread([this] { run(); });
}

void LocalWorker::open(double timeout_s) {
  // A server that accepts the connection but never answers must not block the constructor:
  // a watchdog aborts the socket after timeout_s.
  std::mutex wd_mu;
  std::condition_variable wd_cv;
  bool done = false, fired = false;
  std::thread watchdog([&] {
    std::unique_lock lk(wd_mu);
    if (!wd_cv.wait_for(lk, std::chrono::duration<double>(timeout_s), [&] { return done; })) {
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
    config_json_ = conn_->call_as<core::Config>(conn_->next_id(), core::GetConfig{}, "GetConfig").json;
    try {
      const auto cfg = nlohmann::json::parse(config_json_);
      // A league seats each episode's agents on the server, which a local client never asks.
      if (cfg.contains("league"))
        throw std::invalid_argument("it runs a self-play league, which seats every episode's agents on the "
                                    "server: connect with inference_mode remote");
      policies_ = core::read_policies(cfg, core::AlgoConfig{});
    } catch (const std::exception& e) {
      throw ConnectionError("cannot use the configuration of tandem-server at " + conn_->endpoint() +
                            ": " + e.what());
    }
    weights_ = std::make_unique<WeightFetcher>(policies_.policies);
    {
      // The server's bounds: this client may hold at most max_episodes_per_client of them.
      const auto cfg = nlohmann::json::parse(config_json_);
      book_ = std::make_unique<core::EpisodeBook>(
          std::min(cfg.value("max_open_episodes", int64_t{10000}), cfg.value("max_episodes_per_client", int64_t{1000})),
          rng_());
    }
    weights_->fetch(*conn_, /*any_version=*/true);
  } catch (...) {
    finish_watchdog();
    if (fired)
      throw ConnectionError("tandem-server at " + conn_->endpoint() + " did not answer within " +
                            std::to_string(timeout_s) + " s");
    throw;
  }
  finish_watchdog();
  if (fired) throw ConnectionError("tandem-server at " + conn_->endpoint() + " did not answer in time");
  if (!weights_->complete())
    throw ConnectionError("tandem-server at " + conn_->endpoint() + " did not send weights for every policy");
}

LocalWorker::~LocalWorker() {
  uploads_->stop();
  if (!thread_.joinable()) return;
  // The background thread uploads what is buffered for up to close_timeout_s. A server that
  // holds a reply or stopped answering would block its read forever: abort the socket then.
  {
    std::unique_lock lk(exit_mu_);
    if (!exit_cv_.wait_for(lk, std::chrono::duration<double>(opt_.close_timeout_s + 0.5), [&] { return exited_; })) {
      lk.unlock();
      spdlog::warn("local PolicyClient: no upload to {} within close_timeout_s; closing the socket",
                   endpoints_);
      for (auto& c : conns_) c->abort();
    }
  }
  thread_.join();
}

core::EpisodeCore& LocalWorker::episode(const std::string& id, const char* request) {
  auto it = episodes_.find(id);
  if (it == episodes_.end()) throw_if(book_->not_open(id), named(request, id));
  return it->second;
}

std::string LocalWorker::start_episode(std::optional<std::string> episode_id, bool training_enabled,
                                       bool explore) {
  uploads_->throw_error();
  std::lock_guard lk(mu_);
  std::string id = episode_id ? *episode_id : new_episode_id(rng_);
  throw_if(book_->open(id), named("StartEpisode", id));
  episodes_.try_emplace(id, policies_, id, training_enabled, explore);
  return id;
}

core::ActionResult& LocalWorker::compute(core::EpisodeCore& ep, const std::string& agent_id, int policy,
                                         std::span<const float> obs, std::span<const float> mask,
                                         bool explore) {
  if (policies_.spec(policy).script) {  // with the memory the episode keeps for the script
    out_.resize(1);
    out_[0] = ep.scripted_act(agent_id, policy, obs, mask, script_seed_);
    return out_[0];
  }
  core::preprocess_observation(policies_.spec(policy), obs, pre_);
  const uint8_t e = explore ? 1 : 0;
  weights_->model(policy)->compute_actions(pre_, 1, mask, {&e, 1}, rng_, out_);
  return out_[0];
}

std::map<std::string, Action> LocalWorker::get_action(core::GetAction m) {
  uploads_->throw_error();
  std::lock_guard lk(mu_);
  auto& ep = episode(m.episode_id, "GetAction");
  std::vector<int> policies;
  throw_if(ep.check_act(m.agents, nullptr, policies), named("GetAction", m.episode_id));
  std::map<std::string, Action> actions;
  for (size_t i = 0; i < m.agents.size(); ++i) {
    const auto& a = m.agents[i];
    auto& r = compute(ep, a.agent_id, policies[i], a.obs, a.action_mask, ep.explore());
    ep.record_step(a.agent_id, policies[i], a.obs, r);
    actions[a.agent_id] = Action{r.discrete, r.continuous};
  }
  ep.end_env_step();
  if (ep.has_closed()) report(ep, false);
  return actions;
}

void LocalWorker::log_action(core::LogAction m) {
  uploads_->throw_error();
  std::lock_guard lk(mu_);
  auto& ep = episode(m.episode_id, "LogAction");
  std::vector<int> policies;
  throw_if(ep.check_act(m.agents, &m.actions, policies), named("LogAction", m.episode_id));
  for (size_t i = 0; i < m.agents.size(); ++i) {
    const auto& a = m.agents[i];
    // Keep the model's value and distribution; take the simulator's action and its
    // log-probability under that distribution (as the server does for remote LogAction).
    auto& r = compute(ep, a.agent_id, policies[i], a.obs, a.action_mask, /*explore=*/false);
    core::adopt_logged_action(policies_.spec(policies[i]).action_space, m.actions[i], r);
    ep.record_step(a.agent_id, policies[i], a.obs, r);
  }
  ep.end_env_step();
  if (ep.has_closed()) report(ep, false);
}

void LocalWorker::log_returns(core::LogReturns m) {
  uploads_->throw_error();
  std::lock_guard lk(mu_);
  auto& ep = episode(m.episode_id, "LogReturns");
  throw_if(ep.check_returns(m.rewards), named("LogReturns", m.episode_id));
  ep.add_returns(m.rewards);
  if (ep.has_closed()) report(ep, false);
}

void LocalWorker::end_episode(core::EndEpisode m) {
  uploads_->throw_error();
  std::lock_guard lk(mu_);
  // An episode that has ended already: acknowledged, as the server does.
  if (!episodes_.count(m.episode_id) && book_->has_ended(m.episode_id)) return;
  auto& ep = episode(m.episode_id, "EndEpisode");
  std::vector<int> policies;
  throw_if(ep.check_end(m.agents, policies), named("EndEpisode", m.episode_id));
  std::map<std::string, float> last_values;
  if (m.truncated)
    last_values = algo::truncation_values(policies_, m.agents, policies,
                                          [this](int p) { return weights_->model(p); });
  ep.finish(m.truncated, last_values, {});
  report(ep, true, m.custom_metrics);
  episodes_.erase(m.episode_id);
  book_->end(m.episode_id);
}

void LocalWorker::report(core::EpisodeCore& ep, bool done, const std::vector<core::Metric>& metrics) {
  core::ReportSamples r;
  r.episode_id = ep.id();
  r.weights_version = weights_->first_version();
  int64_t agent_steps = 0;
  for (auto& f : ep.take_closed()) {
    agent_steps += f.steps.size();
    r.fragments.push_back({std::move(f.agent_id), std::move(f.steps)});
  }
  // A report carries at most as many env steps as agent steps (the server checks it); the
  // rest waits for the agents' open fragments (turn-based games act one agent a step).
  r.env_steps_before = ep.reported_env_steps();
  r.env_steps = ep.take_env_steps(agent_steps);
  r.training_enabled = ep.training_enabled();
  r.explore = ep.explore();
  r.episode_done = done;
  if (done) {
    r.episode_reward = ep.reward_total();
    r.episode_length = ep.length();
    for (const auto& [id, ret] : ep.agent_returns()) r.agent_rewards.push_back({id, static_cast<float>(ret), false});
    r.custom_metrics = metrics;
  }
  for (auto& part : split_to_frame_limit(std::move(r), kReportBudget)) uploads_->push(std::move(part));
}

void LocalWorker::flush() {
  if (!uploads_->wait_drained(Clock::now() + secs(opt_.reconnect_timeout_s)))
    throw ConnectionError("flush: " + std::to_string(uploads_->queued_steps()) +
                          " buffered steps could not be uploaded to " + endpoints_ + " within " +
                          std::to_string(opt_.reconnect_timeout_s) + " s");
  uploads_->throw_error();
}

void LocalWorker::throw_kept_error() { uploads_->throw_error(); }

LocalStats LocalWorker::local_stats() const {
  LocalStats s = uploads_->counters();
  weights_->fill(s);
  return s;
}

// ---- background thread ----

void LocalWorker::run() {
  struct Exit {  // tells the destructor, whatever way run() ends
    LocalWorker* w;
    ~Exit() {
      std::lock_guard lk(w->exit_mu_);
      w->exited_ = true;
      w->exit_cv_.notify_all();
    }
  } exit_note{this};
  auto next_poll = Clock::now() + secs(opt_.update_interval_s);
  auto backoff = std::chrono::milliseconds(20);
  std::optional<Clock::time_point> stop_deadline;
  std::optional<core::ReportSamples> current;
  std::optional<Clock::time_point> failing_since;  // several replicas: the active one unreachable since
  bool connected = true, refetch_all = false;
  auto drop_current = [&] {
    if (current) uploads_->dropped_in_flight(report_steps(*current));
    if (current_rid_) conn_->forget(current_rid_);  // never resent once counted as dropped
    current.reset();
    current_rid_ = 0;
  };
  for (;;) {
    if (!current) uploads_->wait_work(next_poll);
    const bool stopping = uploads_->stopping();
    if (stopping && !stop_deadline) stop_deadline = Clock::now() + secs(opt_.close_timeout_s);
    if (stopping && !current && uploads_->empty()) return;
    if (stop_deadline && Clock::now() > *stop_deadline) {
      const int64_t lost = uploads_->queued_steps() + (current ? report_steps(*current) : 0);
      spdlog::warn("local PolicyClient: closing with {} steps not uploaded to {}", lost, endpoints_);
      drop_current();
      uploads_->drop_queued();
      return;
    }
    if (!current) {
      current = uploads_->take();
      current_rid_ = 0;
    }
    try {
      if (!conn_->connected()) conn_->reconnect("reconnecting");  // resends an unanswered report
      failing_since.reset();
      if (!connected) spdlog::info("local PolicyClient: connected again to {}", conn_->endpoint());
      connected = true;
      uploads_->set_connected(true);
      backoff = std::chrono::milliseconds(20);
      if (current) {
        upload(*current);  // may reconnect inside (and resend under the same request id)
        current.reset();
        current_rid_ = 0;
      }
      if (reconnects_total() != seen_reconnects_) {
        // Reconnected (here or inside a send/wait): the server may have restarted with other,
        // or older-numbered, weights. Take its current ones whatever their version.
        seen_reconnects_ = reconnects_total();
        uploads_->set_reconnects(seen_reconnects_);
        refetch_all = true;
      }
      const bool newer = uploads_->take_newer_weights();
      if (!stopping && (newer || refetch_all || Clock::now() >= next_poll)) {
        next_poll = Clock::now() + secs(opt_.update_interval_s);
        weights_->fetch(*conn_, refetch_all);  // on failure refetch_all stays set
        refetch_all = false;
      }
    } catch (const ConnectionError& e) {
      if (connected) spdlog::warn("local PolicyClient: {}; acting with the last weights, retrying", e.what());
      conn_->disconnect();
      connected = false;
      uploads_->set_connected(false);
      if (!failing_since) failing_since = Clock::now();
      if (conns_.size() > 1 && Clock::now() - *failing_since >= secs(opt_.failover_after_s)) {
        // The replica is gone: the next one takes every upload; the report in flight is sent
        // there under a new request id (the gone one never answered it), the weights afresh.
        if (current_rid_) conn_->forget(current_rid_);
        current_rid_ = 0;
        active_ = (active_ + 1) % conns_.size();
        conn_ = conns_[active_].get();
        failing_since.reset();
        refetch_all = true;
        ++failovers_;
        spdlog::warn("local PolicyClient: replica gone; uploading to {} from now on", conn_->endpoint());
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    } catch (const std::exception& e) {
      // Never let the thread die: keep the error for the simulator's next call (once), drop
      // the report it concerned, and pause before the next attempt.
      uploads_->keep_error(RequestError("Internal", "local PolicyClient background thread", e.what()));
      drop_current();
      spdlog::warn("local PolicyClient: {}", e.what());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }
}

// Sends one report (once: a resend after a reconnect reuses its request id, so the server
// applies it once) and waits for its reply.
void LocalWorker::upload(core::ReportSamples& r) {
  const auto what = named("ReportSamples", r.episode_id);
  if (current_rid_ == 0) {
    current_rid_ = conn_->next_id();
    conn_->send(current_rid_, r, what);
  }
  auto reply = conn_->wait(current_rid_);
  if (auto e = error_of(reply, what)) return uploads_->rejected(std::move(*e));
  const auto* ok = std::get_if<core::SamplesAccepted>(&reply);
  if (!ok)  // the server broke the protocol: the report is done with (its request is answered)
    return uploads_->rejected(RequestError("BadFrame", what, std::string("server answered with ") +
                                                                 core::reply_name(reply)));
  uploads_->uploaded(report_steps(r));
  if (opt_.fetch_new_weights_at_once && weights_->behind(ok->policy_versions)) uploads_->signal_newer_weights();
}

}  // namespace tandem::client
