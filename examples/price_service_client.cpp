// HTTP JSON client of the price service; see price_service_client.h.
#include "examples/price_service_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

namespace tandem::examples {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Beast's stream timeouts apply to asynchronous operations only: each operation is started
// asynchronously and the caller's thread runs the io_context until it completes.
namespace {

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

}  // namespace

struct PriceServiceClient::Connection {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool open = false;

  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }
};

PriceServiceClient::PriceServiceClient(PriceServiceOptions options)
    : options_(std::move(options)), conn_(std::make_unique<Connection>()) {
  const std::string& url = options_.url;
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    throw PriceServiceError("price service: the URL must look like http://HOST:PORT/PATH, got '" +
                            url + "'");
  }
  const auto slash = url.find('/', scheme.size());
  const std::string authority = url.substr(scheme.size(), slash - scheme.size());
  target_ = slash == std::string::npos ? "/" : url.substr(slash);
  const auto colon = authority.rfind(':');
  host_ = colon == std::string::npos ? authority : authority.substr(0, colon);
  port_ = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (host_.empty() || port_.empty() || target_ == "/") {
    throw PriceServiceError("price service: the URL must look like http://HOST:PORT/PATH, got '" +
                            url + "'");
  }
  if (!(options_.timeout_s > 0))
    throw PriceServiceError("price service: the timeout must be > 0 s");
}

PriceServiceClient::~PriceServiceClient() {
  if (conn_ && conn_->open) {
    beast::error_code ec;
    conn_->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
}

std::string PriceServiceClient::post(const std::string& body) {
  const auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options_.timeout_s));
  http::request<http::string_body> req{http::verb::post, target_, 11};
  req.set(http::field::host, host_ + ":" + port_);
  req.set(http::field::content_type, "application/json");
  req.keep_alive(true);
  if (!options_.token.empty()) req.set(http::field::authorization, "Bearer " + options_.token);
  req.body() = body;
  req.prepare_payload();

  // A reused connection may have been closed by the server while idle: one fresh try then.
  for (int attempt = 0;; ++attempt) {
    const bool reused = conn_->open;
    beast::error_code ec;
    const char* stage = "connect";
    if (!conn_->open) {
      tcp::resolver resolver(conn_->ioc);
      const auto endpoints = resolver.resolve(host_, port_, ec);
      if (!ec) {
        conn_->stream.expires_after(timeout);
        ec = conn_->run([&](auto done) { conn_->stream.async_connect(endpoints, done); });
      }
      if (!ec) conn_->open = true;
    }
    http::response<http::string_body> res;
    if (!ec) {
      stage = "send the request";
      conn_->stream.expires_after(timeout);
      ec = conn_->run([&](auto done) { http::async_write(conn_->stream, req, done); });
    }
    if (!ec) {
      stage = "read the reply";
      conn_->stream.expires_after(timeout);
      ec =
          conn_->run([&](auto done) { http::async_read(conn_->stream, conn_->buffer, res, done); });
    }
    if (!ec) {
      if (!res.keep_alive()) {
        beast::error_code ignored;
        conn_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        conn_->stream.close();
        conn_->open = false;
      }
      if (res.result() != http::status::ok) {
        std::string detail = res.body().substr(0, 300);
        throw PriceServiceError("price service " + options_.url + " answered HTTP " +
                                std::to_string(res.result_int()) + ": " + detail);
      }
      return res.body();
    }
    conn_->stream.close();
    conn_->open = false;
    conn_->buffer.clear();
    const bool closed_by_peer = ec == http::error::end_of_stream ||
                                ec == net::error::connection_reset ||
                                ec == net::error::broken_pipe || ec == net::error::eof;
    if (reused && closed_by_peer && attempt == 0) continue;
    const std::string why = ec == beast::error::timeout
                                ? "timed out after " + seconds_text(options_.timeout_s) + " s"
                                : ec.message();
    throw PriceServiceError("price service " + options_.url + ": could not " + stage + ": " + why);
  }
}

double PriceServiceClient::price(double own_return, double other_return) {
  const nlohmann::json request = {{"observation", {own_return, other_return}}};
  const std::string text = post(request.dump());
  double raw = 0.0;
  try {
    const auto reply = nlohmann::json::parse(text);
    const auto& action = reply.at("action");
    const auto& first = action.is_array() ? action.at(0) : action;
    if (!first.is_number()) throw std::invalid_argument("not a number");
    raw = first.get<double>();
  } catch (const std::exception&) {
    throw PriceServiceError(
        "price service " + options_.url +
        ": the reply is not {\"action\": [price, ...]}: " + text.substr(0, 200));
  }
  ++requests_;
  return std::clamp(raw, options_.min_price, options_.max_price);
}

std::string read_token_file(const std::string& path) {
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token))
    throw PriceServiceError("cannot read the token file '" + path + "'");
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty())
    throw PriceServiceError("the token file '" + path + "' has an empty first line");
  return token;
}

}  // namespace tandem::examples
