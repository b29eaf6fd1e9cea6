"""scripts/tandem-export: a trained Connect Four policy's checkpoint as ONNX, valid under
onnx.checker, evaluated by a numpy evaluator of its operators (tests/python/onnx_eval.py) and
compared with the greedy actions of a server restored from the same checkpoint on many boards
and masks; the --server form; errors exit non-zero with a message."""
import json
import pathlib
import random
import subprocess
import sys

import numpy as np
import onnx
import pytest

import onnx_eval
import tandem

ROOT = pathlib.Path(__file__).parents[2]
EXPORT = [sys.executable, str(ROOT / "scripts" / "tandem-export")]
CONFIG = json.loads((ROOT / "configs" / "connect_four_ppo.json").read_text())


def boards(n, rng):
    obs = np.zeros((n, 6, 7, 2), np.float32)
    masks = np.zeros((n, 7), np.float32)
    for k in range(n):
        cells = rng.sample(range(42), rng.randrange(0, 30))
        for c in cells:
            obs[k, c // 7, c % 7, rng.randrange(2)] = 1.0
        if k % 4 == 0:
            masks[k, rng.randrange(7)] = 1.0  # one allowed column
        else:
            masks[k] = [rng.randrange(2) for _ in range(7)]
            masks[k, rng.randrange(7)] = 1.0
    return obs, masks


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint of a `learned` policy trained for a few iterations on random boards."""
    from conftest import ServerProcess
    cfg = json.loads(json.dumps(CONFIG))
    cfg.update(checkpoint_at_end=True)
    cfg.pop("port")
    cfg["config"].update(train_batch_size=200, sgd_minibatch_size=100, num_sgd_iter=2)
    cfg["config"]["model"]["fcnet_hiddens"] = [32, 16]
    cfg["policy_mapping"]["agent0"] = "learned"
    s = ServerProcess(cfg, tmp_path_factory.mktemp("onnx_train"))
    rng = random.Random(2)
    with tandem.PolicyClient(s.address, seed=1) as c:
        obs, masks = boards(600, rng)
        eid = c.start_episode()
        for k in range(600):
            a = c.get_action(eid, {"agent0": obs[k]}, action_mask={"agent0": masks[k]})["agent0"]
            c.log_returns(eid, {"agent0": 1.0 if a == 3 else -0.1})
            if k % 30 == 29:
                c.end_episode(eid, {"agent0": obs[k]})
                eid = c.start_episode()
        c.end_episode(eid, {"agent0": obs[0]})
        c.flush()
    assert s.stop() == 0
    ckpts = sorted((s.dir / "results").glob("checkpoint_*"))
    assert ckpts and json.loads((ckpts[-1] / "state.json").read_text())["training_iteration"] >= 2
    yield ckpts[-1], cfg
    s.stop()


def test_export_matches_the_servers_greedy_actions(checkpoint, start_server, tmp_path):
    ckpt, cfg = checkpoint
    out = tmp_path / "learned.onnx"
    r = subprocess.run(EXPORT + [str(ckpt), "learned", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    assert [i.name for i in m.graph.input] == ["observation", "action_mask"]
    assert [o.name for o in m.graph.output] == ["masked_logits", "action", "value"]

    s = start_server(cfg, extra_args=["--no-train", "--restore", str(ckpt)], whole=True)
    obs, masks = boards(1500, random.Random(5))
    got = onnx_eval.run(m, {"observation": obs, "action_mask": masks})
    assert got["action"].shape == (1500,)
    for k in range(1500):  # the ONNX action is always allowed
        assert masks[k, got["action"][k]] == 1.0
    with tandem.PolicyClient(s.address) as c:  # remote: the server's LibTorch model, greedy
        served = []
        for k in range(0, 1500, 100):
            eid = c.start_episode(explore=False, training_enabled=False)
            served += [c.get_action(eid, {"agent0": obs[j]}, action_mask={"agent0": masks[j]})["agent0"]
                       for j in range(k, k + 100)]
            c.end_episode(eid, {"agent0": obs[0]})
    served = np.asarray(served)
    # Equal wherever the choice is not a near-tie (float rounding differs between numpy and
    # LibTorch): the gap between the two best allowed logits.
    top2 = np.sort(got["masked_logits"], axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0] > 1e-4) | (top2[:, 0] < -1e8)
    assert clear.sum() > 1400
    assert (served[clear] == got["action"][clear]).all(), np.nonzero((served != got["action"]) & clear)[0][:10]

    # The logits and value equal the numpy model's (the client's local inference) within 1e-5.
    with tandem.PolicyClient(s.address, inference_mode="local") as c:
        model = c._b.models[c._b.policy_ids.index("learned")]
        for k in range(0, 1500, 37):
            dist, v = model.forward1(model.preprocess(obs[k].reshape(-1)))
            want = np.where(masks[k] > 0, dist, np.float32(-1e9))
            np.testing.assert_allclose(got["masked_logits"][k], want, rtol=1e-5, atol=1e-5)
            assert abs(got["value"][k, 0] - v) < 1e-4
        assert len(set(got["action"].tolist())) >= 3  # the boards lead to different moves


def test_export_from_a_running_server_and_errors(checkpoint, start_server, tmp_path):
    ckpt, cfg = checkpoint
    s = start_server(cfg, extra_args=["--no-train", "--restore", str(ckpt)], whole=True)
    out = tmp_path / "live.onnx"
    r = subprocess.run(EXPORT + ["--server", s.address, "learned", "-o", str(out)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    onnx.checker.check_model(onnx.load(str(out)))

    def fails(args, words):
        r = subprocess.run(EXPORT + args, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert words in r.stderr, r.stderr

    fails([str(ckpt), "nobody", "-o", str(tmp_path / "x.onnx")], "no policy 'nobody'")
    fails(["--server", s.address, "beat_last", "-o", str(tmp_path / "x.onnx")], "scripted")
    fails([str(tmp_path), "learned", "-o", str(tmp_path / "x.onnx")], "not a checkpoint")
    fails(["learned", "-o", str(tmp_path / "x.onnx")], "either CHECKPOINT_DIR or --server")
    assert not (tmp_path / "x.onnx").exists()
