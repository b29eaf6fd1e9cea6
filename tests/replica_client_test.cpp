// PolicyClient over several tandem-server replicas (policy_client/replica_client.cpp):
// 2 and 3 real server processes with the same config. Placement per episode id, the same id
// on the same replica from another client, a replica killed mid-episode (its episodes go on
// on the next replica; every step reaches exactly one server once, counted from each
// server's /metrics and experience output), vectorised calls across replicas, every replica
// gone, a replica that comes back (new episodes go home, moved ones stay), local inference
// failing over as a whole.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "policy_client/policy_client.h"
#include "policy_client/replica_router.h"
#include "policy_client/vector_step.h"
#include "support/requests.h"
#include "support/samples_file.h"
#include "support/server_process.h"

using tandem::client::ClientOptions;
using tandem::client::ConnectionError;
using tandem::client::InferenceMode;
using tandem::client::PolicyClient;
using tandem::client::VectorStep;
using tandem::test::ServerProcess;

namespace {

using Clock = std::chrono::steady_clock;

// N replicas: the same config (an "episodes" experience output each, no training).
struct Group {
  std::vector<std::unique_ptr<ServerProcess>> servers;
  Group(const std::string& name, size_t n) {
    for (size_t r = 0; r < n; ++r) {
      const std::string each = name + "_r" + std::to_string(r);
      auto cfg = tandem::test::config_for(each);
      cfg["output_config"] = {{"what", "episodes"}};
      servers.push_back(std::make_unique<ServerProcess>(cfg, each, std::vector<std::string>{"--no-train"}));
    }
  }
  std::string addresses() const {
    std::string s;
    for (const auto& p : servers) s += (s.empty() ? "" : ",") + p->address();
    return s;
  }
  double metric(size_t r, const std::string& name) { return servers[r]->metric(name); }
  void kill(size_t r) { ::kill(servers[r]->pid(), SIGKILL); }
  // SIGSTOP, and waits until every thread of the process has stopped (the signal takes a
  // moment: a request sent at once could still be answered).
  void pause(size_t r) {
    const pid_t pid = servers[r]->pid();
    ::kill(pid, SIGSTOP);
    const bool stopped = tandem::test::eventually([&] {
      std::error_code ec;
      for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream in(task.path() / "stat");
        std::string line;
        std::getline(in, line);
        const auto close = line.rfind(')');
        if (close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'T') return false;
      }
      return !ec;
    });
    REQUIRE_MESSAGE(stopped, "replica " << r << " did not stop");
  }
  // Every line (one per finished episode) of replica r's output, after a clean stop.
  std::vector<tandem::test::SampleLine> stop_and_read(size_t r) {
    REQUIRE(servers[r]->stop() == 0);
    return tandem::test::read_samples(servers[r]->samples_path());
  }
};

ClientOptions options() {
  auto o = tandem::test::client_options(7);
  o.failover_after_s = 1.0;
  o.reconnect_timeout_s = 10.0;
  return o;
}

std::vector<float> obs(int env, int t) { return {static_cast<float>(env), static_cast<float>(t)}; }

// Ids placed on replica r of n (by the documented rule), `count` of them.
std::vector<std::string> ids_on(size_t r, size_t n, size_t count, const std::string& prefix) {
  std::vector<std::string> out;
  for (int i = 0; out.size() < count; ++i) {
    std::string id = prefix + std::to_string(i);
    if (tandem::client::home_replica(id, n) == r) out.push_back(id);
  }
  return out;
}

// The t column (obs[1]) of an episode's rows in one replica's output.
std::vector<int> steps_of(const std::vector<tandem::test::SampleLine>& lines, const std::string& id) {
  std::vector<int> t;
  for (const auto& l : tandem::test::fragments_of(lines, id))
    for (const auto& row : l.obs) t.push_back(static_cast<int>(row.at(1)));
  return t;
}
std::vector<int> range(int from, int to) {
  std::vector<int> v;
  for (int t = from; t < to; ++t) v.push_back(t);
  return v;
}

}  // namespace

