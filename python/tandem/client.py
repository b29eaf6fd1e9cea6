"""PolicyClient: what a Python simulator uses to talk to one tandem-server (RLlib's PolicyClient).

    with tandem.PolicyClient("ws://127.0.0.1:9900", inference_mode="remote") as client:
        eid = client.start_episode()
        action = client.get_action(eid, obs)      # one round trip (remote) or none (local)
        client.log_returns(eid, reward)           # pipelined: no round trip of its own
        client.end_episode(eid, obs)

Observations are numpy arrays or lists (flattened row-major); for several agents a dict
{agent_id: obs} (masks likewise), and get_action returns a dict.
Dict observation spaces (named components): an agent's observation may be a dict {component:
value} (nested Dict: a nested dict; Tuple: a list of its parts), flattened here with the
observation space of the agent's policy in the documented order (sorted keys, core/spaces.h)
before it is sent; or the flat vector in that order. Single agent: a dict whose keys include a
component name of the default agent's ("agent0") Dict space is that agent's named observation
(not a multi-agent dict). An unknown or missing component or a wrong size raises BadObservation
naming the agent and the component, before anything is sent. Actions: a Python int
(Discrete), an int64 array (MultiDiscrete) or a float32 array (Box). Errors raise
tandem.RequestError subclasses; an error of a pipelined call is raised by the next call or by
flush(). If the connection drops, the client reconnects (backoff, up to reconnect_timeout)
and resends every unanswered request; the server applies each request once.
Several addresses (a list, or "ws://a:1,ws://b:2"): replicas of one policy, remote inference
only; each episode on one replica, failover when one is gone (tandem/replicas.py).
Threading: calls are serialised by a lock; for many environments from one thread use
step() with a VectorStep (one frame for all), or one client per thread.
"""
import json
from dataclasses import dataclass

import numpy as np

from tandem import codec
from tandem.arrays import f32_flat
from tandem.errors import (BadObservation, BadRequest, ProtocolError, RequestError, UnknownAgent, first_of,
                           request_error)
from tandem.episode import mapped_policy_id
from tandem.mapping import PolicyMapping
from tandem.spaces import Space, flatten_named

DEFAULT_AGENT = "agent0"


@dataclass
class ClientOptions:
    reconnect_timeout: float = 30.0
    client_id: str = ""
    auth_token: str = None        # None: $TANDEM_TOKEN if set
    tls_ca_file: str = None       # wss://: CA bundle or the server's self-signed certificate
    update_interval: float = 10.0  # local: poll for newer weights this often
    fetch_new_weights_at_once: bool = True
    # local: a call that closes a fragment waits (at most max_block s) while more steps than this
    # wait unsent. 0 in C++; here 256: the upload thread shares the GIL with the simulator, so a
    # report waits until the simulator lets go of it, and with 0 every other fragment would wait
    # for that hand-off (docs/BENCHMARKS.md, "Python client, fifth session").
    max_unsent_steps: int = 256
    max_block: float = 30.0
    max_buffered_steps: int = 100000
    close_timeout: float = 5.0
    seed: int = 0
    # Several addresses: a replica unreachable this long is gone; its episodes move on.
    failover_after: float = 5.0


def _obs(x):
    # A copy: the client keeps observations (held calls, fragments), and a simulator may reuse
    # its buffer for the next step. (f32_flat: a small copy that keeps the GIL, see tandem/arrays.py)
    return f32_flat(x)


def _agents(observation, action_mask):
    if isinstance(observation, dict):
        masks = action_mask or {}
        return [(str(k), _obs(v), None if masks.get(k) is None else _obs(masks[k])) for k, v in observation.items()], True
    return [(DEFAULT_AGENT, _obs(observation), None if action_mask is None else _obs(action_mask))], False


