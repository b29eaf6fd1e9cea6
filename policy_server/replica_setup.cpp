#include "policy_server/replica_setup.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "policy_server/result_row.h"
#include "policy_server/server_context.h"
#include "schemas/codec.h"

namespace tandem::server {

namespace {
[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

template <typename T>
T get_key(const nlohmann::json& j, const char* key) {
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    bad(std::string("'") + key + "' has the wrong type: " + j.at(key).dump());
  }
}
}  // namespace

algo::GroupConfig parse_group_config(const nlohmann::json& j) {
  algo::GroupConfig g;
  if (j.contains("group_size")) g.size = get_key<int>(j, "group_size");
  if (j.contains("group_rank")) g.rank = get_key<int>(j, "group_rank");
  if (j.contains("group_master")) g.master = get_key<std::string>(j, "group_master");
  if (j.contains("group_host")) g.host = get_key<std::string>(j, "group_host");
  if (j.contains("group_timeout_s")) g.timeout_s = get_key<double>(j, "group_timeout_s");
  if (j.contains("group_join_timeout_s")) g.join_timeout_s = get_key<double>(j, "group_join_timeout_s");
  if (j.contains("group_on_failure")) {
    const auto v = get_key<std::string>(j, "group_on_failure");
    if (v != "serve" && v != "exit") bad("'group_on_failure' must be \"serve\" or \"exit\", got '" + v + "'");
    g.exit_on_failure = v == "exit";
  }
  if (g.size < 1 || g.size > 1024) bad("'group_size' must be in 1..1024, got " + std::to_string(g.size));
  if (g.rank < 0 || g.rank >= g.size)
    bad("'group_rank' must be in 0..group_size-1 (" + std::to_string(g.size - 1) + "), got " + std::to_string(g.rank));
  if (!(g.timeout_s >= 1 && g.timeout_s <= 3600)) bad("'group_timeout_s' must be in [1, 3600] seconds");
  if (!(g.join_timeout_s >= 1 && g.join_timeout_s <= 86400)) bad("'group_join_timeout_s' must be in [1, 86400] seconds");
  if (g.size > 1) {
    if (g.master.empty()) bad("'group_master' (--group-master HOST:PORT, rank 0's store) is required with group_size > 1");
    algo::parse_host_port(g.master, "'group_master'");
  }
  return g;
}

void write_group_config(const algo::GroupConfig& g, nlohmann::json& j) {
  if (!g.active()) return;
  j["group_rank"] = g.rank;
  j["group_size"] = g.size;
  j["group_master"] = g.master;
  if (!g.host.empty()) j["group_host"] = g.host;
  j["group_timeout_s"] = g.timeout_s;
  j["group_join_timeout_s"] = g.join_timeout_s;
  j["group_on_failure"] = g.exit_on_failure ? "exit" : "serve";
}

nlohmann::json group_fingerprint(const ServerConfig& c) {
  const auto j = c.to_json();
  nlohmann::json f = nlohmann::json::object();
  for (const char* key : {"algorithm", "config", "policies", "policy_mapping", "policies_to_train",
                          "sample_backpressure", "sample_ahead_steps"})
    if (j.contains(key)) f[key] = j.at(key);
  f["group_size"] = c.group.size;
  f["train"] = c.train;
  f["protocol_version"] = wire::kProtocolVersion;
  return f;
}

std::string fingerprint_difference(const nlohmann::json& theirs, const nlohmann::json& mine, int their_rank,
                                   int my_rank) {
  const auto a = flatten_result_row(theirs), b = flatten_result_row(mine);
  std::vector<std::string> diffs;
  auto value = [](const nlohmann::json& flat, const std::string& k) {
    return flat.contains(k) ? flat.at(k).dump() : std::string("(absent)");
  };
  auto note = [&](const std::string& k) {
    if (diffs.size() < 4)
      diffs.push_back(k + ": " + value(a, k) + " on rank " + std::to_string(their_rank) + ", " + value(b, k) +
                      " on rank " + std::to_string(my_rank));
  };
  for (const auto& [k, v] : a.items())
    if (!b.contains(k) || b.at(k) != v) note(k);
  for (const auto& [k, v] : b.items())
    if (!a.contains(k)) note(k);
  std::string out;
  for (const auto& d : diffs) out += (out.empty() ? "" : "; ") + d;
  return out;
}

namespace {
std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

std::unique_ptr<algo::ReplicaGroup> form_replica_group(ServerContext& ctx) {
  const auto& c = ctx.config;
  const auto& gc = c.group;
  if (!c.train) bad("a replica group trains one policy together: --no-train cannot join one (serve without group_size)");
  if (!c.input.empty()) bad("'input' (offline training) cannot train in a replica group");
  if (c.league) bad("'league' (self-play) cannot train in a replica group (its snapshots are per server)");
  // An algorithm that cannot train in a group says so now, before anyone waits for it.
  for (size_t p = 0; p < c.policies.size(); ++p)
    if (auto* a = ctx.policies.algorithm(static_cast<int>(p)); a && c.is_trained(c.policies[p].policy_id))
      a->join_group(nullptr);

  spdlog::info("group: rank {} of {}: meeting the others at {} (up to {:.0f} s)", gc.rank, gc.size, gc.master,
               gc.join_timeout_s);
  auto group = algo::ReplicaGroup::join(gc);

  // 2. The configs agree.
  const auto mine = group_fingerprint(c);
  group->put("config/" + std::to_string(gc.rank), mine.dump());
  const auto root = nlohmann::json::parse(group->get("config/0"));
  std::string problem;
  for (int r = 1; r < gc.size && problem.empty(); ++r) {
    const auto theirs = r == gc.rank ? mine : nlohmann::json::parse(group->get("config/" + std::to_string(r)));
    if (auto d = fingerprint_difference(root, theirs, 0, r); !d.empty())
      problem = "rank " + std::to_string(r) + "'s config differs from rank 0's: " + d;
  }
  // Every rank has read every config before any leaves. On a difference the others tell
  // rank 0 that they are done with the store (their last request) before it goes with rank 0.
  group->barrier("config_checked");
  if (!problem.empty()) {
    if (gc.rank != 0)
      group->put("config_leaving/" + std::to_string(gc.rank), "1");
    else
      for (int r = 1; r < gc.size; ++r) group->get("config_leaving/" + std::to_string(r));
    bad("group: " + problem + " (every rank of a group must load the same config)");
  }

  // 3. One state: rank 0's.
  namespace fs = std::filesystem;
  for (size_t p = 0; p < c.policies.size(); ++p) {
    auto* a = ctx.policies.algorithm(static_cast<int>(p));
    if (!a) continue;
    const std::string key = "state/" + c.policies[p].policy_id;
    const fs::path tmp = fs::temp_directory_path() /
                         ("tandem-group-" + std::to_string(::getpid()) + "-" + std::to_string(p) + ".pt");
    if (gc.rank == 0) {
      a->save(tmp.string());
      group->put(key, read_file(tmp));
    } else {
      std::ofstream(tmp, std::ios::binary) << group->get(key);
      a->load(tmp.string());
    }
    std::error_code ec;
    fs::remove(tmp, ec);
  }
  if (gc.rank == 0)
    group->put("state/iteration", std::to_string(ctx.training_iteration.load()));
  else
    ctx.training_iteration = std::stoll(group->get("state/iteration"));

  // 4. From here on train() is a collective.
  for (size_t p = 0; p < c.policies.size(); ++p)
    if (auto* a = ctx.policies.algorithm(static_cast<int>(p)); a && c.is_trained(c.policies[p].policy_id))
      a->join_group(group.get());
  group->barrier("ready");
  if (gc.rank == 0) {  // every rank has them: the weights leave the store
    for (const auto& p : c.policies) group->erase("state/" + p.policy_id);
    spdlog::warn(
        "group: the store on port {} and Gloo's ports listen on every interface with no authentication "
        "(c10d has none): anyone who reaches them can read messages or stall the group; firewall them to "
        "the replicas' machines (docs/SECURITY.md)",
        algo::parse_host_port(gc.master, "group_master").port);
  }
  spdlog::info("group: rank {} of {} joined; weights version {} from rank 0", gc.rank, gc.size,
               ctx.policies.algorithm(0) ? ctx.policies.algorithm(0)->snapshot()->version() : -1);
  return group;
}

}  // namespace tandem::server
