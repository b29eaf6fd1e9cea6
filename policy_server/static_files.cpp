#include "policy_server/static_files.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace tandem::server {
namespace {

namespace fs = std::filesystem;

StaticReply error(int status, std::string_view error, std::string_view message) {
  // Constant texts only: nothing of the request is echoed.
  return {status, "application/json",
          std::string(R"({"error":")") + std::string(error) + R"(","message":")" + std::string(message) + "\"}"};
}

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

// Percent-decodes once; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool name_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
         ch == '_' || ch == '-';
}

// Segments of name characters separated by single '/', none empty, none starting with '.'.
bool safe_relative_name(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  bool segment_start = true;
  for (char ch : name) {
    if (ch == '/') {
      if (segment_start) return false;  // "//", or a leading '/' (an absolute path)
      segment_start = true;
      continue;
    }
    if (!name_char(ch)) return false;  // '\\', NUL, '%', spaces, bytes >= 0x80, ...
    if (segment_start && ch == '.') return false;  // ".", "..", hidden files
    segment_start = false;
  }
  return !segment_start;  // no trailing '/'
}

}  // namespace

bool is_static_path(std::string_view path) {
  return path == kStaticPrefix ||
         (path.size() > kStaticPrefix.size() && path.substr(0, kStaticPrefix.size()) == kStaticPrefix &&
          path[kStaticPrefix.size()] == '/');
}

StaticReply static_method_not_allowed() {
  return error(405, "MethodNotAllowed", "only GET and HEAD are served under /play/");
}

std::string static_content_type(std::string_view name) {
  const auto dot = name.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "png") return "image/png";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "json") return "application/json";
  if (ext == "txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

StaticReply serve_static(const std::string& dir, std::string_view path) {
  try {
    if (!is_static_path(path)) return error(404, "NotFound", "not a static path");
    if (dir.empty()) return error(404, "NotFound", "this server serves no static files (start it with --static-dir DIR)");
    std::string_view raw = path.substr(kStaticPrefix.size());
    if (!raw.empty()) raw.remove_prefix(1);  // the '/' after /play
    std::string name;
    if (!percent_decode(raw, name)) return error(400, "BadRequest", "malformed percent-encoding in the path");
    if (name.empty()) name = "index.html";
    if (!safe_relative_name(name))
      return error(400, "BadRequest", "file names are segments of [A-Za-z0-9._-], none starting with '.'");

    std::error_code ec;
    const fs::path root = fs::weakly_canonical(fs::path(dir), ec);
    if (ec) return error(404, "NotFound", "the static directory is not readable");
    const fs::path file = fs::weakly_canonical(root / fs::path(name), ec);
    if (ec) return error(404, "NotFound", "no such file");
    std::string prefix = root.native();
    if (prefix.empty() || prefix.back() != '/') prefix += '/';
    const std::string& resolved = file.native();
    if (resolved.size() <= prefix.size() || resolved.compare(0, prefix.size(), prefix) != 0)
      return error(404, "NotFound", "no such file");  // a symlink that leads outside: as if absent
    const auto st = fs::status(file, ec);
    if (ec || !fs::is_regular_file(st)) return error(404, "NotFound", "no such file");
    const auto size = fs::file_size(file, ec);
    if (ec) return error(404, "NotFound", "no such file");
    if (size > kMaxStaticFileBytes) return error(403, "Forbidden", "the file is larger than 1 MiB");

    std::ifstream in(file, std::ios::binary);
    if (!in) return error(404, "NotFound", "no such file");
    StaticReply r{200, static_content_type(name), {}};
    r.body.reserve(static_cast<size_t>(size));
    r.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad() || r.body.size() > kMaxStaticFileBytes) return error(404, "NotFound", "no such file");
    return r;
  } catch (...) {  // bad_alloc, a filesystem error from an overload without error_code: never out
    return error(500, "InternalError", "the file could not be read");
  }
}

}  // namespace tandem::server
