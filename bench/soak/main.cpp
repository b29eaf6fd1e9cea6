// soak: one training tandem-server (a real child process) under CLIENTS concurrent clients
// for SECONDS, about a quarter of them hostile, then checks that the server is intact:
//
//   soak --seconds 180 --clients 200 [--server-bin PATH] [--dir DIR] [--rss-factor 2]
//
// Clients (one OS thread each):
//   remote   PolicyClient (remote inference) running CartPole episodes       ~65%
//   local    PolicyClient (local inference) running CartPole episodes        ~10%
//   hostile  ~25%, in six kinds (round robin):
//     never-reads   raw socket, GetConfig/GetWeights in a loop, never reads a reply; once a
//                   write stalls (the server stopped reading it) it holds, closes, reconnects
//     garbage       random bytes, truncated valid frames, text frames: each must get an Error
//     handover      a PolicyClient destroyed mid-episode; the episode is carried on by a new
//                   PolicyClient, or by a raw client that sends a GetAction, drops the
//                   connection unread and resends it (same X-Tandem-Client, same request id)
//                   on a new one; or abandoned and a fresh episode started
//     resend        raw client, every state-changing request sent twice (same id, same
//                   bytes): the second answer must be byte-identical to the first; now and
//                   then the resend goes over a new connection, or a different request
//                   reuses an id (BadRequest)
//     many-episodes opens episodes until TooManyEpisodes (exactly at max_episodes_per_client),
//                   then ends them all
//     extreme       obs 1e30 / NaN / inf / wrong size, reward 3e38 / NaN, action 7 in
//                   Discrete(2), 1000- and 2000-agent frames, empty action masks, poisoned
//                   ReportSamples, unknown policy, 1 MiB and non-UTF-8 ids: each must get an Error
//
// Accounting is exact: every step and episode the server accepted from a client (good or
// hostile) is counted by that client, and the sum must equal the server's
// tandem_timesteps_total and tandem_episodes_total. Hostile clients contribute only what
// they count (handover, resend: the steps whose replies they got; many-episodes: the
// zero-step episodes it ended); the others never get a step or an episode accepted.
//
// Checks (exit 1 with a message on any failure): no client error of a well-behaved client;
// every hostile request answered as specified; server RSS (VmRSS, sampled every second)
// at most rss-factor x the RSS after warm-up; the served weights finite (GetWeights ->
// load_inference_model -> compute_actions); training_iteration advanced after warm-up;
//
// This file: the arguments, the server's config, the client mix and the run's phases (warm-up,
// soak, join with a watchdog, final figures). The parts live beside it in bench/soak/:
// run_state (shared counters), raw_ws (raw client), server_child (the server process, HTTP,
// RSS), good_clients, hostile_clients.h (one .cpp per kind), weights_check, report.
//
// Thread rules: main's thread starts one thread per client, the RSS sampler and, after the
// soak, a watchdog; it sets g_stop, joins the clients, and only then reads their counters.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "algorithms/policy.h"
#include "good_clients.h"
#include "hostile_clients.h"
#include "report.h"
#include "run_state.h"
#include "server_child.h"
#include "support/proc_stats.h"
#include "weights_check.h"

using namespace tandem;
using namespace tandem::soak;

