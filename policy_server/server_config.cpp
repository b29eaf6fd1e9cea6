#include "policy_server/server_config.h"

#include "algorithms/policy.h"
#include "policy_server/replica_setup.h"
#include "policy_server/tls_context.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <boost/asio/ip/address.hpp>
#include <algorithm>
#include <set>
#include <stdexcept>

namespace tandem::server {
namespace {

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

void check_keys(const nlohmann::json& j, const std::string& where,
                const std::set<std::string>& known) {
  if (!j.is_object()) bad("'" + where + "' must be a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (!known.count(k)) {
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
      bad("unknown key '" + (where.empty() ? k : where + "." + k) + "' (known: " + list + ")");
    }
  }
}

template <typename T>
T get(const nlohmann::json& j, const std::string& key, const std::string& where) {
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    bad("'" + (where.empty() ? key : where + "." + key) + "' has the wrong type: " +
        j.at(key).dump());
  }
}

// The token: the file's first line, without trailing whitespace; 16 to 4096 printable ASCII
// characters (it travels in an HTTP header).
std::string read_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) bad("cannot read auth_token_file '" + path + "'");
  std::string t;
  std::getline(in, t);
  while (!t.empty() && (t.back() == '\r' || t.back() == ' ' || t.back() == '\t')) t.pop_back();
  if (t.size() < 16 || t.size() > 4096)
    bad("auth_token_file '" + path + "': the token must be 16 to 4096 characters on its first line");
  for (char ch : t)
    if (ch < 0x21 || ch > 0x7e) bad("auth_token_file '" + path + "': the token must be printable ASCII");
  return t;
}

bool is_loopback(const std::string& host) {
  boost::system::error_code ec;
  const auto a = boost::asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

// The league's config, and its snapshot slots as policies: copies of the main policy's spec
// that are never trained (policies_to_train then defaults to the main policy).
void add_league(const nlohmann::json& lj, ServerConfig& c) {
  c.league = core::LeagueConfig::from_json(
      lj, [&](const std::string& id) { return c.policy_index(id) >= 0; },
      [&](const std::string& id) {
        const int p = c.policy_index(id);
        return p >= 0 && c.policies[static_cast<size_t>(p)].script.has_value();
      });
  const auto main = c.policies[static_cast<size_t>(c.policy_index(c.league->main_policy))];
  for (int k = 0; k < c.league->num_slots(); ++k) {
    auto slot = main;
    slot.policy_id = c.league->slot_policy(k);
    if (c.policy_index(slot.policy_id) >= 0)
      bad("'league': the snapshot slot '" + slot.policy_id + "' is also a configured policy: rename that policy");
    c.policies.push_back(std::move(slot));
  }
  if (c.policies_to_train.empty()) c.policies_to_train = {c.league->main_policy};
  if (std::find(c.policies_to_train.begin(), c.policies_to_train.end(), c.league->main_policy) ==
      c.policies_to_train.end())
    bad("'policies_to_train' must include the league's main policy '" + c.league->main_policy + "'");
}

}  // namespace

core::PolicySet ServerConfig::policy_set() const {
  core::PolicySet s;
  s.policies = policies;
  s.mapping = policy_mapping;
  return s;
}

int ServerConfig::policy_index(const std::string& policy_id) const {
  for (size_t i = 0; i < policies.size(); ++i)
    if (policies[i].policy_id == policy_id) return static_cast<int>(i);
  return -1;
}

bool ServerConfig::is_league_slot(const std::string& policy_id) const {
  if (!league) return false;
  for (int k = 0; k < league->num_slots(); ++k)
    if (league->slot_policy(k) == policy_id) return true;
  return false;
}

bool ServerConfig::is_trained(const std::string& policy_id) const {
  if (is_league_slot(policy_id)) return false;  // snapshots: frozen copies
  const int p = policy_index(policy_id);
  if (p >= 0 && policies[static_cast<size_t>(p)].script) return false;  // scripted: nothing to train
  return policies_to_train.empty() ||
         std::find(policies_to_train.begin(), policies_to_train.end(), policy_id) != policies_to_train.end();
}

