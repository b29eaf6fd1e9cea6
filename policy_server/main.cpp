// tandem-server: one process = one algorithm = one port.
#include <csignal>
#include <cmath>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "policy_server/server.h"

int main(int argc, char** argv) {
  CLI::App app{"tandem-server: a reinforcement-learning policy server"};
  std::string config_path, algorithm, host, results_dir, log_level;
  int port = -1;
  int64_t seed = -1, stop_iters = -1, stop_steps = -1;
  double stop_reward = std::nan("");
  bool no_train = false, insecure_listen_any = false;
  std::string auth_token_file, tls_cert_file, tls_key_file;
  std::string restore, static_dir, group_master;
  int group_rank = -1, group_size = -1;
  app.add_option("-c,--config", config_path, "JSON config file")->required()->check(CLI::ExistingFile);
  app.add_option("--algo", algorithm, "override 'algorithm' (ppo, a2c; offline with 'input': marwil, crr)");
  app.add_option("--host", host, "override 'host'");
  app.add_option("--port", port, "override 'port' (0 = any free port)")->check(CLI::Range(0, 65535));
  app.add_option("--seed", seed, "override 'seed'");
  app.add_option("--results-dir", results_dir, "override 'results_dir'");
  app.add_option("--stop-iters", stop_iters, "override stop.training_iteration");
  app.add_option("--stop-timesteps", stop_steps, "override stop.timesteps_total");
  app.add_option("--stop-reward", stop_reward, "override stop.episode_reward_mean");
  app.add_flag("--no-train", no_train, "serve only, never train");
  app.add_option("--restore", restore, "checkpoint folder to restore (RESULTS_DIR/checkpoint_NNNNNN)");
  app.add_option("--auth-token-file", auth_token_file,
                 "clients must send 'Authorization: Bearer <first line of this file>'");
  app.add_option("--tls-cert-file", tls_cert_file, "serve wss:// and https:// with this PEM certificate chain");
  app.add_option("--tls-key-file", tls_key_file, "the PEM private key of --tls-cert-file");
  app.add_flag("--insecure-listen-any", insecure_listen_any,
               "allow a non-loopback --host without --auth-token-file");
  app.add_option("--static-dir", static_dir, "override 'static_dir': serve the files of DIR under /play/");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  app.add_option("--group-rank", group_rank, "override 'group_rank': this replica's rank (0 hosts the store)");
  app.add_option("--group-size", group_size, "override 'group_size': replicas training one policy (1: none)");
  app.add_option("--group-master", group_master, "override 'group_master': HOST:PORT of rank 0's store");
  CLI11_PARSE(app, argc, argv);
  // A file size limit (ulimit -f) makes a write fail with EFBIG like a full disk does: an error
  // in the log and a counter (experience output, results), not a crash.
  std::signal(SIGXFSZ, SIG_IGN);

  try {
    nlohmann::json j = tandem::server::read_config_file(config_path);
    if (!algorithm.empty()) j["algorithm"] = algorithm;
    if (!host.empty()) j["host"] = host;
    if (port >= 0) j["port"] = port;
    if (seed >= 0) j["seed"] = seed;
    if (!results_dir.empty()) j["results_dir"] = results_dir;
    if (!log_level.empty()) j["log_level"] = log_level;
    if (!auth_token_file.empty()) j["auth_token_file"] = auth_token_file;
    if (insecure_listen_any) j["insecure_listen_any"] = true;
    if (!tls_cert_file.empty()) j["tls_cert_file"] = tls_cert_file;
    if (!tls_key_file.empty()) j["tls_key_file"] = tls_key_file;
    if (!static_dir.empty()) j["static_dir"] = static_dir;
    if (stop_iters >= 0) j["stop"]["training_iteration"] = stop_iters;
    if (stop_steps >= 0) j["stop"]["timesteps_total"] = stop_steps;
    if (!std::isnan(stop_reward)) j["stop"]["episode_reward_mean"] = stop_reward;
    if (group_rank >= 0) j["group_rank"] = group_rank;
    if (group_size >= 0) j["group_size"] = group_size;
    if (!group_master.empty()) j["group_master"] = group_master;
    auto cfg = tandem::server::parse_server_config(j);
    cfg.train = !no_train;
    cfg.restore = restore;
    auto level = spdlog::level::from_str(cfg.log_level);
    if (level == spdlog::level::off && cfg.log_level != "off")
      throw std::invalid_argument("unknown log level '" + cfg.log_level + "'");
    spdlog::set_level(level);
    spdlog::set_pattern("[%H:%M:%S.%e] [%n] %v");
    tandem::server::Server server(std::move(cfg));
    server.stop_on_signals();  // before the I/O threads start
    server.start();
    std::cout << "listening on " << (server.config().tls_cert_file.empty() ? "ws" : "wss") << "://"
              << server.config().host << ':' << server.port()
              << std::endl;
    server.wait();
    spdlog::info("stopping");
    server.stop();
    if (server.group_failed()) {
      std::cerr << "tandem-server: stopped because its replica group broke (group_on_failure \"exit\"; see the log)\n";
      return 4;
    }
    if (server.failed()) {
      std::cerr << "tandem-server: stopped because training kept failing (see the log)\n";
      return 3;
    }
    return 0;
  } catch (const nlohmann::json::exception& e) {
    std::cerr << "tandem-server: config '" << config_path << "' is not valid JSON: " << e.what() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "tandem-server: " << e.what() << '\n';
  }
  return 2;
}
