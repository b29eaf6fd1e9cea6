#include "policy_server/vector_call.h"

namespace tandem::server {

namespace {
std::vector<OrderKeys> keys_of(const core::VectorRequest& v) {
  std::vector<OrderKeys> keys;
  keys.reserve(v.entries.size());
  for (const auto& e : v.entries) keys.push_back(order_keys(e));
  return keys;
}
}  // namespace

VectorCall::VectorCall(std::string client, core::VectorRequest request, Apply apply, Finish finish, Post post)
    : client_(std::move(client)),
      request_(std::move(request)),
      keys_(keys_of(request_)),
      apply_(std::move(apply)),
      finish_(std::move(finish)),
      post_(std::move(post)),
      replies_(request_.entries.size(), core::Error{core::ErrorCode::Internal, "entry not answered"}),
      answered_(request_.entries.size(), 0) {}

void VectorCall::run() {
  std::unique_lock lk(mu_);
  running_ = true;
  for (;;) {
    if (next_ == request_.entries.size()) {
      running_ = false;
      if (!order_.idle() || finished_) return;  // the last entry's send() finishes
      finished_ = true;
      auto r = core::VectorReply{std::move(replies_)};
      lk.unlock();
      finish_(std::move(r));
      return;
    }
    if (!order_.may_start(keys_[next_])) {
      running_ = false;  // resumed by the send() that frees it
      return;
    }
    const size_t index = next_++;
    order_.start(keys_[index]);
    lk.unlock();
    apply_(Caller{client_, index, false, shared_from_this()}, request_.entries[index]);
    lk.lock();
  }
}

bool VectorCall::ready_to_resume() const {
  if (running_ || finished_) return false;
  return next_ == request_.entries.size() ? order_.idle() : order_.may_start(keys_[next_]);
}

void VectorCall::send(uint64_t index, core::Reply reply) {
  bool resume = false;
  {
    std::lock_guard lk(mu_);
    if (index >= replies_.size() || finished_ || answered_[index]) return;
    answered_[index] = 1;
    replies_[index] = core::to_episode_reply(std::move(reply));
    order_.finish(keys_[index]);
    resume = ready_to_resume();
    if (resume) running_ = true;  // the posted run() owns the loop from here
  }
  if (resume) post_([self = shared_from_this()] { self->run(); });
}

}  // namespace tandem::server
