// GET /metrics over plain HTTP: strict Prometheus text parsing, and the figures agree with
// the last row of result.json once traffic has stopped.
//
// A row's metrics are taken when its iteration's training ends, so the test sends each
// iteration's episodes only after the previous row is written, and compares once no
// traffic is left.
#include <doctest/doctest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "policy_client/policy_client.h"
#include "policy_server/server.h"
#include "policy_server/server_context.h"

using namespace tandem;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::asio::ip::tcp;

namespace {

std::string http_get(uint16_t port, const std::string& target) {
  boost::asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  REQUIRE(res.result_int() == 200);
  return res.body();
}

// Parses Prometheus text format 0.0.4 strictly: every line is a comment (# HELP / # TYPE,
// each once per family, both before the family's samples) or `name{labels} value`; a
// family's samples are contiguous; values are doubles (or NaN, +Inf, -Inf). Returns
// samples keyed "name" or "name{label=value,...}" (label values unescaped). Throws on any
// violation, naming the line.
std::map<std::string, double> parse_prometheus(const std::string& text) {
  if (text.empty() || text.back() != '\n') throw std::runtime_error("text must end with a newline");
  static const std::regex help_re(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$)");
  static const std::regex type_re(
      R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex sample_re(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$)");
  static const std::regex label_re(R"(^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)\"(,|$))");
  std::set<std::string> helped, typed, closed;
  std::string current;  // family whose samples are being read
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("line " + std::to_string(n) + " '" + line + "': " + why);
  };
  while (std::getline(in, line)) {
    ++n;
    std::smatch mm;
    if (line.rfind("#", 0) == 0) {
      if (std::regex_match(line, mm, help_re)) {
        if (!helped.insert(mm[1]).second) fail("second HELP");
        if (typed.count(mm[1])) fail("HELP after TYPE");
      } else if (std::regex_match(line, mm, type_re)) {
        if (!typed.insert(mm[1]).second) fail("second TYPE");
        if (!helped.count(mm[1])) fail("TYPE without HELP");
      } else {
        fail("comment is neither HELP nor TYPE");
      }
      if (!current.empty() && current != mm[1].str()) closed.insert(current);
      current = mm[1];
      continue;
    }
    if (!std::regex_match(line, mm, sample_re)) fail("not `name{labels} value`");
    const std::string name = mm[1];
    if (!helped.count(name) || !typed.count(name)) fail("sample before its HELP and TYPE");
    if (closed.count(name) || name != current) fail("family's samples are not contiguous");
    std::string key = name;
    if (mm[2].matched) {
      std::string labels = mm[3], rendered;
      if (labels.empty()) fail("empty label set");
      while (!labels.empty()) {
        std::smatch lm;
        if (!std::regex_search(labels, lm, label_re)) fail("bad label syntax");
        std::string v = lm[2], raw;
        for (size_t i = 0; i < v.size(); ++i) {
          if (v[i] == '\\') {
            ++i;
            raw += v[i] == 'n' ? '\n' : v[i];
          } else {
            raw += v[i];
          }
        }
        rendered += (rendered.empty() ? "" : ",") + lm[1].str() + "=" + raw;
        labels = lm.suffix();
        if (lm[3] == "," && labels.empty()) fail("trailing comma in labels");
      }
      key += "{" + rendered + "}";
    }
    const std::string vs = mm[4];
    double v;
    if (vs == "NaN") {
      v = std::nan("");
    } else if (vs == "+Inf") {
      v = INFINITY;
    } else if (vs == "-Inf") {
      v = -INFINITY;
    } else {
      char* end = nullptr;
      v = std::strtod(vs.c_str(), &end);
      if (end != vs.c_str() + vs.size() || !std::isfinite(v)) fail("value is not a double");
    }
    if (!out.emplace(key, v).second) fail("duplicate sample");
  }
  return out;
}

std::vector<nlohmann::json> rows_of(const std::string& ndjson) {
  std::vector<nlohmann::json> rows;
  std::istringstream in(ndjson);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) rows.push_back(nlohmann::json::parse(l));
  return rows;
}

}  // namespace

TEST_CASE("the strict Prometheus parser refuses malformed text") {
  CHECK(parse_prometheus("# HELP a x\n# TYPE a gauge\na 1\n").at("a") == 1.0);
  CHECK(parse_prometheus("# HELP a x\n# TYPE a gauge\na{p=\"q\\\"r\"} 2.5e3\n").at("a{p=q\"r}") ==
        2500.0);
  CHECK_THROWS(parse_prometheus("a 1\n"));                                   // no HELP/TYPE
  CHECK_THROWS(parse_prometheus("# TYPE a gauge\n# HELP a x\na 1\n"));       // TYPE before HELP
  CHECK_THROWS(parse_prometheus("# HELP a x\n# TYPE a gauge\na one\n"));     // not a double
  CHECK_THROWS(parse_prometheus("# HELP a x\n# TYPE a gauge\na{p=q} 1\n"));  // unquoted label
  CHECK_THROWS(parse_prometheus("# HELP a x\n# TYPE a gauge\na 1"));         // no final newline
  CHECK_THROWS(parse_prometheus(
      "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na 2\n"));  // split family
}

