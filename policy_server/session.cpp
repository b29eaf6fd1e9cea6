#include "policy_server/session.h"

#include <cctype>

#include <spdlog/spdlog.h>

#include <atomic>

namespace tandem::server {

bool LogLimiter::allow(int64_t& suppressed) {
  std::lock_guard lk(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (last_ != std::chrono::steady_clock::time_point{} && now - last_ < std::chrono::seconds(1)) {
    ++skipped_;
    return false;
  }
  last_ = now;
  suppressed = skipped_;
  skipped_ = 0;
  return true;
}

namespace session_detail {
namespace {
// Constant time in the token's content (not its length, which is not secret enough to matter).
bool same_token(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}
}  // namespace

std::shared_ptr<spdlog::logger> log() {
  static auto l = [] {
    auto existing = spdlog::get("net");
    return existing ? existing : spdlog::default_logger()->clone("net");
  }();
  return l;
}

std::string peer_of(const tcp::socket& s) {
  beast::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

bool client_identity(const http::request<http::string_body>& req, std::string& key) {
  static std::atomic<uint64_t> next_connection{1};
  auto it = req.find("X-Tandem-Client");
  if (it == req.end()) {
    key = "conn:" + std::to_string(next_connection.fetch_add(1));
    return true;
  }
  const std::string_view v(it->value().data(), it->value().size());
  if (v.empty() || v.size() > 64) return false;
  for (char c : v)
    if (c < 0x21 || c > 0x7e) return false;
  key = "id:" + std::string(v);
  return true;
}

bool authorized(const http::request<http::string_body>& req, const std::string& token) {
  if (token.empty()) return true;
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return false;
  const std::string_view v(it->value().data(), it->value().size());
  // The scheme is case-insensitive (RFC 7235), the token is not.
  constexpr std::string_view kBearer = "bearer ";
  if (v.size() <= kBearer.size()) return false;
  for (size_t i = 0; i < kBearer.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != kBearer[i]) return false;
  return same_token(v.substr(kBearer.size()), token);
}

LogLimiter& refused_log() {
  static LogLimiter l;
  return l;
}
LogLimiter& auth_log() {
  static LogLimiter l;
  return l;
}
}  // namespace session_detail

}  // namespace tandem::server
