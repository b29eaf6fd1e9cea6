#!/usr/bin/env python3
"""ONE MultiAgentArena (the RLlib tutorial's, rule for rule as sims/multi_agent_arena.h) shared
by two tandem-servers: agent1 learns on the PPO server, agent2 on the A2C server.

    build/policy_server/tandem-server -c configs/arena_ppo.json &   # :9900, agent1
    build/policy_server/tandem-server -c configs/arena_a2c.json &   # :9910, agent2
    PYTHONPATH=build/python python3 examples/python/arena.py --steps 100000

Which agent goes to which server is configuration (--route AGENT=URL), and so is whether a
server's policy runs remotely or in this process (--inference remote|local).
"""
import argparse
import random
import sys
import time

import tandem


class MultiAgentArena:
    """10x10 grid; agent1 scores new fields, agent2 scores collisions; 100 steps (truncated)."""

    def __init__(self, width=10, height=10, episode_len=100, seed=0):
        self.w, self.h, self.episode_len = width, height, episode_len
        self.rng = random.Random(seed)
        self.reset()

    def reset(self):
        self.a1, self.a2 = [0, 0], [self.h - 1, self.w - 1]
        self.visited = {(0, 0)}
        self.t = 0
        return self._obs()

    def _cell(self, p):
        return p[0] * self.w + p[1]

    def _obs(self):
        return {"agent1": [self._cell(self.a1), self._cell(self.a2)], "agent2": [self._cell(self.a2), self._cell(self.a1)]}

    def _move(self, pos, other, action, is_agent1):
        target = [pos[0] + (-1 if action == 0 else 1 if action == 2 else 0),
                  pos[1] + (1 if action == 1 else -1 if action == 3 else 0)]
        if target == other:  # blocked by the other agent (before the walls): stay
            return "collision"
        target = [min(max(target[0], 0), self.h - 1), min(max(target[1], 0), self.w - 1)]
        pos[:] = target
        if is_agent1 and tuple(pos) not in self.visited:
            self.visited.add(tuple(pos))
            return "new_field"
        return None

    def step(self, actions):
        self.t += 1
        done = self.t >= self.episode_len
        events = set()
        if self.rng.random() > 0.5:  # the reference's coin: agent1 first
            events.add(self._move(self.a1, self.a2, actions["agent1"], True))
            events.add(self._move(self.a2, self.a1, actions["agent2"], False))
        else:
            events.add(self._move(self.a2, self.a1, actions["agent2"], False))
            events.add(self._move(self.a1, self.a2, actions["agent1"], True))
        collision = "collision" in events
        r1 = -1.0 if collision else 1.0 if "new_field" in events else -0.5
        r2 = 1.0 if collision else -0.1
        return self._obs(), {"agent1": r1, "agent2": r2}, done


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--route", action="append", default=None, help="AGENT=URL (default agent1->:9900, agent2->:9910)")
    p.add_argument("--inference", choices=["remote", "local"], default="remote")
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-every", type=int, default=10000)
    a = p.parse_args()
    routes = dict(r.split("=", 1) for r in (a.route or ["agent1=ws://127.0.0.1:9900", "agent2=ws://127.0.0.1:9910"]))
    try:
        clients = {url: tandem.PolicyClient(url, inference_mode=a.inference, seed=a.seed + i)
                   for i, url in enumerate(sorted(set(routes.values())))}
    except tandem.TandemError as e:
        print(f"arena.py: {e}", file=sys.stderr)
        return 1
    env = MultiAgentArena(seed=a.seed)
    returns = {agent: [] for agent in routes}
    steps, t0 = 0, time.perf_counter()
    try:
        while steps < a.steps:
            obs = env.reset()
            ids = {url: c.start_episode() for url, c in clients.items()}
            ret = {agent: 0.0 for agent in routes}
            done = False
            while not done:
                actions = {}
                for url, c in clients.items():  # each server computes the actions of its agents
                    mine = {agent: obs[agent] for agent, u in routes.items() if u == url}
                    actions.update(c.get_action(ids[url], mine))
                obs, rewards, done = env.step(actions)
                for url, c in clients.items():
                    c.log_returns(ids[url], {agent: rewards[agent] for agent, u in routes.items() if u == url})
                for agent in routes:
                    ret[agent] += rewards[agent]
                steps += 1
                if steps % a.report_every == 0:
                    means = "  ".join(f"{ag} {sum(r[-100:]) / max(1, len(r[-100:])):6.2f}" for ag, r in returns.items())
                    print(f"steps {steps:7d}  mean return (last 100 episodes)  {means}  "
                          f"{steps / (time.perf_counter() - t0):.0f} steps/s", flush=True)
            for url, c in clients.items():  # a pure time limit: truncated, bootstrapped
                c.end_episode(ids[url], {agent: obs[agent] for agent, u in routes.items() if u == url}, truncated=True)
            for agent in routes:
                returns[agent].append(ret[agent])
        for c in clients.values():
            c.flush()
    except tandem.TandemError as e:
        print(f"arena.py: {e}", file=sys.stderr)
        return 1
    finally:
        for c in clients.values():
            c.close()
    means = "  ".join(f"{ag} {sum(r[-100:]) / max(1, len(r[-100:])):.2f}" for ag, r in returns.items())
    print(f"done: {steps} env steps, {len(returns['agent1'])} episodes; mean return (last 100)  {means}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
