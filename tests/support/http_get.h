#pragma once
// One plain-HTTP GET against 127.0.0.1 with a deadline, that reports instead of failing: for
// the tests (server_process.h wraps it with REQUIRE) and for bench/soak. No doctest here.
//
//   auto r = test::try_http_get(port, "/metrics", 10);
//   if (r.ok() && r.status == 200) use(r.body); else log(r.error);
//
// Blocks the calling thread for at most timeout_s (one deadline for connect, write and read).
#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tandem::test {

struct HttpResponse {
  std::string error;  // "" when an answer came; else why not (the connect/write/read error)
  int status = 0;
  std::string body;
  bool ok() const { return error.empty(); }
};

// GET http://127.0.0.1:PORT/TARGET; any answer (whatever its status) within timeout_s is ok().
inline HttpResponse try_http_get(uint16_t port, const std::string& target, double timeout_s = 10) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  namespace net = boost::asio;
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  // Applies to every operation below: a server that does not answer fails them.
  stream.expires_after(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  beast::error_code result = net::error::would_block;
  stream.async_connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
        if (ec) {
          result = ec;
          return;
        }
        http::async_write(stream, req, [&](beast::error_code ec2, std::size_t) {
          if (ec2) {
            result = ec2;
            return;
          }
          http::async_read(stream, buf, res,
                           [&](beast::error_code ec3, std::size_t) { result = ec3; });
        });
      });
  ioc.run();
  HttpResponse out;
  if (result) {
    out.error = result.message();
    return out;
  }
  beast::error_code ignored;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  return out;
}

}  // namespace tandem::test
