#!/usr/bin/env python3
"""The Python client's figures (bench/python_client.sh runs it beside the C++ client's and a
bare Beast echo, in the same run):
  echo        a 120-byte frame through websocket-client to the Beast echo server (p50/p99)
  remote      get_action round trips on one episode, as rtt_bench does for C++ (p50/p99); then
              steps of get_action + log_returns (rtt_bench's step+returns)
  local       CartPole steps/s, one simulator thread, local inference (numpy forward pass)
  vectorised  CartPole steps/s, 64 envs in one process, one VectorStep frame per step (remote)
"""
import argparse
import os
import sys
import time

import tandem  # first: it limits numpy's BLAS to one thread (see tandem/__init__.py)
import numpy as np  # noqa: E402
import websocket  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples", "python"))
from cartpole import CartPole  # noqa: E402


THINK_US = 0.0


def think():
    """A simulator's step between two round trips: THINK_US of busy work (as rtt_bench --think-us)."""
    if THINK_US > 0:
        end = time.perf_counter() + THINK_US * 1e-6
        while time.perf_counter() < end:
            pass


def report(what, us):
    us = np.sort(np.asarray(us))
    q = lambda p: us[int(p * (len(us) - 1))]
    print(f"{what}: n={len(us)}  p50 {q(0.5):.1f} us  p99 {q(0.99):.1f} us  mean {us.mean():.1f} us", flush=True)


def echo(url, n):
    ws = websocket.create_connection(url, skip_utf8_validation=True)
    frame = bytes([7]) * 120
    us = []
    for i in range(n + 1000):
        t0 = time.perf_counter()
        ws.send_binary(frame)
        ws.recv()
        if i >= 1000:
            us.append((time.perf_counter() - t0) * 1e6)
        think()
    ws.close()
    report("python echo        ", us)


def remote(url, n, returns=False):
    """get_action round trips; with returns, a simulator's step: get_action then log_returns
    (which travels in the next get_action's frame), timed together (as rtt_bench's step+returns)."""
    obs = np.array([0.01, -0.02, 0.03, 0.04], np.float32)
    with tandem.PolicyClient(url) as c:
        eid = c.start_episode(training_enabled=False)
        us = []
        for i in range(n + 1000):
            t0 = time.perf_counter()
            c.get_action(eid, obs)
            if returns:
                c.log_returns(eid, 1.0)
            if i >= 1000:
                us.append((time.perf_counter() - t0) * 1e6)
            think()
        c.end_episode(eid, obs)
        c.flush()
    report("python step+returns " if returns else "python get_action  ", us)


def local(url, steps):
    with tandem.PolicyClient(url, inference_mode="local", seed=1) as c:
        r = tandem.EnvRunner(c, [CartPole(1)], seed=1).run(steps=2000)  # warm-up
        r = tandem.EnvRunner(c, [CartPole(2)], seed=2).run(steps=steps)
        st = c.local_stats()
    print(f"python local       : {r.steps} steps in {r.wall_s:.2f} s = {r.steps_per_s:.0f} steps/s "
          f"(1 thread, {r.episodes} episodes, uploaded {st.uploaded_steps}, dropped {st.dropped_steps})", flush=True)


def loop_only(steps):
    """The simulator and the loop alone (a random policy, no client): what local mode is bounded by."""
    env = CartPole(3)
    env.reset()
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(int(rng.integers(2)))
        if term or trunc:
            env.reset()
    dt = time.perf_counter() - t0
    print(f"python sim alone   : {steps / dt:.0f} steps/s (CartPole step + reset, no policy)", flush=True)


def vectorised(url, steps, k, mode):
    with tandem.PolicyClient(url, inference_mode=mode, seed=1) as c:
        tandem.EnvRunner(c, [CartPole(i) for i in range(k)], seed=1).run(steps=k * 50)  # warm-up
        r = tandem.EnvRunner(c, [CartPole(100 + i) for i in range(k)], seed=2).run(steps=steps)
    print(f"python vector {mode:6s}: {k} envs, {r.steps} steps in {r.wall_s:.2f} s = {r.steps_per_s:.0f} steps/s "
          f"({r.episodes} episodes)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True)
    p.add_argument("--echo")
    p.add_argument("-n", type=int, default=20000)
    p.add_argument("--local-steps", type=int, default=100000)
    p.add_argument("--vector-steps", type=int, default=320000)
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--only", default="echo,remote,local,loop,vector")
    p.add_argument("--think-us", type=float, default=0.0, help="busy work between round trips (echo, remote)")
    a = p.parse_args()
    global THINK_US
    THINK_US = a.think_us
    only = a.only.split(",")
    if a.echo and "echo" in only:
        echo(a.echo, a.n)
    if "remote" in only:
        remote(a.server, a.n)
        remote(a.server, a.n, returns=True)
    if "loop" in only:
        loop_only(a.local_steps)
    if "local" in only:
        local(a.server, a.local_steps)
    if "vector" in only:
        vectorised(a.server, a.vector_steps, a.envs, "remote")
        vectorised(a.server, a.vector_steps // 4, a.envs, "local")


if __name__ == "__main__":
    main()