class VectorStep:
    """The calls of many episodes, sent in one frame by PolicyClient.step() and applied in
    order as if made singly. step() returns one value per call: the action of a get_action
    (an int, an array, or a dict for multi-agent), the id of a start_episode, else None."""

    def __init__(self):
        self.entries = []  # (kind, args, name, multi)
        # Entries whose dict observation the client turns into agents at send time (it knows
        # the spaces: named components are flattened there); flat calls never land here.
        self.unresolved = []

    def extend(self, other):
        """Appends the calls of another VectorStep, in order."""
        base = len(self.entries)
        self.entries += other.entries
        self.unresolved += [base + i for i in other.unresolved]
        return self

    def start_episode(self, episode_id, training_enabled=True, explore=True):
        self.entries.append(("StartEpisode", (episode_id, training_enabled, explore), f"StartEpisode({episode_id})", False))
        return self

    def get_action(self, episode_id, observation, action_mask=None):
        if isinstance(observation, dict):  # agents by id, or named components: resolved by the client
            self.unresolved.append(len(self.entries))
            self.entries.append(("GetAction", (episode_id, observation, action_mask), f"GetAction({episode_id})", True))
            return self
        agents, multi = _agents(observation, action_mask)
        self.entries.append(("GetAction", (episode_id, agents), f"GetAction({episode_id})", multi))
        return self

    def log_returns(self, episode_id, reward, multiagent_done_dict=None):
        self.entries.append(("LogReturns", (episode_id, _rewards(reward, multiagent_done_dict)), f"LogReturns({episode_id})", False))
        return self

    def end_episode(self, episode_id, observation=None, truncated=False):
        if isinstance(observation, dict):
            self.unresolved.append(len(self.entries))
            self.entries.append(("EndEpisode", (episode_id, observation, truncated, []), f"EndEpisode({episode_id})", False))
            return self
        agents = [] if observation is None else _agents(observation, None)[0]
        self.entries.append(("EndEpisode", (episode_id, agents, truncated, []), f"EndEpisode({episode_id})", False))
        return self

    def __len__(self):
        return len(self.entries)


def _rewards(reward, dones):
    dones = dones or {}
    if isinstance(reward, dict):
        out = [(str(k), float(v), bool(dones.get(k, False))) for k, v in reward.items()]
        out += [(str(k), 0.0, True) for k, d in dones.items() if d and k not in reward and k != "__all__"]
        return out
    return [(DEFAULT_AGENT, float(reward), bool(dones.get(DEFAULT_AGENT, False)))]


class PendingStep:
    """A step sent by PolicyClient.send_step(); result() waits for its reply."""

    def __init__(self, client, vector_step, ticket=None, value=None, error=None):
        self._client, self._v, self._ticket, self._value, self._error = client, vector_step, ticket, value, error

    def result(self):
        if self._ticket is not None:
            ticket, self._ticket = self._ticket, None
            try:
                self._value = self._client._step_values(self._v, self._client._b.step_wait(ticket))
            except Exception as e:
                self._error = e
        if self._error is not None:
            raise self._error
        return self._value


