"""Local inference: actions from a numpy copy of the server's policy; the server only receives
experience and sends weights (as policy_client/local_worker.cpp).

Data flow:
  simulator thread: a call -> the episode checks (the server's own, tandem.episode) -> the
    newest NumpyPolicy -> the episode records the step -> fragments it closed become a
    report -> pushed on the upload queue (bounded; flow control in tandem.upload).
  background thread (tandem.upload.UploadLoop, owns the connection after construction):
    sends the queued reports in pipelined rounds of ReportSamples -> GetWeights every
    update_interval, at once when a reply shows newer weights, and after any reconnect.
While the server is unreachable the client keeps acting with the last weights, reconnects
with backoff and resends the report in flight under its request id (applied once); at most
max_buffered_steps wait, beyond that the oldest reports are dropped (counted).
"""
import collections
import json
import random
import threading
from dataclasses import dataclass

import numpy as np

from tandem import codec
from tandem.arrays import f32_join, f32_rows, f32_split_rows
from tandem.connection import Connection, expect, new_episode_id
from tandem.episode import MAX_EPISODE_ID_BYTES, LocalEpisode, check_id
from tandem.mapping import PolicyMapping
from tandem.errors import (DuplicateEpisode, ProtocolError, RequestError, TooManyEpisodes, UnknownEpisode,
                           first_of, request_error)
from tandem.model import NumpyPolicy, WeightAssembler
from tandem.scripted import FORMAT as SCRIPTED_FORMAT, ScriptedPolicy
from tandem.spaces import Space
from tandem.upload import FragmentValue, LocalStats, Report, UploadLoop, _split

MAX_METRICS = 256       # core/request_checks.h kMaxMetricsPerRequest
MAX_NAME_BYTES = 128    # core/text.h kMaxNameBytes


@dataclass
class PolicyInfo:
    policy_id: str
    observation_space: Space
    action_space: Space
    rollout_fragment_length: int
    max_abs_reward: float
    description: dict


def _fragment(f):
    return FragmentValue(
        f.agent_id, f32_join(f.obs), np.asarray(f.discrete, np.int64), f32_join(f.continuous),
        np.asarray(f.action_logp, np.float32), np.asarray(f.vf_preds, np.float32),
        f32_join(f.dist_inputs), np.asarray(f.rewards, np.float32),
        f.terminated, f.bootstrap_value)


