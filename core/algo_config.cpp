#include "core/algo_config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace tandem::core {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

std::string num(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

// Levenshtein distance, for "did you mean" hints.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

[[noreturn]] void unknown_key(const std::string& key, const std::vector<std::string>& known,
                              const std::string& where) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& k : known) {
    const size_t d = edit_distance(key, k);
    if (d < best_d) best_d = d, best = k;
  }
  std::string msg = "unknown key '" + key + "'" + where;
  if (!best.empty() && best_d <= std::max<size_t>(2, key.size() / 3))
    msg += " (did you mean '" + best + "'?)";
  bad(msg);
}

// --- typed readers: each names the key and the offending value ---

double get_double(const json& v, const std::string& key) {
  if (!v.is_number()) bad("'" + key + "' must be a number, got " + v.dump());
  return v.get<double>();
}

int64_t get_int(const json& v, const std::string& key) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::floor(d) == d && std::abs(d) < 9e15) return static_cast<int64_t>(d);
  }
  bad("'" + key + "' must be an integer, got " + v.dump());
}

bool get_bool(const json& v, const std::string& key) {
  if (!v.is_boolean()) bad("'" + key + "' must be true or false, got " + v.dump());
  return v.get<bool>();
}

std::string get_choice(const json& v, const std::string& key,
                       const std::vector<std::string>& choices) {
  std::string all;
  for (const auto& c : choices) all += (all.empty() ? "" : ", ") + ("\"" + c + "\"");
  if (!v.is_string()) bad("'" + key + "' must be one of " + all + ", got " + v.dump());
  auto s = v.get<std::string>();
  if (std::find(choices.begin(), choices.end(), s) == choices.end())
    bad("'" + key + "' must be one of " + all + ", got \"" + s + "\"");
  return s;
}

// --- range checks ---
void check_gt(const std::string& key, double x, double lo) {
  if (!(x > lo)) bad("'" + key + "' must be > " + num(lo) + ", got " + num(x));
}
void check_ge(const std::string& key, double x, double lo) {
  if (!(x >= lo)) bad("'" + key + "' must be >= " + num(lo) + ", got " + num(x));
}
void check_unit(const std::string& key, double x) {
  if (!(x >= 0 && x <= 1)) bad("'" + key + "' must be in [0, 1], got " + num(x));
}

struct Field {
  std::function<void(AlgoConfig&, const json&)> set;
};

void set_model(ModelConfig& m, const json& j) {
  static const std::vector<std::string> kKeys = {"fcnet_hiddens", "fcnet_activation",
                                                 "vf_share_layers", "free_log_std", "init"};
  if (!j.is_object()) bad("'model' must be an object, got " + j.dump());
  for (const auto& [k, v] : j.items()) {
    if (k == "fcnet_hiddens") {
      if (!v.is_array()) bad("'model.fcnet_hiddens' must be a list of integers, got " + v.dump());
      std::vector<int64_t> h;
      for (const auto& e : v) {
        const int64_t x = get_int(e, "model.fcnet_hiddens");
        if (x < 1) bad("'model.fcnet_hiddens' sizes must be >= 1, got " + v.dump());
        h.push_back(x);
      }
      m.fcnet_hiddens = std::move(h);
    } else if (k == "fcnet_activation") {
      m.fcnet_activation =
          get_choice(v, "model.fcnet_activation", {"tanh", "relu", "elu", "linear"});
    } else if (k == "vf_share_layers") {
      m.vf_share_layers = get_bool(v, "model.vf_share_layers");
    } else if (k == "free_log_std") {
      m.free_log_std = get_bool(v, "model.free_log_std");
    } else if (k == "init") {
      m.init = get_choice(v, "model.init", {"orthogonal", "normc"});
    } else {
      unknown_key(k, kKeys, " in 'model'");
    }
  }
}