class PolicyClient:
    def __init__(self, address, inference_mode="remote", update_interval=10.0, auth_token=None, *,
                 client_id="", tls_ca_file=None, reconnect_timeout=30.0, seed=0, options=None):
        if inference_mode not in ("remote", "local"):
            raise ValueError(f"inference_mode must be 'remote' or 'local', got {inference_mode!r}")
        opt = options or ClientOptions()
        opt.update_interval = update_interval
        opt.auth_token = auth_token if auth_token is not None else opt.auth_token
        opt.client_id = client_id or opt.client_id
        opt.tls_ca_file = tls_ca_file or opt.tls_ca_file
        opt.reconnect_timeout = reconnect_timeout
        opt.seed = seed or opt.seed
        self.inference_mode = inference_mode
        self._local = inference_mode == "local"
        multi = not isinstance(address, str) or "," in address
        if multi:
            from tandem.replicas import split_addresses
            addresses = split_addresses(address)
            if len(addresses) == 1:
                address, multi = addresses[0], False
        if multi and inference_mode == "local":
            raise ValueError("several addresses: remote inference only in the Python client (the C++ "
                             "client's local mode fails over as a whole)")
        if multi:
            from tandem.replicas import ReplicaBackend
            self._b = ReplicaBackend(addresses, opt, opt.failover_after)
            config = self._b.get_config()
        elif inference_mode == "local":
            from tandem.local import LocalBackend
            self._b = LocalBackend(address, opt)
            config = self._b.config_json
        else:
            from tandem.remote import RemoteBackend
            self._b = RemoteBackend(address, opt)
            config = self._b.get_config()
        self._read_spaces(json.loads(config))
        self._local_calls = None
        self._closed = False

    def _read_spaces(self, cfg):
        self.config = cfg
        self._mapping = PolicyMapping(cfg.get("policy_mapping"))
        self._spaces = {pid: Space(p["action_space"]) for pid, p in cfg["policies"].items()}
        self._kinds = {}  # agent id -> its action space's kind
        self._obs_spaces = {pid: Space(p["observation_space"]) for pid, p in cfg["policies"].items()}
        default = self._obs_spaces.get(mapped_policy_id(self._mapping, DEFAULT_AGENT))
        # The component names of the default agent's Dict space: a single-agent named observation.
        self._default_keys = frozenset(default.keys) if default is not None and default.kind == "dict" else None

    def _flat_obs(self, observation, what):
        """The observation with named components flattened (module docstring). Flat
        observations pass untouched: one isinstance check."""
        if not isinstance(observation, dict):
            return observation
        keys = self._default_keys
        if keys is not None and any(k in keys for k in observation):
            return self._flatten_agent(DEFAULT_AGENT, observation, what)
        if any(isinstance(v, dict) for v in observation.values()):
            return {a: self._flatten_agent(a, v, what) if isinstance(v, dict) else v for a, v in observation.items()}
        return observation

    def _flatten_agent(self, agent_id, named, what):
        space = self._obs_spaces.get(mapped_policy_id(self._mapping, agent_id))
        if space is None:
            raise UnknownAgent(what, f"agent {agent_id!r}: the policy mapping places no policy")
        try:
            return flatten_named(space, named)
        except ValueError as e:
            raise BadObservation(what, f"agent {agent_id!r}: {e}") from None

    def _kind_of(self, agent_id):
        kind = self._kinds.get(agent_id)
        if kind is None:
            space = self._spaces.get(mapped_policy_id(self._mapping, agent_id))
            kind = self._kinds[agent_id] = space.kind if space is not None else "multi_discrete"
        return kind

    def _action_value(self, agent_id, discrete, continuous):
        kind = self._kind_of(agent_id)
        if kind == "discrete":
            return int(discrete[0])
        if kind == "box":  # a copy: local mode keeps the array in the episode's fragment
            return f32_flat(continuous)
        return np.asarray(discrete, np.int64)

    def _actions(self, reply, agents, multi, what):
        acts = reply.actions
        if not multi and len(acts) == 1 and acts[0].agent_id == DEFAULT_AGENT:  # the common case
            a = acts[0]
            return self._action_value(DEFAULT_AGENT, a.discrete, a.continuous)
        got = {a.agent_id: self._action_value(a.agent_id, a.discrete, a.continuous) for a in acts}
        if set(got) != {a[0] for a in agents}:
            raise ProtocolError(f"server answered {what} with actions for {sorted(got)}")
        return got if multi else got[DEFAULT_AGENT]

    # ---- RLlib's calls ----
    def start_episode(self, episode_id=None, training_enabled=True, explore=True):
        """Opens an episode (an id is made when none is given) and returns its id."""
        return self._b.start_episode(episode_id, training_enabled, explore)

    def get_action(self, episode_id, observation, action_mask=None):
        if isinstance(observation, dict):
            observation = self._flat_obs(observation, f"GetAction({episode_id})")
        agents, multi = _agents(observation, action_mask)
        if self._local:  # the actions as computed here, no reply to build and read back
            out = self._b.act(episode_id, agents)
            if not multi:
                d, c = out[DEFAULT_AGENT]
                return self._action_value(DEFAULT_AGENT, d, c)
            return {a: self._action_value(a, d, c) for a, (d, c) in out.items()}
        reply = self._b.get_action(episode_id, agents)
        return self._actions(reply, agents, multi, f"GetAction({episode_id})")

    def log_action(self, episode_id, observation, action):
        if isinstance(observation, dict):
            observation = self._flat_obs(observation, f"LogAction({episode_id})")
        agents, multi = _agents(observation, None)
        acts = action if multi else {DEFAULT_AGENT: action}
        if not isinstance(acts, dict):
            raise BadRequest(f"LogAction({episode_id})", "a multi-agent observation needs a dict of actions")
        actions = []
        for agent_id, _, _ in agents:
            a = acts.get(agent_id)
            if a is None:
                raise BadRequest(f"LogAction({episode_id})", f"no action for agent {agent_id!r}")
            if self._kind_of(agent_id) == "box":
                actions.append((agent_id, np.zeros(0, np.int64), np.asarray(a, np.float32).reshape(-1)))
            else:
                actions.append((agent_id, np.asarray(a, np.int64).reshape(-1), np.zeros(0, np.float32)))
        self._b.log_action(episode_id, agents, actions)

    def log_returns(self, episode_id, reward, info=None, multiagent_done_dict=None):
        """Adds reward to the last action (pipelined). info is accepted for RLlib's signature."""
        self._b.log_returns(episode_id, _rewards(reward, multiagent_done_dict))

    def end_episode(self, episode_id, observation=None, truncated=False, custom_metrics=None):
        if isinstance(observation, dict):
            observation = self._flat_obs(observation, f"EndEpisode({episode_id})")
        agents = [] if observation is None else _agents(observation, None)[0]
        metrics = [(str(k), float(v)) for k, v in (custom_metrics or {}).items()]
        self._b.end_episode(episode_id, agents, truncated, metrics)

    # ---- vectorised ----
    def step(self, vector_step):
        """Every call of vector_step in one frame (remote) and one round trip; applied in order.
        Raises the first failed call's RequestError after the frame was applied."""
        return self.send_step(vector_step).result()

    def send_step(self, vector_step):
        """step() without waiting: returns a PendingStep whose result() is step()'s value.
        Several may be in flight (a simulator stepping one group of environments while the
        server computes another's actions); results are read in the order sent. Local mode
        applies the calls at once."""
        if vector_step.unresolved:
            self._resolve(vector_step)
        if self.inference_mode == "local":
            try:
                return PendingStep(self, vector_step, value=self._step_local(vector_step))
            except Exception as e:
                return PendingStep(self, vector_step, error=e)
        return PendingStep(self, vector_step, ticket=self._b.step_send([(k, a, n) for k, a, n, _ in vector_step.entries]))

    def _resolve(self, v):
        """Turns the dict observations of v's calls into agents (named components flattened
        with this server's spaces, as in get_action). A bad name raises here, before sending."""
        for i in v.unresolved:
            kind, args, name, _ = v.entries[i]
            if kind == "GetAction":
                episode_id, observation, mask = args
                agents, multi = _agents(self._flat_obs(observation, name), mask)
                v.entries[i] = (kind, (episode_id, agents), name, multi)
            else:
                episode_id, observation, truncated, metrics = args
                v.entries[i] = (kind, (episode_id, _agents(self._flat_obs(observation, name), None)[0], truncated, metrics),
                                name, False)
        v.unresolved = []

    def _step_values(self, vector_step, replies):
        out, errors = [], []
        for (kind, args, name, multi), r in zip(vector_step.entries, replies):
            if isinstance(r, codec.ErrorReply):
                errors.append(request_error(r.code, name, r.message))
                out.append(None)
            elif kind == "GetAction":
                out.append(self._actions(r, args[1], multi, name))
            elif kind == "StartEpisode":
                out.append(r.episode_id)
            else:
                out.append(None)
        if errors:
            raise first_of(errors)
        return out

    def _step_local(self, v):
        """The calls of v applied in order in this process; an error the upload thread kept is
        raised first, before any call applies (as a remote step raises it before sending).
        A run of get_actions of distinct episodes goes through one batched forward pass."""
        b = self._b
        b.raise_kept_error()
        calls = self._local_calls
        if calls is None:
            calls = self._local_calls = {"StartEpisode": b.start_episode_now, "LogReturns": b.log_returns_now,
                                         "EndEpisode": b.end_episode_now}
        entries = v.entries
        out, errors = [], []
        k, n = 0, len(entries)
        while k < n:
            kind, args, name, multi = entries[k]
            if kind == "GetAction":
                run, seen = [], set()
                while k < n and entries[k][0] == "GetAction" and entries[k][1][0] not in seen:
                    seen.add(entries[k][1][0])
                    run.append(entries[k])
                    k += 1
                if len(run) == 1:  # one call: its own forward pass is cheaper than a batch of one
                    try:
                        results = [b.get_action_now(*run[0][1])]
                    except RequestError as e:
                        results = [e]
                else:
                    results = b.get_actions_now([e[1] for e in run])
                for (_, args, name, multi), r in zip(run, results):
                    if isinstance(r, RequestError):
                        errors.append(r)
                        out.append(None)
                    else:
                        out.append(self._actions(r, args[1], multi, name))
                continue
            k += 1
            try:
                r = calls[kind](*args)
                out.append(r if kind == "StartEpisode" else None)
            except RequestError as e:
                errors.append(e)
                out.append(None)
        if errors:
            raise first_of(errors)
        return out

    def get_actions(self, episode_ids, observations, action_masks=None):
        """One action per (single-agent) episode, in one frame."""
        v = VectorStep()
        for i, (eid, obs) in enumerate(zip(episode_ids, observations)):
            v.get_action(eid, obs, None if action_masks is None else action_masks[i])
        return self.step(v)

    # ---- the rest ----
    def flush(self):
        """Waits for every outstanding reply (local: every buffered upload); raises the first pipelined error."""
        self._b.flush()

    def get_config(self):
        return self._b.get_config()

    def local_stats(self):
        return self._b.local_stats() if self.inference_mode == "local" else None

    @property
    def failovers(self):
        """Several addresses: how often a replica was declared gone and its episodes moved."""
        return getattr(self._b, "failovers", 0)

    @property
    def reconnects(self):
        return self._b.reconnects()

    def close(self):
        if not self._closed:
            self._closed = True
            self._b.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
