#pragma once
// The one set of request checks, used by the server (remote requests and ReportSamples) and
// by the local client (its own calls). A check changes nothing and returns a Status whose
// message names the agent, the field and the problem; ok means the request may be applied.
// Episode state (done agents) is checked by EpisodeCore, on top of these.
#include <span>
#include <string>
#include <vector>

#include "core/messages.h"
#include "core/policy_set.h"
#include "core/status.h"

namespace tandem::core {

// Values of an action mask for this action space (Discrete n, MultiDiscrete sum(nvec);
// 0 for Box, which takes no mask).
int64_t mask_size(const Space& action_space);

// One agent's observation (and optional action mask) against its policy's spaces.
Status check_observation(const PolicySpec& spec, const std::string& agent_id,
                         std::span<const float> obs, std::span<const float> action_mask = {});
// One agent's action against the action space, and against the agent's action mask when it
// sent one (a logged action the mask forbids would enter training with a log-prob of about
// kMaskedLogit).
Status check_action(const PolicySpec& spec, const std::string& agent_id,
                    std::span<const int64_t> discrete, std::span<const float> continuous,
                    std::span<const float> action_mask = {});

// The agents of a GetAction / LogAction / EndEpisode: at least one (unless `allow_empty`),
// each listed once and mapped to a policy. Fills `policies` (one index per agent).
Status check_agents(const PolicyResolver& policies, const std::string& episode_id,
                    const std::vector<AgentObs>& agents, bool allow_empty,
                    std::vector<int>& policy_of_agent);

// LogAction: the client's action replaces the model's sample in `r`, and its log-probability
// under the model's distribution becomes the behaviour log-prob (server and local client).
void adopt_logged_action(const Space& action_space, const AgentAction& logged, ActionResult& r);

// ReportSamples: every fragment checked against its policy's spaces (sizes, finite values,
// observations, actions, and each action_logp against the log-prob of its action under the
// sent dist_inputs). Fills, per fragment, its policy and a training Trajectory (observations
// preprocessed). Nothing is filled unless all fragments pass.
struct ReportedFragment {
  int policy = -1;
  Trajectory steps;
};
Status check_report(const PolicyResolver& policies, const ReportSamples& r,
                    std::vector<ReportedFragment>& out);

}  // namespace tandem::core