int main(int argc, char** argv) {
  CLI::App app{"soak: one training tandem-server under many well-behaved and hostile clients"};
  double seconds = 180;
  int clients = 200;
  std::string server_bin;
#ifdef TANDEM_SERVER_BIN
  server_bin = TANDEM_SERVER_BIN;
#endif
  std::string dir;
  bool keep_dir = false;
  double rss_factor = 2.0;
  double warmup_s = -1;
  int64_t train_batch = 2000;
  int64_t episode_cap = 32;
  app.add_option("--seconds", seconds, "how long the clients run");
  app.add_option("--clients", clients, "concurrent clients (one thread each)")->check(CLI::Range(24, 2000));  // 24: six hostile clients, one per kind
  app.add_option("--server-bin", server_bin, "the tandem-server binary");
  app.add_option("--dir", dir, "work directory (default: a new one under $TMPDIR, removed after a passing run)");
  app.add_flag("--keep-dir", keep_dir, "keep the work directory after a passing run");
  app.add_option("--rss-factor", rss_factor, "peak RSS bound = this x the RSS after warm-up");
  app.add_option("--warmup", warmup_s, "seconds of warm-up before the RSS reference (default: 20% of --seconds, 5..30)");
  app.add_option("--train-batch-size", train_batch);
  app.add_option("--max-episodes-per-client", episode_cap);
  CLI11_PARSE(app, argc, argv);
  if (warmup_s < 0) warmup_s = std::clamp(seconds * 0.2, 5.0, 30.0);
  if (server_bin.empty() || !std::filesystem::exists(server_bin)) {
    std::fprintf(stderr, "soak: no tandem-server binary at '%s' (--server-bin)\n", server_bin.c_str());
    return 2;
  }
  const bool own_dir = dir.empty();
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/tandem_soak.XXXXXX";
    if (!::mkdtemp(templ.data())) {
      std::perror("mkdtemp");
      return 2;
    }
    dir = templ;
  }
  std::filesystem::create_directories(dir);
  ::signal(SIGPIPE, SIG_IGN);
  algo::set_torch_num_threads(1);  // 20 local clients share 2 cores with the server

  // The server: CartPole PPO with a small train batch (many iterations), a bounded Box
  // (so that 1e30 is out of its space) and only agent0 mapped.
  nlohmann::json cfg = {
      {"algorithm", "ppo"}, {"host", "127.0.0.1"}, {"port", 0}, {"seed", 1},
      {"results_dir", dir + "/results"},
      {"max_episodes_per_client", episode_cap},
      {"config",
       {{"gamma", 0.99}, {"lambda", 0.95}, {"lr", 0.001}, {"train_batch_size", train_batch},
        {"rollout_fragment_length", 200}, {"sgd_minibatch_size", 250}, {"num_sgd_iter", 6},
        {"clip_param", 0.2}, {"vf_clip_param", 0.0}, {"kl_coeff", 0.0}, {"vf_loss_coeff", 0.5},
        {"entropy_coeff", 0.0}, {"grad_clip", 0.5}, {"normalize_advantages", true},
        {"model", {{"fcnet_hiddens", {64, 64}}, {"fcnet_activation", "tanh"}}}}},
      {"policies",
       {{"default_policy",
         {{"observation_space", {{"type", "box"}, {"shape", {4}}, {"low", -100}, {"high", 100}}},
          {"action_space", {{"type", "discrete"}, {"n", 2}}}}}}},
      {"policy_mapping", {{"agent0", "default_policy"}}}};
  const std::string cfg_path = dir + "/server_config.json";
  std::ofstream(cfg_path) << cfg.dump(2) << "\n";

  Server server;
  if (!server.start(server_bin, cfg_path, dir)) {
    std::fprintf(stderr, "soak: the server did not start; see %s\n", server.stderr_path().c_str());
    return 1;
  }
  const uint16_t port = server.port();
  const std::string address = server.address();
  std::printf("soak: %s (pid %d), %d clients for %.0f s, work dir %s\n", address.c_str(), server.pid(), clients,
              seconds, dir.c_str());
  std::fflush(stdout);

  // Client mix.
  const int n_hostile = static_cast<int>(std::lround(clients * 0.25));
  const int n_local = std::max(1, static_cast<int>(std::lround(clients * 0.10)));
  const int n_remote = clients - n_hostile - n_local;
  std::vector<int> kinds;
  for (int i = 0; i < n_hostile; ++i) kinds.push_back(kNeverReads + i % 6);
  for (int i = 0; i < n_local; ++i) kinds.push_back(kLocal);
  for (int i = 0; i < n_remote; ++i) kinds.push_back(kRemote);
  std::mt19937_64 mix(7);
  std::shuffle(kinds.begin(), kinds.end(), mix);

  // What the report shows, filled in as the run goes.
  Figures f;
  f.clients = clients;
  f.rss_factor = rss_factor;

  // RSS sampler.
  const auto t0 = Clock::now();
  RssSampler sampler(server.pid(), t0);
  f.rss_start = test::rss_kib(server.pid());

  std::vector<std::thread> threads;
  threads.reserve(kinds.size());
  for (size_t i = 0; i < kinds.size(); ++i) {
    const int k = kinds[i];
    const int idx = static_cast<int>(i);
    switch (k) {
      case kRemote:
      case kLocal: threads.emplace_back(good_client, k, idx, address); break;
      case kNeverReads: threads.emplace_back(never_reads, idx, port); break;
      case kGarbage: threads.emplace_back(garbage, idx, port); break;
      case kHandover: threads.emplace_back(handover, idx, address, port); break;
      case kResend: threads.emplace_back(resend, idx, port); break;
      case kManyEpisodes: threads.emplace_back(many_episodes, idx, port, episode_cap); break;
      case kExtreme: threads.emplace_back(extreme, idx, port); break;
    }
  }

  // Warm-up, then the reference RSS and iteration.
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
  f.rss_warm = test::rss_kib(server.pid());
  const std::string m_warm = server.metrics();
  f.iter_warm = metric(m_warm, "tandem_training_iteration");
  std::printf("soak: warm-up %.0f s: server RSS %lld KiB, training_iteration %.0f\n", warmup_s,
              static_cast<long long>(f.rss_warm), f.iter_warm);
  std::fflush(stdout);
  const auto t_soak_end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < t_soak_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!server.alive()) {
      f.server_died = true;
      g_fail.add("the server exited during the soak; see " + server.stderr_path());
      break;
    }
  }
  f.soak_s = seconds_since(t0);
  g_stop = true;

  // Join the clients; a watchdog ends the run if one hangs.
  std::atomic<bool> joined{false};
  std::thread watchdog([&] {
    const auto end = after(120);
    while (!joined && Clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!joined) {
      std::fprintf(stderr, "FAIL: clients did not finish within 120 s of the end of the soak\n");
      ::kill(server.pid(), SIGKILL);
      std::_Exit(1);
    }
  });
  for (auto& t : threads) t.join();
  joined = true;
  watchdog.join();
  f.clients_done_s = seconds_since(t0);

  // Final figures.
  for (int k = 0; k < kNumKinds; ++k) {
    f.exp_steps += g_stats[k].steps;
    f.exp_episodes += g_stats[k].episodes;
  }
  f.srv_steps = f.srv_eps = std::nan("");
  f.weights_problem = "not checked";
  if (!f.server_died) {
    // Every good client flushed; the counters are final. Poll briefly for the last ones
    // (a resent request that waited in a batcher is counted when its original completes).
    for (int i = 0; i < 50; ++i) {
      f.m_end = server.metrics();
      f.srv_steps = metric(f.m_end, "tandem_timesteps_total");
      f.srv_eps = metric(f.m_end, "tandem_episodes_total");
      if (f.srv_steps == static_cast<double>(f.exp_steps) && f.srv_eps == static_cast<double>(f.exp_episodes)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    f.healthz = server.healthz();
    try {
      f.weights_problem = check_weights(port, &f.weights_version);
    } catch (const std::exception& e) {
      f.weights_problem = std::string("exception: ") + e.what();
    }
  }
  sampler.stop();
  f.exit_code = f.server_died ? -2 : server.stop(60);

  f.rss = sampler.samples();
  const bool all_ok = print_report(f);
  if (!all_ok || !own_dir || keep_dir)
    std::printf("\nserver logs: %s, %s\n", server.stdout_path().c_str(), server.stderr_path().c_str());
  if (!all_ok) {
    std::printf("soak: FAILED\n");
    return 1;
  }
  std::printf("soak: all checks passed\n");
  if (own_dir && !keep_dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return 0;
}
