// chicken_yard: RLlib's hierarchical robots-and-chickens tutorial on Tandem. Two robots in a
// yard (sims/chicken_yard.h); per robot a high-level agent picks a chicken once
// ("robot_r_high", acts only at step 0) and a low-level agent walks the robot to it
// ("robot_r_low", acts while travelling). The config maps them by pattern: "*_high" ->
// high_level_policy, "*_low" -> low_level_policy (configs/chicken_yard_ppo.json).
//
//   both levels on one server:   chicken_yard --server ws://127.0.0.1:9940
//   each level on its own:       chicken_yard --route high=ws://127.0.0.1:9940 --route low=ws://127.0.0.1:9950
//
// Observations go out as named components (Dict spaces); the client flattens them in the
// documented order. Each server sees its own agents only: the high server gets the choice
// and the rewards the robot earns while it walks (the high agent's reward across the steps
// it skips); the low server gets every move. --eval-episodes N then runs N greedy episodes
// (explore=false, never trained on) and prints the benchmark figures; --svg FILE draws one.
#include <atomic>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>

#include "core/policy_mapping.h"
#include "examples/agent_routing.h"
#include "policy_client/policy_client.h"
#include "sims/chicken_yard.h"
#include "sims/chicken_yard_svg.h"

using tandem::client::InferenceMode;
using tandem::client::PolicyClient;
using tandem::sims::ChickenYard;

namespace {

// What one robot did in one episode (the benchmark's raw material).
struct RobotOutcome {
  double match = 0, best = 0, random = 0;  // chosen chicken's, the best one's, a uniform pick's
  int steps = 0, straight = 0;             // moves made, moves of a straight line
  bool caught = false;
};

// Per level ("high", "low"): the server URL; one PolicyClient per distinct URL.
struct Routing {
  std::map<std::string, std::string> url_of_level;
  // The level of an agent, by the patterns of configs/chicken_yard_ppo.json's mapping.
  static std::string level_of(const std::string& agent) {
    return tandem::core::PolicyMapping::glob_match("*_high", agent) ? "high" : "low";
  }
};

class Runner {
 public:
  Runner(const Routing& routing, const std::map<std::string, InferenceMode>& mode_of_url,
         const tandem::client::ClientOptions& options, uint64_t seed)
      : routing_(routing), yard_(make_config(seed)) {
    for (const auto& [level, url] : routing.url_of_level)
      if (!clients_.count(url)) clients_[url] = std::make_unique<PolicyClient>(url, mode_of_url.at(url), options);
  }

  // One episode; returns each robot's outcome and the env steps it took.
  std::vector<RobotOutcome> episode(bool train, int64_t& env_steps) {
    auto obs = yard_.reset();
    std::map<std::string, std::string> ep;  // url -> episode id there
    std::string id;
    for (auto& [url, c] : clients_) {
      ep[url] = id.empty() ? c->start_episode(std::nullopt, train, train) : c->start_episode(id, train, train);
      id = ep[url];
    }
    for (;;) {
      // Each due agent's named observation to the server of its level: one request per server.
      std::map<std::string, tandem::client::AgentNamedObs> per_server;
      for (const auto& a : yard_.due_agents()) per_server[url_of(a)][a] = obs.at(a);
      tandem::sims::ActionDict actions;
      for (auto& [url, agents] : per_server)
        for (auto& [a, act] : clients_[url]->get_action(ep[url], agents)) actions[a] = act.as_int();
      auto r = yard_.step(actions);
      ++env_steps;
      std::map<std::string, std::map<std::string, float>> rewards;
      std::map<std::string, std::map<std::string, bool>> dones;
      for (const auto& [a, x] : r.rewards) rewards[url_of(a)][a] = x;
      for (const auto& [a, t] : r.terminated)
        if (t) dones[url_of(a)][a] = true;
      for (auto& [url, rw] : rewards) clients_[url]->log_returns(ep[url], rw, dones[url]);
      if (r.all_done) {
        // Robots still walking at the step limit: truncated, bootstrapped from their last obs.
        std::map<std::string, tandem::client::AgentNamedObs> last;
        bool truncated = false;
        for (const auto& [a, t] : r.truncated)
          if (t) {
            last[url_of(a)][a] = r.obs.at(a);
            truncated = true;
          }
        for (auto& [url, c] : clients_) c->end_episode(ep[url], last[url], truncated);
        break;
      }
      obs = std::move(r.obs);
    }
    std::vector<RobotOutcome> out;
    for (int robot = 0; robot < ChickenYard::kNumRobots; ++robot) {
      RobotOutcome o;
      o.match = yard_.match(robot, yard_.chosen_chicken(robot));
      o.best = yard_.best_match(robot);
      o.random = yard_.random_match(robot);
      o.steps = yard_.steps_travelled(robot);
      o.straight = yard_.straight_line_steps(robot);
      o.caught = yard_.caught(robot);
      out.push_back(o);
    }
    return out;
  }

