// A replica group as one policy (PolicyClient with several addresses, remote inference):
// one RemoteClient per replica, each episode's calls on the replica ReplicaRouter places it
// on, failover when a replica is gone.
//
//   call for episode E -> route(E): E's replica (a moved E first gets its StartEpisode
//   there, held in front of the call) -> that RemoteClient -> reply.
//   ConnectionError from replica R (it could not be reached again within failover_after_s)
//   -> fail_over(R): R is down; every episode on R moves to the next live replica; R's
//   unanswered calls (sent and not answered, or still held) are given again, in order, to
//   their episodes' new replicas (each once: R answered none of them); the call that failed
//   is then made again on its episode's new replica.
//   No replica live -> every replica is tried again until reconnect_timeout_s from the
//   outage; then ConnectionError, as with one address.
//
// Thread rules: every method is thread-safe and serialised by mu_ (as RemoteClient is).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <type_traits>

#include "core/overload.h"
#include "policy_client/client_backend.h"
#include "policy_client/remote_client.h"
#include "policy_client/replica_router.h"
#include "policy_client/request_builders.h"

namespace tandem::client {
namespace {

using requests::call_name;
using Clock = std::chrono::steady_clock;

class ReplicaClient final : public ClientBackend {
 public:
  ReplicaClient(const std::vector<std::string>& addresses, const ClientOptions& options)
      : opt_(options), router_(addresses.size()) {
    ClientOptions per = options;
    per.reconnect_timeout_s = std::min(options.failover_after_s, options.reconnect_timeout_s);
    for (const auto& a : addresses) {
      replicas_.push_back(std::make_unique<RemoteClient>(a, per, /*connect_now=*/false));
      names_ += (names_.empty() ? "" : ", ") + a;
    }
    rng_.seed(std::random_device{}());
    for (size_t r = 0; r < replicas_.size(); ++r) set_live(r, replicas_[r]->try_connect(per.reconnect_timeout_s));
    if (!router_.live_from(0)) revive_any("connecting", Clock::now() + secs(opt_.reconnect_timeout_s));
  }

  std::string start_episode(std::optional<std::string> episode_id, bool training_enabled, bool explore) override {
    std::lock_guard lk(mu_);
    throw_kept();
    const std::string id = episode_id ? *episode_id : new_episode_id(rng_);
    core::EpisodeRequest req = core::StartEpisode{id, training_enabled, explore};
    return on_replica(req, [&](RemoteClient& c) { return c.start_episode(id, training_enabled, explore); });
  }

  std::map<std::string, Action> get_action(core::GetAction request) override {
    std::lock_guard lk(mu_);
    throw_kept();
    core::EpisodeRequest req = request;
    return on_replica(req, [&](RemoteClient& c) { return c.get_action(request); });
  }

  void log_action(core::LogAction request) override { pipelined(std::move(request), false); }
  void log_returns(core::LogReturns request) override { pipelined(std::move(request), false); }
  void end_episode(core::EndEpisode request) override { pipelined(std::move(request), true); }

