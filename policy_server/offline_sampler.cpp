#include "policy_server/offline_sampler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "algorithms/offline_rows.h"
#include "policy_server/server_context.h"

namespace tandem::server {

void load_offline_input(ServerContext& ctx) {
  const auto& c = ctx.config;
  ctx.offline.assign(c.policies.size(), core::OfflineData{});
  for (size_t p = 0; p < c.policies.size(); ++p) {
    const auto& spec = c.policies[p];
    auto* algorithm = ctx.policies.algorithm(static_cast<int>(p));
    if (!algorithm || !c.is_trained(spec.policy_id)) continue;
    if (!algorithm->trains_offline())
      throw std::invalid_argument("'input': algorithm '" + c.algorithm +
                                  "' does not train from offline data (use \"marwil\" or \"crr\")");
    const core::Status st = core::read_offline_input(c.input, spec.policy_id, spec.observation_space,
                                                     spec.action_space, ctx.offline[p]);
    if (!st.ok()) throw std::invalid_argument(st.message);  // names the input, file and line
    if (ctx.offline[p].rows == 0)
      throw std::invalid_argument("'input' " + c.input + ": no rows for policy '" + spec.policy_id +
                                  "' (lines name another policy_id, or the files are empty)");
    for (const auto& f : ctx.offline[p].cut_off_last_lines)
      spdlog::warn("offline input: the last line of '{}' is cut off (no newline); skipped", f);
    spdlog::info("offline input: {} rows in {} lines of {} file(s) for policy '{}'", ctx.offline[p].rows,
                 ctx.offline[p].batches.size(), ctx.offline[p].files.size(), spec.policy_id);
  }
}

OfflineSampler::OfflineSampler(const core::OfflineData& data, uint64_t seed, bool shuffle)
    : data_(data), shuffle_(shuffle), rng_(seed) {
  for (size_t b = 0; b < data_.batches.size(); ++b)
    for (const auto& s : algo::offline_segments(data_.batches[b])) pieces_.push_back({b, s.begin, s.end});
  order_.resize(pieces_.size());
  std::iota(order_.begin(), order_.end(), size_t{0});
  new_epoch();
}

void OfflineSampler::new_epoch() {
  if (shuffle_) std::shuffle(order_.begin(), order_.end(), rng_);
  next_ = 0;
  ++epochs_;
}

core::OfflineBatch OfflineSampler::next(int64_t rows) {
  core::OfflineBatch out;
  if (pieces_.empty()) return out;
  // At most one pass: a batch larger than the data holds the data once.
  for (size_t drawn = 0; out.count < rows && drawn < pieces_.size(); ++drawn) {
    if (next_ == order_.size()) new_epoch();
    const Piece& piece = pieces_[order_[next_++]];
    algo::append_offline_rows(data_.batches[piece.batch], piece.begin, piece.end, out);
  }
  return out;
}

}  // namespace tandem::server