  void flush() {
    for (auto& [url, c] : clients_) c->flush();
  }
  const ChickenYard& yard() const { return yard_; }

 private:
  static tandem::sims::ChickenYardConfig make_config(uint64_t seed) {
    tandem::sims::ChickenYardConfig c;
    c.seed = seed;
    return c;
  }
  const std::string& url_of(const std::string& agent) const {
    return routing_.url_of_level.at(Routing::level_of(agent));
  }

  const Routing& routing_;
  ChickenYard yard_;
  std::map<std::string, std::unique_ptr<PolicyClient>> clients_;
};

// Sums of the outcomes of many robot-episodes.
struct Tally {
  double match = 0, best = 0, random = 0;
  int64_t steps = 0, straight = 0, caught = 0, robots = 0;
  void add(const RobotOutcome& o) {
    match += o.match;
    best += o.best;
    random += o.random;
    steps += o.steps;
    straight += o.straight;
    caught += o.caught;
    ++robots;
  }
  void print(std::ostream& os, const char* what) const {
    const double n = static_cast<double>(std::max<int64_t>(1, robots));
    os << std::fixed << std::setprecision(3) << what << ": " << robots << " robot-episodes; high level: match "
       << match / n << " (random " << random / n << ", best " << best / n << ") = "
       << std::setprecision(1) << 100.0 * (match - random) / std::max(1e-9, best - random)
       << "% of the way from random to best; low level: " << std::setprecision(3)
       << static_cast<double>(steps) / static_cast<double>(std::max<int64_t>(1, straight))
       << "x the straight line (" << steps << " moves / " << straight << "), caught " << std::setprecision(1)
       << 100.0 * static_cast<double>(caught) / n << "%" << std::endl;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The robots-and-chickens yard on one or two tandem-servers (hierarchical multi-agent)"};
  std::string server = "ws://127.0.0.1:9940";
  std::vector<std::string> routes;
  std::vector<std::string> inference{"remote"};
  int threads = 4;
  int64_t max_steps = 200000, eval_episodes = 0;
  uint64_t seed = 1;
  double report_every = 20000, update_interval = 5.0;
  std::string svg_path;
  app.add_option("--server", server, "the server of both levels (ws://HOST:PORT)");
  app.add_option("--route", routes, "LEVEL=URL (LEVEL: high | low), overrides --server for that level");
  app.add_option("--inference", inference, "remote | local for every server, or URL=remote|local (repeatable)");
  app.add_option("--update-interval", update_interval, "local: poll for new weights every N seconds")
      ->check(CLI::PositiveNumber);
  app.add_option("--concurrent", threads, "concurrent episodes (one thread and client set each)")
      ->check(CLI::Range(1, 256));
  app.add_option("--steps", max_steps, "training env step budget (0: no training)")->check(CLI::NonNegativeNumber);
  app.add_option("--eval-episodes", eval_episodes, "greedy episodes after training, with the benchmark figures")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--svg", svg_path, "write one greedy episode as an SVG picture to this file");
  app.add_option("--seed", seed, "yard seed");
  app.add_option("--report-every", report_every, "print a progress row every N env steps");
  CLI11_PARSE(app, argc, argv);

  Routing routing;
  routing.url_of_level = {{"high", server}, {"low", server}};
  for (const auto& r : routes) {
    const auto eq = r.find('=');
    const std::string level = eq == std::string::npos ? "" : r.substr(0, eq);
    if (level != "high" && level != "low") {
      std::cerr << "chicken_yard: --route must be high=URL or low=URL, got '" << r << "'\n";
      return 2;
    }
    routing.url_of_level[level] = r.substr(eq + 1);
  }
  std::map<std::string, InferenceMode> mode_of_url;
  try {
    std::vector<std::string> urls;
    for (const auto& [level, url] : routing.url_of_level) urls.push_back(url);
    mode_of_url = tandem::examples::parse_inference_modes("chicken_yard", inference, urls);
  } catch (const tandem::examples::UsageError& e) {
    std::cerr << e.what() << '\n';
    return 2;
  }
  tandem::client::ClientOptions options;
  options.update_interval_s = update_interval;

  try {
    std::atomic<int64_t> steps{0}, episodes{0};
    std::mutex mu;
    Tally window;  // the training episodes since the last progress row (guarded by mu)
    int64_t next_report = static_cast<int64_t>(report_every);
    const auto t0 = std::chrono::steady_clock::now();
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    auto phase = [&](bool train, int64_t episode_budget, Tally& total, bool print_rows) {
      std::atomic<int64_t> started{0};
      std::vector<std::thread> ts;
      for (int w = 0; w < threads; ++w)
        ts.emplace_back([&, w] {
          try {
            Runner runner(routing, mode_of_url, options, seed * 1000 + static_cast<uint64_t>(w) + (train ? 0 : 500));
            for (;;) {
              if (train ? steps.load() >= max_steps : started++ >= episode_budget) break;
              int64_t n = 0;
              const auto out = runner.episode(train, n);
              steps += train ? n : 0;
              ++episodes;
              std::lock_guard lk(mu);
              for (const auto& o : out) total.add(o);
              if (!print_rows) continue;
              for (const auto& o : out) window.add(o);
              if (steps >= next_report) {
                next_report += static_cast<int64_t>(report_every);
                std::cout << std::setw(9) << steps.load() << " steps " << std::setw(7) << std::fixed
                          << std::setprecision(1) << seconds() << " s  ";
                window.print(std::cout, "sampling");
                window = Tally{};
              }
            }
            runner.flush();
          } catch (const std::exception& e) {
            std::cerr << "chicken_yard: " << e.what() << std::endl;
            std::exit(1);
          }
        });
      for (auto& t : ts) t.join();
    };
    if (max_steps > 0) {
      Tally train;
      phase(true, 0, train, true);
      std::cout << "training: " << steps.load() << " env steps, " << episodes.load() << " episodes, "
                << std::setprecision(1) << seconds() << " s (" << std::setprecision(0)
                << static_cast<double>(steps.load()) / std::max(1e-9, seconds()) << " env steps/s)" << std::endl;
    }
    if (eval_episodes > 0) {
      Tally eval;
      phase(false, eval_episodes, eval, false);
      eval.print(std::cout, "evaluation (greedy)");
    }
    if (!svg_path.empty()) {
      Runner runner(routing, mode_of_url, options, seed * 1000 + 999);
      int64_t n = 0;
      runner.episode(false, n);
      runner.flush();
      std::ofstream(svg_path) << tandem::sims::chicken_yard_svg(runner.yard());
      std::cout << "wrote " << svg_path << " (one greedy episode, " << n << " env steps)" << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "chicken_yard: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
