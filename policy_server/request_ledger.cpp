#include "policy_server/request_ledger.h"

namespace tandem::server {

RequestLedger::Client& RequestLedger::client(const std::string& key) {
  auto it = clients_.find(key);
  if (it != clients_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second;
  }
  if (clients_.size() >= kMaxClients) {
    // The least recently seen client with nothing in flight (its waiters must be answered).
    for (auto victim = lru_.end(); victim != lru_.begin();) {
      --victim;
      if (clients_.at(*victim).in_flight == 0) {
        clients_.erase(*victim);
        lru_.erase(victim);
        break;
      }
    }
  }
  lru_.push_front(key);
  auto& c = clients_[key];
  c.lru = lru_.begin();
  return c;
}

RequestLedger::Admission RequestLedger::admit(const std::string& key, uint64_t rid, uint64_t fp,
                                              const std::shared_ptr<ReplySink>& sink) {
  std::lock_guard lk(mu_);
  auto& c = client(key);
  if (auto it = c.entries.find(rid); it != c.entries.end()) {
    auto& e = it->second;
    if (e.fingerprint != fp)
      return {Verdict::Refused,
              core::Error{core::ErrorCode::BadRequest,
                          "request id " + std::to_string(rid) +
                              " was already used by another request of this client; request ids "
                              "must be unique (and increasing) per client"}};
    if (e.reply) return {Verdict::Replay, *e.reply};
    e.waiting.push_back(sink);
    return {Verdict::Waiting, {}};
  }
  if (c.forgot_any && rid <= c.forgotten_max)
    return {Verdict::Refused,
            core::Error{core::ErrorCode::BadRequest,
                        "request id " + std::to_string(rid) + " is older than this client's last " +
                            std::to_string(kWindow) +
                            " requests, so it may have been applied already; not applied (request "
                            "ids must increase per client)"}};
  c.entries.emplace(rid, Entry{fp, std::nullopt, {}});
  ++c.in_flight;
  c.order.push_back(rid);
  while (c.order.size() > kWindow) {
    const uint64_t old = c.order.front();
    auto it = c.entries.find(old);
    if (it != c.entries.end() && !it->second.reply) break;  // never forget one in flight
    c.order.pop_front();
    c.entries.erase(old);
    c.forgot_any = true;
    c.forgotten_max = std::max(c.forgotten_max, old);
  }
  return {Verdict::Apply, {}};
}

std::vector<std::shared_ptr<ReplySink>> RequestLedger::complete(const std::string& key, uint64_t rid,
                                                                const core::Reply& reply) {
  std::lock_guard lk(mu_);
  auto cit = clients_.find(key);
  if (cit == clients_.end()) return {};
  auto it = cit->second.entries.find(rid);
  if (it == cit->second.entries.end()) return {};
  if (!it->second.reply) --cit->second.in_flight;
  it->second.reply = reply;
  return std::move(it->second.waiting);
}

void RequestLedger::forget(const std::string& key) {
  std::lock_guard lk(mu_);
  auto it = clients_.find(key);
  if (it == clients_.end()) return;
  lru_.erase(it->second.lru);
  clients_.erase(it);
}

size_t RequestLedger::clients() const {
  std::lock_guard lk(mu_);
  return clients_.size();
}

}  // namespace tandem::server
