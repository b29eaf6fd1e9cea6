#pragma once
// Where replies go: a connection (WebSocket session) or, in tests, a recorder.
// send() may be called from any thread; implementations serialise onto their own strand.
#include "schemas/codec.h"

namespace tandem::server {

class ReplySink {
 public:
  virtual ~ReplySink() = default;
  virtual void send(wire::Frame frame) = 0;
  // A held reply (ReportSamples while the learner is behind) stops the connection from
  // reading further requests until it is sent, so a client that does not wait for replies
  // cannot grow the server's queue: TCP pushes back instead. Called on the request's strand.
  virtual void hold_reading() {}
  virtual void resume_reading() {}
};

}  // namespace tandem::server