  // Split by replica: each part one frame, all parts in flight at once; replies merged in
  // the order of the entries. A part whose replica is gone is made again on the new one.
  core::VectorReply step(const core::VectorRequest& request) override {
    std::lock_guard lk(mu_);
    throw_kept();
    core::VectorReply out;
    out.replies.resize(request.entries.size());
    std::vector<size_t> todo(request.entries.size());
    for (size_t i = 0; i < todo.size(); ++i) todo[i] = i;
    while (!todo.empty()) {
      struct Part {
        core::VectorRequest request;
        std::vector<size_t> index;  // of each entry in `request`
        uint64_t rid = 0, epoch = 0;
        bool sent = false;
      };
      std::map<size_t, Part> parts;
      for (size_t i : todo) {
        const size_t r = route(request.entries[i]);
        parts[r].request.entries.push_back(request.entries[i]);
        parts[r].index.push_back(i);
      }
      std::vector<size_t> again;
      for (auto& [r, p] : parts) {
        try {
          p.epoch = replicas_[r]->epoch();
          p.rid = replicas_[r]->send_step(p.request);
          p.sent = true;
        } catch (const RefusedError&) {
          throw;
        } catch (const ConnectionError& e) {
          fail_over(r, e.what());
          again.insert(again.end(), p.index.begin(), p.index.end());
        }
      }
      for (auto& [r, p] : parts) {
        if (!p.sent) continue;
        try {
          // Failed over meanwhile (another part's replay): the part is gone with the replica.
          if (!router_.live(r) || replicas_[r]->epoch() != p.epoch) throw ConnectionError("replica failed over");
          auto reply = replicas_[r]->wait_step(p.rid, p.index.size());
          for (size_t k = 0; k < p.index.size(); ++k) out.replies[p.index[k]] = std::move(reply.replies[k]);
          after_answer(r);
        } catch (const RefusedError&) {
          throw;
        } catch (const ConnectionError& e) {
          if (router_.live(r) && replicas_[r]->epoch() == p.epoch) fail_over(r, e.what());
          again.insert(again.end(), p.index.begin(), p.index.end());
        }
      }
      std::sort(again.begin(), again.end());
      todo = std::move(again);
    }
    return out;
  }

  void throw_kept_error() override {
    std::lock_guard lk(mu_);
    throw_kept();
  }

  void flush() override {
    std::lock_guard lk(mu_);
    for (bool again = true; again;) {
      again = false;
      for (size_t r = 0; r < replicas_.size(); ++r) {
        if (!router_.live(r)) continue;
        try {
          replicas_[r]->drain();
          after_answer(r);
        } catch (const RefusedError&) {
          throw;
        } catch (const ConnectionError& e) {
          fail_over(r, e.what());  // its calls went elsewhere: drain those too
          again = true;
        }
      }
    }
    throw_kept();
  }

  // Any live replica (the lowest first).
  std::string config_json() override {
    std::lock_guard lk(mu_);
    for (;;) {
      auto r = router_.live_from(0);
      if (!r) r = revive_any("GetConfig", Clock::now() + secs(opt_.reconnect_timeout_s));
      try {
        return replicas_[*r]->config_json();
      } catch (const RefusedError&) {
        throw;
      } catch (const ConnectionError& e) {
        fail_over(*r, e.what());
      }
    }
  }

  int64_t reconnects() const override {
    std::lock_guard lk(mu_);
    int64_t n = 0;
    for (const auto& c : replicas_) n += c->reconnects();
    return n;
  }
  int64_t failovers() const override {
    std::lock_guard lk(mu_);
    return failovers_;
  }

