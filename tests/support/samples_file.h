#pragma once
// The server's experience output with output_config.what = "fragments": files
// DIR/output-*.json of JSON lines in RLlib's SampleBatch layout (core/offline_json.h), one line
// per fragment handed to the learner. Read here into the fragment's own terms (episode_id,
// agent_id, policy_id, obs rows, actions, action_logp, vf_preds, rewards, terminated,
// bootstrap_value), so that a test sees from outside exactly which steps and rewards the
// learner receives. Read it after the server stopped (the writer drains at stop).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::test {

struct SampleLine {
  std::string episode_id, agent_id, policy_id;
  std::vector<std::vector<float>> obs;  // T rows
  std::vector<int64_t> actions;         // T * discrete width
  std::vector<float> actions_cont, action_logp, vf_preds, rewards;
  bool terminated = false;
  float bootstrap_value = 0.f;
  int64_t size() const { return static_cast<int64_t>(rewards.size()); }
};

// The output files of DIR in write order (none when DIR does not exist).
inline std::vector<std::string> output_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind("output-", 0) == 0) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// Every line of every output file of DIR; a malformed line fails the test.
inline std::vector<SampleLine> read_samples(const std::string& dir) {
  std::vector<SampleLine> out;
  auto floats = [](const nlohmann::json& a) {
    std::vector<float> v;
    for (const auto& x : a) v.push_back(static_cast<float>(x.get<double>()));
    return v;
  };
  for (const auto& path : output_files(dir)) {
    std::ifstream in(path);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      SampleLine s;
      std::string error;
      try {
        const auto j = nlohmann::json::parse(line);
        s.episode_id = j.at("eps_id").at(0).get<std::string>();
        s.agent_id = j.at("agent_id").at(0).get<std::string>();
        s.policy_id = j.at("policy_id").get<std::string>();
        for (const auto& row : j.at("obs")) s.obs.push_back(floats(row));
        for (const auto& a : j.at("actions")) {
          for (const auto& x : a.is_array() ? a : nlohmann::json::array({a})) {
            const double v = x.get<double>();
            if (x.is_number_integer()) s.actions.push_back(static_cast<int64_t>(v));
            else s.actions_cont.push_back(static_cast<float>(v));
          }
        }
        s.action_logp = floats(j.at("action_logp"));
        s.vf_preds = floats(j.at("vf_preds"));
        s.rewards = floats(j.at("rewards"));
        const auto dones = j.at("dones"), truncs = j.at("truncateds");
        s.terminated = dones.back().get<bool>() && !truncs.back().get<bool>();
        s.bootstrap_value = static_cast<float>(j.at("bootstrap_value").back().get<double>());
        for (const auto& e : j.at("eps_id"))
          if (e != j.at("eps_id").at(0)) error = "a fragment line with rows of two episodes";
      } catch (const std::exception& e) {
        error = e.what();
      }
      REQUIRE_MESSAGE(error.empty(), path << " line " << n << " is not a fragment (" << error << "): " << line);
      const size_t t = s.rewards.size();
      REQUIRE_MESSAGE((s.obs.size() == t && s.vf_preds.size() == t && s.action_logp.size() == t),
                      path << " line " << n << ": obs, vf_preds, action_logp and rewards differ in length");
      out.push_back(std::move(s));
    }
  }
  return out;
}

// The fragments of one episode (and agent, unless empty), in file order.
inline std::vector<SampleLine> fragments_of(const std::vector<SampleLine>& all, const std::string& episode,
                                            const std::string& agent = "") {
  std::vector<SampleLine> out;
  for (const auto& s : all)
    if (s.episode_id == episode && (agent.empty() || s.agent_id == agent)) out.push_back(s);
  return out;
}

// Consecutive fragments joined into one (terminated/bootstrap_value of the last).
inline SampleLine concat(const std::vector<SampleLine>& frags) {
  SampleLine all;
  for (const auto& f : frags) {
    all.episode_id = f.episode_id;
    all.agent_id = f.agent_id;
    all.policy_id = f.policy_id;
    all.obs.insert(all.obs.end(), f.obs.begin(), f.obs.end());
    all.actions.insert(all.actions.end(), f.actions.begin(), f.actions.end());
    all.actions_cont.insert(all.actions_cont.end(), f.actions_cont.begin(), f.actions_cont.end());
    all.action_logp.insert(all.action_logp.end(), f.action_logp.begin(), f.action_logp.end());
    all.vf_preds.insert(all.vf_preds.end(), f.vf_preds.begin(), f.vf_preds.end());
    all.rewards.insert(all.rewards.end(), f.rewards.begin(), f.rewards.end());
    all.terminated = f.terminated;
    all.bootstrap_value = f.bootstrap_value;
  }
  return all;
}

inline int64_t steps_in(const std::vector<SampleLine>& frags) {
  int64_t n = 0;
  for (const auto& f : frags) n += f.size();
  return n;
}

// "[1, 2, 3]" (for failure messages).
template <typename T>
std::string str(const std::vector<T>& v) {
  std::ostringstream o;
  o.precision(9);
  o << '[';
  for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
  o << ']';
  return o.str();
}
template <typename T>
std::string str(const std::vector<std::vector<T>>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + str(v[i]);
  return s + "]";
}

}  // namespace tandem::test
