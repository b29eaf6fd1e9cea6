// item_sale: the MultiAgentArena with the reference's mid-episode item sale
// (sims/item_sale_arena.h) on three services: agent1 on a PPO server, agent2 on an A2C
// server (--route, as two_trainers), and the item's price from a price service over HTTP
// JSON (--price-url http://HOST:PORT/in-game-recommendations: a tandem-server serving the
// trained price model on a path of its `http_inference_paths`). Prints, every
// --report-every episodes, both agents' mean returns, how often each bought and the mean
// prices asked, and a summary line at the end. A failing price service ends the run with a
// message and exit code 1 (never a silent price).
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <thread>

#include "examples/agent_routing.h"
#include "examples/price_service_client.h"
#include "sims/item_sale_arena.h"

namespace {

using tandem::sims::MultiAgentArenaWithItemSale;

// Sums over a window of episodes (a report's, or the whole run's).
struct SaleTally {
  int64_t episodes = 0;
  double agent1_return = 0.0, agent2_return = 0.0;
  int64_t agent1_bought = 0, agent2_bought = 0;
  double agent1_price = 0.0, agent2_price = 0.0;  // prices asked

  void add(const MultiAgentArenaWithItemSale& env) {
    ++episodes;
    agent1_return += env.agent1_return();
    agent2_return += env.agent2_return();
    agent1_bought += env.sale().agent1_bought ? 1 : 0;
    agent2_bought += env.sale().agent2_bought ? 1 : 0;
    agent1_price += env.sale().agent1_price;
    agent2_price += env.sale().agent2_price;
  }
  double mean(double sum) const { return episodes ? sum / static_cast<double>(episodes) : 0.0; }
  double percent(int64_t n) const {
    return episodes ? 100.0 * static_cast<double>(n) / static_cast<double>(episodes) : 0.0;
  }
};

void print_header() {
  std::cout << std::setw(9) << "episodes" << std::setw(8) << "wall_s" << std::setw(15)
            << "agent1_return" << std::setw(15) << "agent2_return" << std::setw(15)
            << "agent1_bought%" << std::setw(15) << "agent2_bought%" << std::setw(14)
            << "agent1_price" << std::setw(14) << "agent2_price" << std::endl;
}

void print_row(int64_t episodes, double wall_s, const SaleTally& t) {
  std::cout << std::fixed << std::setw(9) << episodes << std::setw(8) << std::setprecision(1)
            << wall_s << std::setprecision(2) << std::setw(15) << t.mean(t.agent1_return)
            << std::setw(15) << t.mean(t.agent2_return) << std::setprecision(1) << std::setw(15)
            << t.percent(t.agent1_bought) << std::setw(15) << t.percent(t.agent2_bought)
            << std::setprecision(2) << std::setw(14) << t.mean(t.agent1_price) << std::setw(14)
            << t.mean(t.agent2_price) << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "MultiAgentArenaWithItemSale: agents on policy servers, the item's price from a price "
      "service"};
  std::vector<std::string> routes{"agent1=ws://127.0.0.1:9960", "agent2=ws://127.0.0.1:9970"};
  std::vector<std::string> inference{"remote"};
  std::string price_url = "http://127.0.0.1:9980/in-game-recommendations";
  std::string price_token_file;
  double price_timeout = 5.0;
  int64_t max_episodes = 1000;
  int64_t report_every = 100;
  int threads = 1;
  uint64_t seed = 0;
  double update_interval = 10.0;
  bool eval = false;
  app.add_option("--route", routes, "AGENT=ws://HOST:PORT, one per agent");
  app.add_option("--inference", inference,
                 "remote | local for every server, or URL=remote|local per server (repeatable)");
  app.add_option("--update-interval", update_interval,
                 "local: poll for new weights every N seconds")
      ->check(CLI::PositiveNumber);
  app.add_option("--price-url", price_url, "the price service: http://HOST:PORT/PATH");
  app.add_option("--price-token-file", price_token_file,
                 "bearer token for the price service (first line)");
  app.add_option("--price-timeout", price_timeout,
                 "seconds per connect, write and read of a price request")
      ->check(CLI::PositiveNumber);
  app.add_option("--episodes", max_episodes, "episodes to play")->check(CLI::PositiveNumber);
  app.add_option("--report-every", report_every, "print a row every N episodes")
      ->check(CLI::PositiveNumber);
  app.add_option("--concurrent", threads, "concurrent episodes (one thread each)")
      ->check(CLI::Range(1, 64));
  app.add_option("--seed", seed, "simulator seed");
  app.add_flag("--eval", eval,
               "evaluation episodes: greedy actions (explore=false), training_enabled=false");
  CLI11_PARSE(app, argc, argv);

