#!/usr/bin/env python3
"""CartPole-v1 in numpy (gym's equations) trained by a tandem-server through the Python client.

    build/policy_server/tandem-server -c configs/cartpole_ppo.json &
    PYTHONPATH=build/python python3 examples/python/cartpole.py --inference local --steps 100000

The environment has gymnasium's API (reset/step), so it runs through tandem.run_env, the
adapter for any such environment; --envs K steps K of them together (one frame per step).
"""
import argparse
import math
import sys
import time

import tandem  # before numpy: one BLAS thread (tandem/__init__.py)
import numpy as np  # noqa: E402


class CartPole:
    """gym's CartPole-v1: same constants, Euler integration, termination and 500-step limit."""

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4
    max_steps = 500

    def __init__(self, seed=None):
        self.rng = np.random.default_rng(seed)
        self.total_mass = self.masspole + self.masscart
        self.polemass_length = self.masspole * self.length
        self.state = None
        self.t = 0

    def reset(self, seed=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.state = [float(x) for x in self.rng.uniform(-0.05, 0.05, 4)]
        self.t = 0
        return np.array(self.state, np.float32), {}

    def step(self, action):
        if action not in (0, 1):
            raise ValueError(f"CartPole: action must be 0 or 1, got {action!r}")
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        costheta, sintheta = math.cos(theta), math.sin(theta)
        temp = (force + self.polemass_length * theta_dot * theta_dot * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta * costheta / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x += self.tau * x_dot
        x_dot += self.tau * xacc
        theta += self.tau * theta_dot
        theta_dot += self.tau * thetaacc
        self.state = [x, x_dot, theta, theta_dot]
        self.t += 1
        terminated = x < -self.x_threshold or x > self.x_threshold or \
            theta < -self.theta_threshold or theta > self.theta_threshold
        truncated = not terminated and self.t >= self.max_steps
        return np.array(self.state, np.float32), 1.0, terminated, truncated, {}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--address", default="ws://127.0.0.1:9900")
    p.add_argument("--inference", choices=["remote", "local"], default="remote")
    p.add_argument("--envs", type=int, default=1, help="environments stepped together")
    p.add_argument("--threads", action="store_true", help="one thread and client per environment")
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--target", type=float, default=475.0, help="stop once the mean of the last 100 returns reaches it")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--token", default=None)
    p.add_argument("--update-interval", type=float, default=10.0, help="local: poll for newer weights this often (s)")
    a = p.parse_args()
    t0 = time.perf_counter()
    returns = []
    reached = []

    def on_episode(ret, length):
        returns.append(ret)
        if len(returns) % 50 == 0:
            mean = sum(returns[-100:]) / len(returns[-100:])
            print(f"episodes {len(returns):6d}  mean return (last 100) {mean:7.1f}  "
                  f"{time.perf_counter() - t0:6.1f} s", flush=True)

    envs = iter(range(10 ** 9))
    try:
        if a.threads:
            res = tandem.run_env(a.address, lambda: CartPole(a.seed + next(envs)), num_envs=a.envs, steps=a.steps,
                                 inference_mode=a.inference, threads=True, seed=a.seed, auth_token=a.token,
                                 update_interval=a.update_interval)
            returns = res.returns
        else:
            with tandem.PolicyClient(a.address, inference_mode=a.inference, seed=a.seed, auth_token=a.token,
                                     update_interval=a.update_interval) as c:
                runner = tandem.EnvRunner(c, [CartPole(a.seed + i) for i in range(a.envs)], seed=a.seed,
                                          on_episode=on_episode)

                def until():
                    if len(returns) >= 100 and sum(returns[-100:]) / 100 >= a.target and not reached:
                        reached.append(True)
                    return bool(reached)

                res = runner.run(steps=a.steps, until=until)
                if reached:
                    reached[0] = res.steps
    except tandem.TandemError as e:
        print(f"cartpole.py: {e}", file=sys.stderr)
        return 1
    mean = sum(returns[-100:]) / max(1, len(returns[-100:]))
    print(f"done: {res.steps} env steps, {len(returns)} episodes, mean return (last 100) {mean:.1f}, "
          f"{res.steps / max(res.wall_s, 1e-9):.0f} steps/s" +
          (f", target {a.target} reached at {reached[0]} steps" if reached else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