namespace doctest {
template <>
struct StringMaker<std::vector<int>> {
  static String convert(const std::vector<int>& v) { return tandem::test::str(v).c_str(); }
};
}  // namespace doctest

TEST_CASE("placement: fnv1a64(id) % replicas, addresses split at commas") {
  CHECK(tandem::client::episode_hash("a") == 0xaf63dc4c8601ec8cull);  // FNV-1a 64 test vector
  CHECK(tandem::client::episode_hash("") == 0xcbf29ce484222325ull);
  CHECK(tandem::client::home_replica("a", 3) == 0xaf63dc4c8601ec8cull % 3);
  CHECK(tandem::client::split_addresses("ws://a:1, ws://b:2") == std::vector<std::string>{"ws://a:1", "ws://b:2"});
  CHECK(tandem::client::split_addresses("ws://a:1") == std::vector<std::string>{"ws://a:1"});
  CHECK_THROWS_AS(tandem::client::split_addresses("ws://a:1,,ws://b:2"), std::invalid_argument);
}

TEST_CASE("three replicas: episodes spread by id, the same id on the same replica from another client") {
  Group g("replica_spread", 3);
  const int steps = 3;
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) ids.push_back("spread-" + std::to_string(i));
  std::map<size_t, int> expected;
  for (const auto& id : ids) ++expected[tandem::client::home_replica(id, 3)];
  for (size_t r = 0; r < 3; ++r) REQUIRE(expected[r] > 0);  // the ids do spread
  auto play = [&](PolicyClient& c, const std::vector<std::string>& which) {
    for (const auto& id : which) {
      c.start_episode(id);
      for (int t = 0; t < steps; ++t) {
        c.get_action(id, obs(0, t));
        c.log_returns(id, 1.f);
      }
      c.end_episode(id, obs(0, steps));
    }
    c.flush();
  };
  {
    PolicyClient c(g.addresses(), InferenceMode::Remote, options());  // the comma form
    play(c, ids);
    CHECK(c.failovers() == 0);
    CHECK(!c.get_config().empty());
  }
  for (size_t r = 0; r < 3; ++r) {
    CHECK(g.servers[r]->metric_reaches("tandem_episodes_total", expected[r]) == expected[r]);
    CHECK(g.metric(r, "tandem_timesteps_total") == expected[r] * steps);
  }
  // Another client, the vector form, the ids in another order: the same replicas again.
  size_t generated_home = 99;
  {
    std::vector<std::string> list;
    for (const auto& s : g.servers) list.push_back(s->address());
    PolicyClient c(list, InferenceMode::Remote, options());
    play(c, std::vector<std::string>(ids.rbegin(), ids.rend()));
    // A generated id is placed by the same rule.
    const auto id = c.start_episode();
    c.get_action(id, obs(0, 0));
    c.end_episode(id, obs(0, 1));
    c.flush();
    generated_home = tandem::client::home_replica(id, 3);
  }
  for (size_t r = 0; r < 3; ++r) {
    const int e = 2 * expected[r] + (r == generated_home ? 1 : 0);
    CHECK(g.servers[r]->metric_reaches("tandem_episodes_total", e) == e);
    CHECK(g.metric(r, "tandem_timesteps_total") == 2 * expected[r] * steps + (r == generated_home ? 1 : 0));
  }
}