class LocalBackend(UploadLoop):
    def __init__(self, address, options):
        self.opt = options
        self.conn = Connection(address, options.client_id, options.auth_token, options.tls_ca_file,
                               options.reconnect_timeout)
        self.rng = random.Random(options.seed or None)
        self.mu = threading.Lock()        # simulator side
        self.qmu = threading.Condition()  # the upload queue and counters
        self.queue = collections.deque()
        self.queued_steps = 0
        self.in_flight = []   # _InFlight reports of the upload round in progress
        self.errors = []
        self.stats = LocalStats()
        self.stopping = False
        self.stalled = False   # the server did not accept an upload within max_block
        self.newer = False
        self.episodes = {}
        self.ended = collections.OrderedDict()  # recently ended ids (end_episode again is acknowledged)
        self.conn.reconnect("connecting")
        self.conn.reconnects = 0
        rid = self.conn.next_id()
        self.config_json = expect(self.conn.call(rid, codec.encode(rid, "GetConfig", ()), "GetConfig"),
                                  codec.ConfigReply, "GetConfig").json
        self._read_config(json.loads(self.config_json))
        self.models = [None] * len(self.specs)
        self._fetch(any_version=True)
        self.conn.reconnect_timeout = 1.0  # the background thread retries in short rounds
        self.thread = threading.Thread(target=self._run, name="tandem-local-upload", daemon=True)
        self.thread.start()

    def _read_config(self, cfg):
        if cfg.get("protocol_version") != codec.PROTOCOL_VERSION or "models" not in cfg:
            raise ProtocolError(f"tandem-server at {self.conn.endpoint} does not describe its models for local "
                                f"inference (protocol {cfg.get('protocol_version')}, this client speaks "
                                f"{codec.PROTOCOL_VERSION})")
        if "league" in cfg:  # the server seats each episode's agents, and a local client never asks it
            raise ProtocolError(f"tandem-server at {self.conn.endpoint} runs a self-play league, which seats every "
                                f"episode's agents on the server: connect with inference_mode='remote'")
        self.policy_ids = list(cfg["policy_order"])
        self.mapping = PolicyMapping(cfg.get("policy_mapping"))
        self.specs = []
        for pid in self.policy_ids:
            p = cfg["policies"][pid]
            c = p["config"]
            self.specs.append(PolicyInfo(pid, Space(p["observation_space"]), Space(p["action_space"]),
                                         int(c["rollout_fragment_length"]), float(c["max_abs_reward"]),
                                         cfg["models"][pid]))
        self.max_episodes = min(int(cfg.get("max_open_episodes", 10000)), int(cfg.get("max_episodes_per_client", 1000)))

    # ---- weights (constructor, then the background thread) ----
    def _fetch(self, any_version):
        for p, spec in enumerate(self.specs):
            if spec.description.get("format") == SCRIPTED_FORMAT:  # no weights: the script runs here
                if self.models[p] is None:
                    try:
                        self.models[p] = ScriptedPolicy(spec.description)
                    except ValueError as e:
                        raise ProtocolError(f"policy {spec.policy_id!r}: {e}") from None
                continue
            have = -1 if any_version or self.models[p] is None else self.models[p].version
            what = f"GetWeights({spec.policy_id})"
            rid = self.conn.next_id()
            w = expect(self.conn.call(rid, codec.encode(rid, "GetWeights", (spec.policy_id, have)), what),
                       codec.WeightsReply, what)
            if w.version < 0:
                continue  # ours is current
            parts = WeightAssembler()
            while True:
                why = parts.add(w)
                if why:
                    raise ProtocolError(f"server sent bad weights: {why}")
                if parts.complete():
                    break
                w = expect(self.conn.wait_more(rid), codec.WeightsReply, what)
            if parts.policy_id != spec.policy_id:
                raise ProtocolError(f"server answered {what} with the weights of another policy")
            try:
                self.models[p] = NumpyPolicy(spec.description, parts.take(), parts.version)
            except ValueError as e:
                raise ProtocolError(f"server sent weights of policy {spec.policy_id!r} that do not fit its model: {e}") from None
            with self.qmu:
                self.stats.weight_updates += 1

    # ---- simulator side ----
    def _episode(self, episode_id, kind):
        ep = self.episodes.get(episode_id)
        if ep is None:
            raise UnknownEpisode(f"{kind}({episode_id})", f"episode {episode_id!r} is not open on this server"
                                 + (" (it has ended)" if episode_id in self.ended else ""))
        return ep

    def raise_kept_error(self):
        if not self.errors:  # the common case, without the lock the upload thread shares
            return
        with self.qmu:
            if self.errors:
                errors, self.errors = self.errors, []
                raise first_of(errors)

    def start_episode_now(self, episode_id, training_enabled, explore):
        """start_episode without raising kept errors first (a vectorised step raises them once, before)."""
        with self.mu:
            eid = episode_id if episode_id else new_episode_id(self.rng)  # "": the server makes one too
            what = f"StartEpisode({eid})"
            why = check_id(eid, MAX_EPISODE_ID_BYTES, "episode id")
            if why:
                raise request_error("BadRequest", what, why)
            if eid in self.episodes:
                raise DuplicateEpisode(what, f"episode {eid!r} is already open")
            self.ended.pop(eid, None)  # an ended id may start again, as on the server
            if len(self.episodes) >= self.max_episodes:
                raise TooManyEpisodes(what, f"this client holds {len(self.episodes)} open episodes "
                                            f"(max_episodes_per_client={self.max_episodes})")
            self.episodes[eid] = LocalEpisode(self, eid, training_enabled, explore)
            return eid

    def _act(self, ep, agents, actions, what):
        policies = ep.check_act(agents, actions, what)
        out = {}
        for i, (agent_id, obs, mask) in enumerate(agents):
            model = self.models[policies[i]]
            if model.scripted:  # with the memory the episode keeps for the agent's script
                r = model.act(obs, mask, ep.script_memory(agent_id), self.rng,
                              None if actions is None else actions[i][1][0])
            elif actions is None:
                r = model.compute_action(obs, mask, ep.explore, self.rng)
            else:  # the model's value and distribution; the simulator's action and its log-prob
                r = model.compute_action(obs, mask, False, self.rng)
                _, d, c = actions[i]
                r.discrete = [int(x) for x in d]
                r.continuous = np.asarray(c, np.float32)
                if mask is not None and model.parts is not None:
                    r.dist_inputs[np.asarray(mask) <= 0] = model.masked_logit
                r.logp = model.logp(r.dist_inputs, r.discrete, r.continuous)
            ep.record_step(agent_id, policies[i], obs, r)
            out[agent_id] = (r.discrete, r.continuous)
        ep.end_env_step()
        if ep.closed:
            self._report(ep, False)
        return out

    def act_now(self, episode_id, agents):
        """get_action's work: {agent_id: (discrete, continuous)} (the client's get_action takes it
        as is; get_action_now wraps it as the server's reply)."""
        with self.mu:
            return self._act(self._episode(episode_id, "GetAction"), agents, None, f"GetAction({episode_id})")

    def get_action_now(self, episode_id, agents):
        """get_action without raising kept errors first (a vectorised step raises them once, before)."""
        return self._actions_reply(self.act_now(episode_id, agents))

    def _first_version(self):
        """The weights version of the first learned policy (scripted ones have none)."""
        for m in self.models:
            if m is not None and not m.scripted:
                return m.version
        return 0

    def _actions_reply(self, out):
        return codec.ActionsReply([codec.AgentActionValue(a, d, c) for a, (d, c) in out.items()],
                                  self._first_version())

    def get_actions_now(self, calls):
        """Consecutive get_actions of a vectorised step, [(episode_id, agents)] of distinct
        episodes: each checked as get_action_now checks it, the forward passes of all of
        them in one matmul per layer and policy, then sampled and recorded in call order.
        Returns one ActionsReply or RequestError per call (a failed call changes nothing)."""
        with self.mu:
            out = [None] * len(calls)
            checked = []  # (call index, episode, policies)
            rows = {}     # policy -> [(call index, agent index, preprocessed obs)]
            for k, (episode_id, agents) in enumerate(calls):
                try:
                    ep = self._episode(episode_id, "GetAction")
                    policies = ep.check_act(agents, None, f"GetAction({episode_id})")
                except RequestError as e:
                    out[k] = e
                    continue
                checked.append((k, ep, policies))
                for i, (_, obs, _) in enumerate(agents):
                    if not self.models[policies[i]].scripted:
                        rows.setdefault(policies[i], []).append(self.models[policies[i]].preprocess(obs))
            forward = {}  # policy -> (dist rows, values), in the order the rows were added
            for p, xs in rows.items():
                dist, values = self.models[p].forward_batch(f32_rows(xs))
                forward[p] = (f32_split_rows(dist), values, [0])  # a step keeps its own row
            for k, ep, policies in checked:
                res = {}
                for i, (agent_id, obs, mask) in enumerate(calls[k][1]):
                    p = policies[i]
                    if self.models[p].scripted:
                        r = self.models[p].act(obs, mask, ep.script_memory(agent_id), self.rng)
                        ep.record_step(agent_id, p, obs, r)
                        res[agent_id] = (r.discrete, r.continuous)
                        continue
                    dists, values, at = forward[p]
                    j = at[0]
                    at[0] = j + 1
                    r = self.models[p].sample(dists[j], values[j], mask, ep.explore, self.rng)
                    ep.record_step(agent_id, p, obs, r)
                    res[agent_id] = (r.discrete, r.continuous)
                ep.end_env_step()
                if ep.closed:
                    self._report(ep, False)
                out[k] = self._actions_reply(res)
            return out

    def log_action_now(self, episode_id, agents, actions):
        """log_action without raising kept errors first (a vectorised step raises them once, before)."""
        with self.mu:
            self._act(self._episode(episode_id, "LogAction"), agents, actions, f"LogAction({episode_id})")

    def log_returns_now(self, episode_id, rewards):
        """log_returns without raising kept errors first (a vectorised step raises them once, before)."""
        with self.mu:
            what = f"LogReturns({episode_id})"
            ep = self._episode(episode_id, "LogReturns")
            rewards = [(a, float(np.float32(r)), d) for a, r, d in rewards]  # float32 on the wire
            ep.check_returns(rewards, what)
            ep.add_returns(rewards)
            if ep.closed:
                self._report(ep, False)

    def end_episode_now(self, episode_id, agents, truncated, metrics):
        """end_episode without raising kept errors first (a vectorised step raises them once, before)."""
        with self.mu:
            if episode_id not in self.episodes and episode_id in self.ended:
                return  # ended already: acknowledged, as the server does
            what = f"EndEpisode({episode_id})"
            ep = self._episode(episode_id, "EndEpisode")
            policies = ep.check_end(agents, what)
            if len(metrics) > MAX_METRICS:
                raise request_error("BadRequest", what, f"at most {MAX_METRICS} custom_metrics")
            for name, value in metrics:
                why = check_id(name, MAX_NAME_BYTES, "custom metric name")
                if why or not np.isfinite(value):
                    raise request_error("BadRequest", what, why or f"custom metric {name!r} is not finite")
            last = {}
            if truncated:
                for i, (agent_id, obs, _) in enumerate(agents):
                    if obs is not None and obs.size:
                        last[agent_id] = self.models[policies[i]].value(obs)
            ep.finish(truncated, last)
            self._report(ep, True, metrics)
            del self.episodes[episode_id]
            self.ended[episode_id] = True
            while len(self.ended) > 10000:
                self.ended.popitem(last=False)

    def _report(self, ep, done, metrics=()):
        frags = [_fragment(f) for _, f in ep.take_closed()]
        steps = sum(len(f.rewards) for f in frags)
        before = ep.length - ep.env_steps_unreported
        r = Report(ep.id, self._first_version(), frags, ep.take_env_steps(steps), ep.training_enabled, ep.explore,
                   env_steps_before=before)
        if done:
            r.episode_done = True
            r.episode_reward = ep.reward_total
            r.episode_length = ep.length
            r.agent_rewards = [(a, ret, False) for a, ret in ep.agent_returns().items()]
            r.custom_metrics = list(metrics)
        for part in _split(r):
            self._push(part)

    def get_config(self):
        return self.config_json

    def reconnects(self):
        return self.conn.reconnects

    def local_stats(self):
        with self.qmu:
            s = LocalStats(**{k: getattr(self.stats, k) for k in LocalStats.__dataclass_fields__})
            s.buffered_steps = self.queued_steps + self._in_flight_steps()
            s.reconnects = self.conn.reconnects
            s.resent_requests = self.conn.resent
        versions = {spec.policy_id: (m.version if m else -1) for spec, m in zip(self.specs, self.models)}
        s.policy_versions = versions
        learned = [v for p, v in zip(self.specs, versions.values()) if p.description.get("format") != SCRIPTED_FORMAT]
        s.weights_version = min(learned) if learned else -1
        return s

    def close(self):
        with self.qmu:
            self.stopping = True
            self.qmu.notify_all()
        self.thread.join(self.opt.close_timeout + 0.5)
        if self.thread.is_alive():
            self.conn.abort()
            self.thread.join(2.0)
        self.conn.disconnect()

def _raising_kept_errors_first(now):
    def call(self, *args):
        self.raise_kept_error()
        return now(self, *args)
    call.__name__ = now.__name__[:-len("_now")]
    call.__doc__ = "Raises an error kept from an upload first, then " + call.__name__ + "_now."
    return call


# The simulator's calls: each raises what the upload thread kept, then applies (the _now forms
# apply only: a vectorised step raises kept errors once, before its first call).
for _name in ("start_episode", "act", "get_action", "log_action", "log_returns", "end_episode"):
    setattr(LocalBackend, _name, _raising_kept_errors_first(getattr(LocalBackend, _name + "_now")))

