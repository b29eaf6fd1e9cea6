// Requests pipelined on ONE connection (sent without waiting for replies): the server reads
// ahead, batches the GetActions of different episodes into one forward pass, and still
// applies each episode's requests, and answers the connection's, in the order they were
// sent. Every case runs against a real tandem-server process (--no-train, "output" set) and
// compares what reaches its learner (experience output) with the same requests sent one round
// trip at a time.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/messages.h"
#include "schemas/codec.h"
#include "support/raw_client.h"
#include "support/requests.h"
#include "support/samples_file.h"
#include "support/server_process.h"
#include "support/uniform_report.h"

using namespace tandem;
using namespace tandem::test;

namespace {

constexpr int kEpisodes = 8;
int length(int i) { return 5 + i; }
std::vector<float> obs(int i, int t) { return {0.05f * static_cast<float>(t), -0.1f * static_cast<float>(i)}; }
float reward(int i, int t) { return static_cast<float>(t) + 0.25f * static_cast<float>(i); }
std::string id(const std::string& prefix, int i) { return prefix + "-" + std::to_string(i); }

struct Sent {
  uint64_t rid;
  enum Kind { Started, Actions, Ack, UnknownEpisode, Config } kind;
  std::string episode;  // Started: the episode id it starts
};

// The episodes one after another, one round trip per request.
void drive_serial(RawClient& c, const std::string& prefix, uint64_t& rid) {
  for (int i = 0; i < kEpisodes; ++i) {
    const auto ep = id(prefix, i);
    REQUIRE(started(c.call(++rid, start(ep)), ep));
    for (int t = 0; t < length(i); ++t) {
      auto r = c.call(++rid, get_action(ep, obs(i, t)));
      REQUIRE_MESSAGE(is<core::Actions>(r), describe(r));
      r = c.call(++rid, log_returns(ep, reward(i, t)));
      REQUIRE_MESSAGE(is<core::Ack>(r), describe(r));
    }
    REQUIRE(is<core::Ack>(c.call(++rid, end_episode(ep, obs(i, length(i))))));
  }
}

// The same requests per episode, all episodes side by side, every frame sent before any reply
// is read, each env step's frames in one burst. Mixed in: a GetConfig, a GetAction for an
// unknown episode (its Error must change nothing) and a byte-identical resend right behind
// its original (it waits for it in order and gets the original's reply, applied once).
std::vector<Sent> drive_pipelined(RawClient& c, const std::string& prefix, uint64_t& rid) {
  std::vector<Sent> sent;
  std::vector<wire::Frame> burst;
  auto send = [&](const core::Request& r, Sent::Kind kind, std::string ep = "") {
    burst.push_back(wire::encode_request(++rid, r));
    sent.push_back({rid, kind, std::move(ep)});
  };
  for (int i = 0; i < kEpisodes; ++i) send(start(id(prefix, i)), Sent::Started, id(prefix, i));
  for (int t = 0;; ++t) {
    bool any = false;
    for (int i = 0; i < kEpisodes; ++i)
      if (t < length(i)) {
        send(get_action(id(prefix, i), obs(i, t)), Sent::Actions);
        any = true;
        if (t == 2 && i == 3) {  // the same request again, while the original is in flight
          burst.push_back(wire::encode_request(rid, get_action(id(prefix, i), obs(i, t))));
          sent.push_back({rid, Sent::Actions, ""});
        }
      }
    if (t == 1) send(get_action(prefix + "-nobody", {0.f, 0.f}), Sent::UnknownEpisode);
    if (t == 3) send(core::GetConfig{}, Sent::Config);
    for (int i = 0; i < kEpisodes; ++i) {
      if (t < length(i)) send(log_returns(id(prefix, i), reward(i, t)), Sent::Ack);
      if (t + 1 == length(i)) send(end_episode(id(prefix, i), obs(i, length(i))), Sent::Ack);
    }
    c.send_burst(burst);
    burst.clear();
    if (!any) break;
  }
  return sent;
}

void pipelined_like_serial(int io_threads) {
  CAPTURE(io_threads);
  const std::string name = "pipelined_io" + std::to_string(io_threads);
  auto config = config_for(name);
  config["io_threads"] = io_threads;
  config["config"]["rollout_fragment_length"] = 3;  // fragments are cut inside the episodes
  ServerProcess server(config, name, {"--no-train"});

  RawClient serial(server.port(), "serial");
  uint64_t rid = 0;
  drive_serial(serial, "serial", rid);
  const double passes0 = server.metric("tandem_inference_passes_total");
  const double agents0 = server.metric("tandem_inference_agents_total");

  RawClient c(server.port(), "pipelined");
  rid = 100;
  const auto sent = drive_pipelined(c, "piped", rid);
  // Replies come in request order, each as a single call would get it.
  int resends = 0;
  core::Reply previous;
  for (size_t k = 0; k < sent.size(); ++k) {
    const auto& s = sent[k];
    CAPTURE(s.rid);
    const auto r = c.expect(s.rid, 30);
    switch (s.kind) {
      case Sent::Started: CHECK(started(r, s.episode)); break;
      case Sent::Actions:
        REQUIRE_MESSAGE(is<core::Actions>(r), describe(r));
        CHECK(std::get<core::Actions>(r).actions.size() == 1);
        if (k > 0 && sent[k - 1].rid == s.rid) {  // the resend: the original's reply
          ++resends;
          CHECK(discrete_actions(r) == discrete_actions(previous));
          CHECK(std::get<core::Actions>(r).policy_version == std::get<core::Actions>(previous).policy_version);
        }
        break;
      case Sent::Ack: CHECK_MESSAGE(is<core::Ack>(r), describe(r)); break;
      case Sent::UnknownEpisode: CHECK_MESSAGE(is_error(r, core::ErrorCode::UnknownEpisode), describe(r)); break;
      case Sent::Config: CHECK_MESSAGE(is<core::Config>(r), describe(r)); break;
    }
    previous = r;
  }
  CHECK(resends == 1);
  const double passes = server.metric("tandem_inference_passes_total") - passes0;
  const double agents = server.metric("tandem_inference_agents_total") - agents0;
  int64_t steps = 0;
  for (int i = 0; i < kEpisodes; ++i) steps += length(i);
  CHECK(agents == steps);  // the resend was not computed again
  MESSAGE("pipelined: " << agents << " actions in " << passes << " forward passes");
  // One thread reads every frame that has arrived before the batch's flush runs; with two,
  // the second thread may flush earlier, so only the first is held to a batch size.
  if (io_threads == 1) CHECK(agents / passes >= 2.0);  // 1.0 without batching; ~4 measured

  CHECK(server.metric_reaches("tandem_episodes_total", 2 * kEpisodes) == 2 * kEpisodes);
  CHECK(server.metric("tandem_timesteps_total") == 2 * steps);
  CHECK(server.metric("tandem_open_episodes") == 0);
  CHECK(server.stop() == 0);

  const auto all = read_samples(server.samples_path());
  for (int i = 0; i < kEpisodes; ++i) {
    CAPTURE(i);
    const auto fa = fragments_of(all, id("serial", i));
    const auto fb = fragments_of(all, id("piped", i));
    REQUIRE(fa.size() == fb.size());
    CHECK(fa.size() == static_cast<size_t>((length(i) + 2) / 3));
    for (size_t k = 0; k < fa.size(); ++k) {
      CAPTURE(k);
      CHECK(fa[k].obs == fb[k].obs);
      CHECK_MESSAGE(fa[k].rewards == fb[k].rewards, str(fa[k].rewards) << " vs " << str(fb[k].rewards));
      CHECK(fa[k].terminated == fb[k].terminated);
      REQUIRE(fa[k].vf_preds.size() == fb[k].vf_preds.size());
      for (size_t t = 0; t < fa[k].vf_preds.size(); ++t)
        CHECK(fa[k].vf_preds[t] == doctest::Approx(fb[k].vf_preds[t]).epsilon(1e-5));
    }
    CHECK(concat(fb).size() == length(i));
  }
  CHECK(fragments_of(all, "piped-nobody").empty());
}

}  // namespace