 private:
  static Clock::duration secs(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  // The kept errors of every replica (and of replicas gone), thrown before a call applies
  // anything: the first, naming the others.
  void throw_kept() {
    for (auto& c : replicas_)
      for (auto& e : c->take_errors()) kept_.push_back(std::move(e));
    if (kept_.empty()) return;
    auto e = first_of(kept_);
    kept_.clear();
    throw e;
  }

  // The replica the request goes to. A new episode goes to its home (or the next live
  // replica); a moved one first gets its StartEpisode there, held in front of the request.
  size_t route(const core::EpisodeRequest& request) {
    const std::string& id = core::episode_of(request);
    auto* e = router_.find(id);
    if (e && !router_.live(e->replica)) {
      fail_over(e->replica, "replica down");
      e = router_.find(id);
    }
    if (!e) e = &router_.add(id, place(id));
    if (const auto* s = std::get_if<core::StartEpisode>(&request)) {
      e->training_enabled = s->training_enabled;
      e->explore = s->explore;
      e->needs_start = e->ended = false;
    } else if (e->needs_start) {
      replicas_[e->replica]->push_held(core::StartEpisode{id, e->training_enabled, e->explore},
                                       call_name("StartEpisode", id));
      e->needs_start = false;
    }
    return e->replica;
  }

  // A new episode's replica: its home when up (a home down for failover_after_s is tried
  // once again first), else the next live one.
  size_t place(const std::string& id) {
    const size_t home = home_replica(id, replicas_.size());
    if (!router_.live(home) && Clock::now() - router_.down_since(home) > secs(opt_.failover_after_s)) {
      if (replicas_[home]->try_connect(0)) {
        set_live(home, true);
        spdlog::info("PolicyClient: replica {} is back (new episodes only)", home);
      } else {
        router_.set_live(home, true);  // restarts the retry clock
        router_.set_live(home, false);
      }
    }
    if (auto r = router_.live_from(home)) return *r;
    return revive_any("no replica live", Clock::now() + secs(opt_.reconnect_timeout_s));
  }

  template <class F>
  auto on_replica(const core::EpisodeRequest& request, F&& f) -> std::invoke_result_t<F&, RemoteClient&> {
    for (;;) {
      const size_t r = route(request);
      try {
        auto out = f(*replicas_[r]);
        after_answer(r);
        return out;
      } catch (const RefusedError&) {
        throw;
      } catch (const ConnectionError& e) {
        fail_over(r, e.what());  // then the call again, on the episode's new replica
      }
    }
  }

  // LogAction, LogReturns (held) and EndEpisode (sent at once, with what is held).
  void pipelined(core::EpisodeRequest request, bool send_now) {
    std::lock_guard lk(mu_);
    throw_kept();
    const std::string what = call_name(request);
    const bool end = std::holds_alternative<core::EndEpisode>(request);
    for (;;) {
      const size_t r = route(request);
      try {
        replicas_[r]->make_room(request);
      } catch (const RefusedError&) {
        throw;
      } catch (const ConnectionError& e) {
        fail_over(r, e.what());  // not given yet: again, on the new replica
        continue;
      }
      if (end) router_.note_ended(core::episode_of(request));
      replicas_[r]->push_held(std::move(request), what);
      try {
        if (send_now)
          replicas_[r]->send_pending();
        else
          replicas_[r]->send_if_full();
      } catch (const RefusedError&) {
        throw;
      } catch (const ConnectionError& e) {
        fail_over(r, e.what());  // given: it is among the replayed calls
      }
      return;
    }
  }

  void after_answer(size_t r) {
    if (!replicas_[r]->has_unanswered()) router_.forget_ended(r);
  }

  // Replica r is gone: its episodes and unanswered calls move to the next live replica.
  // When r was the last live one (its calls waited reconnect_timeout_s, as with one
  // address) and no other answers now either, r stays in charge of what it was given (its
  // connection resends it, exactly once, when it is back) and ConnectionError is thrown.
  void fail_over(size_t r, const std::string& why) {
    const bool was_last = router_.live(r) && !router_.live_after(r);
    if (router_.live(r)) spdlog::warn("PolicyClient: replica {} ({}) is gone: {}", r, address(r), why);
    set_live(r, false);
    auto to = router_.live_after(r);
    if (!to) to = revive_other(r);
    if (!to) {
      if (was_last) {
        set_live(r, true);
        throw ConnectionError("cannot reach any tandem-server replica (" + names_ + "): " + why);
      }
      to = revive_any(why, Clock::now() + secs(opt_.reconnect_timeout_s));
      if (*to == r) return;  // it gave its calls away when it went down
    }
    auto taken = replicas_[r]->take_unanswered();
    for (auto& e : taken.errors) kept_.push_back(std::move(e));
    const size_t moved = router_.move_all(r, *to);
    ++failovers_;
    spdlog::warn("PolicyClient: {} episode(s) and {} unanswered call(s) of replica {} moved to replica {} ({})",
                 moved, taken.requests.size(), r, *to, address(*to));
    replay(std::move(taken.requests));
  }

  void set_live(size_t r, bool up) {
    router_.set_live(r, up);
    // The last live replica waits reconnect_timeout_s (one address's behaviour); the others
    // failover_after_s before their episodes move.
    size_t live = 0;
    for (size_t k = 0; k < replicas_.size(); ++k) live += router_.live(k) ? 1 : 0;
    for (size_t k = 0; k < replicas_.size(); ++k)
      replicas_[k]->set_reconnect_timeout(live <= 1 ? opt_.reconnect_timeout_s : failover_s());
  }
  double failover_s() const { return std::min(opt_.failover_after_s, opt_.reconnect_timeout_s); }

  // One attempt at every replica but r that is down.
  std::optional<size_t> revive_other(size_t r) {
    for (size_t k = 1; k < replicas_.size(); ++k) {
      const size_t q = (r + k) % replicas_.size();
      if (!router_.live(q) && replicas_[q]->try_connect(0)) {
        set_live(q, true);
        spdlog::info("PolicyClient: replica {} ({}) reachable again", q, address(q));
        return q;
      }
    }
    return std::nullopt;
  }

  // Gives the calls again, in order, each once, to their episodes' replicas (pipelined).
  void replay(std::vector<RemoteClient::Unanswered> calls) {
    std::deque<RemoteClient::Unanswered> work(std::make_move_iterator(calls.begin()),
                                              std::make_move_iterator(calls.end()));
    std::set<size_t> touched;
    while (!work.empty()) {
      auto& u = work.front();
      const size_t t = route(u.request);
      try {
        replicas_[t]->make_room(u.request);
      } catch (const RefusedError&) {
        throw;
      } catch (const ConnectionError& e) {
        try {
          fail_over(t, e.what());
        } catch (const ConnectionError&) {
          // t stays in charge (the last replica): it gets the rest, sent when it is back.
          for (auto& rest : work) replicas_[t]->push_held(std::move(rest.request), std::move(rest.what));
          throw;
        }
        continue;
      }
      if (std::holds_alternative<core::EndEpisode>(u.request)) router_.note_ended(core::episode_of(u.request));
      replicas_[t]->push_held(std::move(u.request), std::move(u.what));
      work.pop_front();
      touched.insert(t);
    }
    for (size_t t : touched) {
      if (!router_.live(t)) continue;
      try {
        replicas_[t]->send_pending();
      } catch (const ConnectionError& e) {
        fail_over(t, e.what());
      }
    }
  }

  // No replica live: tries each again (one attempt each, backoff) until the deadline.
  size_t revive_any(const std::string& why, Clock::time_point deadline) {
    auto backoff = std::chrono::milliseconds(20);
    for (;;) {
      for (size_t r = 0; r < replicas_.size(); ++r)
        if (replicas_[r]->try_connect(0)) {
          set_live(r, true);
          spdlog::info("PolicyClient: replica {} ({}) reachable again", r, address(r));
          return r;
        }
      if (Clock::now() + backoff > deadline)
        throw ConnectionError("cannot reach any tandem-server replica (" + names_ + "): " + why);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }

  std::string address(size_t r) const { return replicas_[r]->endpoint(); }

  ClientOptions opt_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<RemoteClient>> replicas_;  // one per address, in order
  std::string names_;                                    // the addresses, for errors
  ReplicaRouter router_;                                 // under mu_
  std::vector<RequestError> kept_;                       // under mu_: errors of replicas gone
  std::mt19937_64 rng_;                                  // under mu_: new episode ids
  int64_t failovers_ = 0;                                // under mu_
};

}  // namespace

std::unique_ptr<ClientBackend> make_replica_backend(const std::vector<std::string>& addresses,
                                                    const ClientOptions& options) {
  return std::make_unique<ReplicaClient>(addresses, options);
}

}  // namespace tandem::client
