"""Dict observation spaces with a real server: named components (remote and local), the
flat vector in sorted key order giving the same actions, and errors naming the component."""
import numpy as np
import pytest

import tandem
from conftest import eventually

YARD = {"type": "dict", "spaces": {
    "robot_position": {"type": "box", "shape": [2], "low": 0, "high": 1},
    "chicken_oceans": {"type": "box", "shape": [3, 2], "low": -1, "high": 1},
    "target": {"type": "discrete", "n": 3},
}}
CONFIG = {"config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "rollout_fragment_length": 16,
                     "num_sgd_iter": 2, "model": {"fcnet_hiddens": [16]}},
          "policies": {"p": {"observation_space": YARD, "action_space": {"type": "discrete", "n": 4}}}}


def named_obs(rng):
    return {"robot_position": rng.uniform(0, 1, 2), "chicken_oceans": rng.uniform(-1, 1, (3, 2)),
            "target": int(rng.integers(3))}


def flat(named):  # sorted keys: chicken_oceans, robot_position, target
    return np.concatenate([np.ravel(named["chicken_oceans"]), np.ravel(named["robot_position"]),
                           [named["target"]]]).astype(np.float32)


def test_named_components_train_and_match_the_flat_vector(start_server):
    s = start_server(CONFIG)
    rng = np.random.default_rng(0)
    with tandem.PolicyClient(s.address, reconnect_timeout=10) as c:
        assert c.config["policies"]["p"]["observation_space"]["type"] == "dict"
        for _ in range(5):  # named single-agent and multi-agent forms, 80 training steps
            eid = c.start_episode()
            for t in range(16):
                o = named_obs(rng)
                a = c.get_action(eid, o) if t % 2 else c.get_action(eid, {"agent0": o})["agent0"]
                assert 0 <= a < 4
                c.log_returns(eid, 1.0)
            c.end_episode(eid, named_obs(rng))
        c.flush()
        assert eventually(lambda: s.metric("tandem_training_iteration") >= 1)
        eid = c.start_episode(training_enabled=False, explore=False)
        obs = [named_obs(rng) for _ in range(20)]
        greedy = [c.get_action(eid, o) for o in obs]
        assert greedy == [c.get_action(eid, flat(o)) for o in obs]
        c.end_episode(eid, flat(obs[0]))
        c.flush()
    with tandem.PolicyClient(s.address, inference_mode="local", reconnect_timeout=10, update_interval=1000) as c:
        eid = c.start_episode(training_enabled=False, explore=False)
        assert greedy == [c.get_action(eid, o) for o in obs]
        assert greedy == [c.get_action(eid, {"agent0": o})["agent0"] for o in obs]
        c.log_action(eid, obs[0], 1)
        c.end_episode(eid, obs[1])
        c.flush()


@pytest.mark.parametrize("mode", ["remote", "local"])
def test_errors_name_the_component(start_server, mode):
    s = start_server(CONFIG)
    rng = np.random.default_rng(1)
    with tandem.PolicyClient(s.address, inference_mode=mode, reconnect_timeout=10) as c:
        eid = c.start_episode()
        cases = [
            ({k: v for k, v in named_obs(rng).items() if k != "target"}, "component 'target'", "missing"),
            ({**named_obs(rng), "robot_pos": [0, 0]}, "unknown component 'robot_pos'", ""),
            ({**named_obs(rng), "robot_position": [0.5, 0.5, 0.5]}, "component 'robot_position' has 3 values", ""),
            ({**named_obs(rng), "robot_position": [0.5, 1.7]}, "component 'robot_position'", "element 1"),
            ({**named_obs(rng), "target": 3}, "component 'target'", "integer"),
        ]
        for o, needle, more in cases:
            for form in (o, {"agent0": o}):
                with pytest.raises(tandem.BadObservation) as e:
                    c.get_action(eid, form)
                assert needle in e.value.message and more in e.value.message, e.value.message
                assert e.value.request == f"GetAction({eid})"
        # the episode goes on after a refused observation
        assert 0 <= c.get_action(eid, named_obs(rng)) < 4
        c.end_episode(eid, named_obs(rng))
        c.flush()


def test_named_components_need_a_dict_space(start_server):
    s = start_server({"policies": {"p": {"observation_space": {"type": "box", "shape": [2]},
                                         "action_space": {"type": "discrete", "n": 2}}}})
    with tandem.PolicyClient(s.address, reconnect_timeout=10) as c:
        eid = c.start_episode()
        with pytest.raises(tandem.BadObservation) as e:
            c.get_action(eid, {"agent0": {"x": [1, 2]}})
        assert "Dict" in e.value.message and "agent0" in e.value.message
        assert 0 <= c.get_action(eid, {"agent0": [1, 2]})["agent0"] < 2


def test_a_dict_action_space_is_refused(start_server):
    with pytest.raises(RuntimeError) as e:
        start_server({"policies": {"p": {"observation_space": YARD, "action_space": YARD}}})
    assert "not supported" in str(e.value)


class NamedEnv:
    """A gymnasium-style env whose observations are named components of YARD."""

    def __init__(self):
        self.rng = np.random.default_rng(1)
        self.t = 0

    def reset(self, seed=None):
        self.t = 0
        return named_obs(self.rng), {}

    def step(self, action):
        assert 0 <= int(action) < 4
        self.t += 1
        return named_obs(self.rng), 1.0, self.t >= 8, False, {}


@pytest.mark.parametrize("mode", ["remote", "local"])
def test_vector_steps_and_run_env_take_dicts(start_server, mode):
    multi = dict(CONFIG, policies=dict(CONFIG["policies"], q={"observation_space": {"type": "box", "shape": [2]},
                                                              "action_space": {"type": "discrete", "n": 3}}),
                 policy_mapping={"robot_*": "p", "*": "q"})
    s = start_server(multi)
    rng = np.random.default_rng(2)
    with tandem.PolicyClient(s.address, inference_mode=mode, reconnect_timeout=10) as c:
        ids = [c.start_episode() for _ in range(3)]
        v = tandem.VectorStep()
        v.get_action(ids[0], {"plain": [0.1, 0.2]})                          # multi-agent, flat
        v.get_action(ids[1], {"robot_1": named_obs(rng), "plain": [0.3, 0.4]})  # named and flat agents
        v.get_action(ids[2], {"robot_2": named_obs(rng)})
        v.end_episode(ids[2], {"robot_2": named_obs(rng)})
        out = c.step(v)
        assert set(out[0]) == {"plain"} and 0 <= out[0]["plain"] < 3
        assert set(out[1]) == {"robot_1", "plain"} and 0 <= out[1]["robot_1"] < 4
        bad = tandem.VectorStep().get_action(ids[0], {"robot_3": dict(named_obs(rng), extra=[1.0])})
        with pytest.raises(tandem.RequestError, match="extra"):
            c.step(bad)
        c.flush()
    # run_env with Dict observations (agent0 maps to "q" here: a server of its own for it).
    s2 = start_server(CONFIG)
    for threads in (False, True):
        r = tandem.run_env(s2.address, NamedEnv, num_envs=2, steps=64, inference_mode=mode, threads=threads,
                           reconnect_timeout=10)
        assert r.steps >= 64