TEST_CASE("requests pipelined on one connection are batched and applied as serial calls, one I/O thread") {
  pipelined_like_serial(1);
}

TEST_CASE("requests pipelined on one connection are applied as serial calls, two I/O threads") {
  pipelined_like_serial(2);
}

TEST_CASE("a ReportSamples held for a busy learner holds the requests pipelined behind it") {
  // A report is a barrier: while its reply is held (serving pauses while the learner
  // trains: sample_ahead_steps 0), nothing sent after it on the connection is applied, so a
  // local client cannot run ahead of training by pipelining.
  const std::string name = "pipelined_barrier";
  auto config = config_for(name);
  config["sample_ahead_steps"] = 0;
  config["config"]["num_sgd_iter"] = 600;
  config["config"]["model"]["fcnet_hiddens"] = {512, 512};
  ServerProcess server(config, name);  // trains
  RawClient c(server.port(), "reporter");
  // A whole batch: its reply is held until the learner has taken it and trained on it.
  c.send(1, uniform_report("r1", 64, {0.1f, 0.2f}, 3, true));
  c.send(2, start("behind"));
  int held_checks = 0;
  for (int k = 0; k < 20; ++k) {
    const double open = server.metric("tandem_open_episodes");
    if (c.readable_within(0)) break;  // the learner is done: the report was answered
    ++held_checks;
    CHECK_MESSAGE(open == 0, "the StartEpisode behind a held report was applied");
  }
  MESSAGE("checks while the report was held: " << held_checks);
  REQUIRE_MESSAGE(held_checks > 0, "the report was never held: the learner was not busy");
  const auto r = c.expect(1, 60);
  CHECK_MESSAGE(is<core::SamplesAccepted>(r), describe(r));
  CHECK(started(c.expect(2), "behind"));
  CHECK(server.metric("tandem_open_episodes") == 1);
}
