#include "policy_server/experience_output.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>

namespace tandem::server {
namespace {

std::string start_prefix(const std::string& dir) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d_%H-%M-%S", &tm);
  return (std::filesystem::path(dir) / ("output-" + std::string(stamp) + "_" + std::to_string(::getpid()) + "_"))
      .string();
}

std::shared_ptr<spdlog::logger> output_log() {
  auto l = spdlog::get("output");
  return l ? l : spdlog::default_logger()->clone("output");
}

}  // namespace

const char* output_what_name(OutputWhat w) {
  switch (w) {
    case OutputWhat::Batches: return "batches";
    case OutputWhat::Episodes: return "episodes";
    case OutputWhat::Fragments: return "fragments";
  }
  return "?";
}

OutputWhat parse_output_what(const std::string& name) {
  if (name == "batches") return OutputWhat::Batches;
  if (name == "episodes") return OutputWhat::Episodes;
  if (name == "fragments") return OutputWhat::Fragments;
  throw std::invalid_argument("'output_config.what' must be \"batches\", \"episodes\" or \"fragments\", got '" +
                              name + "'");
}

OutputConfig parse_output_config(const nlohmann::json& j) {
  auto bad = [](const std::string& m) { throw std::invalid_argument(m); };
  auto integer = [&](const nlohmann::json& o, const char* key, const std::string& name, int64_t min) {
    const auto& v = o.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < min)
      bad("'" + name + "' must be an integer >= " + std::to_string(min) + ", got " + v.dump());
    return v.get<int64_t>();
  };
  OutputConfig c;
  if (j.contains("output")) {
    if (!j["output"].is_string()) bad("'output' must be a directory path, got " + j["output"].dump());
    c.dir = j["output"].get<std::string>();
  }
  if (j.contains("output_config")) {
    const auto& oc = j["output_config"];
    if (!oc.is_object()) bad("'output_config' must be an object");
    for (const auto& [k, v] : oc.items())
      if (k != "what" && k != "max_queued_rows" && k != "max_queued_bytes" && k != "max_episode_rows")
        bad("unknown key 'output_config." + k + "' (known: what, max_queued_rows, max_queued_bytes, max_episode_rows)");
    if (oc.contains("what")) {
      if (!oc["what"].is_string()) bad("'output_config.what' must be a string");
      c.what = parse_output_what(oc["what"].get<std::string>());
    }
    if (oc.contains("max_queued_rows")) c.max_queued_rows = integer(oc, "max_queued_rows", "output_config.max_queued_rows", 1);
    if (oc.contains("max_queued_bytes"))
      c.max_queued_bytes = integer(oc, "max_queued_bytes", "output_config.max_queued_bytes", 1);
    if (oc.contains("max_episode_rows"))
      c.max_episode_rows = integer(oc, "max_episode_rows", "output_config.max_episode_rows", 1);
  }
  if (j.contains("output_max_file_size")) c.max_file_size = integer(j, "output_max_file_size", "output_max_file_size", 1);
  c.max_episode_rows = std::min(c.max_episode_rows, c.max_queued_rows);
  return c;
}

void output_config_to_json(const OutputConfig& c, nlohmann::json& j) {
  if (c.dir.empty()) return;
  j["output"] = c.dir;
  j["output_config"] = {{"what", output_what_name(c.what)},
                        {"max_queued_rows", c.max_queued_rows},
                        {"max_queued_bytes", c.max_queued_bytes},
                        {"max_episode_rows", c.max_episode_rows}};
  j["output_max_file_size"] = c.max_file_size;
}

ExperienceOutput::ExperienceOutput(OutputConfig cfg, std::vector<std::string> policy_ids,
                                   std::vector<core::Space> action_spaces)
    : cfg_(std::move(cfg)),
      policy_ids_(std::move(policy_ids)),
      action_spaces_(std::move(action_spaces)),
      prefix_(start_prefix(cfg_.dir)) {
  std::error_code ec;
  std::filesystem::create_directories(cfg_.dir, ec);
  if (ec || !std::filesystem::is_directory(cfg_.dir))
    throw std::runtime_error("experience output: cannot create directory '" + cfg_.dir + "'" +
                             (ec ? ": " + ec.message() : ""));
  thread_ = std::thread([this] { run(); });
}

ExperienceOutput::~ExperienceOutput() { stop(); }

void ExperienceOutput::stop(double stop_deadline_s) {
  {
    std::lock_guard lk(mu_);
    if (!stopping_)
      drain_until_ = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(stop_deadline_s));
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (file_) {
    std::fclose(file_);
    file_ = nullptr;
  }
}

