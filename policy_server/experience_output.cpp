#include "policy_server/experience_output.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
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

void ExperienceOutput::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (file_) {
    std::fclose(file_);
    file_ = nullptr;
  }
}

void ExperienceOutput::write(int policy, core::OfflineBatch&& b) {
  if (b.count == 0) return;
  const int64_t rows = b.count;
  {
    std::lock_guard lk(mu_);
    if (!stopping_ && counters_.rows_queued.load() + rows <= cfg_.max_queued_rows) {
      counters_.rows_queued.fetch_add(rows);
      queue_.push_back({policy, std::move(b)});
      cv_.notify_one();
      return;
    }
  }
  const int64_t dropped = counters_.lines_dropped.fetch_add(1);
  counters_.rows_dropped.fetch_add(rows);
  if (dropped % 100 == 0)
    output_log()->warn("experience output: the disk is behind; {} batch(es) dropped so far (max_queued_rows {})",
                       dropped + 1, cfg_.max_queued_rows);
}

void ExperienceOutput::run() {
  for (;;) {
    Item item;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything accepted is written
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    const auto p = static_cast<size_t>(item.policy);
    auto& b = item.batch;
    b.policy_id = policy_ids_.at(p);
    b.unroll_id.assign(static_cast<size_t>(b.count), unroll_id_++);
    const int64_t rows = b.count;
    append(core::encode_offline_line(b, action_spaces_.at(p)) + "\n");
    counters_.rows_queued.fetch_sub(rows);
    counters_.rows_written.fetch_add(rows);
  }
}

bool ExperienceOutput::open_next() {
  if (file_) std::fclose(file_);
  char idx[16];
  std::snprintf(idx, sizeof idx, "%05lld", static_cast<long long>(file_index_++));
  const std::string path = prefix_ + idx + ".json";
  file_ = std::fopen(path.c_str(), "ab");
  file_bytes_ = 0;
  if (!file_) return false;
  counters_.files_opened.fetch_add(1);
  return true;
}

void ExperienceOutput::append(const std::string& line) {
  const auto n = static_cast<int64_t>(line.size());
  bool ok = true;
  int err = 0;
  if (!file_ || (file_bytes_ > 0 && file_bytes_ + n > cfg_.max_file_size)) ok = open_next();
  if (!ok) err = errno;
  if (ok && (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)) {
    ok = false;
    err = errno;
  }
  if (ok) {
    file_bytes_ += n;
    counters_.lines_written.fetch_add(1);
    counters_.bytes_written.fetch_add(n);
    return;
  }
  // The line is lost; the next one starts a new file. A part of it that reached the file is
  // cut off, so that every file holds whole lines only.
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
}

}  // namespace tandem::server
