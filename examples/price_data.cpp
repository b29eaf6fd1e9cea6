// price_data: the one-step price environment (sims/price_offer.h) on a tandem-server, to
// make the experience a price model learns from offline (the reference's RandomEnv run with
// `output`; configs/price_data.json writes it to results/price_data/offline). Each episode
// is one offer: start_episode, the price for obs = [own_return, other_return], log_returns
// (expected revenue in [0, 1]), end_episode. Who names the price (--prices):
//   policy   get_action: the server's policy (PPO, learning while it serves). Its Box action is
//            a raw Gaussian sample, recorded as sampled: it may lie outside [0, 100] (the env
//            clips it), and starts near 0 (an untrained policy's mean).
//   uniform  log_action with a price drawn uniformly from [0, 100) by this simulator: logged
//            experience of a random behaviour policy, inside the action space and covering
//            every price, which is what an offline learner (MARWIL) needs to find good prices.
// Prints, every --report-every episodes, the mean reward, the mean price and the mean
// purchase probability per user.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "policy_client/policy_client.h"
#include "sims/price_offer.h"
#include "sims/random_util.h"

namespace {

struct OfferTally {
  int64_t offers[2] = {0, 0};  // [agent1's user, agent2's user]
  double reward[2] = {0, 0}, price[2] = {0, 0}, buy_prob[2] = {0, 0};

  void add(const tandem::sims::PriceOfferOutcome& o) {
    const int u = o.asked_agent1 ? 0 : 1;
    ++offers[u];
    reward[u] += o.reward;
    price[u] += o.price;
    buy_prob[u] += o.buy_prob;
  }
  int64_t episodes() const { return offers[0] + offers[1]; }
  double mean(const double (&sum)[2], int u) const {
    return offers[u] ? sum[u] / static_cast<double>(offers[u]) : 0.0;
  }
  double mean_reward() const {
    return episodes() ? (reward[0] + reward[1]) / static_cast<double>(episodes()) : 0.0;
  }
};

void print_row(int64_t episodes, double wall_s, const OfferTally& t) {
  std::cout << std::fixed << std::setw(9) << episodes << std::setw(8) << std::setprecision(1)
            << wall_s << std::setprecision(3) << std::setw(12) << t.mean_reward()
            << std::setprecision(2) << std::setw(14) << t.mean(t.price, 0) << std::setw(14)
            << t.mean(t.price, 1) << std::setw(12) << t.mean(t.buy_prob, 0) << std::setw(12)
            << t.mean(t.buy_prob, 1) << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "The one-step item price environment on a tandem-server (offline data for the price model)"};
  std::string server = "ws://127.0.0.1:9990";
  std::string inference = "remote";
  int64_t max_episodes = 4000;
  int64_t report_every = 500;
  int threads = 1;
  uint64_t seed = 0;
  bool eval = false;
  std::string prices = "policy";
  app.add_option("--server", server, "the tandem-server's ws:// URL");
  app.add_option("--inference", inference, "remote | local")
      ->check(CLI::IsMember({"remote", "local"}));
  app.add_option("--episodes", max_episodes, "offers (one-step episodes) to make")
      ->check(CLI::PositiveNumber);
  app.add_option("--report-every", report_every, "print a row every N episodes")
      ->check(CLI::PositiveNumber);
  app.add_option("--concurrent", threads, "concurrent episodes (one thread each)")
      ->check(CLI::Range(1, 64));
  app.add_option("--seed", seed, "simulator seed");
  app.add_flag("--eval", eval, "greedy prices (explore=false), never trained on");
  app.add_option("--prices", prices,
                 "policy: the server's actions | uniform: logged uniform prices")
      ->check(CLI::IsMember({"policy", "uniform"}));
  CLI11_PARSE(app, argc, argv);
  const auto mode = inference == "local" ? tandem::client::InferenceMode::Local
                                         : tandem::client::InferenceMode::Remote;

  std::atomic<int64_t> started{0};
  std::mutex mu;  // guards the tallies and the output
  OfferTally total, window;
  const auto t0 = std::chrono::steady_clock::now();
  auto wall = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::cout << std::setw(9) << "episodes" << std::setw(8) << "wall_s" << std::setw(12) << "reward"
            << std::setw(14) << "price_agent1" << std::setw(14) << "price_agent2" << std::setw(12)
            << "buy_agent1" << std::setw(12) << "buy_agent2" << std::endl;

  auto worker = [&](int w) {
    try {
      tandem::client::PolicyClient client(server, mode);
      tandem::sims::PriceOfferConfig cfg;
      cfg.arena.seed = seed * 1000 + static_cast<uint64_t>(w);
      tandem::sims::PriceOffer env(cfg);
      std::mt19937_64 behaviour(cfg.arena.seed + 0xb0b);  // --prices uniform
      while (started.fetch_add(1) < max_episodes) {
        const auto obs = env.reset();
        const auto ep = client.start_episode(std::nullopt, !eval, !eval);
        tandem::client::Action action;
        if (prices == "uniform") {
          action.continuous = {
              static_cast<float>(tandem::sims::uniform(behaviour, 0.0, cfg.max_price))};
          client.log_action(ep, obs, action);
        } else {
          action = client.get_action(ep, obs);
        }
        if (action.continuous.size() != 1) {
          throw std::runtime_error(
              "the server's action is not a price (Box(1,)): check its action_space");
        }
        const auto outcome = env.step(action.continuous[0]);
        client.log_returns(ep, static_cast<float>(outcome.reward));
        client.end_episode(ep, obs);  // one step: terminal
        std::lock_guard lk(mu);
        total.add(outcome);
        window.add(outcome);
        if (total.episodes() % report_every == 0) {
          print_row(total.episodes(), wall(), window);
          window = OfferTally{};
        }
      }
      client.flush();
    } catch (const std::exception& e) {
      std::cerr << "price_data: " << e.what() << std::endl;
      std::exit(1);
    }
  };
  std::vector<std::thread> ts;
  for (int w = 0; w < threads; ++w) ts.emplace_back(worker, w);
  for (auto& t : ts) t.join();
  std::cout << std::fixed << std::setprecision(1) << "done: " << total.episodes() << " offers, "
            << wall() << " s; mean reward " << std::setprecision(3) << total.mean_reward()
            << "; mean price agent1 " << std::setprecision(2) << total.mean(total.price, 0)
            << " agent2 " << total.mean(total.price, 1) << "; mean P(buy) agent1 "
            << total.mean(total.buy_prob, 0) << " agent2 " << total.mean(total.buy_prob, 1)
            << std::endl;
  return 0;
}
