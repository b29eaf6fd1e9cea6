#include "policy_server/tls_context.h"

#include <fstream>
#include <stdexcept>

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

namespace tandem::server {
namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> make_server_tls_context(const std::string& cert_file, const std::string& key_file) {
  auto bad = [](const char* key, const std::string& path, const std::string& why) {
    throw std::invalid_argument("'" + std::string(key) + "' ('" + path + "'): " + why);
  };
  if (!std::ifstream(cert_file)) bad("tls_cert_file", cert_file, "cannot read the file");
  if (!std::ifstream(key_file)) bad("tls_key_file", key_file, "cannot read the file");
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  // An encrypted key fails instead of prompting for a passphrase on the terminal.
  ctx->set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string(); });
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) bad("tls_cert_file", cert_file, "not a PEM certificate chain (" + ec.message() + ")");
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec)
    bad("tls_key_file", key_file,
        "not an unencrypted PEM private key for tls_cert_file's certificate (" + ec.message() + ")");
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    bad("tls_key_file", key_file, "the key does not belong to tls_cert_file's certificate");
  return ctx;
}

}  // namespace tandem::server
