"""Experience output read as a user would: Python's json and pandas.read_json(lines=True) on
the files a real tandem-server wrote ("output", RLlib's SampleBatch layout), values identical
to what the simulator sent."""
import json

import numpy as np
import pandas as pd

import tandem
from conftest import eventually

RLLIB_COLUMNS = {"type", "obs", "new_obs", "actions", "prev_actions", "rewards", "prev_rewards", "dones", "t",
                 "eps_id", "unroll_id", "agent_index", "action_prob", "action_logp", "action_dist_inputs",
                 "vf_preds"}


def play(c, eid, steps):
    c.start_episode(eid)
    sent = []
    for t in range(steps):
        o = np.array([0.5 * t, -0.25 * t], np.float32)
        a = c.get_action(eid, o)
        c.log_returns(eid, float(t) + 0.5)
        sent.append((o.tolist(), int(a), float(t) + 0.5))
    c.end_episode(eid, np.array([0.5 * steps, -0.25 * steps], np.float32))
    return sent


def test_pandas_and_json_read_the_episodes_a_server_wrote(start_server, tmp_path):
    out = tmp_path / "offline"
    s = start_server({"output": str(out), "output_config": {"what": "episodes"}}, extra_args=["--no-train"])
    with tandem.PolicyClient(s.address, inference_mode="remote") as c:
        sent = {eid: play(c, eid, n) for eid, n in (("first", 7), ("second", 3))}
        c.flush()
    assert eventually(lambda: s.metric("tandem_output_rows_written_total") == 10)
    assert s.stop() == 0
    files = sorted(out.glob("output-*.json"))
    assert files
    df = pd.concat([pd.read_json(f, lines=True) for f in files], ignore_index=True)
    assert len(df) == 2
    assert RLLIB_COLUMNS <= set(df.columns)
    assert set(df["type"]) == {"SampleBatch"}
    for _, row in df.iterrows():
        eid = row["eps_id"][0]
        exp = sent[eid]
        assert row["eps_id"] == [eid] * len(exp)
        assert row["obs"] == [o for o, _, _ in exp]
        assert row["actions"] == [a for _, a, _ in exp]
        assert row["rewards"] == [r for _, _, r in exp]
        assert row["t"] == list(range(len(exp)))
        assert row["dones"] == [False] * (len(exp) - 1) + [True]
        assert row["prev_actions"] == [0] + [a for _, a, _ in exp[:-1]]
        assert row["prev_rewards"] == [0.0] + [r for _, _, r in exp[:-1]]
        assert np.allclose(np.exp(row["action_logp"]), row["action_prob"], rtol=1e-6)
        assert row["new_obs"][:-1] == row["obs"][1:]
    # The standard library reads the same lines.
    with open(files[0]) as f:
        first = json.loads(f.readline())
    assert first["policy_id"] == "p" and len(first["obs"]) == len(first["rewards"])
