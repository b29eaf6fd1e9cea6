#include "core/offline_json.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tandem::core {
namespace {

using nlohmann::json;

bool is_discrete(const Space& s) { return s.kind == SpaceKind::Discrete || s.kind == SpaceKind::MultiDiscrete; }

int64_t action_width(const Space& s) {
  if (s.kind == SpaceKind::Discrete) return 1;
  if (s.kind == SpaceKind::MultiDiscrete) return static_cast<int64_t>(s.nvec.size());
  return s.raw_size();
}

// Row i of a T x w column (w == 1 and a scalar-per-row column: the value itself).
template <class V>
json row_json(const std::vector<V>& col, int64_t i, int64_t w, bool flat_when_one) {
  if (w == 1 && flat_when_one) return json(col[static_cast<size_t>(i)]);
  return json(std::vector<V>(col.begin() + i * w, col.begin() + (i + 1) * w));
}

// For each row, the row of the same episode and agent one step before it (t - 1) in this
// line, or -1: prev_actions / prev_rewards come from there (rows of other agents may sit in
// between).
std::vector<int64_t> previous_rows(const OfflineBatch& b) {
  std::vector<int64_t> prev(static_cast<size_t>(b.count), -1);
  std::map<std::tuple<std::string_view, std::string_view, int64_t>, int64_t> last;  // (eps, agent) -> row
  for (int64_t i = 0; i < b.count; ++i) {
    const auto u = static_cast<size_t>(i);
    const std::string_view agent = u < b.agent_id.size() ? std::string_view(b.agent_id[u]) : std::string_view();
    const auto key = std::make_tuple(std::string_view(b.eps_id[u]), agent, b.agent_index[u]);
    auto it = last.find(key);
    if (it != last.end() && b.t[static_cast<size_t>(it->second)] + 1 == b.t[u] && !b.dones[static_cast<size_t>(it->second)])
      prev[u] = it->second;
    last[key] = i;
  }
  return prev;
}

// ---- decoding -------------------------------------------------------------------------

struct ColumnError {
  std::string message;
};

[[noreturn]] void fail(const std::string& column, int64_t row, const std::string& what) {
  throw ColumnError{"column '" + column + "'" + (row >= 0 ? " row " + std::to_string(row) : "") + ": " + what};
}

// A number (bools are not numbers here); finite.
double number(const json& v, const std::string& column, int64_t row) {
  if (!v.is_number()) fail(column, row, "expected a number, got " + std::string(v.type_name()));
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail(column, row, "not finite");
  if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) fail(column, row, "outside float range");
  return d;
}

// Appends the numbers of `v` (a number or nested lists of numbers, row-major) to `out`.
void flatten(const json& v, const std::string& column, int64_t row, std::vector<float>& out, int depth = 0) {
  if (depth > 8) fail(column, row, "nested too deeply");
  if (v.is_array()) {
    for (const auto& x : v) flatten(x, column, row, out, depth + 1);
    return;
  }
  out.push_back(static_cast<float>(number(v, column, row)));
}

const json* column(const json& j, const char* name, int64_t T, bool required) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) fail(name, -1, "missing");
    return nullptr;
  }
  if (!it->is_array()) fail(name, -1, "expected a list");
  if (static_cast<int64_t>(it->size()) != T)
    fail(name, -1, "has " + std::to_string(it->size()) + " rows, \"rewards\" has " + std::to_string(T));
  return &*it;
}

// A T x w float column; returns w (rows must agree; `want` > 0 fixes it).
int64_t float_rows(const json& col, const char* name, int64_t want, std::vector<float>& out) {
  out.clear();
  int64_t w = want;
  for (int64_t i = 0; i < static_cast<int64_t>(col.size()); ++i) {
    const size_t before = out.size();
    flatten(col[static_cast<size_t>(i)], name, i, out);
    const auto got = static_cast<int64_t>(out.size() - before);
    if (w <= 0) w = got;
    if (got != w) fail(name, i, "has " + std::to_string(got) + " values, expected " + std::to_string(w));
  }
  return w;
}

int64_t integer(const json& v, const std::string& name, int64_t row) {
  const double d = number(v, name, row);
  if (d != std::floor(d) || std::fabs(d) > 9.007199254740992e15) fail(name, row, "expected an integer");
  return static_cast<int64_t>(d);
}

void int_column(const json* col, const char* name, int64_t T, std::vector<int64_t>& out, bool index_default) {
  out.assign(static_cast<size_t>(T), 0);
  for (int64_t i = 0; i < T; ++i)
    out[static_cast<size_t>(i)] = col ? integer((*col)[static_cast<size_t>(i)], name, i) : (index_default ? i : 0);
}

