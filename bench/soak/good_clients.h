#pragma once
// The well-behaved soak clients: a PolicyClient (remote or local inference) running CartPole
// episodes until the soak stops, counting every step and episode the server accepted.
//
// Thread rules: one thread per client; it writes only its kind's atomics in run_state.
#include <string>

namespace tandem::soak {

// kind: kRemote or kLocal; index: the client's number (its id and seeds).
void good_client(int kind, int index, const std::string& address);

}  // namespace tandem::soak
