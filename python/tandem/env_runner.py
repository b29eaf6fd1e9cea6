"""An adapter for gymnasium-style environments: runs any object with gymnasium's API
(reset(seed=None) -> (obs, info); step(action) -> (obs, reward, terminated, truncated, info))
against a tandem-server, K environments stepped together.

    result = tandem.run_env("ws://127.0.0.1:9900", make_env, num_envs=8, steps=100_000)

Vectorised (the default): one client; each step of the K environments is one VectorStep
(the previous step's rewards, episode ends and starts, then K get_actions): one frame and
one round trip for all K in remote mode, no round trip in local mode. threads=True runs each
environment on its own thread with its own client instead. Gymnasium itself is not needed.
"""
import random
import threading
import time
from dataclasses import dataclass, field

from tandem.client import PolicyClient, VectorStep

MAX_ENVS = 256  # a frame's calls stay within the server's bounds (as the C++ VectorEnvRunner)


@dataclass
class RunResult:
    steps: int = 0
    episodes: int = 0
    returns: list = field(default_factory=list)   # of every finished episode, in order
    lengths: list = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def steps_per_s(self):
        return self.steps / self.wall_s if self.wall_s > 0 else 0.0

    def mean_return(self, last=100):
        r = self.returns[-last:]
        return sum(r) / len(r) if r else float("nan")

    def merge(self, other):
        self.steps += other.steps
        self.episodes += other.episodes
        self.returns += other.returns
        self.lengths += other.lengths