void bool_column(const json* col, const char* name, int64_t T, std::vector<uint8_t>& out) {
  out.assign(static_cast<size_t>(T), 0);
  if (!col) return;
  for (int64_t i = 0; i < T; ++i) {
    const auto& v = (*col)[static_cast<size_t>(i)];
    if (v.is_boolean()) out[static_cast<size_t>(i)] = v.get<bool>();
    else if (v.is_number()) out[static_cast<size_t>(i)] = number(v, name, i) != 0.0;
    else fail(name, i, "expected a bool");
  }
}

// Observation rows, preprocessed (raw rows are preprocessed here).
void obs_column(const json& col, const char* name, const Space& space, std::vector<float>& out) {
  const int64_t pre = space.preprocessed_size(), raw = space.raw_size();
  std::vector<float> flat;
  const int64_t w = float_rows(col, name, 0, flat);
  const auto T = static_cast<int64_t>(col.size());
  if (T == 0) {
    out.clear();
    return;
  }
  if (w != pre && w != raw)
    fail(name, -1, "rows have " + std::to_string(w) + " values; " + space.describe() + " needs " +
                       std::to_string(raw) + (raw != pre ? " (raw) or " + std::to_string(pre) + " (preprocessed)" : ""));
  if (w == raw) {  // validate raw values; preprocess when that changes them
    out.resize(static_cast<size_t>(T * pre));
    for (int64_t i = 0; i < T; ++i) {
      std::span<const float> r(flat.data() + i * raw, static_cast<size_t>(raw));
      if (auto why = space.validate(r); !why.empty()) fail(name, i, why);
      space.preprocess(r, out.data() + i * pre);
    }
    return;
  }
  out = std::move(flat);  // already preprocessed (e.g. one-hot rows): finite, that is all
}

void action_column(const json& col, const char* name, const Space& space, OfflineBatch& b) {
  const auto T = static_cast<int64_t>(col.size());
  const int64_t w = action_width(space);
  std::vector<float> flat;
  if (T) float_rows(col, name, w, flat);
  if (!is_discrete(space)) {  // Box: finite; samples may lie outside the bounds (RLlib's
    b.actions_cont = std::move(flat);  // normalized actions, unclipped Gaussian samples)
    return;
  }
  b.actions.resize(flat.size());
  for (int64_t i = 0; i < T; ++i)
    for (int64_t k = 0; k < w; ++k) {
      const float a = flat[static_cast<size_t>(i * w + k)];
      const int64_t n = space.kind == SpaceKind::Discrete ? space.n : space.nvec[static_cast<size_t>(k)];
      if (a != std::floor(a) || a < 0 || a >= static_cast<float>(n))
        fail(name, i, "action " + std::to_string(a) + " is outside " + space.describe());
      b.actions[static_cast<size_t>(i * w + k)] = static_cast<int64_t>(a);
    }
}

