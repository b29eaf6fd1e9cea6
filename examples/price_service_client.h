#pragma once
// A client of a price service over HTTP JSON, Ray Serve's shape as in the reference
// (000_b1f235017605f7f7.txt, get_price): POST URL {"observation": [own_return, other_return]}
// -> {"action": [price], ...}. tandem-server answers this on a path of its config's
// `http_inference_paths` (policy_server/http_inference.h). Synchronous (Boost.Beast), one
// keep-alive connection reused across calls (re-opened once when the server closed it),
// a timeout on every connect, write and read. Plain http:// only.
//
// The price is the policy's Box action as served (a raw, unclipped sample), clipped into the
// price space [min_price, max_price] = the action space Box(0, 100, (1,)), as gym's
// clip_actions does. Every failure (connect, timeout, HTTP status other than 200, a body that
// is not {"action": [number, ...]}) throws PriceServiceError naming the URL and the cause.
#include <memory>
#include <stdexcept>
#include <string>

namespace tandem::examples {

struct PriceServiceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct PriceServiceOptions {
  std::string url;         // http://HOST:PORT/PATH
  std::string token;       // sent as "Authorization: Bearer <token>" ("" = none)
  double timeout_s = 5.0;  // per connect, write and read
  double min_price = 0.0;  // the price space's bounds
  double max_price = 100.0;
};

class PriceServiceClient {
 public:
  // Throws PriceServiceError if the URL is not http://HOST:PORT/PATH. Connects lazily.
  explicit PriceServiceClient(PriceServiceOptions options);
  ~PriceServiceClient();
  PriceServiceClient(const PriceServiceClient&) = delete;
  PriceServiceClient& operator=(const PriceServiceClient&) = delete;

  // The price for a player with return `own_return` against one with `other_return`.
  double price(double own_return, double other_return);

  int64_t requests() const { return requests_; }  // answered requests

 private:
  struct Connection;
  std::string post(const std::string& body);

  PriceServiceOptions options_;
  std::string host_, port_, target_;
  std::unique_ptr<Connection> conn_;
  int64_t requests_ = 0;
};

// The token in a --price-token-file: its first line. Throws PriceServiceError if unreadable
// or empty.
std::string read_token_file(const std::string& path);

}  // namespace tandem::examples
