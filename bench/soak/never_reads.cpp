// The never-reads hostile client: requests it never reads the replies of, until the server's
// backpressure stalls its writes (thread rules: hostile_clients.h).
#include "hostile_clients.h"

#include "raw_ws.h"
#include "run_state.h"

namespace tandem::soak {

void never_reads(int index, uint16_t port) {
  const int kind = kNeverReads;
  ++g_stats[kind].clients;
  const auto cfg = wire::encode_request(1, core::GetConfig{});
  const auto wts = wire::encode_request(2, core::GetWeights{"default_policy", -1});
  for (int round = 0; !g_stop; ++round) {
    RawWs ws;
    // Every other round without X-Tandem-Client (the connection is its own identity).
    if (!connect_counted(kind, ws, port, round % 2 ? "nr-" + std::to_string(index) + "-" + std::to_string(round) : ""))
      continue;
    bool stalled = false;
    for (int64_t i = 0; i < 400000 && !g_stop; ++i) {
      ++g_stats[kind].requests;
      if (!ws.send(i % 4 == 3 ? wts : cfg, 0.5)) {
        stalled = true;
        break;
      }
    }
    if (stalled) {
      ++g_stats[kind].stalls;
      nap(4);  // hold the stalled connection a while, then go away without reading
    } else if (!g_stop) {
      unexpected(kind, "the server kept reading 400000 frames whose replies were never read");
    }
  }
}

}  // namespace tandem::soak