void decode(const json& j, const Space& obs_space, const Space& action_space, OfflineBatch& b) {
  if (!j.is_object()) fail("(line)", -1, "expected a JSON object");
  if (auto it = j.find("type"); it != j.end() && *it != "SampleBatch")
    fail("type", -1, "only \"SampleBatch\" lines are read (got " + it->dump().substr(0, 40) + ")");
  b = OfflineBatch{};
  if (auto it = j.find("policy_id"); it != j.end()) {
    if (!it->is_string()) fail("policy_id", -1, "expected a string");
    b.policy_id = it->get<std::string>();
  }
  const json* rewards = j.contains("rewards") && j["rewards"].is_array() ? &j["rewards"] : nullptr;
  if (!rewards) fail("rewards", -1, "missing or not a list");
  const auto T = static_cast<int64_t>(rewards->size());
  b.count = T;
  b.rewards.resize(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) b.rewards[static_cast<size_t>(i)] = static_cast<float>(number((*rewards)[static_cast<size_t>(i)], "rewards", i));

  obs_column(*column(j, "obs", T, true), "obs", obs_space, b.obs);
  b.obs_dim = obs_space.preprocessed_size();
  if (const json* c = column(j, "new_obs", T, false)) {
    obs_column(*c, "new_obs", obs_space, b.new_obs);
  } else {  // the next row's obs; the last row repeats its own
    b.new_obs.resize(b.obs.size());
    for (int64_t i = 0; i < T; ++i) {
      const int64_t src = std::min(i + 1, T - 1);
      std::copy_n(b.obs.begin() + src * b.obs_dim, b.obs_dim, b.new_obs.begin() + i * b.obs_dim);
    }
  }
  b.action_width = action_width(action_space);
  action_column(*column(j, "actions", T, true), "actions", action_space, b);
  bool_column(column(j, "dones", T, false), "dones", T, b.dones);
  if (const json* c = column(j, "terminateds", T, false); c && !j.contains("dones"))
    bool_column(c, "terminateds", T, b.dones);  // RLlib >= 2.3 writes terminateds/truncateds
  bool_column(column(j, "truncateds", T, false), "truncateds", T, b.truncateds);
  for (int64_t i = 0; i < T; ++i)
    if (b.truncateds[static_cast<size_t>(i)]) b.dones[static_cast<size_t>(i)] = 1;
  int_column(column(j, "t", T, false), "t", T, b.t, true);
  int_column(column(j, "unroll_id", T, false), "unroll_id", T, b.unroll_id, false);
  int_column(column(j, "agent_index", T, false), "agent_index", T, b.agent_index, false);
  b.eps_id.assign(static_cast<size_t>(T), "0");
  if (const json* c = column(j, "eps_id", T, false))
    for (int64_t i = 0; i < T; ++i) {
      const auto& v = (*c)[static_cast<size_t>(i)];
      if (v.is_string()) b.eps_id[static_cast<size_t>(i)] = v.get<std::string>();
      else b.eps_id[static_cast<size_t>(i)] = std::to_string(integer(v, "eps_id", i));
    }
  auto floats = [&](const char* name, std::vector<float>& out) {
    if (const json* c = column(j, name, T, false)) float_rows(*c, name, 1, out);
  };
  floats("action_logp", b.action_logp);
  floats("vf_preds", b.vf_preds);
  floats("advantages", b.advantages);
  floats("value_targets", b.value_targets);
  floats("bootstrap_value", b.bootstrap_value);
  if (const json* c = column(j, "agent_id", T, false))
    for (int64_t i = 0; i < T; ++i) {
      const auto& v = (*c)[static_cast<size_t>(i)];
      if (!v.is_string()) fail("agent_id", i, "expected a string");
      b.agent_id.push_back(v.get<std::string>());
    }
  if (const json* c = column(j, "action_dist_inputs", T, false); c && T)
    b.dist_dim = float_rows(*c, "action_dist_inputs", 0, b.action_dist_inputs);
}

}  // namespace

void append_fragment(OfflineBatch& b, const Trajectory& t, const FragmentOrigin& o) {
  const int64_t T = t.size();
  if (T == 0) return;
  const int64_t d = t.obs_dim;
  const int64_t aw = static_cast<int64_t>(t.actions.empty() ? t.actions_cont.size() : t.actions.size()) / T;
  const int64_t dd = static_cast<int64_t>(t.dist_inputs.size()) / T;
  if (b.count == 0) {
    b.obs_dim = d;
    b.action_width = aw;
    b.dist_dim = dd;
  } else if (b.obs_dim != d || b.action_width != aw || b.dist_dim != dd) {
    throw std::invalid_argument("append_fragment: a fragment of another width");
  }
  if (static_cast<int64_t>(t.obs.size()) != T * d)
    throw std::invalid_argument("append_fragment: obs has " + std::to_string(t.obs.size()) + " floats for " +
                                std::to_string(T) + " steps of " + std::to_string(d));
  b.obs.insert(b.obs.end(), t.obs.begin(), t.obs.end());
  b.new_obs.insert(b.new_obs.end(), t.obs.begin() + d, t.obs.end());
  if (static_cast<int64_t>(o.next_obs.size()) == d) b.new_obs.insert(b.new_obs.end(), o.next_obs.begin(), o.next_obs.end());
  else b.new_obs.insert(b.new_obs.end(), t.obs.end() - d, t.obs.end());
  b.actions.insert(b.actions.end(), t.actions.begin(), t.actions.end());
  b.actions_cont.insert(b.actions_cont.end(), t.actions_cont.begin(), t.actions_cont.end());
  b.rewards.insert(b.rewards.end(), t.rewards.begin(), t.rewards.end());
  for (int64_t i = 0; i < T; ++i) {
    const bool last = i == T - 1;
    b.dones.push_back(last && (o.agent_done || t.terminated));
    b.truncateds.push_back(last && o.agent_done && !t.terminated);
    b.t.push_back(o.first_step + i);
    b.eps_id.push_back(o.episode_id);
    b.unroll_id.push_back(0);
    b.agent_index.push_back(o.agent_index);
    b.agent_id.push_back(o.agent_id);
    b.bootstrap_value.push_back(last && !t.terminated ? t.bootstrap_value : 0.f);
  }
  b.action_logp.insert(b.action_logp.end(), t.action_logp.begin(), t.action_logp.end());
  b.vf_preds.insert(b.vf_preds.end(), t.vf_preds.begin(), t.vf_preds.end());
  b.action_dist_inputs.insert(b.action_dist_inputs.end(), t.dist_inputs.begin(), t.dist_inputs.end());
  b.count += T;
}