namespace {
// What a batch takes in memory, roughly (its columns).
int64_t batch_bytes(const core::OfflineBatch& b) {
  const auto floats = b.obs.size() + b.new_obs.size() + b.actions_cont.size() + b.rewards.size() +
                      b.action_logp.size() + b.action_dist_inputs.size() + b.vf_preds.size() + b.advantages.size() +
                      b.value_targets.size() + b.bootstrap_value.size();
  const auto ints = b.actions.size() + b.t.size() + b.unroll_id.size() + b.agent_index.size();
  int64_t strings = 0;
  for (const auto& e : b.eps_id) strings += static_cast<int64_t>(e.size() + 32);
  for (const auto& a : b.agent_id) strings += static_cast<int64_t>(a.size() + 32);
  return static_cast<int64_t>(4 * floats + 8 * ints + b.dones.size() + b.truncateds.size()) + strings;
}
}  // namespace

void ExperienceOutput::write(int policy, core::OfflineBatch&& b) {
  if (b.count == 0) return;
  const int64_t rows = b.count, bytes = batch_bytes(b);
  const char* why = "stopping";
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      if (counters_.rows_queued.load() + rows <= cfg_.max_queued_rows &&
          counters_.bytes_queued.load() + bytes <= cfg_.max_queued_bytes) {
        counters_.rows_queued.fetch_add(rows);
        counters_.bytes_queued.fetch_add(bytes);
        queue_.push_back({policy, std::move(b), bytes});
        cv_.notify_one();
        return;
      }
      why = queue_.empty() ? "a batch larger than max_queued_rows / max_queued_bytes"
                           : "the disk is behind (max_queued_rows / max_queued_bytes reached)";
    }
  }
  const int64_t dropped = counters_.lines_dropped.fetch_add(1);
  counters_.rows_dropped.fetch_add(rows);
  if (dropped % 100 == 0)
    output_log()->warn("experience output: a batch of {} rows dropped: {}; {} dropped so far", rows, why, dropped + 1);
}

void ExperienceOutput::run() {
  for (;;) {
    Item item;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything accepted is written
      if (stopping_ && std::chrono::steady_clock::now() > drain_until_) {  // out of time: drop the rest
        int64_t rows = 0;
        for (const auto& it : queue_) rows += it.batch.count;
        counters_.lines_dropped.fetch_add(static_cast<int64_t>(queue_.size()));
        counters_.rows_dropped.fetch_add(rows);
        output_log()->error("experience output: stopping; {} batch(es), {} rows not written in time, dropped",
                            queue_.size(), rows);
        queue_.clear();
        counters_.rows_queued = 0;
        counters_.bytes_queued = 0;
        return;
      }
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    const auto p = static_cast<size_t>(item.policy);
    auto& b = item.batch;
    b.policy_id = policy_ids_.at(p);
    b.unroll_id.assign(static_cast<size_t>(b.count), unroll_id_++);
    const int64_t rows = b.count;
    if (append(core::encode_offline_line(b, action_spaces_.at(p)) + "\n")) counters_.rows_written.fetch_add(rows);
    counters_.rows_queued.fetch_sub(rows);
    counters_.bytes_queued.fetch_sub(item.bytes);
  }
}

bool ExperienceOutput::open_file() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  if (roll_) {  // a new file; else the current one again (after a failed write: no empty files)
    ++file_index_;
    file_bytes_ = 0;
    roll_ = false;
  }
  char idx[16];
  std::snprintf(idx, sizeof idx, "%05lld", static_cast<long long>(file_index_ - 1));
  const std::string path = prefix_ + idx + ".json";
  file_ = std::fopen(path.c_str(), "ab");
  if (!file_) return false;
  if (file_bytes_ == 0) counters_.files_opened.fetch_add(1);
  return true;
}

bool ExperienceOutput::append(const std::string& line) {
  const auto n = static_cast<int64_t>(line.size());
  if (file_ && file_bytes_ > 0 && file_bytes_ + n > cfg_.max_file_size) roll_ = true;
  bool ok = true;
  int err = 0;
  if (!file_ || roll_) ok = open_file();
  if (!ok) err = errno;
  if (ok && (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)) {
    ok = false;
    err = errno;
  }
  if (ok) {
    file_bytes_ += n;
    counters_.lines_written.fetch_add(1);
    counters_.bytes_written.fetch_add(n);
    return true;
  }
  // The line is lost. A part of it that reached the file is cut off, so that every file
  // holds whole lines only; the next line tries the same file again.
  if (file_) {
    if (::ftruncate(::fileno(file_), static_cast<off_t>(file_bytes_)) != 0) {
    }
    std::fclose(file_);
    file_ = nullptr;
  }
  const int64_t errors = counters_.write_errors.fetch_add(1);
  if (errors % 100 == 0)
    output_log()->error("experience output: writing to '{}' failed: {} ({} line(s) lost so far); serving goes on",
                        cfg_.dir, std::strerror(err), errors + 1);
  return false;
}

}  // namespace tandem::server
