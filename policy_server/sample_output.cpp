#include "policy_server/sample_output.h"

#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tandem::server {

SampleOutput::SampleOutput(const std::string& dir) {
  std::filesystem::create_directories(dir);
  path_ = (std::filesystem::path(dir) / "samples.jsonl").string();
  out_.open(path_, std::ios::app);
  if (!out_) throw std::runtime_error("cannot open experience output '" + path_ + "'");
}

void SampleOutput::write(const std::string& policy_id, const FragmentOrigin& origin,
                         const core::Trajectory& t) {
  nlohmann::json obs = nlohmann::json::array();
  const auto T = static_cast<size_t>(t.size());
  const auto w = T ? t.obs.size() / T : 0;
  for (size_t i = 0; i < T; ++i)
    obs.push_back(std::vector<float>(t.obs.begin() + static_cast<std::ptrdiff_t>(i * w),
                                     t.obs.begin() + static_cast<std::ptrdiff_t>((i + 1) * w)));
  nlohmann::json j = {{"episode_id", origin.episode_id}, {"agent_id", origin.agent_id},
                      {"policy_id", policy_id},         {"obs", std::move(obs)},
                      {"actions", t.actions},           {"actions_cont", t.actions_cont},
                      {"action_logp", t.action_logp},   {"vf_preds", t.vf_preds},
                      {"rewards", t.rewards},           {"terminated", t.terminated},
                      {"bootstrap_value", t.bootstrap_value}};
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lk(mu_);
  out_ << line;
  out_.flush();
}

}  // namespace tandem::server
