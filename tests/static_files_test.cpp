// policy_server/static_files.h: what /play/ serves from its directory, and every way out of
// it that is refused (.., encoded .., absolute paths, backslashes, NUL, symlinks).
#include "policy_server/static_files.h"

#include <doctest/doctest.h>

#include "policy_server/server_config.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;
using tandem::server::is_static_path;
using tandem::server::kMaxStaticFileBytes;
using tandem::server::serve_static;
using tandem::server::static_content_type;
using tandem::server::static_method_not_allowed;

namespace {

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// A temporary tree: ROOT/site (the static dir) with files, and ROOT/secret.txt beside it.
struct Tree {
  fs::path root, site;
  Tree() {
    root = fs::temp_directory_path() / ("tandem_static_test_" + std::to_string(::getpid()));
    fs::remove_all(root);
    site = root / "site";
    fs::create_directories(site / "sub");
    fs::create_directories(site / "dir.js");
    write(site / "index.html", "<html>index</html>");
    write(site / "app.js", "let x = 1;");
    write(site / "style.css", "body{}");
    write(site / "sub" / "data.json", "{}");
    write(site / "blob.bin", "xyz");
    write(site / ".hidden", "hidden");
    write(site / "big.txt", std::string(kMaxStaticFileBytes + 1, 'a'));
    write(root / "secret.txt", "SECRET");
    fs::create_directories(root / "outside");
    write(root / "outside" / "o.js", "SECRET");
    fs::create_symlink(root / "secret.txt", site / "link_out.txt");
    fs::create_symlink(root / "outside", site / "linkdir");
    fs::create_symlink(site / "app.js", site / "link_in.js");
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string dir() const { return site.string(); }
};

bool leaks(const tandem::server::StaticReply& r) { return r.body.find("SECRET") != std::string::npos; }

}  // namespace

TEST_CASE("static files: /play and /play/ serve index.html, names serve files with their type") {
  Tree t;
  for (const char* p : {"/play", "/play/", "/play/index.html"}) {
    auto r = serve_static(t.dir(), p);
    CHECK(r.status == 200);
    CHECK(r.content_type == "text/html; charset=utf-8");
    CHECK(r.body == "<html>index</html>");
  }
  auto js = serve_static(t.dir(), "/play/app.js");
  CHECK(js.status == 200);
  CHECK(js.content_type == "text/javascript; charset=utf-8");
  CHECK(js.body == "let x = 1;");
  CHECK(serve_static(t.dir(), "/play/style.css").content_type == "text/css; charset=utf-8");
  auto sub = serve_static(t.dir(), "/play/sub/data.json");
  CHECK(sub.status == 200);
  CHECK(sub.content_type == "application/json");
  CHECK(serve_static(t.dir(), "/play/blob.bin").content_type == "application/octet-stream");
  // Percent-encoded plain characters are decoded once.
  CHECK(serve_static(t.dir(), "/play/app%2Ejs").body == "let x = 1;");
  // A symlink that stays inside the directory is fine.
  CHECK(serve_static(t.dir(), "/play/link_in.js").status == 200);
  // With a trailing slash on the directory too.
  CHECK(serve_static(t.dir() + "/", "/play/app.js").status == 200);
}

TEST_CASE("static files: content types") {
  CHECK(static_content_type("a.png") == "image/png");
  CHECK(static_content_type("a.svg") == "image/svg+xml");
  CHECK(static_content_type("a.json") == "application/json");
  CHECK(static_content_type("Makefile") == "application/octet-stream");
  CHECK(static_content_type("a.exe") == "application/octet-stream");
}

TEST_CASE("static files: traversal and odd names are refused, nothing outside is ever read") {
  Tree t;
  const char* bad[] = {
      "/play/../secret.txt",       "/play/..",
      "/play/sub/../../secret.txt", "/play/%2e%2e/secret.txt",
      "/play/%2E%2E/secret.txt",   "/play/%2e%2e%2fsecret.txt",
      "/play/.%2e/secret.txt",     "/play/%252e%252e/secret.txt",
      "/play//etc/passwd",         "/play/%2fetc%2fpasswd",
      "/play/..\\secret.txt",      "/play/%5c..%5csecret.txt",
      "/play/app.js%00.html",      "/play/%00",
      "/play/./app.js",            "/play/sub/",
      "/play/.hidden",             "/play/%",
      "/play/%zz",                 "/play/%2",
      "/play/a b.js",              "/play/\xc3\xa9.js",
  };
  for (const char* p : bad) {
    CAPTURE(p);
    auto r = serve_static(t.dir(), p);
    CHECK((r.status == 400 || r.status == 404));
    CHECK(r.content_type == "application/json");
    CHECK(!leaks(r));
  }
  // A NUL inside the target (string_view keeps it).
  auto nul = serve_static(t.dir(), std::string_view("/play/app.js\0x", 14));
  CHECK(nul.status == 400);
  // Symlinks that resolve outside: 404, as if absent.
  for (const char* p : {"/play/link_out.txt", "/play/linkdir/o.js"}) {
    CAPTURE(p);
    auto r = serve_static(t.dir(), p);
    CHECK(r.status == 404);
    CHECK(!leaks(r));
  }
}

TEST_CASE("static files: missing files, directories, large files, no directory") {
  Tree t;
  CHECK(serve_static(t.dir(), "/play/nope.js").status == 404);
  CHECK(serve_static(t.dir(), "/play/sub").status == 404);     // a directory
  CHECK(serve_static(t.dir(), "/play/dir.js").status == 404);  // a directory named like a file
  auto big = serve_static(t.dir(), "/play/big.txt");
  CHECK(big.status == 403);
  CHECK(big.body.size() < 200);
  CHECK(serve_static("", "/play/").status == 404);
  CHECK(serve_static((t.root / "missing").string(), "/play/").status == 404);
  CHECK(serve_static(t.dir(), "/other").status == 404);
}

TEST_CASE("static files: which paths are static, and the 405") {
  CHECK(is_static_path("/play"));
  CHECK(is_static_path("/play/"));
  CHECK(is_static_path("/play/app.js"));
  CHECK(!is_static_path("/playground"));
  CHECK(!is_static_path("/pla"));
  CHECK(!is_static_path("/healthz"));
  auto r = static_method_not_allowed();
  CHECK(r.status == 405);
  CHECK(r.content_type == "application/json");
}

TEST_CASE("static files: the static_dir config key must name an existing directory") {
  Tree t;
  auto j = nlohmann::json::parse(R"({"policies": {"p": {"observation_space": {"type": "box", "shape": [4]},
                                                         "action_space": {"type": "discrete", "n": 2}}}})");
  CHECK(tandem::server::parse_server_config(j).static_dir.empty());
  j["static_dir"] = t.dir();
  auto c = tandem::server::parse_server_config(j);
  CHECK(c.static_dir == t.dir());
  CHECK(c.to_json()["static_dir"] == t.dir());
  CHECK(tandem::server::parse_server_config(c.to_json()).static_dir == t.dir());
  for (const auto& bad : {nlohmann::json((t.root / "missing").string()), nlohmann::json((t.site / "app.js").string()),
                          nlohmann::json(""), nlohmann::json(3)}) {
    CAPTURE(bad.dump());
    j["static_dir"] = bad;
    std::string msg;
    try {
      tandem::server::parse_server_config(j);
    } catch (const std::invalid_argument& e) {
      msg = e.what();
    }
    CHECK(msg.find("'static_dir'") != std::string::npos);
  }
}
