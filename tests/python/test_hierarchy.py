"""Hierarchical agents from Python (issue 15): glob patterns in the written order, agents that
act only when asked, appear mid-episode and finish early; rewards across skipped steps."""
import pytest

import tandem
from conftest import eventually
from tandem.mapping import PolicyMapping, glob_match

HIERARCHY = {
    "config": {"train_batch_size": 1000000},
    "policies": {
        "high": {"observation_space": {"type": "box", "shape": [3]}, "action_space": {"type": "discrete", "n": 4}},
        "low": {"observation_space": {"type": "box", "shape": [2]}, "action_space": {"type": "discrete", "n": 8}},
    },
    # Written order matters: robot_9's agents all go to "low", before "*_high" is tried.
    "policy_mapping": {"robot_9_*": "low", "*_high": "high", "*_low": "low"},
}


def test_glob_matches_like_the_server():
    assert glob_match("*_high", "robot_1_high") and not glob_match("*_high", "robot_1_high2")
    assert glob_match("robot_?_low", "robot_7_low") and not glob_match("robot_?_low", "robot_12_low")
    assert glob_match("a*b*c", "aXbYbZc") and not glob_match("a*b*c", "aXbYbZ")
    assert not glob_match("[ab]", "a") and glob_match("[ab]", "[ab]")
    m = PolicyMapping([["robot_*", "r"], ["*_high", "h"], ["robot_9_high", "x"]])
    assert m.policy_for("robot_1_high") == "r"
    assert m.policy_for("robot_9_high") == "x"  # exact ids first
    assert m.policy_for("drone_high") == "h"
    assert m.policy_for("drone_low") is None


@pytest.mark.parametrize("mode", ["remote", "local"])
def test_hierarchy_rewards_across_skipped_steps(start_server, mode):
    s = start_server(HIERARCHY)
    with tandem.PolicyClient(s.address, inference_mode=mode, reconnect_timeout=10, seed=3) as c:
        cfg_mapping = __import__("json").loads(c.get_config())["policy_mapping"]
        assert cfg_mapping[0] == ["robot_9_*", "low"]  # GetConfig keeps the written order
        eid = c.start_episode()
        acts = c.get_action(eid, {"robot_1_high": [0.1, 0.2, 0.3], "robot_9_high": [0.0, 0.0]})
        assert 0 <= acts["robot_1_high"] < 4 and 0 <= acts["robot_9_high"] < 8
        with pytest.raises(tandem.RequestError) as e:
            c.get_action(eid, {"robot_1_mid": [0.0, 0.0, 0.0]})
        assert e.value.code == "UnknownAgent"
        c.get_action(eid, {"robot_1_low": [0.1, 0.1]})          # appears at step 1
        c.log_returns(eid, {"robot_1_low": -0.01, "robot_1_high": -0.01, "robot_9_high": 0.5})
        c.get_action(eid, {"robot_1_low": [0.2, 0.1]})
        c.log_returns(eid, {"robot_1_low": 1.0, "robot_1_high": 0.5},
                      multiagent_done_dict={"robot_1_low": True, "robot_1_high": True})
        with pytest.raises(tandem.RequestError) as e:
            c.get_action(eid, {"robot_1_low": [0.3, 0.1]})     # done: may not come back
        assert e.value.code == "UnknownAgent"
        c.end_episode(eid, {"robot_9_high": [0.0, 0.0]})
        c.flush()
    # Each agent counted once: high = robot_1_high (0.49); low = robot_1_low (0.99) + robot_9_high (0.5).
    assert eventually(lambda: s.metric("tandem_episodes_total") == 1)
    text = __import__("urllib.request").request.urlopen(f"http://127.0.0.1:{s.port}/metrics", timeout=10).read().decode()
    got = {line.split('"')[1]: float(line.rsplit(" ", 1)[1])
           for line in text.splitlines() if line.startswith("tandem_policy_reward_mean{")}
    assert got["high"] == pytest.approx(0.49, abs=1e-5)
    assert got["low"] == pytest.approx(1.49, abs=1e-5)
    assert s.metric("tandem_episode_reward_mean") == pytest.approx(1.98, abs=1e-5)
