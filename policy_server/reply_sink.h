#pragma once
// Where replies go: a connection (WebSocket session) or, in tests, a recorder.
// send() may be called from any thread; implementations serialise onto their own strand.
#include "schemas/codec.h"

namespace tandem::server {

class ReplySink {
 public:
  virtual ~ReplySink() = default;
  virtual void send(wire::Frame frame) = 0;
};

}  // namespace tandem::server
