#pragma once
// Static files (the browser page, web/connect_four) under /play/ on the server's HTTP port,
// from one configured directory (ServerConfig::static_dir, --static-dir). GET and HEAD only.
//
// What is served, and what is refused (docs/SECURITY.md):
// - "/play" and "/play/" serve index.html; "/play/<name>" serves <name> from the directory.
// - <name> is percent-decoded once, then must be segments of [A-Za-z0-9._-] separated by
//   single '/', no segment starting with '.' (so no "..", ".", hidden files), at most 255
//   characters: anything else ("..", "%2e%2e", "//etc", '\\', NUL, other bytes) is 400.
// - The file's path is canonicalized (std::filesystem::weakly_canonical: symlinks resolved)
//   and must stay under the canonical directory, else 404; only a regular file is served
//   (else 404), of at most kMaxStaticFileBytes (else 403).
// - Content-Type by extension: html, js, css, png, svg, json, txt; else application/octet-stream.
// - Errors are JSON: {"error": "...", "message": "..."}.
// Never throws.
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::server {

inline constexpr std::string_view kStaticPrefix = "/play";
inline constexpr uint64_t kMaxStaticFileBytes = 1u << 20;  // 1 MiB

struct StaticReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// True for "/play" and every path under "/play/" (the request target without its query).
bool is_static_path(std::string_view path);

// The reply to a GET (or HEAD: the caller drops the body) of `path` (the request target
// without its query; is_static_path(path) holds) from directory `dir`. An empty `dir` is a
// 404 ("no static_dir configured").
StaticReply serve_static(const std::string& dir, std::string_view path);

// The 405 JSON reply to any other method on a static path.
StaticReply static_method_not_allowed();

// The Content-Type of a file name, by its extension.
std::string static_content_type(std::string_view name);

}  // namespace tandem::server
