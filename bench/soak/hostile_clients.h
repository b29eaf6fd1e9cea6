#pragma once
// The hostile soak clients, one function per kind (each in the file of its name). Each runs
// until the soak stops, checks that every hostile request is answered as specified (a failure
// in run_state otherwise) and counts only what the server accepted from it (handover, resend:
// the steps whose replies it got; many-episodes: the zero-step episodes it ended).
//
// Thread rules: one thread per client, owning its RawWs/PolicyClient objects; it writes only
// its kind's atomics in run_state.
#include <cstdint>
#include <string>

namespace tandem::soak {

// GetConfig / GetWeights without ever reading a reply; holds a stalled connection, reconnects.
void never_reads(int index, uint16_t port);
// Random bytes, truncated valid frames, text frames: each gets an Error.
void garbage(int index, uint16_t port);
// Episodes that change hands mid-way (a PolicyClient destroyed, then a new one or a raw
// client with a resend over a new connection carries on; or abandoned).
void handover(int index, const std::string& address, uint16_t port);
// Every state-changing request sent twice: the second reply must be the first's, byte for byte.
void resend(int index, uint16_t port);
// Opens episodes until TooManyEpisodes (exactly at `cap`), then ends them.
void many_episodes(int index, uint16_t port, int64_t cap);
// Values out of their space or absurd: each gets an Error, none changes anything.
void extreme(int index, uint16_t port);

}  // namespace tandem::soak