TEST_CASE("/metrics is valid Prometheus text and agrees with the last result row") {
  const std::string dir = "test_results/metrics";
  std::filesystem::remove_all(dir);
  auto j = nlohmann::json::parse(R"({
    "algorithm": "ppo", "port": 0, "seed": 5,
    "config": {"train_batch_size": 50, "sgd_minibatch_size": 25, "num_sgd_iter": 2,
               "rollout_fragment_length": 1000, "model": {"fcnet_hiddens": [16]}},
    "policies": {"p\"q": {"observation_space": {"type": "box", "shape": [4]},
                          "action_space": {"type": "discrete", "n": 2}}}
  })");
  j["results_dir"] = dir;
  server::Server s(server::parse_server_config(j));
  s.start();
  const uint16_t port = s.port();
  client::PolicyClient c("ws://127.0.0.1:" + std::to_string(port));

  // Before any episode: parses, counters at zero, means NaN.
  auto m0 = parse_prometheus(http_get(port, "/metrics"));
  CHECK(m0.at("tandem_timesteps_total") == 0);
  CHECK(std::isnan(m0.at("tandem_episode_reward_mean")));

  const std::vector<float> obs{0.02f, -0.01f, 0.03f, 0.01f};
  auto run_episode = [&](bool evaluation, float bonus, double custom) {
    auto ep = c.start_episode(std::nullopt, !evaluation, !evaluation);
    for (int i = 0; i < 10; ++i) {
      c.get_action(ep, obs);
      c.log_returns(ep, i == 9 ? 1.f + bonus : 1.f);
    }
    c.end_episode(ep, obs, false, {{"pole_angle", custom}});
  };
  auto wait_rows = [&](size_t n) {
    std::vector<nlohmann::json> rows;
    for (int i = 0; i < 500 && rows.size() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      rows = rows_of(http_get(port, "/results"));
    }
    return rows;
  };
  // Iteration 1: an evaluation episode (return 30) and 5 training episodes (50 steps).
  run_episode(/*evaluation=*/true, 20.f, 0.5);
  for (int e = 0; e < 5; ++e) run_episode(false, static_cast<float>(e), 1.0);
  c.flush();
  REQUIRE(wait_rows(1).size() == 1);
  // Iteration 2: 5 more training episodes.
  for (int e = 5; e < 10; ++e) run_episode(false, static_cast<float>(e), 2.0 + e);
  c.flush();
  const auto rows = wait_rows(2);
  REQUIRE(rows.size() == 2);
  const auto& last = rows.back();
  const auto m = parse_prometheus(http_get(port, "/metrics"));

  CHECK(last["training_iteration"] == 2);
  CHECK(m.at("tandem_training_iteration") == last["training_iteration"].get<double>());
  CHECK(last["timesteps_total"] == 110);
  CHECK(m.at("tandem_timesteps_total") == last["timesteps_total"].get<double>());
  CHECK(m.at("tandem_agent_timesteps_total") == last["agent_timesteps_total"].get<double>());
  CHECK(last["episodes_total"] == 11);
  CHECK(m.at("tandem_episodes_total") == last["episodes_total"].get<double>());
  // Training episodes only: returns 10 + e, e = 0..9.
  CHECK(last["episode_reward_mean"].get<double>() == doctest::Approx(14.5));
  CHECK(m.at("tandem_episode_reward_mean") ==
        doctest::Approx(last["episode_reward_mean"].get<double>()));
  CHECK(m.at("tandem_episode_len_mean") == doctest::Approx(10.0));
  CHECK(m.at("tandem_policy_reward_mean{policy=p\"q}") == doctest::Approx(14.5));
  CHECK(m.at("tandem_connected_clients") == 1);
  CHECK(m.at("tandem_open_episodes") == 0);
  CHECK(m.at("tandem_learn_time_seconds") == doctest::Approx(last["learn_time_s"].get<double>()));
  CHECK(m.at("tandem_learn_time_seconds") > 0);
  CHECK(m.at("tandem_env_steps_per_second") ==
        doctest::Approx(last["env_steps_per_s"].get<double>()));
  CHECK(m.at("tandem_env_steps_per_second") > 0);
  CHECK(m.at("tandem_iteration_time_seconds") ==
        doctest::Approx(last["time_this_iter_s"].get<double>()));
  // Evaluation happened in iteration 1 only; the gauge keeps the newest row that had it.
  CHECK(rows[0]["evaluation"]["episode_reward_mean"].get<double>() == doctest::Approx(30.0));
  CHECK_FALSE(last.contains("evaluation"));
  CHECK(m.at("tandem_evaluation_episode_reward_mean") == doctest::Approx(30.0));
  // Custom metric of iteration 2: 2 + e for e = 5..9.
  CHECK(last["custom_metrics"]["pole_angle_mean"].get<double>() == doctest::Approx(9.0));
  CHECK(m.at("tandem_custom_metric_mean{metric=pole_angle}") == doctest::Approx(9.0));
  // Each TYPE is consistent with the naming: *_total are counters, the rest gauges.
  const std::string text = http_get(port, "/metrics");
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    std::smatch mm;
    if (std::regex_match(l, mm, std::regex(R"(^# TYPE (\S+) (\S+)$)")))
      CHECK_MESSAGE((mm[2] == "counter") == (mm[1].str().ends_with("_total")), l);
  }
}
