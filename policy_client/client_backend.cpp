#include "policy_client/client_backend.h"

#include "core/overload.h"

namespace tandem::client {

core::VectorReply ClientBackend::step(const core::VectorRequest& request) {
  throw_kept_error();
  core::VectorReply out;
  out.replies.reserve(request.entries.size());
  for (const auto& e : request.entries) {
    try {
      out.replies.push_back(std::visit(
          core::Overload{
              [&](const core::StartEpisode& m) -> core::EpisodeReply {
                auto id = m.episode_id.empty() ? std::nullopt : std::optional<std::string>(m.episode_id);
                return core::EpisodeStarted{start_episode(std::move(id), m.training_enabled, m.explore)};
              },
              [&](const core::GetAction& m) -> core::EpisodeReply {
                core::Actions a;
                for (auto& [id, act] : get_action(m))
                  a.actions.push_back({id, std::move(act.discrete), std::move(act.continuous)});
                return a;
              },
              [&](const core::LogAction& m) -> core::EpisodeReply {
                log_action(m);
                return core::Ack{};
              },
              [&](const core::LogReturns& m) -> core::EpisodeReply {
                log_returns(m);
                return core::Ack{};
              },
              [&](const core::EndEpisode& m) -> core::EpisodeReply {
                end_episode(m);
                return core::Ack{};
              }},
          e));
    } catch (const RequestError& err) {
      out.replies.push_back(core::Error{core::error_code_from_name(err.code), err.message});
    }
  }
  return out;
}

}  // namespace tandem::client