class EnvRunner:
    """Steps `envs` (a list of environment objects) together through one PolicyClient."""

    def __init__(self, client, envs, training_enabled=True, explore=True, seed=0, on_episode=None):
        self.client = client
        self.envs = list(envs)
        if not 1 <= len(self.envs) <= MAX_ENVS:
            raise ValueError(f"EnvRunner steps 1..{MAX_ENVS} environments per client, got {len(self.envs)} "
                             "(more: several clients, e.g. run_env(..., threads=True))")
        self.training_enabled = training_enabled
        self.explore = explore
        self.rng = random.SystemRandom()  # episode ids: unique across processes whatever the seed
        self.on_episode = on_episode  # called with (return, length) of every finished episode
        self.seed = seed

    def _new_id(self):
        return "ep-%016x" % self.rng.getrandbits(64)

    def run(self, steps=None, episodes=None, until=None):
        """Runs until `steps` env steps or `episodes` finished episodes, or until() returns True
        (checked after every step of a group of environments); open episodes are then ended
        as truncated.

        With two or more environments in remote mode they are stepped in two groups: while
        this thread steps one group, the server computes the other's actions (send_step),
        so the simulator and the server work at the same time."""
        if steps is None and episodes is None and until is None:
            raise ValueError("give steps, episodes or until")
        k = len(self.envs)
        if k == 1 and self.client.inference_mode == "local":
            return self._run_one(steps, episodes, until)
        split = 2 if k >= 2 and self.client.inference_mode == "remote" else 1
        groups = [list(range(g * k // split, (g + 1) * k // split)) for g in range(split)]
        res = RunResult()
        t0 = time.perf_counter()
        obs = []
        for i, env in enumerate(self.envs):
            o, _ = env.reset(seed=(self.seed + i) if self.seed else None)
            obs.append(o)
        ids = [self._new_id() for _ in range(k)]
        fresh = [True] * k  # an episode to start in the group's next frame
        ret = [0.0] * k
        length = [0] * k

        def send(group, v):
            for i in group:
                if fresh[i]:
                    v.start_episode(ids[i], self.training_enabled, self.explore)
                    fresh[i] = False
            for i in group:
                v.get_action(ids[i], obs[i])
            return self.client.send_step(v)

        def stopped():
            return ((steps is not None and res.steps >= steps) or (episodes is not None and res.episodes >= episodes)
                    or (until is not None and until()))

        pending = [send(g, VectorStep()) for g in groups]
        done = False
        tails = [VectorStep() for _ in groups]
        while pending:
            for gi, group in enumerate(groups):
                if pending[gi] is None:
                    continue
                replies = pending[gi].result()
                actions = replies[len(replies) - len(group):]  # the get_actions come last
                v = VectorStep()
                for i, a in zip(group, actions):
                    o, r, terminated, truncated, _ = self.envs[i].step(a)
                    ret[i] += float(r)
                    length[i] += 1
                    res.steps += 1
                    v.log_returns(ids[i], float(r))
                    if terminated or truncated:
                        v.end_episode(ids[i], o, truncated=bool(truncated and not terminated))
                        res.episodes += 1
                        res.returns.append(ret[i])
                        res.lengths.append(length[i])
                        if self.on_episode:
                            self.on_episode(ret[i], length[i])
                        ret[i], length[i] = 0.0, 0
                        o, _ = self.envs[i].reset()
                        ids[i] = self._new_id()
                        fresh[i] = True
                    obs[i] = o
                done = done or stopped()
                if done:  # this group's last rewards and ends go with the final frame
                    tails[gi] = v
                    pending[gi] = None
                else:
                    pending[gi] = send(group, v)
            if all(p is None for p in pending):
                break
        # The last steps' rewards and ends, then the open episodes end (cut by the run's limit).
        v = VectorStep()
        for tail in tails:
            v.extend(tail)
        for i in range(k):
            if not fresh[i]:
                v.end_episode(ids[i], obs[i], truncated=True)
        if len(v):
            self.client.step(v)
        self.client.flush()
        res.wall_s = time.perf_counter() - t0
        return res


    def _run_one(self, steps, episodes, until):
        """run() of one environment in local mode: the client's calls one by one (no frame to
        share, no round trip to save: a VectorStep would only add its bookkeeping)."""
        c, env, res = self.client, self.envs[0], RunResult()
        t0 = time.perf_counter()
        obs, _ = env.reset(seed=self.seed if self.seed else None)
        eid, ret, length = None, 0.0, 0
        while not ((steps is not None and res.steps >= steps) or (episodes is not None and res.episodes >= episodes)
                   or (until is not None and until())):
            if eid is None:
                eid = c.start_episode(self._new_id(), self.training_enabled, self.explore)
            obs, r, terminated, truncated, _ = env.step(c.get_action(eid, obs))
            c.log_returns(eid, float(r))
            ret += float(r)
            length += 1
            res.steps += 1
            if terminated or truncated:
                c.end_episode(eid, obs, truncated=bool(truncated and not terminated))
                res.episodes += 1
                res.returns.append(ret)
                res.lengths.append(length)
                if self.on_episode:
                    self.on_episode(ret, length)
                eid, ret, length = None, 0.0, 0
                obs, _ = env.reset()
        if eid is not None:
            c.end_episode(eid, obs, truncated=True)
        c.flush()
        res.wall_s = time.perf_counter() - t0
        return res


def run_env(address, make_env, num_envs=1, steps=None, episodes=None, inference_mode="remote", threads=False,
            training_enabled=True, explore=True, seed=0, **client_kwargs):
    """Runs num_envs environments made by make_env() against the server at address; returns a RunResult.
    steps / episodes are totals over all environments."""
    if not threads:
        with PolicyClient(address, inference_mode=inference_mode, seed=seed, **client_kwargs) as c:
            return EnvRunner(c, [make_env() for _ in range(num_envs)], training_enabled, explore, seed).run(steps, episodes)
    results, errors = [RunResult() for _ in range(num_envs)], []

    def one(i):
        try:
            with PolicyClient(address, inference_mode=inference_mode, seed=(seed + i) if seed else 0, **client_kwargs) as c:
                results[i] = EnvRunner(c, [make_env()], training_enabled, explore, (seed + i) if seed else 0).run(
                    None if steps is None else -(-steps // num_envs), None if episodes is None else -(-episodes // num_envs))
        except Exception as e:
            errors.append(e)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(num_envs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    total = RunResult()
    for r in results:
        total.merge(r)
    total.wall_s = time.perf_counter() - t0
    return total
