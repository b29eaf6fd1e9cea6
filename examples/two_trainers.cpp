// two_trainers: ONE MultiAgentArena simulation, several policy servers. Each agent is routed
// to the server that owns it (--route agent1=ws://127.0.0.1:9900 --route agent2=ws://...:9910);
// the simulator opens one PolicyClient per server and per simulator thread. Which agent
// goes to which server (and so which algorithm) is configuration, not code; so is whether a
// server's policy runs remotely or inside this process (--inference URL=local). --eval runs
// evaluation episodes (greedy, never trained on) and prints each agent's mean return.
#include <atomic>
#include <chrono>
#include <deque>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include <CLI/CLI.hpp>

#include "examples/agent_routing.h"
#include "sims/multi_agent_arena.h"

int main(int argc, char** argv) {
  CLI::App app{"MultiAgentArena shared by several tandem-servers"};
  std::vector<std::string> routes{"agent1=ws://127.0.0.1:9900", "agent2=ws://127.0.0.1:9910"};
  int threads = 1;
  int64_t max_steps = 80000;
  uint64_t seed = 0;
  double report_every = 4000;
  app.add_option("--route", routes, "AGENT=ws://HOST:PORT, one per agent");
  app.add_option("--concurrent", threads, "concurrent episodes (one thread each)")->check(CLI::Range(1, 256));
  app.add_option("--steps", max_steps, "env step budget");
  app.add_option("--seed", seed, "simulator seed");
  app.add_option("--report-every", report_every, "print a table row every N env steps");
  std::vector<std::string> inference{"remote"};
  double update_interval = 10.0;
  app.add_option("--inference", inference,
                 "remote | local for every server, or URL=remote|local per server (repeatable)");
  app.add_option("--update-interval", update_interval, "local: poll for new weights every N seconds")
      ->check(CLI::PositiveNumber);
  bool eval = false;
  app.add_flag("--eval", eval, "evaluation episodes: greedy actions (explore=false), training_enabled=false");
  CLI11_PARSE(app, argc, argv);

  tandem::examples::Routing routing;
  try {
    routing = tandem::examples::parse_routing(
        "two_trainers", routes, inference,
        {tandem::sims::MultiAgentArena::kAgent1, tandem::sims::MultiAgentArena::kAgent2});
  } catch (const tandem::examples::UsageError& e) {
    std::cerr << e.what() << '\n';
    return 2;
  }
  const auto& agent_server = routing.server_of_agent;

  std::atomic<int64_t> steps{0}, episodes{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, std::deque<double>> last100;
  std::map<std::string, double> return_sum;  // per agent, over all episodes (guarded by mu)
  int64_t next_report = static_cast<int64_t>(report_every);
  const auto t0 = std::chrono::steady_clock::now();
  std::cout << std::setw(9) << "env_steps" << std::setw(10) << "episodes" << std::setw(10) << "wall_s";
  for (const auto& [a, url] : agent_server) std::cout << std::setw(22) << (a + " @" + url.substr(url.rfind(':') + 1));
  std::cout << std::endl;

  auto worker = [&](int w) {
    try {
      tandem::client::ClientOptions opts;
      opts.update_interval_s = update_interval;
      tandem::examples::RoutedEpisode episode(routing, opts);  // one client per server
      tandem::sims::ArenaConfig cfg;
      cfg.seed = seed * 1000 + static_cast<uint64_t>(w);
      tandem::sims::MultiAgentArena env(cfg);
      while (!stop) {
        auto obs = env.reset();
        episode.start(!eval, !eval);
        std::map<std::string, double> ret;
        for (;;) {
          auto r = env.step(episode.get_action(obs));
          episode.log_returns(r.rewards);
          for (const auto& [a, x] : r.rewards) ret[a] += x;
          obs = r.obs;
          ++steps;
          if (r.all_done) break;
        }
        // The arena ends on a time limit: truncated, bootstrapped from the last observation.
        episode.end(obs, /*truncated=*/true,
                    {{"new_fields_discovered", env.new_fields_discovered()},
                     {"num_collisions", env.num_collisions()}});
        ++episodes;
        std::lock_guard lk(mu);
        for (const auto& [a, x] : ret) {
          auto& d = last100[a];
          d.push_back(x);
          if (d.size() > 100) d.pop_front();
          return_sum[a] += x;
        }
        if (steps >= next_report) {
          next_report += static_cast<int64_t>(report_every);
          const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          std::cout << std::setw(9) << steps << std::setw(10) << episodes << std::setw(10) << std::fixed
                    << std::setprecision(1) << el;
          for (const auto& [a, url] : agent_server) {
            const auto& d = last100[a];
            std::cout << std::setw(22) << std::setprecision(2)
                      << std::accumulate(d.begin(), d.end(), 0.0) / static_cast<double>(std::max<size_t>(1, d.size()));
          }
          std::cout << std::endl;
        }
        if (steps >= max_steps) stop = true;
      }
      episode.flush();
    } catch (const std::exception& e) {
      std::cerr << "two_trainers: " << e.what() << std::endl;
      std::exit(1);
    }
  };
  std::vector<std::thread> ts;
  for (int w = 0; w < threads; ++w) ts.emplace_back(worker, w);
  for (auto& t : ts) t.join();
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "done: " << steps << " env steps, " << episodes << " episodes, " << std::setprecision(1) << el
            << " s; mean return over the last 100 episodes:";
  for (const auto& [a, d] : last100)
    std::cout << ' ' << a << ' ' << std::setprecision(2)
              << std::accumulate(d.begin(), d.end(), 0.0) / static_cast<double>(std::max<size_t>(1, d.size()));
  std::cout << std::endl;
  if (eval) {
    std::cout << "evaluation: " << episodes << " episodes, mean return:";
    for (const auto& [a, sum] : return_sum)
      std::cout << ' ' << a << ' ' << sum / static_cast<double>(std::max<int64_t>(1, episodes));
    std::cout << std::endl;
  }
  return 0;
}