TEST_CASE("a replica killed mid-episode: its episodes go on on the next replica, each step applied once") {
  Group g("replica_failover", 3);
  PolicyClient c(g.addresses(), InferenceMode::Remote, options());
  const auto on0 = ids_on(0, 3, 2, "fo-");
  const std::string x = on0[0], y = on0[1];
  const std::string z = ids_on(1, 3, 1, "fo-")[0], w = ids_on(2, 3, 1, "fo-")[0];
  const std::vector<std::string> all{x, y, z, w};
  const int before = 3, steps = 8;
  for (const auto& id : all) c.start_episode(id, /*training_enabled=*/true, /*explore=*/false);
  for (int t = 0; t < before; ++t)
    for (size_t e = 0; e < all.size(); ++e) {
      c.get_action(all[e], obs(static_cast<int>(e), t));
      c.log_returns(all[e], 1.f);
    }
  c.flush();
  REQUIRE(g.metric(0, "tandem_timesteps_total") == 2 * before);  // x and y so far
  // Replica 0 stops answering, then dies: what it was sent meanwhile is unanswered.
  g.pause(0);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    g.kill(0);
  });
  c.end_episode(x, obs(0, before));  // pipelined to replica 0 (held log_returns with it)
  const auto t0 = Clock::now();
  for (int t = before; t < steps; ++t)
    for (size_t e = 1; e < all.size(); ++e) {
      c.get_action(all[e], obs(static_cast<int>(e), t));  // y's first one waits for the failover
      c.log_returns(all[e], 1.f);
    }
  killer.join();
  for (size_t e = 1; e < all.size(); ++e) c.end_episode(all[e], obs(static_cast<int>(e), steps));
  c.flush();
  CHECK(std::chrono::duration<double>(Clock::now() - t0).count() < 8.0);
  CHECK(c.failovers() == 1);
  // Every step once: replica 0 had x's and y's first steps; replica 1 (next after 0) has
  // z's and the rest of y's; replica 2 has w's.
  CHECK(g.servers[1]->metric_reaches("tandem_timesteps_total", steps + (steps - before)) == steps + (steps - before));
  CHECK(g.metric(2, "tandem_timesteps_total") == steps);
  // x (ended while replica 0 was stopped), y and z ended on replica 1; w on replica 2.
  CHECK(g.servers[1]->metric_reaches("tandem_episodes_total", 3) == 3);
  CHECK(g.metric(2, "tandem_episodes_total") == 1);
  const auto lines1 = g.stop_and_read(1);
  const auto lines2 = g.stop_and_read(2);
  CHECK(steps_of(lines1, z) == range(0, steps));
  CHECK(steps_of(lines1, y) == range(before, steps));  // none lost, none doubled
  CHECK(steps_of(lines1, x).empty());
  CHECK(steps_of(lines2, w) == range(0, steps));
  CHECK(steps_of(lines2, y).empty());
}

TEST_CASE("vectorised steps across two replicas, one killed while a step waits for it") {
  Group g("replica_vector", 2);
  PolicyClient c(g.addresses(), InferenceMode::Remote, options());
  const int envs = 8, before = 3, steps = 6;
  std::vector<std::string> ids;
  std::map<size_t, int> per;
  for (int e = 0; e < envs; ++e) {
    ids.push_back("vec-" + std::to_string(e));
    ++per[tandem::client::home_replica(ids.back(), 2)];
  }
  REQUIRE(per[0] > 0);
  REQUIRE(per[1] > 0);
  VectorStep s;
  for (const auto& id : ids) s.start_episode(id);
  c.step(s);
  s.clear();
  auto play = [&](int t) {
    for (int e = 0; e < envs; ++e) {
      if (t > 0) s.log_returns(ids[e], 1.f);
      s.get_action(ids[e], obs(e, t));
    }
    auto reply = c.step(s);
    CHECK(reply.actions.size() == static_cast<size_t>(envs));
    for (int e = 0; e < envs; ++e) CHECK(reply.action(e).discrete.size() == 1);
    s.clear();
  };
  for (int t = 0; t < before; ++t) play(t);
  for (size_t r = 0; r < 2; ++r) CHECK(g.metric(r, "tandem_timesteps_total") == per[r] * before);
  // Replica 0 stops, then dies while the next step's part for it waits for its reply.
  g.pause(0);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    g.kill(0);
  });
  for (int t = before; t < steps; ++t) play(t);
  killer.join();
  for (int e = 0; e < envs; ++e) s.end_episode(ids[e], obs(e, steps));
  c.step(s);
  c.flush();
  CHECK(c.failovers() == 1);
  CHECK(g.metric(1, "tandem_timesteps_total") == per[1] * steps + per[0] * (steps - before));
  CHECK(g.servers[1]->metric_reaches("tandem_episodes_total", envs) == envs);
  const auto lines = g.stop_and_read(1);
  for (int e = 0; e < envs; ++e) {
    INFO("episode " << ids[e]);
    CHECK(steps_of(lines, ids[e]) == range(tandem::client::home_replica(ids[e], 2) == 0 ? before : 0, steps));
  }
}

