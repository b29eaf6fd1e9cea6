"""A local client's episodes: the checks and the trajectory building of core/episode_core.h,
so that local inference refuses what the server refuses and uploads what the server would
have recorded.

    get_action/log_action -> check_act() -> (forward pass) -> record_step() per agent,
                             end_env_step()
    log_returns           -> check_returns() -> add_returns(): a reward goes to the agent's
                             last step; before its first action it only counts in the returns
    end_episode           -> check_end() -> finish(truncated, V(last obs))
A fragment reaching rollout_fragment_length is cut when the agent's next step arrives and
bootstrapped with that step's value estimate. Not thread-safe: the client serialises calls.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from tandem.errors import BadAction, BadObservation, BadRequest, UnknownAgent
from tandem.scripted import ScriptMemory

MAX_AGENTS_PER_EPISODE = 1024   # core/request_checks.h kMaxAgentsPerEpisode
MAX_AGENTS_PER_FRAME = 1024     # kMaxAgentsPerFrame
MAX_ABS_ACTION = 1e6
MAX_EPISODE_ID_BYTES = 256      # core/text.h
MAX_AGENT_ID_BYTES = 128


def check_id(s, max_bytes, what):
    """core/text.h check_id: None when s is a valid id, else the reason."""
    if not isinstance(s, str):
        return f"{what} must be a string"
    b = s.encode("utf-8", "surrogatepass")
    if len(b) > max_bytes:
        return f"{what} {s[:40]!r} is longer than {max_bytes} bytes"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} {s[:40]!r} is not valid UTF-8"
    if any(c < 0x20 or c == 0x7F for c in b):
        return f"{what} {s[:40]!r} contains a control character"
    return None


def mapped_policy_id(mapping, agent_id):
    """The policy id the mapping (tandem.mapping.PolicyMapping) gives an agent, or None."""
    return mapping.policy_for(agent_id)


def policy_for(mapping, policy_ids, episode_id, agent_id):
    """The policy index of an agent, or -1 (as core::PolicySet::policy_for_agent)."""
    pid = mapped_policy_id(mapping, agent_id)
    return policy_ids.index(pid) if pid in policy_ids else -1


@dataclass
class FragmentSteps:
    agent_id: str
    obs: list = field(default_factory=list)
    discrete: list = field(default_factory=list)
    continuous: list = field(default_factory=list)
    action_logp: list = field(default_factory=list)
    vf_preds: list = field(default_factory=list)
    dist_inputs: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    terminated: bool = False
    bootstrap_value: float = 0.0

    def __len__(self):
        return len(self.rewards)


class _Agent:
    __slots__ = ("policy", "fragment", "done", "reward_total", "id_checked")

    def __init__(self, policy, agent_id, id_checked=False):
        self.policy = policy
        self.id_checked = id_checked  # passed check_agents (its id and policy need no second look)
        self.fragment = FragmentSteps(agent_id)
        self.done = False
        self.reward_total = 0.0

    def attached(self):
        return not self.done and len(self.fragment.rewards) > 0


def mask_check(space, agent_id, mask):
    if mask is None:
        return None
    if space.kind == "box":
        return BadObservation(agent_id, f"agent {agent_id!r}: action_mask given for {space.describe()}")
    want = space.preprocessed_size
    if mask.size != want:
        return BadObservation(agent_id, f"agent {agent_id!r}: action_mask has {mask.size} values, the action "
                                        f"space {space.describe()} needs {want}")
    if not np.all((mask == 0) | (mask == 1)):
        return BadObservation(agent_id, f"agent {agent_id!r}: action_mask values must be 0 or 1")
    off = 0
    for n in (space.nvec if space.kind == "multi_discrete" else [space.n]):
        if not mask[off:off + int(n)].any():
            return BadObservation(agent_id, f"agent {agent_id!r}: action_mask allows no action")
        off += int(n)
    return None


class LocalEpisode:
    def __init__(self, client, episode_id, training_enabled, explore):
        self.c = client  # .policy_ids, .mapping, .specs (per policy: obs/action Space, config)
        self.id = episode_id
        self.training_enabled = training_enabled
        self.explore = explore
        self.agents = {}
        self.closed = []   # (policy, FragmentSteps)
        self.length = 0
        self.env_steps_unreported = 0
        self.reward_total = 0.0
        self.unattached_abs = 0.0
        self.scripts = {}  # agent id -> ScriptMemory of its scripted policy (tandem/scripted.py)

    def script_memory(self, agent_id):
        m = self.scripts.get(agent_id)
        if m is None:
            m = self.scripts[agent_id] = ScriptMemory()
        return m

    def _policy(self, agent_id):
        return policy_for(self.c.mapping, self.c.policy_ids, self.id, agent_id)

    def check_agents(self, agents, allow_empty, what):
        if not agents and not allow_empty:
            raise BadRequest(what, "no agent observations")
        if len(agents) > MAX_AGENTS_PER_FRAME:
            raise BadRequest(what, f"at most {MAX_AGENTS_PER_FRAME} agents per request")
        if len(agents) == 1:  # the common case: a known agent's id and policy were checked before
            a = self.agents.get(agents[0][0])
            if a is not None and a.id_checked:
                return [a.policy]
        seen, policies = set(), []
        for agent_id, _, _ in agents:
            why = check_id(agent_id, MAX_AGENT_ID_BYTES, "agent id")
            if why:
                raise BadRequest(what, why)
            if agent_id in seen:
                raise BadRequest(what, f"agent {agent_id!r} appears twice")
            seen.add(agent_id)
            p = self._policy(agent_id)
            if p < 0:
                raise UnknownAgent(what, f"agent {agent_id!r} is not mapped to any policy of this server")
            policies.append(p)
        return policies

    def check_act(self, agents, actions, what):
        policies = self.check_agents(agents, False, what)
        if actions is not None and len(actions) != len(agents):
            raise BadRequest(what, f"LogAction needs one action per observation ({len(agents)} observations, "
                                   f"{len(actions)} actions)")
        if len(self.agents) + sum(a[0] not in self.agents for a in agents) > MAX_AGENTS_PER_EPISODE:
            raise BadRequest(what, f"an episode has at most {MAX_AGENTS_PER_EPISODE} agents")
        for i, (agent_id, obs, mask) in enumerate(agents):
            a = self.agents.get(agent_id)
            if a is not None and a.done:
                raise UnknownAgent(what, f"agent {agent_id!r} is already done in episode {self.id!r}")
            spec = self.c.specs[policies[i]]
            why = spec.observation_space.validate(obs)
            if why:
                raise BadObservation(what, f"agent {agent_id!r}: {why}")
            e = mask_check(spec.action_space, agent_id, mask)
            if e is not None:
                raise type(e)(what, e.message)
            if actions is not None:
                _, disc, cont = actions[i]
                self._check_action(spec.action_space, agent_id, disc, cont, mask, what)
        return policies

    def _check_action(self, space, agent_id, disc, cont, mask, what):
        if space.kind == "box":
            if len(disc):
                raise BadAction(what, f"agent {agent_id!r}: {space.describe()} action has no discrete part")
            why = space.validate(np.asarray(cont, np.float32))
            if why is None and np.any(np.abs(cont) > MAX_ABS_ACTION):
                why = f"an action element is beyond +-{MAX_ABS_ACTION}"
        else:
            if len(cont):
                raise BadAction(what, f"agent {agent_id!r}: {space.describe()} action has no continuous part")
            why = space.validate(np.asarray(disc, np.float32))
            if why is None and mask is not None:
                off = 0
                parts = space.nvec if space.kind == "multi_discrete" else [space.n]
                for c, n in enumerate(parts):
                    if mask[off + int(disc[c])] != 1:
                        why = f"action {int(disc[c])} is masked"
                    off += int(n)
        if why:
            raise BadAction(what, f"agent {agent_id!r}: {why}")

    def _close(self, a, terminated, bootstrap):
        if len(a.fragment) == 0:
            return
        a.fragment.terminated = terminated
        a.fragment.bootstrap_value = 0.0 if terminated else float(bootstrap)
        self.closed.append((a.policy, a.fragment))
        a.fragment = FragmentSteps(a.fragment.agent_id)

    def record_step(self, agent_id, policy, obs, r):
        a = self.agents.get(agent_id)
        if a is None:
            a = self.agents[agent_id] = _Agent(policy, agent_id, True)
        a.id_checked = True  # record_step follows check_act
        if len(a.fragment) >= self.c.specs[a.policy].rollout_fragment_length:
            self._close(a, False, r.vf_pred)
        f = a.fragment
        f.obs.append(obs)
        f.discrete.extend(r.discrete)
        f.continuous.append(r.continuous)
        f.action_logp.append(r.logp)
        f.vf_preds.append(r.vf_pred)
        f.dist_inputs.append(r.dist_inputs)
        f.rewards.append(0.0)

    def end_env_step(self):
        self.length += 1
        self.env_steps_unreported += 1

    def check_returns(self, rewards, what):
        """rewards: (agent_id, reward as float32, done), as the wire carries them."""
        if not rewards:
            raise BadRequest(what, "no rewards")
        if len(rewards) > MAX_AGENTS_PER_FRAME:
            raise BadRequest(what, f"at most {MAX_AGENTS_PER_FRAME} rewards per request")
        step, unattached, new_agents = {}, self.unattached_abs, 0
        for agent_id, reward, _ in rewards:
            a = self.agents.get(agent_id)
            p = a.policy if a is not None else self._policy(agent_id)
            if p < 0:
                raise UnknownAgent(what, f"agent {agent_id!r} is not mapped to any policy of this server")
            max_r = self.c.specs[p].max_abs_reward
            if not math.isfinite(reward):
                raise BadRequest(what, f"reward of agent {agent_id!r} ({reward}) is not finite; rewards are "
                                       f"bounded by max_abs_reward ({max_r})")
            if a is None and agent_id not in step:
                new_agents += 1
            if a is not None and a.attached():
                step[agent_id] = step.get(agent_id, a.fragment.rewards[-1]) + reward
                if not abs(step[agent_id]) <= max_r:
                    raise BadRequest(what, f"reward of agent {agent_id!r} ({reward}) takes its step's reward "
                                           f"beyond max_abs_reward ({max_r})")
            else:
                step.setdefault(agent_id, 0.0)
                unattached += abs(reward)
                if not unattached <= max_r:
                    raise BadRequest(what, f"reward of agent {agent_id!r} ({reward}) takes the episode's rewards "
                                           f"outside any step beyond max_abs_reward ({max_r})")
        if len(self.agents) + new_agents > MAX_AGENTS_PER_EPISODE:
            raise BadRequest(what, f"an episode has at most {MAX_AGENTS_PER_EPISODE} agents")

    def add_returns(self, rewards):
        for agent_id, reward, done in rewards:
            a = self.agents.get(agent_id)
            if a is None:
                a = self.agents[agent_id] = _Agent(self._policy(agent_id), agent_id)
            self.reward_total += reward
            if not a.attached():
                self.unattached_abs += abs(reward)
            if a.done:
                continue
            a.reward_total += reward
            if a.fragment.rewards:  # a step's reward is a float32 sum, as in the C++ trajectory
                a.fragment.rewards[-1] = float(np.float32(a.fragment.rewards[-1]) + np.float32(reward))
            if done:
                self._close(a, True, 0.0)
                a.done = True

    def check_end(self, agents, what):
        policies = self.check_agents(agents, True, what)
        for i, (agent_id, obs, _) in enumerate(agents):
            if obs is None or obs.size == 0:
                continue
            why = self.c.specs[policies[i]].observation_space.validate(obs)
            if why:
                raise BadObservation(what, f"agent {agent_id!r}: {why}")
        return policies

    def finish(self, truncated, last_values):
        for agent_id, a in self.agents.items():
            if not a.done:
                boot = a.fragment.vf_preds[-1] if a.fragment.vf_preds else 0.0
                boot = last_values.get(agent_id, boot)
                self._close(a, not truncated, boot)
                a.done = True

    def take_closed(self):
        out, self.closed = self.closed, []
        return out

    def take_env_steps(self, at_most):
        n = min(self.env_steps_unreported, max(at_most, 0))
        self.env_steps_unreported -= n
        return n

    def agent_returns(self):
        return {k: a.reward_total for k, a in self.agents.items()}
