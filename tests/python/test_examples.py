"""The gymnasium adapter and the examples, run as a user runs them: real processes."""
import json
import os
import subprocess
import sys

import pytest

import tandem
from conftest import ROOT, eventually

EXAMPLES = ROOT / "examples" / "python"
sys.path.insert(0, str(EXAMPLES))
from cartpole import CartPole  # noqa: E402

ENV = dict(os.environ)


class CountingEnv:
    """A duck-typed gymnasium env: fixed 7-step episodes, reward 1 per step, last one truncated."""

    def __init__(self):
        self.t = 0

    def reset(self, seed=None):
        self.t = 0
        return [0.0, 0.0], {}

    def step(self, action):
        assert action in (0, 1, 2)
        self.t += 1
        return [0.1 * self.t, 0.0], 1.0, False, self.t >= 7, {}


@pytest.mark.parametrize("mode", ["remote", "local"])
@pytest.mark.parametrize("threads", [False, True])
def test_run_env_steps_k_environments_and_reports_returns(start_server, mode, threads):
    s = start_server({"config": {"train_batch_size": 1000000}})
    res = tandem.run_env(s.address, CountingEnv, num_envs=4, episodes=12, inference_mode=mode, threads=threads,
                         reconnect_timeout=10)
    assert res.episodes >= 12 and all(r == 7.0 for r in res.returns) and all(n == 7 for n in res.lengths)
    assert sum(res.lengths) <= res.steps < sum(res.lengths) + 4 * 7
    assert eventually(lambda: s.metric("tandem_timesteps_total") == res.steps)
    # Finished episodes, plus the ones the run's end cut (ended truncated).
    assert eventually(lambda: s.metric("tandem_episodes_total") >= res.episodes)


@pytest.mark.parametrize("mode", ["remote", "local"])
def test_cartpole_example_runs(start_server, mode):
    s = start_server(json.loads((ROOT / "configs" / "cartpole_ppo.json").read_text()) | {"port": 0}, whole=True)
    out = subprocess.run([sys.executable, str(EXAMPLES / "cartpole.py"), "--address", s.address, "--inference", mode,
                          "--steps", "3000", "--envs", "4"], capture_output=True, text=True, timeout=120, env=ENV)
    assert out.returncode == 0, out.stderr
    assert "done: 30" in out.stdout
    assert eventually(lambda: s.metric("tandem_training_iteration") >= 5)


def test_cartpole_example_says_why_it_cannot_connect():
    out = subprocess.run([sys.executable, str(EXAMPLES / "cartpole.py"), "--address", "ws://127.0.0.1:1", "--steps", "10"],
                         capture_output=True, text=True, timeout=120, env=ENV)
    assert out.returncode == 1 and "cannot reach tandem-server" in out.stderr


def test_arena_example_trains_two_servers_on_one_simulation(start_server):
    ppo = json.loads((ROOT / "configs" / "arena_ppo.json").read_text()) | {"port": 0}
    a2c = json.loads((ROOT / "configs" / "arena_a2c.json").read_text()) | {"port": 0}
    ppo["config"]["train_batch_size"] = 500
    s1, s2 = start_server(ppo, name="ppo", whole=True), start_server(a2c, name="a2c", whole=True)
    out = subprocess.run([sys.executable, str(EXAMPLES / "arena.py"), "--route", f"agent1={s1.address}",
                          "--route", f"agent2={s2.address}", "--steps", "2000", "--report-every", "1000"],
                         capture_output=True, text=True, timeout=120, env=ENV)
    assert out.returncode == 0, out.stderr
    assert "done: 2000 env steps, 20 episodes" in out.stdout
    for s in (s1, s2):
        assert eventually(lambda: s.metric("tandem_episodes_total") == 20)
        assert s.metric("tandem_timesteps_total") == 2000
    assert eventually(lambda: s1.metric("tandem_training_iteration") >= 2)
