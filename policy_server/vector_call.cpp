#include "policy_server/vector_call.h"

namespace tandem::server {

VectorCall::VectorCall(std::string client, core::VectorRequest request, Apply apply, Finish finish, Post post)
    : client_(std::move(client)),
      request_(std::move(request)),
      apply_(std::move(apply)),
      finish_(std::move(finish)),
      post_(std::move(post)),
      replies_(request_.entries.size(), core::Error{core::ErrorCode::Internal, "entry not answered"}),
      answered_(request_.entries.size(), 0) {}

bool VectorCall::is_action(const core::EpisodeRequest& e) {
  return std::holds_alternative<core::GetAction>(e) || std::holds_alternative<core::LogAction>(e);
}

void VectorCall::run() {
  std::unique_lock lk(mu_);
  running_ = true;
  for (;;) {
    if (next_ == request_.entries.size()) {
      running_ = false;
      if (in_flight_ > 0 || finished_) return;  // the last action's send() finishes
      finished_ = true;
      auto r = core::VectorReply{std::move(replies_)};
      lk.unlock();
      finish_(std::move(r));
      return;
    }
    const auto& e = request_.entries[next_];
    const std::string& episode = core::episode_of(e);
    if (in_flight_ > 0 && busy_.count(episode)) {
      running_ = false;  // resumed by the send() that answers the last action in flight
      return;
    }
    const size_t index = next_++;
    if (is_action(e)) {
      ++in_flight_;
      busy_.insert(episode);
    }
    lk.unlock();
    apply_(Caller{client_, index, false, shared_from_this()}, e);
    lk.lock();
  }
}

void VectorCall::send(uint64_t index, core::Reply reply) {
  bool resume = false;
  {
    std::lock_guard lk(mu_);
    if (index >= replies_.size() || finished_ || answered_[index]) return;
    answered_[index] = 1;
    replies_[index] = core::to_episode_reply(std::move(reply));
    if (is_action(request_.entries[index]) && --in_flight_ == 0) {
      busy_.clear();
      resume = !running_;
      if (resume) running_ = true;  // the posted run() owns the loop from here
    }
  }
  if (resume) post_([self = shared_from_this()] { self->run(); });
}

}  // namespace tandem::server
