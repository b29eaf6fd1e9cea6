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

// Bounds on what one request may carry (docs/SECURITY.md lists them all).
constexpr size_t kMaxAgentsPerFrame = 1024;     // agents in one GetAction/LogAction/EndEpisode/LogReturns
constexpr size_t kMaxAgentsPerEpisode = 1024;   // distinct agents one episode may have
constexpr float kMaxAbsLogStd = 20.f;           // reported Box log_std (exp(2 log_std) stays finite)
constexpr size_t kMaxFragmentsPerReport = 1024; // fragments (and agent_rewards) in one ReportSamples
constexpr size_t kMaxMetricsPerRequest = 256;   // custom_metrics of one EndEpisode / ReportSamples
constexpr float kMaxAbsAction = 1e6f;           // Box actions of an unbounded space, and reported samples
constexpr float kMaxAbsLogit = 1e3f;            // reported Discrete / MultiDiscrete dist_inputs (masked: kMaskedLogit)
constexpr float kMaxAbsDistInput = 1e6f;        // reported Box dist_inputs (mean, log_std)
constexpr size_t kMaxEntriesPerVector = 1024;   // requests in one VectorRequest
constexpr size_t kMaxAgentsPerVector = 8192;    // agents over all entries of one VectorRequest

// What any request may carry, before it touches state: every id (episode, agent, policy,
// metric name) valid UTF-8 without control characters and short (core/text.h), list
// lengths within the bounds above; a VectorRequest: its entries' count and their agents in
// all (each entry's own envelope is check_entry's, so that it fails alone). Messages quote
// client text through quote().
Status check_envelope(const Request& r);
Status check_entry(const EpisodeRequest& e);

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

// ComputeActions: a hosted policy (UnknownPolicy), 1..kMaxAgentsPerFrame rows, no more masks
// than rows, each row's observation and mask as check_observation. Fills `policy`.
Status check_compute_actions(const PolicyResolver& policies, const ComputeActions& m, int& policy);

// LogAction: the client's action replaces the model's sample in `r`, and its log-probability
// under the model's distribution becomes the behaviour log-prob (server and local client).
void adopt_logged_action(const Space& action_space, const AgentAction& logged, ActionResult& r);

// ReportSamples: every fragment checked against its policy's spaces (sizes, finite values,
// observations within bounds, actions, dist_inputs magnitudes, rewards within
// max_abs_reward, and each action_logp against the log-prob of its action under the sent
// dist_inputs); env_steps at most the agent steps it carries (each env step has an acting
// agent). Fills, per fragment, its policy and a training Trajectory (observations
// preprocessed). Nothing is filled unless all fragments pass. The episode totals
// (episode_length, episode_reward) are checked against the server's tally of the episode's
// reports (ReportTally), not here.
struct ReportedFragment {
  int policy = -1;
  Trajectory steps;
};
Status check_report(const PolicyResolver& policies, const ReportSamples& r,
                    std::vector<ReportedFragment>& out);

}  // namespace tandem::core
