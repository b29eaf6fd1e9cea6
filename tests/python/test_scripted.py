"""Connect Four's scripted opponents and action masks through the Python client, remote and
local: each script's rule (beat_last with its per-episode memory of the board), and no
masked action from the learned policy over thousands of draws, sampled and greedy, with
masks that leave one action."""
import json
import pathlib
import random

import numpy as np
import pytest

import tandem

MODES = ["remote", "local"]
CONFIG = json.loads((pathlib.Path(__file__).parents[2] / "configs" / "connect_four_ppo.json").read_text())


def board(opponent_columns, own_columns=()):
    """A 6x7x2 observation: a stone at the bottom of each listed column (stacked when repeated)."""
    obs = np.zeros((6, 7, 2), np.float32)
    height = [0] * 7
    for plane, cols in ((1, opponent_columns), (0, own_columns)):
        for c in cols:
            obs[5 - height[c], c, plane] = 1.0
            height[c] += 1
    return obs.reshape(-1)


def start(start_server, opponent):
    cfg = json.loads(json.dumps(CONFIG))
    cfg["policy_mapping"] = {"player_0": "learned", "player_1": opponent, "agent0": "learned"}
    cfg.pop("port")
    cfg.pop("results_dir")
    cfg["config"]["model"]["fcnet_hiddens"] = [16]
    return start_server(cfg, extra_args=["--no-train"], whole=True)


def p1(c, eid, obs, mask=None):
    return c.get_action(eid, {"player_1": obs}, action_mask=None if mask is None else {"player_1": mask})["player_1"]


@pytest.mark.parametrize("mode", MODES)
def test_beat_last_answers_the_last_column_with_its_episode_memory(start_server, mode):
    s = start(start_server, "beat_last")
    with tandem.PolicyClient(s.address, inference_mode=mode, seed=3) as c:
        eid = c.start_episode()
        assert p1(c, eid, board([4])) == 4
        assert p1(c, eid, board([4, 2], [4])) == 2
        assert p1(c, eid, board([4, 2, 2], [4, 2])) == 2
        # Its last column is full (masked): a random allowed one.
        mask = [1, 1, 0, 1, 1, 1, 1]
        seen = {p1(c, c.start_episode(), board([2]), mask) for _ in range(60)}
        assert 2 not in seen and len(seen) >= 4
        # A new episode has its own memory: the same board again counts as new stones.
        e2 = c.start_episode()
        assert p1(c, e2, board([4, 2, 2, 6], [4, 2, 1])) in range(7)  # three new: random
        assert p1(c, e2, board([4, 2, 2, 6, 0], [4, 2, 1, 3])) == 0
        c.flush()


@pytest.mark.parametrize("mode", MODES)
def test_linear_random_and_always_same(start_server, mode):
    for opponent in ("linear", "random", "always_same"):
        s = start(start_server, opponent)
        with tandem.PolicyClient(s.address, inference_mode=mode, seed=4) as c:
            eid = c.start_episode()
            mask = [0, 1, 0, 0, 1, 0, 1]
            got = [p1(c, eid, board([]), mask) for _ in range(300)]
            assert set(got) <= {1, 4, 6}
            if opponent == "linear":
                assert set(got) == {1}
            elif opponent == "random":
                assert set(got) == {1, 4, 6}
            else:
                assert len(set(got)) == 1  # kept for the episode
                firsts = {p1(c, c.start_episode(), board([])) for _ in range(80)}
                assert len(firsts) >= 5    # drawn per episode
            c.flush()


@pytest.mark.parametrize("mode", MODES)
def test_the_learned_policy_never_takes_a_masked_action(start_server, mode):
    s = start(start_server, "random")
    rng = random.Random(1)
    with tandem.PolicyClient(s.address, inference_mode=mode, seed=5) as c:
        for explore in (True, False):
            eid = c.start_episode(explore=explore)
            counts = [0] * 7
            for i in range(2500):
                mask = [0] * 7
                if i % 3 == 0:
                    mask[rng.randrange(7)] = 1
                else:
                    mask = [rng.randrange(2) for _ in range(7)]
                    mask[rng.randrange(7)] = 1
                obs = np.array([rng.random() < 0.25 for _ in range(84)], np.float32)
                a = c.get_action(eid, {"agent0": obs}, action_mask={"agent0": mask})["agent0"]
                assert mask[a] == 1, (mask, a)
                counts[a] += 1
            if explore:
                assert min(counts) > 0
            c.end_episode(eid, {"agent0": np.zeros(84)})
        c.flush()
