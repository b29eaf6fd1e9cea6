// connect_four: N concurrent Connect Four games (sims/connect_four) against one tandem-server.
// The simulator only asks the server for the move of the player whose turn it is, with the
// mask of the columns that are not full; which policy plays which seat is the server's
// policy mapping (configs/connect_four_ppo.json: player_0 = the learned policy, player_1 =
// a scripted opponent served by the server). Prints player_0's win, draw and loss rates over
// the last 200 games every --report-every env steps. Stops after --steps moves or --games games.
#include <atomic>
#include <chrono>
#include <deque>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "policy_client/policy_client.h"
#include "sims/connect_four.h"

using tandem::client::PolicyClient;
using tandem::sims::ConnectFour;

int main(int argc, char** argv) {
  CLI::App app{"Connect Four games played through a tandem-server"};
  std::string server = "ws://127.0.0.1:9930";
  int concurrent = 4;
  int64_t max_steps = 100000;
  int64_t report_every = 10000;
  std::string inference = "remote";
  double update_interval = 2.0;
  bool eval = false;
  int64_t max_games = 0;
  app.add_option("--server", server, "tandem-server address");
  app.add_option("--concurrent", concurrent, "concurrent games (one thread each)")->check(CLI::Range(1, 256));
  app.add_option("--steps", max_steps, "env step budget (moves of both players)")->check(CLI::PositiveNumber);
  app.add_option("--report-every", report_every, "print a row every N env steps")->check(CLI::PositiveNumber);
  app.add_option("--inference", inference, "remote | local")->check(CLI::IsMember({"remote", "local"}));
  app.add_option("--update-interval", update_interval, "local: poll for new weights every N seconds")
      ->check(CLI::PositiveNumber);
  app.add_option("--games", max_games, "stop after N games (0: only --steps counts)")->check(CLI::NonNegativeNumber);
  app.add_flag("--eval", eval, "evaluation games: greedy moves, never trained on");
  CLI11_PARSE(app, argc, argv);
  const auto mode = inference == "local" ? tandem::client::InferenceMode::Local : tandem::client::InferenceMode::Remote;

  std::atomic<int64_t> steps{0};
  std::atomic<bool> stop{false};
  std::mutex mu;                 // guards the counters below
  std::deque<int> last;          // player_0's results of the last 200 games: 1, 0, -1
  int64_t games = 0, wins = 0, draws = 0, losses = 0, next_report = report_every;
  int failed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto rate = [&](int v) {
    int n = 0;
    for (int x : last) n += x == v;
    return last.empty() ? 0.0 : static_cast<double>(n) / static_cast<double>(last.size());
  };
  std::cout << std::setw(10) << "env_steps" << std::setw(8) << "games" << std::setw(8) << "wall_s"
            << std::setw(10) << "win_p0" << std::setw(8) << "draw" << std::setw(8) << "loss" << std::endl;

  auto worker = [&] {
    try {
      tandem::client::ClientOptions opts;
      opts.update_interval_s = update_interval;
      PolicyClient c(server, mode, opts);
      ConnectFour env;
      while (!stop) {
        const auto ep = c.start_episode(std::nullopt, !eval, !eval);
        auto obs = env.reset();
        tandem::sims::StepResult r;
        while (!env.game_over()) {
          const std::string mover = env.to_move_id();
          const auto a = c.get_action(ep, {{mover, obs.at(mover)}}, {{mover, env.action_mask()}}).at(mover);
          r = env.step({{mover, a.as_int()}});
          c.log_returns(ep, r.rewards);
          obs = r.obs;
          ++steps;
        }
        c.end_episode(ep, r.obs);
        const int result = env.winner() ? (*env.winner() == 0 ? 1 : -1) : 0;
        std::lock_guard lk(mu);
        ++games;
        wins += result == 1;
        draws += result == 0;
        losses += result == -1;
        last.push_back(result);
        if (last.size() > 200) last.pop_front();
        if (steps >= next_report) {
          next_report += report_every;
          const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          std::cout << std::setw(10) << steps.load() << std::setw(8) << games << std::setw(8) << std::fixed
                    << std::setprecision(1) << wall << std::setprecision(3) << std::setw(10) << rate(1)
                    << std::setw(8) << rate(0) << std::setw(8) << rate(-1) << std::endl;
        }
        if (steps >= max_steps || (max_games > 0 && games >= max_games)) stop = true;
      }
      c.flush();
    } catch (const std::exception& e) {
      std::lock_guard lk(mu);
      std::cerr << "connect_four: " << e.what() << '\n';
      ++failed;
      stop = true;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < concurrent; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "games " << games << " env_steps " << steps.load() << " wall_s " << std::setprecision(1) << wall
            << " player_0 won " << wins << " drew " << draws << " lost " << losses << std::endl;
  return failed ? 1 : 0;
}