const std::vector<std::pair<std::string, Field>>& fields() {
  static const std::vector<std::pair<std::string, Field>> kFields = {
      {"gamma", {[](AlgoConfig& c, const json& v) {
         c.gamma = get_double(v, "gamma");
         check_unit("gamma", c.gamma);
       }}},
      {"lr", {[](AlgoConfig& c, const json& v) {
         c.lr = get_double(v, "lr");
         check_gt("lr", c.lr, 0);
       }}},
      {"lr_schedule", {[](AlgoConfig& c, const json& v) {
         c.lr_schedule.clear();
         if (v.is_null()) return;
         if (!v.is_array())
           bad("'lr_schedule' must be a list of [timestep, lr] pairs, got " + v.dump());
         for (const auto& e : v) {
           if (!e.is_array() || e.size() != 2)
             bad("'lr_schedule' entries must be [timestep, lr] pairs, got " + e.dump());
           const int64_t t = get_int(e[0], "lr_schedule timestep");
           const double lr = get_double(e[1], "lr_schedule lr");
           check_ge("lr_schedule timestep", static_cast<double>(t), 0);
           check_gt("lr_schedule lr", lr, 0);
           if (!c.lr_schedule.empty() && t < c.lr_schedule.back().first)
             bad("'lr_schedule' timesteps must be increasing, got " + v.dump());
           c.lr_schedule.emplace_back(t, lr);
         }
       }}},
      {"lambda", {[](AlgoConfig& c, const json& v) {
         c.lambda_ = get_double(v, "lambda");
         check_unit("lambda", c.lambda_);
       }}},
      {"use_gae", {[](AlgoConfig& c, const json& v) { c.use_gae = get_bool(v, "use_gae"); }}},
      {"use_critic",
       {[](AlgoConfig& c, const json& v) { c.use_critic = get_bool(v, "use_critic"); }}},
      {"train_batch_size", {[](AlgoConfig& c, const json& v) {
         c.train_batch_size = get_int(v, "train_batch_size");
         check_ge("train_batch_size", static_cast<double>(c.train_batch_size), 1);
       }}},
      {"rollout_fragment_length", {[](AlgoConfig& c, const json& v) {
         c.rollout_fragment_length = get_int(v, "rollout_fragment_length");
         check_ge("rollout_fragment_length", static_cast<double>(c.rollout_fragment_length), 1);
       }}},
      {"vf_loss_coeff", {[](AlgoConfig& c, const json& v) {
         c.vf_loss_coeff = get_double(v, "vf_loss_coeff");
         check_ge("vf_loss_coeff", c.vf_loss_coeff, 0);
       }}},
      {"entropy_coeff", {[](AlgoConfig& c, const json& v) {
         c.entropy_coeff = get_double(v, "entropy_coeff");
         check_ge("entropy_coeff", c.entropy_coeff, 0);
       }}},
      {"grad_clip", {[](AlgoConfig& c, const json& v) {
         c.grad_clip = v.is_null() ? 0.0 : get_double(v, "grad_clip");  // RLlib: null = no clipping
         check_ge("grad_clip", c.grad_clip, 0);
       }}},
      {"normalize_advantages", {[](AlgoConfig& c, const json& v) {
         c.normalize_advantages = get_bool(v, "normalize_advantages");
       }}},
      {"max_abs_reward", {[](AlgoConfig& c, const json& v) {
         c.max_abs_reward = get_double(v, "max_abs_reward");
         check_gt("max_abs_reward", c.max_abs_reward, 0);
         if (c.max_abs_reward > 1e30) bad("'max_abs_reward' must be <= 1e30, got " + num(c.max_abs_reward));
       }}},
      {"observation_clip", {[](AlgoConfig& c, const json& v) {
         c.observation_clip = get_double(v, "observation_clip");
         check_ge("observation_clip", c.observation_clip, 0);
         if (c.observation_clip > 1e30) bad("'observation_clip' must be <= 1e30, got " + num(c.observation_clip));
       }}},
      {"clip_param", {[](AlgoConfig& c, const json& v) {
         c.clip_param = get_double(v, "clip_param");
         check_gt("clip_param", c.clip_param, 0);
       }}},
      {"vf_clip_param", {[](AlgoConfig& c, const json& v) {
         c.vf_clip_param = get_double(v, "vf_clip_param");
         check_ge("vf_clip_param", c.vf_clip_param, 0);
       }}},
      {"kl_coeff", {[](AlgoConfig& c, const json& v) {
         c.kl_coeff = get_double(v, "kl_coeff");
         check_ge("kl_coeff", c.kl_coeff, 0);
       }}},
      {"kl_target", {[](AlgoConfig& c, const json& v) {
         c.kl_target = get_double(v, "kl_target");
         check_gt("kl_target", c.kl_target, 0);
       }}},
      {"sgd_minibatch_size", {[](AlgoConfig& c, const json& v) {
         c.sgd_minibatch_size = get_int(v, "sgd_minibatch_size");
         check_ge("sgd_minibatch_size", static_cast<double>(c.sgd_minibatch_size), 1);
       }}},
      {"num_sgd_iter", {[](AlgoConfig& c, const json& v) {
         c.num_sgd_iter = get_int(v, "num_sgd_iter");
         check_ge("num_sgd_iter", static_cast<double>(c.num_sgd_iter), 1);
       }}},
      {"optimizer", {[](AlgoConfig& c, const json& v) {
         c.optimizer = get_choice(v, "optimizer", {"adam", "rmsprop"});
       }}},
      {"rmsprop_alpha", {[](AlgoConfig& c, const json& v) {
         c.rmsprop_alpha = get_double(v, "rmsprop_alpha");
         if (!(c.rmsprop_alpha > 0 && c.rmsprop_alpha < 1))
           bad("'rmsprop_alpha' must be in (0, 1), got " + num(c.rmsprop_alpha));
       }}},
      {"optimizer_eps", {[](AlgoConfig& c, const json& v) {
         c.optimizer_eps = get_double(v, "optimizer_eps");
         check_gt("optimizer_eps", c.optimizer_eps, 0);
       }}},
      {"beta", {[](AlgoConfig& c, const json& v) {
         c.beta = get_double(v, "beta");
         check_ge("beta", c.beta, 0);
       }}},
      {"vf_coeff", {[](AlgoConfig& c, const json& v) {
         c.vf_coeff = get_double(v, "vf_coeff");
         check_ge("vf_coeff", c.vf_coeff, 0);
       }}},
      {"bc_logstd_coeff", {[](AlgoConfig& c, const json& v) {
         c.bc_logstd_coeff = get_double(v, "bc_logstd_coeff");
         check_ge("bc_logstd_coeff", c.bc_logstd_coeff, 0);
       }}},
      {"moving_average_sqd_adv_norm_start", {[](AlgoConfig& c, const json& v) {
         c.moving_average_sqd_adv_norm_start = get_double(v, "moving_average_sqd_adv_norm_start");
         check_gt("moving_average_sqd_adv_norm_start", c.moving_average_sqd_adv_norm_start, 0);
       }}},
      {"moving_average_sqd_adv_norm_update_rate", {[](AlgoConfig& c, const json& v) {
         c.moving_average_sqd_adv_norm_update_rate = get_double(v, "moving_average_sqd_adv_norm_update_rate");
         check_unit("moving_average_sqd_adv_norm_update_rate", c.moving_average_sqd_adv_norm_update_rate);
       }}},
      {"weight_type", {[](AlgoConfig& c, const json& v) { c.weight_type = get_choice(v, "weight_type", {"bin", "exp"}); }}},
      {"temperature", {[](AlgoConfig& c, const json& v) {
         c.temperature = get_double(v, "temperature");
         check_gt("temperature", c.temperature, 0);
       }}},
      {"max_weight", {[](AlgoConfig& c, const json& v) {
         c.max_weight = get_double(v, "max_weight");
         check_gt("max_weight", c.max_weight, 0);
       }}},
      {"advantage_type", {[](AlgoConfig& c, const json& v) {
         c.advantage_type = get_choice(v, "advantage_type", {"mean", "max"});
       }}},
      {"n_action_sample", {[](AlgoConfig& c, const json& v) {
         c.n_action_sample = get_int(v, "n_action_sample");
         check_ge("n_action_sample", static_cast<double>(c.n_action_sample), 1);
       }}},
      {"twin_q", {[](AlgoConfig& c, const json& v) { c.twin_q = get_bool(v, "twin_q"); }}},
      {"tau", {[](AlgoConfig& c, const json& v) {
         c.tau = get_double(v, "tau");
         check_gt("tau", c.tau, 0);
         check_unit("tau", c.tau);
       }}},
      {"critic_lr", {[](AlgoConfig& c, const json& v) {
         c.critic_lr = get_double(v, "critic_lr");
         check_gt("critic_lr", c.critic_lr, 0);
       }}},
      {"model", {[](AlgoConfig& c, const json& v) { set_model(c.model, v); }}},
  };
  return kFields;
}