nlohmann::json ServerConfig::to_json() const {
  nlohmann::json j;
  j["algorithm"] = algorithm;
  j["host"] = host;
  j["port"] = port;
  j["seed"] = seed;
  j["results_dir"] = results_dir;
  j["config"] = config.to_json();
  auto written = policy_set();  // the policies as configured: the league makes its slots
  std::erase_if(written.policies, [this](const core::PolicySpec& p) { return is_league_slot(p.policy_id); });
  core::write_policies(written, j);
  if (league) j["league"] = league->to_json();
  nlohmann::json stop_j = nlohmann::json::object();
  if (stop.training_iteration) stop_j["training_iteration"] = stop.training_iteration;
  if (stop.timesteps_total) stop_j["timesteps_total"] = stop.timesteps_total;
  if (stop.episode_reward_mean) stop_j["episode_reward_mean"] = *stop.episode_reward_mean;
  j["stop"] = stop_j;
  j["io_threads"] = io_threads;
  j["sample_backpressure"] = sample_backpressure;
  j["sample_ahead_steps"] = sample_ahead_steps;
  j["checkpoint_frequency"] = checkpoint_frequency;
  j["checkpoint_at_end"] = checkpoint_at_end;
  j["keep_checkpoints_num"] = keep_checkpoints_num;
  j["max_open_episodes"] = max_open_episodes;
  j["episode_timeout_s"] = episode_timeout_s;
  j["metrics_num_episodes_for_smoothing"] = metrics_num_episodes_for_smoothing;
  j["report_interval_s"] = report_interval_s;
  j["idle_timeout_s"] = idle_timeout_s;
  if (insecure_listen_any) j["insecure_listen_any"] = true;
  j["max_episodes_per_client"] = max_episodes_per_client;
  output_config_to_json(output, j);
  if (!input.empty()) {
    j["input"] = input;
    j["input_config"] = {{"shuffle", input_shuffle}};
  }
  if (!static_dir.empty()) j["static_dir"] = static_dir;
  if (!policies_to_train.empty()) j["policies_to_train"] = policies_to_train;
  if (!http_inference_paths.empty()) j["http_inference_paths"] = http_inference_paths;
  write_group_config(group, j);
  return j;
}

