#include "algorithms/offline_rows.h"

#include <stdexcept>
#include <string>

namespace tandem::algo {
namespace {

template <class T>
void copy_rows(const std::vector<T>& src, int64_t width, int64_t begin, int64_t end, std::vector<T>& dst) {
  if (src.empty()) return;
  dst.insert(dst.end(), src.begin() + begin * width, src.begin() + end * width);
}

}  // namespace

std::vector<OfflineSegment> offline_segments(const core::OfflineBatch& b) {
  std::vector<OfflineSegment> out;
  const auto at = [](const auto& v, int64_t i, auto fallback) {
    return static_cast<size_t>(i) < v.size() ? v[static_cast<size_t>(i)] : fallback;
  };
  int64_t begin = 0;
  for (int64_t i = 0; i < b.count; ++i) {
    const bool last = i + 1 == b.count;
    const bool done = at(b.dones, i, uint8_t{0}) != 0;
    bool cut = last || done;
    if (!cut) {
      const auto k = static_cast<size_t>(i);
      cut = (k + 1 < b.eps_id.size() && b.eps_id[k] != b.eps_id[k + 1]) ||
            (k + 1 < b.agent_index.size() && b.agent_index[k] != b.agent_index[k + 1]) ||
            (k + 1 < b.t.size() && b.t[k] + 1 != b.t[k + 1]);
    }
    if (!cut) continue;
    const bool truncated = at(b.truncateds, i, uint8_t{0}) != 0;
    out.push_back({begin, i + 1, done && !truncated});
    begin = i + 1;
  }
  return out;
}

void append_offline_rows(const core::OfflineBatch& src, int64_t begin, int64_t end, core::OfflineBatch& dst) {
  if (begin < 0 || end > src.count || begin > end) throw std::invalid_argument("append_offline_rows: bad row range");
  const bool had_rows = dst.count > 0;
  if (!had_rows) {
    dst.policy_id = src.policy_id;
    dst.obs_dim = src.obs_dim;
    dst.action_width = src.action_width;
    dst.dist_dim = src.dist_dim;
  } else if (dst.obs_dim != src.obs_dim || dst.action_width != src.action_width) {
    throw std::invalid_argument("append_offline_rows: rows of another obs or action width");
  }
  const int64_t n = end - begin;
  // Optional columns (behaviour log-prob and distribution inputs) stay only while every
  // appended piece has them; defaulted ones get their default (RLlib's reading).
  auto optional = [&](const auto& s, int64_t width, auto& d) {
    if (had_rows && d.empty()) return;  // dropped before
    if (s.empty() || (had_rows && width != dst.dist_dim && &d == &dst.action_dist_inputs)) {
      d.clear();
      return;
    }
    copy_rows(s, width, begin, end, d);
  };
  auto defaulted = [&](const auto& s, int64_t width, auto& d, auto fill) {
    if (!s.empty()) return copy_rows(s, width, begin, end, d);
    for (int64_t i = begin; i < end; ++i) d.push_back(fill(i));
  };
  copy_rows(src.obs, src.obs_dim, begin, end, dst.obs);
  copy_rows(src.new_obs, src.obs_dim, begin, end, dst.new_obs);
  copy_rows(src.actions, src.action_width, begin, end, dst.actions);
  copy_rows(src.actions_cont, src.action_width, begin, end, dst.actions_cont);
  copy_rows(src.rewards, 1, begin, end, dst.rewards);
  defaulted(src.dones, 1, dst.dones, [](int64_t) { return uint8_t{0}; });
  defaulted(src.truncateds, 1, dst.truncateds, [](int64_t) { return uint8_t{0}; });
  defaulted(src.t, 1, dst.t, [](int64_t i) { return i; });
  defaulted(src.eps_id, 1, dst.eps_id, [](int64_t) { return std::string("0"); });
  defaulted(src.unroll_id, 1, dst.unroll_id, [](int64_t) { return int64_t{0}; });
  defaulted(src.agent_index, 1, dst.agent_index, [](int64_t) { return int64_t{0}; });
  optional(src.action_logp, 1, dst.action_logp);
  optional(src.action_dist_inputs, src.dist_dim, dst.action_dist_inputs);
  if (dst.action_dist_inputs.empty()) dst.dist_dim = 0;
  dst.count += n;
}

}  // namespace tandem::algo
