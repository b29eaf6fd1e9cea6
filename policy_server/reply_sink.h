#pragma once
// Where replies go: a connection (WebSocket session) or, in tests, a recorder. Replies are
// plain core::Reply values; the connection encodes them (the domain never sees frames).
#include <cstdint>

#include "core/messages.h"

namespace tandem::server {

class ReplySink {
 public:
  virtual ~ReplySink() = default;
  // Any thread. Implementations serialise onto their own strand and write in call order.
  virtual void send(uint64_t request_id, core::Reply reply) = 0;
};

}  // namespace tandem::server

#include <memory>
#include <string>

namespace tandem::server {

// Who asked: the client (its ledger key), the request id and the connection to reply on.
struct Caller {
  std::string client;
  uint64_t request_id = 0;
  bool mutating = false;  // goes through the exactly-once ledger
  std::shared_ptr<ReplySink> sink;
};

}  // namespace tandem::server
