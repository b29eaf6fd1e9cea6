#include "policy_server/checkpoint.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace tandem::server {
namespace fs = std::filesystem;

std::string save_checkpoint(ServerContext& ctx) {
  const auto& cfg = ctx.config;
  const int64_t iter = ctx.training_iteration.load();
  char name[32];
  std::snprintf(name, sizeof name, "checkpoint_%06lld", static_cast<long long>(iter));
  const fs::path dir = fs::path(cfg.results_dir) / name;
  const fs::path tmp = fs::path(cfg.results_dir) / (std::string(name) + ".tmp");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  for (size_t p = 0; p < cfg.policies.size(); ++p) {
    const auto& id = cfg.policies[p].policy_id;
    if (cfg.policies[p].script) continue;  // scripted: no weights, no state
    if (auto* a = ctx.policies.algorithm(static_cast<int>(p))) {
      a->save((tmp / (id + ".pt")).string());
    } else {  // served, not trained: its weights only
      auto m = ctx.policies.model(static_cast<int>(p));
      std::ofstream(tmp / (id + ".weights"), std::ios::binary) << m->serialize_weights();
      std::ofstream(tmp / (id + ".weights_version")) << m->version() << '\n';
    }
  }
  auto m = ctx.stats.peek();
  if (ctx.group_totals) {  // rank 0 of a replica group: the group's counters
    m.timesteps_total = ctx.group_totals->timesteps_total;
    m.agent_timesteps_total = ctx.group_totals->agent_timesteps_total;
    m.episodes_total = ctx.group_totals->episodes_total;
  }
  nlohmann::json state = {{"training_iteration", iter},
                          {"timesteps_total", m.timesteps_total},
                          {"agent_timesteps_total", m.agent_timesteps_total},
                          {"episodes_total", m.episodes_total},
                          {"time_total_s", ctx.time_total_s.load()},
                          {"config", cfg.to_json()}};
  if (!cfg.input.empty()) state["offline_rows_total"] = ctx.offline_rows_total.load();
  if (ctx.league) state["league"] = ctx.league->state();  // its slots' weights are above
  std::ofstream(tmp / "state.json") << state.dump(2) << '\n';
  fs::remove_all(dir);
  fs::rename(tmp, dir);
  if (cfg.keep_checkpoints_num > 0) {
    std::vector<fs::path> all;
    for (const auto& e : fs::directory_iterator(cfg.results_dir)) {
      const auto n = e.path().filename().string();
      if (e.is_directory() && n.rfind("checkpoint_", 0) == 0 && n.find(".tmp") == std::string::npos)
        all.push_back(e.path());
    }
    std::sort(all.begin(), all.end());
    while (static_cast<int64_t>(all.size()) > cfg.keep_checkpoints_num) {
      fs::remove_all(all.front());
      all.erase(all.begin());
    }
  }
  return dir.string();
}

void restore_checkpoint(ServerContext& ctx, const std::string& path) {
  const fs::path dir(path);
  std::ifstream in(dir / "state.json");
  if (!in) throw std::runtime_error("'" + path + "' is not a checkpoint (no state.json)");
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint '" + path + "': state.json is unreadable: " + e.what());
  }
  const auto& cfg = ctx.config;
  const auto& saved = state.at("config");
  if (saved.value("algorithm", "") != cfg.algorithm)
    throw std::runtime_error("checkpoint '" + path + "' was written by algorithm '" +
                             saved.value("algorithm", "") + "', this server runs '" + cfg.algorithm + "'");
  for (size_t p = 0; p < cfg.policies.size(); ++p) {
    const auto& spec = cfg.policies[p];
    if (spec.script) continue;  // scripted: nothing was saved, the config says what it is
    const auto& pols = saved.at("policies");
    // A league's snapshot slot is a copy of its main policy; a checkpoint without its weights
    // (written before the slot held a snapshot, or without a league) leaves it as it is.
    const bool slot = cfg.is_league_slot(spec.policy_id);
    if (slot && !fs::exists(dir / (spec.policy_id + ".weights"))) continue;
    const std::string& saved_id = slot ? cfg.league->main_policy : spec.policy_id;
    if (!pols.contains(saved_id))
      throw std::runtime_error("checkpoint '" + path + "' has no policy '" + saved_id + "'");
    const auto& sp = pols.at(saved_id);
    for (const char* key : {"observation_space", "action_space"}) {
      const auto now = key == std::string("observation_space") ? spec.observation_space.to_json()
                                                               : spec.action_space.to_json();
      if (sp.at(key) != now)
        throw std::runtime_error("checkpoint '" + path + "': policy '" + spec.policy_id + "' " + key +
                                 " differs: checkpoint " + sp.at(key).dump() + ", config " + now.dump());
    }
    const auto model_now = spec.config.to_json().at("model");
    const auto model_then = sp.at("config").at("model");
    if (model_now != model_then)
      throw std::runtime_error("checkpoint '" + path + "': policy '" + spec.policy_id +
                               "' model differs: checkpoint " + model_then.dump() + ", config " +
                               model_now.dump());
    try {
      const auto weights = dir / (spec.policy_id + ".weights");
      if (fs::exists(weights)) {
        // A policy that was served but not trained in that run: weights only.
        if (cfg.is_trained(spec.policy_id))
          throw std::runtime_error("it was not trained in that run (weights only, no optimizer "
                                   "state), so it can only be served frozen: leave it out of policies_to_train");
        std::ifstream in(weights, std::ios::binary);
        const std::string blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        int64_t version = 0;
        std::ifstream(dir / (spec.policy_id + ".weights_version")) >> version;
        ctx.policies.freeze(static_cast<int>(p), algo::load_inference_model(spec, blob, version));
      } else {
        ctx.policies.algorithm(static_cast<int>(p))->load((dir / (spec.policy_id + ".pt")).string());
      }
    } catch (const std::exception& e) {
      throw std::runtime_error("checkpoint '" + path + "': policy '" + spec.policy_id + "': " + e.what());
    }
  }
  if (ctx.league && state.contains("league")) {
    try {
      ctx.league->restore_state(state.at("league"));
    } catch (const std::exception& e) {
      throw std::runtime_error("checkpoint '" + path + "': " + e.what());
    }
  }
  ctx.training_iteration = state.value("training_iteration", int64_t{0});
  ctx.time_total_s = state.value("time_total_s", 0.0);
  ctx.offline_rows_total = state.value("offline_rows_total", int64_t{0});
  ctx.stats.restore_counters(state.value("timesteps_total", int64_t{0}),
                             state.value("agent_timesteps_total", int64_t{0}),
                             state.value("episodes_total", int64_t{0}));
  spdlog::info("restored '{}' (iteration {}, {} steps)", path, ctx.training_iteration.load(),
               state.value("timesteps_total", int64_t{0}));
}

}  // namespace tandem::server