ServerConfig parse_server_config(const nlohmann::json& j) {
  check_keys(j, "",
             {"algorithm", "host", "port", "seed", "results_dir", "config", "policies",
              "policy_mapping", "stop", "io_threads", "max_open_episodes", "episode_timeout_s",
              "static_dir",
              "metrics_num_episodes_for_smoothing", "log_level", "sample_backpressure", "sample_ahead_steps", "checkpoint_frequency", "checkpoint_at_end",
              "keep_checkpoints_num", "report_interval_s", "output", "output_config", "output_max_file_size", "policies_to_train", "policy_order",
              "auth_token_file", "insecure_listen_any", "idle_timeout_s", "max_episodes_per_client",
              "tls_cert_file", "tls_key_file", "http_inference_paths", "league", "input", "input_config",
              "group_rank", "group_size", "group_master", "group_host", "group_timeout_s", "group_join_timeout_s", "group_on_failure"});
  ServerConfig c;
  if (j.contains("algorithm")) c.algorithm = get<std::string>(j, "algorithm", "");
  {
    auto names = algo::algorithm_names();
    if (std::find(names.begin(), names.end(), c.algorithm) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      bad("'algorithm' must be one of " + list + ", got '" + c.algorithm + "'");
    }
  }
  if (j.contains("host")) c.host = get<std::string>(j, "host", "");
  if (j.contains("port")) {
    auto p = get<int64_t>(j, "port", "");
    if (p < 0 || p > 65535) bad("'port' must be in 0..65535, got " + std::to_string(p));
    c.port = static_cast<uint16_t>(p);
  }
  if (j.contains("seed")) c.seed = get<uint64_t>(j, "seed", "");
  if (j.contains("results_dir")) c.results_dir = get<std::string>(j, "results_dir", "");
  if (j.contains("checkpoint_frequency")) {
    c.checkpoint_frequency = get<int64_t>(j, "checkpoint_frequency", "");
    if (c.checkpoint_frequency < 0) bad("'checkpoint_frequency' must be >= 0");
  }
  if (j.contains("checkpoint_at_end")) c.checkpoint_at_end = get<bool>(j, "checkpoint_at_end", "");
  if (j.contains("keep_checkpoints_num")) {
    c.keep_checkpoints_num = get<int64_t>(j, "keep_checkpoints_num", "");
    if (c.keep_checkpoints_num < 0) bad("'keep_checkpoints_num' must be >= 0");
  }
  if (j.contains("sample_backpressure")) c.sample_backpressure = get<bool>(j, "sample_backpressure", "");
  if (j.contains("sample_ahead_steps")) {
    c.sample_ahead_steps = get<int64_t>(j, "sample_ahead_steps", "");
    if (c.sample_ahead_steps < -1) bad("'sample_ahead_steps' must be >= -1 (-1: one train batch)");
  }
  if (j.contains("log_level")) c.log_level = get<std::string>(j, "log_level", "");
  c.output = parse_output_config(j);  // "output", "output_config", "output_max_file_size"
  if (j.contains("static_dir")) {  // served under /play/ (policy_server/static_files.h)
    c.static_dir = get<std::string>(j, "static_dir", "");
    std::error_code ec;
    if (c.static_dir.empty() || !std::filesystem::is_directory(c.static_dir, ec))
      bad("'static_dir' must be an existing directory (--static-dir), got '" + c.static_dir + "'");
  }
  if (j.contains("io_threads")) {
    c.io_threads = get<int>(j, "io_threads", "");
    if (c.io_threads < 1 || c.io_threads > 64)
      bad("'io_threads' must be in 1..64, got " + std::to_string(c.io_threads));
  }
  if (j.contains("max_open_episodes")) {
    c.max_open_episodes = get<int64_t>(j, "max_open_episodes", "");
    if (c.max_open_episodes < 1) bad("'max_open_episodes' must be >= 1");
  }
  if (j.contains("episode_timeout_s")) {
    c.episode_timeout_s = get<double>(j, "episode_timeout_s", "");
    if (!(c.episode_timeout_s > 0)) bad("'episode_timeout_s' must be > 0");
  }
  if (j.contains("max_episodes_per_client")) {
    c.max_episodes_per_client = get<int64_t>(j, "max_episodes_per_client", "");
    if (c.max_episodes_per_client < 1) bad("'max_episodes_per_client' must be >= 1");
  }
  if (j.contains("idle_timeout_s")) {
    c.idle_timeout_s = get<double>(j, "idle_timeout_s", "");
    if (!(c.idle_timeout_s > 0 && c.idle_timeout_s <= 86400))
      bad("'idle_timeout_s' must be in (0, 86400] seconds");
  }
  if (j.contains("insecure_listen_any")) c.insecure_listen_any = get<bool>(j, "insecure_listen_any", "");
  if (j.contains("auth_token_file")) {
    c.auth_token_file = get<std::string>(j, "auth_token_file", "");
    c.auth_token = read_token(c.auth_token_file);
  }
  if (j.contains("tls_cert_file")) c.tls_cert_file = get<std::string>(j, "tls_cert_file", "");
  if (j.contains("tls_key_file")) c.tls_key_file = get<std::string>(j, "tls_key_file", "");
  if (c.tls_cert_file.empty() != c.tls_key_file.empty())
    bad(std::string("'") + (c.tls_cert_file.empty() ? "tls_cert_file" : "tls_key_file") +
        "' is missing: TLS needs both tls_cert_file and tls_key_file (--tls-cert-file, --tls-key-file)");
  if (!c.tls_cert_file.empty()) make_server_tls_context(c.tls_cert_file, c.tls_key_file);  // throws naming the key
  if (c.auth_token.empty() && !c.insecure_listen_any && !is_loopback(c.host))
    bad("refusing to listen on '" + c.host +
        "' without authentication: set auth_token_file (--auth-token-file), or pass "
        "--insecure-listen-any (insecure_listen_any: true) to accept anyone who can reach the port");
  if (j.contains("report_interval_s")) {
    c.report_interval_s = get<double>(j, "report_interval_s", "");
    if (!(c.report_interval_s > 0 && c.report_interval_s <= 86400))
      bad("'report_interval_s' must be in (0, 86400] seconds");
  }
  if (j.contains("metrics_num_episodes_for_smoothing")) {
    c.metrics_num_episodes_for_smoothing =
        get<int64_t>(j, "metrics_num_episodes_for_smoothing", "");
    if (c.metrics_num_episodes_for_smoothing < 1)
      bad("'metrics_num_episodes_for_smoothing' must be >= 1");
  }
  if (j.contains("config")) {
    try {
      c.config.merge_json(j.at("config"));
    } catch (const std::invalid_argument& e) {
      bad(std::string("in 'config': ") + e.what());
    }
  }
  // The one policy reader the local client uses too (on GetConfig's reply).
  // A league seats its agents itself: without a policy_mapping, other agents go to its main policy.
  nlohmann::json with_mapping = j;
  if (j.contains("league") && j.at("league").is_object() && !j.contains("policy_mapping"))
    with_mapping["policy_mapping"] = {{"*", j.at("league").value("main_policy", "learned")}};
  auto set = core::read_policies(with_mapping, c.config);
  c.policies = std::move(set.policies);
  c.policy_mapping = std::move(set.mapping);
  if (j.contains("policies_to_train")) {
    const auto& t = j.at("policies_to_train");
    if (!t.is_array()) bad("'policies_to_train' must be a list of policy ids");
    for (const auto& id : t) {
      if (!id.is_string() || c.policy_index(id.get<std::string>()) < 0)
        bad("'policies_to_train' names a policy that is not hosted: " + id.dump());
      if (c.policies[static_cast<size_t>(c.policy_index(id.get<std::string>()))].script)
        bad("'policies_to_train' names a scripted policy, which has nothing to train: " + id.dump());
      c.policies_to_train.push_back(id.get<std::string>());
    }
    if (c.policies_to_train.empty()) bad("'policies_to_train' must name at least one policy (omit it to train all)");
  }
  if (j.contains("league")) add_league(j.at("league"), c);
  if (std::none_of(c.policies.begin(), c.policies.end(), [](const auto& p) { return !p.script; }))
    bad("every policy is scripted: host at least one learned policy");
  if (j.contains("http_inference_paths")) {
    const auto& h = j.at("http_inference_paths");
    if (!h.is_object()) bad("'http_inference_paths' must be an object {\"/path\": policy_id}");
    for (const auto& [path, pid] : h.items()) {
      if (path.size() < 2 || path[0] != '/' || path.find_first_of("?# ") != std::string::npos || path.size() > 256)
        bad("'http_inference_paths': '" + path.substr(0, 40) + "' must be a path like /predict");
      if (path == "/healthz" || path == "/metrics" || path == "/results" || path.rfind("/v1/", 0) == 0)
        bad("'http_inference_paths': '" + path + "' is taken by the server");
      if (!pid.is_string() || c.policy_index(pid.get<std::string>()) < 0)
        bad("'http_inference_paths." + path + "' names a policy that is not hosted: " + pid.dump());
      c.http_inference_paths[path] = pid.get<std::string>();
    }
  }
  if (j.contains("input")) {
    c.input = get<std::string>(j, "input", "");
    if (c.input.empty()) bad("'input' must name a file, a directory or a glob of JSON lines (omit it to train online)");
    if (c.league) bad("'input' (offline training) and 'league' (self-play) cannot go together");
  }
  if (j.contains("input_config")) {
    if (c.input.empty()) bad("'input_config' without 'input'");
    const auto& ic = j.at("input_config");
    check_keys(ic, "input_config", {"shuffle", "format"});
    if (ic.contains("shuffle")) c.input_shuffle = get<bool>(ic, "shuffle", "input_config");
    if (ic.contains("format") && ic.at("format") != "json")
      bad("'input_config.format' must be \"json\" (JSON lines), got " + ic.at("format").dump());
  }
  c.group = parse_group_config(j);
  if (j.contains("stop")) {
    const auto& s = j.at("stop");
    check_keys(s, "stop", {"training_iteration", "timesteps_total", "episode_reward_mean"});
    if (s.contains("training_iteration"))
      c.stop.training_iteration = get<int64_t>(s, "training_iteration", "stop");
    if (s.contains("timesteps_total"))
      c.stop.timesteps_total = get<int64_t>(s, "timesteps_total", "stop");
    if (s.contains("episode_reward_mean"))
      c.stop.episode_reward_mean = get<double>(s, "episode_reward_mean", "stop");
    if (c.stop.training_iteration < 0 || c.stop.timesteps_total < 0)
      bad("'stop' limits must be >= 0");
  }
  return c;
}