TEST_CASE("every replica gone: ConnectionError after reconnect_timeout_s, as with one server") {
  Group g("replica_all_gone", 2);
  auto o = options();
  o.failover_after_s = 0.5;
  o.reconnect_timeout_s = 2.0;
  PolicyClient c(g.addresses(), InferenceMode::Remote, o);
  const std::string a = ids_on(0, 2, 1, "gone-")[0], b = ids_on(1, 2, 1, "gone-")[0];
  c.start_episode(a);
  c.start_episode(b);
  c.get_action(a, obs(0, 0));
  c.get_action(b, obs(1, 0));
  g.kill(0);
  g.kill(1);
  const auto t0 = Clock::now();
  CHECK_THROWS_AS(c.get_action(a, obs(0, 1)), ConnectionError);
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  // Replica 0 is given up after failover_after_s, replica 1 (the last) after
  // reconnect_timeout_s; Connection stops trying when its next attempt would end past that.
  CHECK(took > 1.0);
  CHECK(took < 8.0);
  CHECK(c.failovers() == 1);
}

TEST_CASE("local inference over two replicas: all uploads to the first, then to the next when it is gone") {
  Group g("replica_local", 2);
  auto o = options();
  o.update_interval_s = 0.2;
  PolicyClient c(g.addresses(), InferenceMode::Local, o);
  auto play = [&](const std::string& id, int steps) {
    c.start_episode(id);
    for (int t = 0; t < steps; ++t) {
      c.get_action(id, obs(0, t));
      c.log_returns(id, 1.f);
    }
    c.end_episode(id, obs(0, steps));
  };
  play("local-a", 5);
  play("local-b", 4);
  c.flush();
  CHECK(g.servers[0]->metric_reaches("tandem_timesteps_total", 9) == 9);
  CHECK(g.metric(1, "tandem_timesteps_total") == 0);
  g.kill(0);
  play("local-c", 6);
  c.flush();
  CHECK(c.failovers() == 1);
  CHECK(g.servers[1]->metric_reaches("tandem_timesteps_total", 6) == 6);
  CHECK(g.metric(1, "tandem_episodes_total") == 1);
  CHECK(c.local_stats().dropped_steps == 0);
}

TEST_CASE("a replica that comes back: moved episodes stay where they moved, new ones go home again") {
  Group g("replica_comeback", 2);
  PolicyClient c(g.addresses(), InferenceMode::Remote, options());
  const auto on0 = ids_on(0, 2, 3, "back-");
  const std::string moved = on0[0], fresh = on0[1], later = on0[2];
  c.start_episode(moved);
  c.get_action(moved, obs(0, 0));
  c.log_returns(moved, 1.f);
  c.flush();
  g.kill(0);
  c.get_action(moved, obs(0, 1));  // fails over to replica 1
  CHECK(c.failovers() == 1);
  g.servers[0]->restart_on_same_port();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // > failover_after_s: tried again
  c.start_episode(fresh);
  c.get_action(fresh, obs(1, 0));
  c.get_action(moved, obs(0, 2));
  c.end_episode(fresh, obs(1, 1));
  c.end_episode(moved, obs(0, 3));
  c.flush();
  CHECK(g.servers[0]->metric_reaches("tandem_timesteps_total", 1) == 1);  // fresh, at home
  CHECK(g.servers[0]->metric_reaches("tandem_episodes_total", 1) == 1);
  CHECK(g.metric(1, "tandem_timesteps_total") == 2);  // moved's steps 1 and 2 stayed on 1
  CHECK(g.metric(1, "tandem_episodes_total") == 1);
  // An episode started later goes home too, with no failover.
  c.start_episode(later);
  c.get_action(later, obs(2, 0));
  c.end_episode(later, obs(2, 1));
  c.flush();
  CHECK(g.servers[0]->metric_reaches("tandem_episodes_total", 2) == 2);
  CHECK(c.failovers() == 1);
}
