#pragma once
// What PolicyClient delegates to: the remote backend (every call a request to the server) or
// the local one (the episode core and the model in this process; tandem_client_local).
// PolicyClient turns its convenience overloads into these plain requests, once.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/messages.h"
#include "policy_client/policy_client.h"

namespace tandem::client {

class ClientBackend {
 public:
  virtual ~ClientBackend() = default;
  virtual std::string start_episode(std::optional<std::string> episode_id, bool training_enabled,
                                    bool explore) = 0;
  virtual std::map<std::string, Action> get_action(core::GetAction request) = 0;
  virtual void log_action(core::LogAction request) = 0;
  virtual void log_returns(core::LogReturns request) = 0;
  virtual void end_episode(core::EndEpisode request) = 0;
  // Vectorised: every entry applied in order, one reply per entry. This default applies them
  // one by one through the calls above (an entry that throws RequestError gets its Error and
  // the others go on); the remote backend sends them as one frame instead.
  virtual core::VectorReply step(const core::VectorRequest& request);
  // Throws an error kept from earlier (local: a rejected upload) before a call applies
  // anything, so that step() does not pin it on one of its entries.
  virtual void throw_kept_error() {}
  virtual void flush() = 0;
  virtual std::string config_json() = 0;
  virtual int64_t reconnects() const = 0;
  virtual LocalStats local_stats() const { return {}; }
  // Several addresses: episodes moved off a replica that was gone (one address: 0).
  virtual int64_t failovers() const { return 0; }
};

std::unique_ptr<ClientBackend> make_remote_backend(const std::string& address, const ClientOptions& options);
// Several addresses, remote inference: a replica group (replica_client.cpp).
std::unique_ptr<ClientBackend> make_replica_backend(const std::vector<std::string>& addresses,
                                                    const ClientOptions& options);

// Defined by tandem_client_local (an object library: link it to use InferenceMode::Local).
// A weak reference, so that remote-only programs link without it (and without LibTorch).
// Several addresses: the first that answers takes all traffic; the next when it is gone.
std::unique_ptr<ClientBackend> make_local_backend(const std::vector<std::string>& addresses,
                                                  const ClientOptions& options) __attribute__((weak));

}  // namespace tandem::client