std::string encode_offline_line(const OfflineBatch& b, const Space& action_space) {
  const int64_t T = b.count, w = b.action_width, d = b.obs_dim;
  const bool discrete = is_discrete(action_space);
  const bool flat_actions = action_space.kind == SpaceKind::Discrete;
  json obs = json::array(), new_obs = json::array(), actions = json::array(), prev_actions = json::array();
  json prev_rewards = json::array(), action_prob = json::array(), dist = json::array();
  const auto prev = previous_rows(b);
  for (int64_t i = 0; i < T; ++i) {
    obs.push_back(row_json(b.obs, i, d, false));
    new_obs.push_back(row_json(b.new_obs, i, d, false));
    const int64_t pi = prev[static_cast<size_t>(i)];
    const bool cont = pi >= 0;
    if (discrete) {
      actions.push_back(row_json(b.actions, i, w, flat_actions));
      prev_actions.push_back(cont ? row_json(b.actions, pi, w, flat_actions)
                                  : row_json(std::vector<int64_t>(static_cast<size_t>(w), 0), 0, w, flat_actions));
    } else {
      actions.push_back(row_json(b.actions_cont, i, w, false));
      prev_actions.push_back(cont ? row_json(b.actions_cont, pi, w, false)
                                  : row_json(std::vector<float>(static_cast<size_t>(w), 0.f), 0, w, false));
    }
    prev_rewards.push_back(cont ? b.rewards[static_cast<size_t>(pi)] : 0.f);
    if (!b.action_logp.empty()) action_prob.push_back(std::exp(b.action_logp[static_cast<size_t>(i)]));
    if (b.dist_dim > 0) dist.push_back(row_json(b.action_dist_inputs, i, b.dist_dim, false));
  }
  json j = json::object();
  j["type"] = "SampleBatch";
  if (!b.policy_id.empty()) j["policy_id"] = b.policy_id;
  j["obs"] = std::move(obs);
  j["new_obs"] = std::move(new_obs);
  j["actions"] = std::move(actions);
  j["prev_actions"] = std::move(prev_actions);
  j["rewards"] = b.rewards;
  j["prev_rewards"] = std::move(prev_rewards);
  std::vector<bool> dones(b.dones.begin(), b.dones.end()), truncs(b.truncateds.begin(), b.truncateds.end());
  j["dones"] = dones;
  j["truncateds"] = truncs;
  j["t"] = b.t;
  j["eps_id"] = b.eps_id;
  j["unroll_id"] = b.unroll_id;
  j["agent_index"] = b.agent_index;
  if (!b.action_logp.empty()) {
    j["action_prob"] = std::move(action_prob);
    j["action_logp"] = b.action_logp;
  }
  if (b.dist_dim > 0) j["action_dist_inputs"] = std::move(dist);
  if (!b.vf_preds.empty()) j["vf_preds"] = b.vf_preds;
  if (!b.advantages.empty()) j["advantages"] = b.advantages;
  if (!b.value_targets.empty()) j["value_targets"] = b.value_targets;
  if (!b.agent_id.empty()) j["agent_id"] = b.agent_id;
  if (!b.bootstrap_value.empty()) j["bootstrap_value"] = b.bootstrap_value;
  // Invalid UTF-8 in an id cannot occur (ids are checked at the edge); replace, never throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status decode_offline_line(std::string_view line, const Space& obs_space, const Space& action_space,
                           OfflineBatch& out, std::string_view only_policy) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error& e) {
    return Status::error(ErrorCode::BadRequest, std::string("not JSON: ") + e.what());
  }
  if (!only_policy.empty() && j.is_object()) {  // another policy's line: its spaces may differ
    auto it = j.find("policy_id");
    if (it != j.end() && it->is_string() && !it->get<std::string_view>().empty() &&
        it->get<std::string_view>() != only_policy) {
      out = OfflineBatch{};
      out.policy_id = it->get<std::string>();
      return Status::ok_status();
    }
  }
  try {
    decode(j, obs_space, action_space, out);
  } catch (const ColumnError& e) {
    out = OfflineBatch{};
    return Status::error(ErrorCode::BadRequest, e.message);
  } catch (const json::exception& e) {
    out = OfflineBatch{};
    return Status::error(ErrorCode::BadRequest, e.what());
  }
  return Status::ok_status();
}

}  // namespace tandem::core
