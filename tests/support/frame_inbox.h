#pragma once
// Reply frames read from a raw WebSocket into an inbox (no doctest): what the tests'
// RawClient and the soak's raw clients share. The state is owned by the read handler too,
// so a handler never outlives what it writes to.
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>

#include <boost/beast/core.hpp>

#include "schemas/codec.h"

namespace tandem::test {

struct FrameInbox {
  boost::beast::flat_buffer buf;
  std::deque<wire::Frame> inbox;
  boost::beast::error_code error;  // the read failed (connection gone); nothing more arrives
  bool pending = false;            // an async_read is in flight
};

// One async_read into `st`: the frame goes to st->inbox, then `then()` runs (to read on).
template <class Ws, class Then>
void read_frame_into(Ws& ws, std::shared_ptr<FrameInbox> st, Then then) {
  st->pending = true;
  auto* s = st.get();
  ws.async_read(s->buf, [st = std::move(st), then = std::move(then)](boost::beast::error_code ec, std::size_t) mutable {
    st->pending = false;
    if (ec) {
      st->error = ec;
      return;
    }
    const auto* p = static_cast<const uint8_t*>(st->buf.data().data());
    st->inbox.emplace_back(p, p + st->buf.size());
    st->buf.consume(st->buf.size());
    then();
  });
}

}  // namespace tandem::test