namespace {
// What a first, SAX pass over the config file learns (no tree, no recursion whatever the
// nesting): the keys of the top-level "policy_mapping" object in the order written (a
// duplicate key once, at its first place), and the deepest nesting.
class ConfigScan final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<std::string> keys;
  int max_depth = 0;
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (depth_ == 1) in_mapping_key_ = k == "policy_mapping";
    if (depth_ == 2 && in_mapping_ && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool value() {
    if (depth_ == 1) in_mapping_key_ = false;
    return true;
  }
  bool open() {
    max_depth = std::max(max_depth, ++depth_);
    if (depth_ == 2) in_mapping_ = in_mapping_key_;
    return true;
  }
  bool close() {
    if (depth_ == 2) in_mapping_ = in_mapping_key_ = false;
    --depth_;
    return true;
  }
  int depth_ = 0;
  bool in_mapping_key_ = false, in_mapping_ = false;
};

// Deeper configs are refused before a tree is built: copying or walking a tree recurses.
constexpr int kMaxConfigDepth = 64;
}  // namespace

nlohmann::json read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) bad("cannot open config file '" + path + "'");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json j;
  try {
    ConfigScan scan;
    // A syntax error stops the scan; the parse below then names it.
    if (nlohmann::json::sax_parse(text, &scan, nlohmann::json::input_format_t::json, /*strict=*/true,
                                  /*ignore_comments=*/true) &&
        scan.max_depth > kMaxConfigDepth)
      bad("config file '" + path + "' is nested deeper than " + std::to_string(kMaxConfigDepth) + " levels");
    j = nlohmann::json::parse(text, nullptr, true, /*ignore_comments=*/true);
    // The mapping's patterns are tried in the order written: read that order (nlohmann::json
    // sorts object keys) and pass the mapping on in its list form.
    if (j.is_object() && j.contains("policy_mapping") && j.at("policy_mapping").is_object()) {
      nlohmann::json rules = nlohmann::json::array();
      for (const auto& pattern : scan.keys)
        rules.push_back({pattern, j.at("policy_mapping").at(pattern)});
      j["policy_mapping"] = std::move(rules);
    }
  } catch (const nlohmann::json::parse_error& e) {
    bad("config file '" + path + "' is not valid JSON: " + e.what());
  }
  return j;
}

ServerConfig load_server_config(const std::string& path) { return parse_server_config(read_config_file(path)); }

}  // namespace tandem::server
