#include "policy_server/sample_queue.h"

namespace tandem::server {

void SampleQueue::push(int policy, algo::Trajectory&& t, FragmentOrigin origin) {
  if (t.size() == 0) return;
  if (output_ && output_->what() == OutputWhat::Fragments) {
    core::OfflineBatch b;
    core::append_fragment(b, t, origin);
    output_->write(policy, std::move(b));
  }
  if (!accepting_.load() || !trained_[static_cast<size_t>(policy)]) return;
  {
    std::lock_guard lk(mu_);
    steps_[policy] += t.size();
    pushed_.fetch_add(t.size());
    pending_[policy].push_back(std::move(t));
    if (output_ && output_->what() == OutputWhat::Batches) pending_origins_[policy].push_back(std::move(origin));
  }
  cv_.notify_one();
}

std::vector<std::vector<algo::Trajectory>> SampleQueue::wait_take(
    const std::vector<int64_t>& need, std::chrono::milliseconds timeout,
    std::vector<std::vector<FragmentOrigin>>* origins) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return ready_locked(need); });
  std::vector<char> which(pending_.size(), 0);
  if (!stopped_)
    for (size_t p = 0; p < steps_.size(); ++p) which[p] = steps_[p] >= need[p];
  return take_locked(which, origins);
}

bool SampleQueue::ready_locked(const std::vector<int64_t>& need) const {
  if (stopped_) return true;
  for (size_t p = 0; p < steps_.size(); ++p)
    if (steps_[p] >= need[p]) return true;
  return false;
}

std::vector<std::vector<algo::Trajectory>> SampleQueue::take_locked(
    const std::vector<char>& which, std::vector<std::vector<FragmentOrigin>>* origins) {
  std::vector<std::vector<algo::Trajectory>> out(pending_.size());
  if (origins) origins->assign(pending_.size(), {});
  for (size_t p = 0; p < steps_.size(); ++p) {
    if (!which[p]) continue;
    out[p].swap(pending_[p]);
    if (origins) (*origins)[p].swap(pending_origins_[p]);
    pending_origins_[p].clear();
    steps_[p] = 0;
    collected_[p] = 0;
    training_[p] = true;
  }
  return out;
}

std::vector<int64_t> SampleQueue::wait_pending(const std::vector<int64_t>& seen, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return stopped_ || steps_ != seen; });
  return steps_;
}

std::vector<std::vector<algo::Trajectory>> SampleQueue::take(const std::vector<char>& which,
                                                             std::vector<std::vector<FragmentOrigin>>* origins) {
  std::lock_guard lk(mu_);
  return take_locked(which, origins);
}

void SampleQueue::release() {
  accepting_ = false;
  std::lock_guard lk(mu_);
  for (size_t p = 0; p < pending_.size(); ++p) {
    pending_[p].clear();
    pending_origins_[p].clear();
    steps_[p] = 0;
    training_[p] = false;
  }
  released_ = true;
}

void SampleQueue::stop() {
  {
    std::lock_guard lk(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

int64_t SampleQueue::steps_pending(int policy) const {
  std::lock_guard lk(mu_);
  return steps_[policy];
}

bool SampleQueue::must_wait(int policy) const {
  const auto p = static_cast<size_t>(policy);
  const Hold& h = hold_[p];
  if (!h.on) return false;
  std::lock_guard lk(mu_);
  if (stopped_ || released_) return false;  // no learner will take anything: serving goes on
  if (training_[p].load() && collected_[p].load() >= h.ahead) return true;
  return steps_[p] >= h.batch;
}

int64_t SampleQueue::trained(int policy) {
  const auto p = static_cast<size_t>(policy);
  training_[p] = false;
  return collected_[p].load();
}

}  // namespace tandem::server