// Cross-field checks on the merged result.
void check_consistency(const AlgoConfig& c) {
  if (c.sgd_minibatch_size > c.train_batch_size)
    bad("'sgd_minibatch_size' (" + std::to_string(c.sgd_minibatch_size) +
        ") must be <= 'train_batch_size' (" + std::to_string(c.train_batch_size) + ")");
  if (c.use_gae && !c.use_critic)
    bad("'use_gae' = true needs 'use_critic' = true (GAE needs a value function)");
}

}  // namespace

void AlgoConfig::merge_json(const nlohmann::json& j) {
  if (!j.is_object()) bad("config must be a JSON object, got " + j.dump());
  AlgoConfig next = *this;  // strong guarantee: *this is untouched when a value is rejected
  for (const auto& [k, v] : j.items()) {
    const auto& fs = fields();
    auto it = std::find_if(fs.begin(), fs.end(), [&key = k](const auto& f) { return f.first == key; });
    if (it == fs.end()) {
      std::vector<std::string> known;
      for (const auto& f : fs) known.push_back(f.first);
      unknown_key(k, known, "");
    }
    it->second.set(next, v);
  }
  check_consistency(next);
  *this = std::move(next);
}

nlohmann::json AlgoConfig::to_json() const {
  json sched = json::array();
  for (const auto& [t, l] : lr_schedule) sched.push_back({t, l});
  return json{
      {"gamma", gamma},
      {"lr", lr},
      {"lr_schedule", sched},
      {"lambda", lambda_},
      {"use_gae", use_gae},
      {"use_critic", use_critic},
      {"train_batch_size", train_batch_size},
      {"rollout_fragment_length", rollout_fragment_length},
      {"vf_loss_coeff", vf_loss_coeff},
      {"entropy_coeff", entropy_coeff},
      {"grad_clip", grad_clip},
      {"normalize_advantages", normalize_advantages},
      {"max_abs_reward", max_abs_reward},
      {"observation_clip", observation_clip},
      {"clip_param", clip_param},
      {"vf_clip_param", vf_clip_param},
      {"kl_coeff", kl_coeff},
      {"kl_target", kl_target},
      {"sgd_minibatch_size", sgd_minibatch_size},
      {"num_sgd_iter", num_sgd_iter},
      {"optimizer", optimizer},
      {"rmsprop_alpha", rmsprop_alpha},
      {"optimizer_eps", optimizer_eps},
      {"beta", beta},
      {"vf_coeff", vf_coeff},
      {"bc_logstd_coeff", bc_logstd_coeff},
      {"moving_average_sqd_adv_norm_start", moving_average_sqd_adv_norm_start},
      {"moving_average_sqd_adv_norm_update_rate", moving_average_sqd_adv_norm_update_rate},
      {"weight_type", weight_type},
      {"temperature", temperature},
      {"max_weight", max_weight},
      {"advantage_type", advantage_type},
      {"n_action_sample", n_action_sample},
      {"twin_q", twin_q},
      {"tau", tau},
      {"critic_lr", critic_lr},
      {"model",
       {{"fcnet_hiddens", model.fcnet_hiddens},
        {"fcnet_activation", model.fcnet_activation},
        {"vf_share_layers", model.vf_share_layers},
        {"free_log_std", model.free_log_std},
        {"init", model.init}}},
  };
}

double AlgoConfig::lr_at(int64_t timesteps) const {
  if (lr_schedule.empty()) return lr;
  // Piecewise linear between the points; before the first point its lr, after the last the
  // last lr (RLlib's PiecewiseSchedule with outside_value = last lr).
  if (timesteps <= lr_schedule.front().first) return lr_schedule.front().second;
  for (size_t i = 1; i < lr_schedule.size(); ++i) {
    const auto [t0, l0] = lr_schedule[i - 1];
    const auto [t1, l1] = lr_schedule[i];
    if (timesteps < t1) {
      const double a = static_cast<double>(timesteps - t0) / static_cast<double>(t1 - t0);
      return l0 + a * (l1 - l0);
    }
  }
  return lr_schedule.back().second;
}

}  // namespace tandem::core
