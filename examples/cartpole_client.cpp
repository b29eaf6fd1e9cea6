// cartpole_client: runs CartPole-v1 episodes against a tandem-server, one PolicyClient per
// simulator thread, and prints rolling returns. --envs-per-client N (N > 1): each thread
// steps N CartPoles with one vectorised frame per step (VectorEnvRunner). --eval runs evaluation episodes (greedy
// actions, never trained on) and prints their mean return.
#include <atomic>
#include <chrono>
#include <deque>
#include <iostream>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "policy_client/policy_client.h"
#include "policy_client/vector_env_runner.h"
#include "sims/cartpole.h"

int main(int argc, char** argv) {
  CLI::App app{"CartPole-v1 simulator driven by a tandem-server"};
  std::string address = "ws://127.0.0.1:9900";
  int threads = 1;
  int64_t max_steps = 100000, max_episodes = 0;
  double stop_reward = 0;
  uint64_t seed = 0;
  std::string inference = "remote";
  double update_interval = 10.0;
  app.add_option("--inference", inference, "remote: one round trip per step; local: the policy runs in this process")
      ->check(CLI::IsMember({"remote", "local"}));
  app.add_option("--update-interval", update_interval, "local: poll for new weights every N seconds")
      ->check(CLI::PositiveNumber);
  app.add_option("--server", address, "server address ws://HOST:PORT (replicas: a comma-separated list)");
  app.add_option("--concurrent", threads, "concurrent episodes (one thread + client each)")->check(CLI::Range(1, 256));
  int envs_per_client = 1;
  app.add_option("--envs-per-client", envs_per_client,
                 "CartPoles per thread, stepped together: one frame and one round trip per step of all")
      ->check(CLI::Range(1, 256));
  app.add_option("--steps", max_steps, "env step budget (0 = none)");
  app.add_option("--episodes", max_episodes, "episode budget (0 = none)");
  app.add_option("--stop-reward", stop_reward, "stop when the mean of the last 100 returns reaches this");
  app.add_option("--seed", seed, "simulator seed");
  bool eval = false;
  app.add_flag("--eval", eval, "evaluation episodes: greedy actions (explore=false), training_enabled=false");
  CLI11_PARSE(app, argc, argv);

  std::atomic<int64_t> steps{0}, episodes{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::deque<double> last100;
  double return_sum = 0;  // over all episodes (guarded by mu)
  const auto t0 = std::chrono::steady_clock::now();
  // One finished episode: rolling mean, progress line; true when a budget is reached.
  auto episode_done = [&](double ret) {
    const int64_t n = ++episodes;
    double mean;
    {
      std::lock_guard lk(mu);
      return_sum += ret;
      last100.push_back(ret);
      if (last100.size() > 100) last100.pop_front();
      mean = std::accumulate(last100.begin(), last100.end(), 0.0) / static_cast<double>(last100.size());
      if (n % 50 == 0) {
        double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "episodes " << n << "  steps " << steps << "  mean_return(last100) " << mean
                  << "  elapsed " << el << "s  steps/s " << static_cast<double>(steps) / el << std::endl;
      }
    }
    if ((max_steps && steps >= max_steps) || (max_episodes && n >= max_episodes) ||
        (stop_reward > 0 && last100.size() >= 100 && mean >= stop_reward))
      stop = true;
  };
  auto worker = [&](int w) {
    try {
      tandem::client::ClientOptions opts;
      opts.update_interval_s = update_interval;
      const auto mode = inference == "local" ? tandem::client::InferenceMode::Local
                                             : tandem::client::InferenceMode::Remote;
      tandem::client::PolicyClient client(address, mode, opts);
      if (envs_per_client > 1) {
        std::vector<std::unique_ptr<tandem::sims::MultiAgentEnv>> envs;
        for (int i = 0; i < envs_per_client; ++i)
          envs.push_back(std::make_unique<tandem::sims::CartPoleMultiAgent>(
              seed * 1000000 + static_cast<uint64_t>(w) * 1024 + static_cast<uint64_t>(i)));
        tandem::client::VectorEnvRunner runner(client, std::move(envs), {!eval, !eval});
        while (!stop) {
          auto done = runner.step();
          steps += envs_per_client;
          if (max_steps && steps >= max_steps) stop = true;
          for (const auto& e : done) episode_done(e.reward);
        }
        runner.finish();
      } else {
        tandem::sims::CartPole env(seed * 1000 + static_cast<uint64_t>(w));
        while (!stop) {
          auto obs = env.reset();
          auto ep = client.start_episode(std::nullopt, /*training_enabled=*/!eval, /*explore=*/!eval);
          double ret = 0;
          for (;;) {
            auto a = client.get_action(ep, obs);
            auto s = env.step(static_cast<int>(a.as_int()));
            client.log_returns(ep, s.reward);
            ret += s.reward;
            obs = s.obs;
            ++steps;
            if (s.terminated || s.truncated) {
              client.end_episode(ep, obs, /*truncated=*/s.truncated && !s.terminated);
              break;
            }
          }
          episode_done(ret);
        }
      }
      client.flush();
      if (mode == tandem::client::InferenceMode::Local && w == 0) {
        auto ls = client.local_stats();
        std::lock_guard lk(mu);
        std::cout << "local client 0: weights_version " << ls.weights_version << "  weight_updates "
                  << ls.weight_updates << "  uploaded_steps " << ls.uploaded_steps << "  dropped_steps "
                  << ls.dropped_steps << "  reconnects " << ls.reconnects << std::endl;
      }
    } catch (const std::exception& e) {
      std::cerr << "cartpole_client: " << e.what() << std::endl;
      stop = true;
      std::exit(1);
    }
  };
  std::vector<std::thread> ts;
  for (int w = 0; w < threads; ++w) ts.emplace_back(worker, w);
  for (auto& t : ts) t.join();
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double mean = last100.empty() ? 0 : std::accumulate(last100.begin(), last100.end(), 0.0) / static_cast<double>(last100.size());
  std::cout << "done: episodes " << episodes << "  steps " << steps << "  mean_return(last100) " << mean
            << "  wall " << el << "s  steps/s " << static_cast<double>(steps) / el << std::endl;
  if (eval)
    std::cout << "evaluation: " << episodes << " episodes, mean return "
              << (episodes ? return_sum / static_cast<double>(episodes) : 0.0) << std::endl;
  return 0;
}
