// The exactly-once ledger and the episode book, as units: replay, wait, refusal of a reused
// or forgotten id, clients never evicted with a request in flight; tombstones of ended ids.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/episode_book.h"
#include "policy_server/request_ledger.h"

using namespace tandem;
using server::RequestLedger;
using V = RequestLedger::Verdict;

namespace {
struct Recorder : server::ReplySink {
  std::vector<std::pair<uint64_t, core::Reply>> got;
  void send(uint64_t rid, core::Reply r) override { got.emplace_back(rid, std::move(r)); }
};
}  // namespace

TEST_CASE("ledger: apply, replay, wait for the original, refuse a reused id") {
  RequestLedger l;
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>();
  CHECK(l.admit("id:x", 5, 111, a).verdict == V::Apply);
  CHECK(l.admit("id:x", 5, 111, b).verdict == V::Waiting);  // resent while in flight
  auto waiting = l.complete("id:x", 5, core::Ack{});
  REQUIRE(waiting.size() == 1);
  CHECK(waiting[0] == b);
  auto r = l.admit("id:x", 5, 111, b);
  CHECK(r.verdict == V::Replay);
  CHECK(std::holds_alternative<core::Ack>(r.reply));
  auto refused = l.admit("id:x", 5, 222, b);  // same id, other bytes
  CHECK(refused.verdict == V::Refused);
  CHECK(std::get<core::Error>(refused.reply).message.find("request id 5") != std::string::npos);
  CHECK(l.admit("id:y", 5, 222, b).verdict == V::Apply);  // another client: its own ids
}

TEST_CASE("ledger: an id older than the window is refused, never applied twice") {
  RequestLedger l;
  auto s = std::make_shared<Recorder>();
  for (uint64_t rid = 1; rid <= RequestLedger::kWindow + 10; ++rid) {
    REQUIRE(l.admit("id:x", rid, rid, s).verdict == V::Apply);
    l.complete("id:x", rid, core::Ack{});
  }
  CHECK(l.admit("id:x", 3, 3, s).verdict == V::Refused);                       // forgotten
  CHECK(l.admit("id:x", RequestLedger::kWindow + 5, RequestLedger::kWindow + 5, s).verdict == V::Replay);
}

TEST_CASE("ledger: clients with a request in flight are never evicted; closed anonymous ones are forgotten") {
  RequestLedger l;
  auto s = std::make_shared<Recorder>();
  REQUIRE(l.admit("id:busy", 1, 1, s).verdict == V::Apply);  // stays in flight
  for (size_t c = 0; c < RequestLedger::kMaxClients + 50; ++c) {
    const std::string id = "id:c" + std::to_string(c);
    REQUIRE(l.admit(id, 1, 1, s).verdict == V::Apply);
    l.complete(id, 1, core::Ack{});
  }
  CHECK(l.clients() <= RequestLedger::kMaxClients + 1);
  CHECK(l.admit("id:busy", 1, 1, s).verdict == V::Waiting);  // still known, still waiting
  CHECK(l.complete("id:busy", 1, core::Ack{}).size() == 1);
  REQUIRE(l.admit("conn:7", 1, 1, s).verdict == V::Apply);
  l.complete("conn:7", 1, core::Ack{});
  const auto before = l.clients();
  l.forget("conn:7");
  CHECK(l.clients() == before - 1);
}

TEST_CASE("episode book: bounds, duplicates, generated ids, tombstones of reopened ids") {
  core::EpisodeBook b(/*max_open=*/2, /*seed=*/1);
  std::string a = "a", gen, third = "c";
  CHECK(b.open(a).ok());
  CHECK(b.open(a).code == core::ErrorCode::DuplicateEpisode);
  CHECK(b.open(gen).ok());
  CHECK(gen.rfind("ep-", 0) == 0);
  CHECK(b.open(third).code == core::ErrorCode::TooManyEpisodes);
  std::string longid(300, 'x');
  b.end(gen);
  CHECK(b.open(longid).code == core::ErrorCode::BadRequest);
  b.end(a);
  CHECK(b.has_ended("a"));
  CHECK(b.not_open("a").message.find("has already ended") != std::string::npos);
  CHECK(b.not_open("zzz").message.find("unknown episode") != std::string::npos);
  CHECK(b.open(a).ok());  // an ended id may be used again...
  CHECK_FALSE(b.has_ended("a"));
  b.end(a);               // ...and ended again: one tombstone
  CHECK(b.has_ended("a"));
  // Many more ended ids push the old tombstones out, but never a newer one of a reused id.
  for (int i = 0; i < static_cast<int>(core::EpisodeBook::kTombstones) + 10; ++i) {
    std::string id = std::to_string(i);
    id.insert(0, 1, 'e');
    REQUIRE(b.open(id).ok());
    b.end(id);
  }
  CHECK_FALSE(b.has_ended("a"));
  std::string newest = std::to_string(core::EpisodeBook::kTombstones + 9);
  newest.insert(0, 1, 'e');
  CHECK(b.has_ended(newest));
}