  tandem::examples::Routing routing;
  tandem::examples::PriceServiceOptions price_options;
  try {
    routing = tandem::examples::parse_routing(
        "item_sale", routes, inference,
        {MultiAgentArenaWithItemSale::kAgent1, MultiAgentArenaWithItemSale::kAgent2});
    price_options.url = price_url;
    price_options.timeout_s = price_timeout;
    if (!price_token_file.empty())
      price_options.token = tandem::examples::read_token_file(price_token_file);
    // The URL's shape is checked here, before any episode.
    tandem::examples::PriceServiceClient check(price_options);
  } catch (const tandem::examples::UsageError& e) {
    std::cerr << e.what() << '\n';  // names the program
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "item_sale: " << e.what() << '\n';
    return 2;
  }

  std::atomic<int64_t> started{0}, steps{0};
  std::mutex mu;  // guards the tallies and the output
  SaleTally total, window;
  const auto t0 = std::chrono::steady_clock::now();
  auto wall = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::cout << "agent1 -> " << routing.server_of_agent.at("agent1") << ", agent2 -> "
            << routing.server_of_agent.at("agent2") << ", price -> " << price_url << std::endl;
  print_header();

  auto worker = [&](int w) {
    try {
      tandem::client::ClientOptions opts;
      opts.update_interval_s = update_interval;
      tandem::examples::RoutedEpisode episode(routing, opts);
      tandem::examples::PriceServiceClient prices(price_options);
      tandem::sims::ItemSaleConfig cfg;
      cfg.arena.seed = seed * 1000 + static_cast<uint64_t>(w);
      MultiAgentArenaWithItemSale env(
          cfg, [&prices](double own, double other) { return prices.price(own, other); });
      while (started.fetch_add(1) < max_episodes) {
        auto obs = env.reset();
        episode.start(!eval, !eval);
        for (;;) {
          auto r = env.step(episode.get_action(obs));
          episode.log_returns(r.rewards);
          obs = r.obs;
          ++steps;
          if (r.all_done) break;
        }
        // A time limit: truncated, bootstrapped from the last observation.
        const auto& sale = env.sale();
        episode.end(obs, /*truncated=*/true,
                    {{"new_fields_discovered", env.new_fields_discovered()},
                     {"num_collisions", env.num_collisions()},
                     {"agent1_bought", sale.agent1_bought ? 1.0 : 0.0},
                     {"agent2_bought", sale.agent2_bought ? 1.0 : 0.0},
                     {"agent1_price_paid", sale.agent1_paid()},
                     {"agent2_price_paid", sale.agent2_paid()}});
        std::lock_guard lk(mu);
        total.add(env);
        window.add(env);
        if (total.episodes % report_every == 0) {
          print_row(total.episodes, wall(), window);
          window = SaleTally{};
        }
      }
      episode.flush();
    } catch (const tandem::examples::PriceServiceError& e) {
      std::cerr << "item_sale: the price service failed: " << e.what() << std::endl;
      std::exit(1);
    } catch (const std::exception& e) {
      std::cerr << "item_sale: " << e.what() << std::endl;
      std::exit(1);
    }
  };
  std::vector<std::thread> ts;
  for (int w = 0; w < threads; ++w) ts.emplace_back(worker, w);
  for (auto& t : ts) t.join();
  std::cout << std::fixed << "done: " << total.episodes << " episodes, " << steps << " env steps, "
            << std::setprecision(1) << wall() << " s; mean return agent1 " << std::setprecision(2)
            << total.mean(total.agent1_return) << " agent2 " << total.mean(total.agent2_return)
            << "; bought agent1 " << std::setprecision(1) << total.percent(total.agent1_bought)
            << "% agent2 " << total.percent(total.agent2_bought) << "%; mean price agent1 "
            << std::setprecision(2) << total.mean(total.agent1_price) << " agent2 "
            << total.mean(total.agent2_price) << std::endl;
  return 0;
}
