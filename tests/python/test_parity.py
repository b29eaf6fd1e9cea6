"""The numpy model against the C++ model on the same weights: logits / means, value and
log-prob agree to 1e-5 for every space kind (tests/tools/model_eval is the C++ local
client's model, fetched from the same server)."""
import json
import subprocess

import numpy as np
import pytest

import tandem
from conftest import MODEL_EVAL, eventually

SPACES = {
    "categorical_tanh": ({"type": "box", "shape": [4], "low": -5, "high": 5}, {"type": "discrete", "n": 5},
                         {"fcnet_hiddens": [32, 16], "fcnet_activation": "tanh"}),
    "multi_discrete_obs_relu_shared": ({"type": "multi_discrete", "nvec": [3, 4]}, {"type": "multi_discrete", "nvec": [2, 3, 4]},
                                       {"fcnet_hiddens": [24], "fcnet_activation": "relu", "vf_share_layers": True}),
    "discrete_obs_elu": ({"type": "discrete", "n": 6}, {"type": "discrete", "n": 3},
                         {"fcnet_hiddens": [8, 8], "fcnet_activation": "elu"}),
    "gaussian_free_log_std": ({"type": "box", "shape": [2, 3]}, {"type": "box", "shape": [2], "low": -1, "high": 1},
                              {"fcnet_hiddens": [16, 16]}),
    "gaussian_head_log_std": ({"type": "box", "shape": [3]}, {"type": "box", "shape": [3]},
                              {"fcnet_hiddens": [], "free_log_std": False}),
    # Dict: sorted-key flattening, one-hot of the Discrete and MultiDiscrete components, clip of the Box
    "dict_obs_composite": ({"type": "dict", "spaces": {
                               "pos": {"type": "box", "shape": [2], "low": -5, "high": 5},
                               "kind": {"type": "discrete", "n": 3},
                               "inner": {"type": "dict", "spaces": {"m": {"type": "multi_discrete", "nvec": [2, 3]}}},
                               "t": {"type": "tuple", "spaces": [{"type": "box", "shape": [1], "low": -5, "high": 5},
                                                                 {"type": "discrete", "n": 2}]}}},
                           {"type": "discrete", "n": 3}, {"fcnet_hiddens": [16]}, {"observation_clip": 2.0}),
    # observations of +-3 against observation_clip 1.5: the clipping is part of what is compared
    "categorical_clipped_obs": ({"type": "box", "shape": [4], "low": -5, "high": 5}, {"type": "discrete", "n": 4},
                                {"fcnet_hiddens": [16]}, {"observation_clip": 1.5}),
}


def sample_obs(space, rng):
    if space["type"] == "dict":  # the flat vector in sorted key order (core/spaces.h)
        return np.concatenate([sample_obs(space["spaces"][k], rng) for k in sorted(space["spaces"])])
    if space["type"] == "tuple":
        return np.concatenate([sample_obs(c, rng) for c in space["spaces"]])
    if space["type"] == "box":
        n = int(np.prod(space["shape"]))
        return rng.uniform(-3, 3, n).astype(np.float32)
    if space["type"] == "discrete":
        return np.array([rng.integers(space["n"])], np.float32)
    return np.array([rng.integers(k) for k in space["nvec"]], np.float32)


