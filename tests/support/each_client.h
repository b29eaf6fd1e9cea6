#pragma once
// Runs a test's client code once with a remote PolicyClient and once with a local one
// against the same real tandem-server process, so the one episode core is checked in both
// places it runs (the server's registry and the local client).
#include <doctest/doctest.h>

#include <string>

#include "policy_client/policy_client.h"
#include "server_process.h"

namespace tandem::test {

constexpr client::InferenceMode kModes[] = {client::InferenceMode::Remote, client::InferenceMode::Local};

inline std::string mode_name(client::InferenceMode m) {
  return m == client::InferenceMode::Remote ? "remote" : "local";
}

// The code of the RequestError `f` throws, or "no error".
template <typename F>
std::string code_of(F&& f) {
  try {
    f();
  } catch (const client::RequestError& e) {
    return e.code;
  }
  return "no error";
}

// Runs `drive(client, mode)` with a remote client, then with a local one, on `server`.
template <typename F>
void with_each_client(ServerProcess& server, const client::ClientOptions& options, F drive) {
  for (auto mode : kModes) {
    const std::string m = mode_name(mode);
    CAPTURE(m);
    client::PolicyClient c(server.address(), mode, options);
    drive(c, m);
  }
}

// Runs `check(mode)` for each mode (reading what the learner received in that mode).
template <typename F>
void for_each_mode(F check) {
  for (auto mode : kModes) {
    const std::string m = mode_name(mode);
    CAPTURE(m);
    check(m);
  }
}

}  // namespace tandem::test
