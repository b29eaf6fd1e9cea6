#pragma once
// The server's TLS context: TLS 1.2 or newer, the certificate chain and private key from
// PEM files (config keys tls_cert_file / tls_key_file, flags --tls-cert-file / --tls-key-file).
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace tandem::server {

// Throws std::invalid_argument naming the config key when a file cannot be read, is not PEM,
// or the key does not belong to the certificate.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const std::string& cert_file,
                                                                   const std::string& key_file);

}  // namespace tandem::server