@pytest.mark.parametrize("kind", sorted(SPACES))
def test_numpy_model_matches_the_cpp_model(start_server, kind):
    obs_space, act_space, model = SPACES[kind][:3]
    extra = SPACES[kind][3] if len(SPACES[kind]) > 3 else {}
    s = start_server({"config": {"model": model, "lr": 0.01, "train_batch_size": 64, "rollout_fragment_length": 16,
                                 "num_sgd_iter": 4, **extra},
                      "policies": {"p": {"observation_space": obs_space, "action_space": act_space}}})
    rng = np.random.default_rng(1)
    # Train a few iterations first so that every layer, heads included, is far from its init.
    with tandem.PolicyClient(s.address, reconnect_timeout=10) as c:
        for e in range(12):
            eid = c.start_episode()
            for t in range(16):
                c.get_action(eid, sample_obs(obs_space, rng))
                c.log_returns(eid, float(rng.normal()) * 5)
            c.end_episode(eid, sample_obs(obs_space, rng))
        c.flush()
    # 12 x 16 steps = 3 batches of 64: once the third is trained the weights stay as they are.
    assert eventually(lambda: s.metric("tandem_training_iteration") == 3)
    with tandem.PolicyClient(s.address, inference_mode="local", reconnect_timeout=10, update_interval=1000) as c:
        policy = c._b.models[0]
        rows = []
        for i in range(40):
            o = sample_obs(obs_space, rng)
            row = {"policy": "p", "obs": o.tolist()}
            if policy.parts is not None:
                mask = np.ones(policy.dist_dim, np.float32)
                if i % 2:
                    off = 0
                    for n in policy.parts:  # mask all but one or two values of each component
                        mask[off + int(rng.integers(n))] = 0 if n > 1 else 1
                        off += n
                row["mask"] = mask.tolist()
                row["discrete"] = [int(rng.integers(n)) for n in policy.parts]
                if i % 2:  # a scored action that the mask allows
                    off = 0
                    for k, n in enumerate(policy.parts):
                        allowed = np.flatnonzero(mask[off:off + n])
                        row["discrete"][k] = int(allowed[0])
                        off += n
            else:
                row["continuous"] = rng.uniform(-1, 1, policy.dist_dim // 2).tolist()
            rows.append(row)
        out = subprocess.run([MODEL_EVAL, s.address], input=json.dumps(rows), capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        ref = json.loads(out.stdout)
        assert all(r["weights_version"] == policy.version for r in ref)
        spread = 0.0
        for row, r in zip(rows, ref):
            raw = np.array(row["obs"], np.float32)
            mask = np.array(row["mask"], np.float32) if "mask" in row else None
            greedy = policy.compute_action(raw, mask, explore=False)
            np.testing.assert_allclose(greedy.dist_inputs, r["dist_inputs"], rtol=1e-5, atol=1e-5)
            assert abs(greedy.vf_pred - r["vf_pred"]) <= 1e-5 * max(1.0, abs(r["vf_pred"]))
            assert list(greedy.discrete) == r["greedy_discrete"]
            np.testing.assert_allclose(greedy.continuous, r["greedy_continuous"], rtol=1e-5, atol=1e-5)
            assert abs(greedy.logp - r["greedy_logp"]) <= 1e-5 * max(1.0, abs(r["greedy_logp"]))
            lp = policy.logp(greedy.dist_inputs, row.get("discrete", []), row.get("continuous", []))
            assert abs(lp - r["action_logp"]) <= 1e-5 * max(1.0, abs(r["action_logp"]))
            finite = np.array(r["dist_inputs"])[np.array(r["dist_inputs"]) > -1e8]
            spread = max(spread, float(np.ptp(finite)) if finite.size else 0.0)
        assert spread > 1e-3, "the distribution inputs barely differ: the check would be weak"
        # The batched forward pass of a local vectorised step: the same function, all 40 at once.
        raws = [np.array(row["obs"], np.float32) for row in rows]
        dist, values = policy.forward_batch(np.stack([policy.preprocess(x) for x in raws]))
        for j, (row, r) in enumerate(zip(rows, ref)):
            mask = np.array(row["mask"], np.float32) if "mask" in row else None
            greedy = policy.sample(dist[j].copy(), values[j], mask, explore=False)
            np.testing.assert_allclose(greedy.dist_inputs, r["dist_inputs"], rtol=1e-5, atol=1e-5)
            assert abs(greedy.vf_pred - r["vf_pred"]) <= 1e-5 * max(1.0, abs(r["vf_pred"]))
            assert list(greedy.discrete) == r["greedy_discrete"]
            assert abs(greedy.logp - r["greedy_logp"]) <= 1e-5 * max(1.0, abs(r["greedy_logp"]))
        if "observation_clip" in extra:  # clipping happened: the clipped and raw inputs differ
            raws = np.array([row["obs"] for row in rows])
            assert (np.abs(raws) > extra["observation_clip"]).any()
