#pragma once
// Exactly-once for requests that change state (StartEpisode, GetAction, LogAction,
// LogReturns, EndEpisode, ReportSamples), scoped to the client that sent them.
//
// A client names itself at the WebSocket upgrade (header X-Tandem-Client); without one the
// connection is its identity. Per client the ledger keeps the last kWindow requests: request
// id -> fingerprint of the frame and, once served, the reply.
//
//   admit(client, id, fingerprint, sink):
//     new id                      -> Apply: the caller applies it and calls complete()
//     same id, same bytes, served -> Replay: answer with the stored reply, apply nothing
//     same id, same bytes, in flight (the original waits in a batcher, perhaps on a dead
//       connection)               -> Waiting: `sink` gets the reply when complete() runs
//     same id, other bytes        -> Refused (BadRequest): ids must be unique per client
//     id at or below one already forgotten -> Refused: it may have been applied
//   complete(client, id, reply)   -> stores the reply, returns the sinks waiting for it
//
// Request ids must increase within a client (from any start). Thread-safe (one mutex);
// bounded: kWindow requests per client; beyond kMaxClients clients the least recently seen
// one with nothing in flight is dropped. A client with a request in flight is kept (a resend
// waiting for it must be answered), so the ledger may exceed kMaxClients by the number of
// clients that have a request in flight, which is at most the number of open connections.
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/messages.h"
#include "policy_server/reply_sink.h"

namespace tandem::server {

class RequestLedger {
 public:
  static constexpr size_t kWindow = 128;
  static constexpr size_t kMaxClients = 4096;

  enum class Verdict { Apply, Replay, Waiting, Refused };
  struct Admission {
    Verdict verdict = Verdict::Apply;
    core::Reply reply;  // Replay: the stored reply; Refused: the Error
  };
  Admission admit(const std::string& client, uint64_t request_id, uint64_t fingerprint,
                  const std::shared_ptr<ReplySink>& sink);
  std::vector<std::shared_ptr<ReplySink>> complete(const std::string& client, uint64_t request_id,
                                                   const core::Reply& reply);
  // The client can never resend (a connection without X-Tandem-Client that closed): drop
  // its window at once instead of waiting for the LRU bound.
  void forget(const std::string& client);
  size_t clients() const;

 private:
  struct Entry {
    uint64_t fingerprint = 0;
    std::optional<core::Reply> reply;  // set once served
    std::vector<std::shared_ptr<ReplySink>> waiting;
  };
  struct Client {
    std::unordered_map<uint64_t, Entry> entries;
    std::deque<uint64_t> order;       // admission order, for the window
    size_t in_flight = 0;             // entries without a reply yet (never evicted)
    bool forgot_any = false;
    uint64_t forgotten_max = 0;       // highest request id dropped from the window
    std::list<std::string>::iterator lru;
  };
  Client& client(const std::string& key);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Client> clients_;
  std::list<std::string> lru_;  // most recently seen first
};

}  // namespace tandem::server
