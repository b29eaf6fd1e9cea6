"""The Python PolicyClient's whole API against a real tandem-server, remote and local."""
import json
import math
import subprocess
import time

import numpy as np
import pytest

import tandem
from conftest import CuttingProxy, eventually

MODES = ["remote", "local"]

MULTI = {
    "policies": {
        "walker": {"observation_space": {"type": "box", "shape": [2], "low": -10, "high": 10},
                   "action_space": {"type": "discrete", "n": 3}},
        "picker": {"observation_space": {"type": "discrete", "n": 4},
                   "action_space": {"type": "multi_discrete", "nvec": [2, 3]}},
        "arm": {"observation_space": {"type": "box", "shape": [3]},
                "action_space": {"type": "box", "shape": [2], "low": -1, "high": 1}},
    },
    "policy_mapping": {"agent1": "walker", "agent2": "picker", "agent3": "arm"},
}


def client(server, mode, **kw):
    return tandem.PolicyClient(server.address, inference_mode=mode, reconnect_timeout=10, seed=7, **kw)


@pytest.mark.parametrize("mode", MODES)
def test_single_agent_episodes_are_served_and_counted(start_server, mode):
    s = start_server({"config": {"train_batch_size": 1000000}})
    with client(s, mode) as c:
        for e in range(3):
            eid = c.start_episode()
            assert eid.startswith("ep-")
            for t in range(20):
                a = c.get_action(eid, [0.1 * t, -0.2])
                assert isinstance(a, int) and 0 <= a < 3
                c.log_returns(eid, 1.0)
            c.end_episode(eid, np.array([0.0, 0.0], np.float32))
        named = c.start_episode("my-episode", training_enabled=False, explore=False)
        assert named == "my-episode"
        assert c.get_action(named, np.zeros(2)) == c.get_action(named, np.zeros(2))  # greedy
        c.end_episode(named, [0, 0], truncated=True)
        c.flush()
    assert eventually(lambda: s.metric("tandem_episodes_total") == 4)
    assert s.metric("tandem_timesteps_total") == 3 * 20 + 2


@pytest.mark.parametrize("mode", MODES)
def test_multi_agent_dicts_masks_and_every_space_kind(start_server, mode):
    s = start_server(MULTI)
    with client(s, mode) as c:
        eid = c.start_episode()
        obs = {"agent1": [1.0, 2.0], "agent2": [3], "agent3": np.array([0.5, -0.5, 9.0])}
        for _ in range(30):
            acts = c.get_action(eid, obs, action_mask={"agent1": [0, 1, 0], "agent2": [1, 0, 0, 1, 1]})
            assert set(acts) == {"agent1", "agent2", "agent3"}
            assert acts["agent1"] == 1  # the only action the mask allows
            assert isinstance(acts["agent2"], np.ndarray) and acts["agent2"].dtype == np.int64
            assert acts["agent2"][0] == 0 and acts["agent2"][1] in (1, 2)
            assert acts["agent3"].dtype == np.float32 and acts["agent3"].shape == (2,)
            c.log_returns(eid, {"agent1": 1.0, "agent2": -1.0, "agent3": 0.5})
        c.log_returns(eid, {"agent3": 2.0}, multiagent_done_dict={"agent3": True})
        with pytest.raises(tandem.UnknownAgent) as e:
            c.get_action(eid, {"agent3": [0, 0, 0]})  # done already
        assert "already done" in e.value.message
        c.log_action(eid, {"agent1": [0.0, 0.0], "agent2": [1]}, {"agent1": 2, "agent2": [1, 2]})
        c.end_episode(eid, {"agent1": [0.0, 0.0], "agent2": [0]}, custom_metrics={"score": 3.5})
        c.flush()
    assert eventually(lambda: s.metric("tandem_episodes_total") == 1)


@pytest.mark.parametrize("mode", MODES)
def test_every_bad_call_raises_a_named_error_and_changes_nothing(start_server, mode):
    s = start_server(MULTI)
    with client(s, mode) as c:
        eid = c.start_episode()
        cases = [
            (tandem.UnknownEpisode, lambda: c.get_action("no-such-episode", {"agent1": [0, 0]})),
            (tandem.BadObservation, lambda: c.get_action(eid, {"agent1": [0, 0, 0]})),         # wrong size
            (tandem.BadObservation, lambda: c.get_action(eid, {"agent1": [math.nan, 0]})),     # NaN
            (tandem.BadObservation, lambda: c.get_action(eid, {"agent1": [0, 1e30]})),         # outside the Box
            (tandem.BadObservation, lambda: c.get_action(eid, {"agent2": [4]})),               # Discrete(4) value 4
            (tandem.BadObservation, lambda: c.get_action(eid, {"agent1": [0, 0]}, {"agent1": [0, 0, 0]})),  # no action allowed
            (tandem.BadObservation, lambda: c.get_action(eid, {"agent1": [0, 0]}, {"agent1": [1, 1]})),     # mask size
            (tandem.UnknownAgent, lambda: c.get_action(eid, {"stranger": [0, 0]})),
            (tandem.BadRequest, lambda: c.get_action(eid, {})),
            (tandem.BadAction, lambda: (c.log_action(eid, {"agent1": [0, 0]}, {"agent1": 7}), c.flush())),
            (tandem.DuplicateEpisode, lambda: c.start_episode(eid)),
        ]
        for cls, call in cases:
            with pytest.raises(cls) as e:
                call()
            assert e.value.code == cls.code and e.value.message and e.value.request
        # A pipelined call's error surfaces on the next call (remote) or at once (local), by name.
        with pytest.raises(tandem.UnknownEpisode) as e:
            c.log_returns("gone", 1.0)
            c.get_action(eid, {"agent1": [0, 0]})  # remote: succeeds, carrying the held call
            c.flush()
        assert e.value.request == "LogReturns(gone)"
        with pytest.raises(tandem.BadRequest):
            c.log_returns(eid, {"agent1": float("inf")})
            c.flush()
        # Nothing of the above changed the episode: it still runs and ends normally.
        assert c.get_action(eid, {"agent1": [0, 0]})["agent1"] in (0, 1, 2)
        c.log_returns(eid, {"agent1": 1.0})
        c.end_episode(eid, {"agent1": [0, 0]})
        c.flush()
        with pytest.raises(tandem.UnknownEpisode):
            c.get_action(eid, {"agent1": [0, 0]})
    assert eventually(lambda: s.metric("tandem_episodes_total") == 1)
    expected = 2 if mode == "remote" else 1  # local: log_returns("gone") raised before get_action ran
    assert s.metric("tandem_timesteps_total") == expected


@pytest.mark.parametrize("mode", MODES)
def test_vectorised_step_serves_many_episodes_in_one_call(start_server, mode):
    s = start_server({"config": {"train_batch_size": 1000000}})
    with client(s, mode) as c:
        ids = [f"v{i}" for i in range(16)]
        v = tandem.VectorStep()
        for eid in ids:
            v.start_episode(eid)
        for eid in ids:
            v.get_action(eid, [0.5, 0.5])
        out = c.step(v)
        assert out[:16] == ids and all(a in (0, 1, 2) for a in out[16:])
        acts = c.get_actions(ids, [[0.1, 0.2]] * 16)
        assert len(acts) == 16
        v = tandem.VectorStep()
        v.log_returns("v0", 1.0).get_action("nope", [0, 0]).get_action("v1", [0, 0])
        # a bad observation amid a run of get_actions, and one episode twice in a row
        v.get_action("v2", [0, 0, 0]).get_action("v3", [0, 0]).get_action("v3", [0.1, 0])
        with pytest.raises(tandem.UnknownEpisode) as e:
            c.step(v)
        assert e.value.request == "GetAction(nope)"
        v = tandem.VectorStep()
        for eid in ids:
            v.log_returns(eid, 1.0).end_episode(eid, [0, 0])
        c.step(v)
        c.flush()
    assert eventually(lambda: s.metric("tandem_episodes_total") == 16)
    # GetAction(v1) after the failed entry ran, and both of v3's; v2's bad one changed nothing
    assert s.metric("tandem_timesteps_total") == 16 * 2 + 3


@pytest.mark.parametrize("mode", MODES)
def test_training_happens_and_local_weights_follow(start_server, mode):
    s = start_server({"config": {"train_batch_size": 64, "rollout_fragment_length": 16}})
    with client(s, mode, update_interval=0.2) as c:
        for _ in range(10):
            eid = c.start_episode()
            for t in range(20):
                c.get_action(eid, [0.1, 0.1 * t])
                c.log_returns(eid, 1.0)
            c.end_episode(eid, [0, 0])
        c.flush()
        assert eventually(lambda: s.metric("tandem_training_iteration") >= 2)
        if mode == "local":
            eid = c.start_episode()
            for t in range(40):  # the uploads' replies show newer weights: they are fetched
                c.get_action(eid, [0, 0])
            assert eventually(lambda: c.local_stats().weights_version >= 2, 10)
            st = c.local_stats()
            assert st.uploaded_steps >= 200 and st.dropped_steps == 0 and st.weight_updates >= 2
    assert s.metric("tandem_learner_errors_total") == 0


@pytest.mark.parametrize("mode", MODES)
def test_reconnects_after_the_server_restarts(start_server, mode):
    s = start_server({"config": {"train_batch_size": 1000000}})
    with client(s, mode) as c:
        eid = c.start_episode()
        c.get_action(eid, [0, 0])
        c.log_returns(eid, 1.0)
        c.flush()
        s.restart_on_same_port()
        if mode == "remote":
            with pytest.raises(tandem.UnknownEpisode):  # the new server never saw it
                c.get_action(eid, [0, 0])
            assert c.reconnects >= 1
        eid2 = c.start_episode()
        for _ in range(20):
            c.get_action(eid2, [0, 0])
            c.log_returns(eid2, 1.0)
        c.end_episode(eid2, [0, 0])
        c.flush()
        if mode == "local":
            assert c.local_stats().reconnects >= 1
    assert eventually(lambda: s.metric("tandem_episodes_total") >= 1)


def test_an_old_protocol_version_gets_unsupported_version(server):
    import websocket
    from tandem import codec
    ws = websocket.create_connection(server.address, header=["X-Tandem-Client: old-client"])
    ws.send_binary(codec.encode(5, "GetConfig", (), version=1))
    rid, reply = codec.decode_reply(ws.recv())
    assert rid == 5 and isinstance(reply, codec.ErrorReply)
    assert reply.code == "UnsupportedVersion" and "speaks 2" in reply.message
    ws.close()


def test_token_auth_and_tls(start_server, tmp_path):
    cert, key = tmp_path / "s.crt", tmp_path / "s.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    token = tmp_path / "token"
    token.write_text("s3cret-token-for-the-test")
    s = start_server({"auth_token_file": str(token), "tls_cert_file": str(cert), "tls_key_file": str(key)})
    assert s.address.startswith("wss://")
    with pytest.raises(tandem.RefusedError, match="401"):
        tandem.PolicyClient(s.address, auth_token="wrong", tls_ca_file=str(cert), reconnect_timeout=5)
    with pytest.raises(tandem.RefusedError, match="not trusted"):
        tandem.PolicyClient(s.address, auth_token="s3cret-token-for-the-test", reconnect_timeout=5)
    for mode in MODES:
        with tandem.PolicyClient(s.address, mode, auth_token="s3cret-token-for-the-test", tls_ca_file=str(cert),
                                 reconnect_timeout=10) as c:
            eid = c.start_episode()
            assert c.get_action(eid, [0, 0]) in (0, 1, 2)
            c.end_episode(eid, [0, 0])
            c.flush()


def test_get_config_describes_every_model(start_server):
    s = start_server(MULTI)
    with tandem.PolicyClient(s.address) as c:
        cfg = json.loads(c.get_config())
    assert cfg["protocol_version"] == tandem.PROTOCOL_VERSION
    m = cfg["models"]["arm"]
    assert m["distribution"] == "diag_gaussian" and m["free_log_std"] and m["input_size"] == 3
    assert [t["name"] for t in m["tensors"]][-1] == "log_std"
    assert cfg["models"]["picker"]["preprocessing"] == "one_hot"  # Discrete(4) observations
    assert cfg["models"]["picker"]["distribution"] == "multi_categorical"
    assert "auth_token" not in json.dumps(cfg)


def test_local_mode_acts_on_while_the_server_is_away_and_buffers_within_its_bound(start_server):
    s = start_server({"config": {"train_batch_size": 1000000, "rollout_fragment_length": 10}})
    opt = tandem.ClientOptions(max_buffered_steps=100, close_timeout=2)
    with tandem.PolicyClient(s.address, inference_mode="local", reconnect_timeout=10, seed=3, options=opt) as c:
        port = s.port
        s.stop()
        eid = c.start_episode()
        for t in range(300):  # no server: actions still come, reports wait (the oldest dropped)
            assert c.get_action(eid, [0.0, 0.1]) in (0, 1, 2)
            c.log_returns(eid, 1.0)
        assert eventually(lambda: not c.local_stats().connected, 10)
        st = c.local_stats()
        # 29 fragments of 10 closed (the 30th is open): at most 100 queued + 10 in flight kept
        assert st.buffered_steps <= 100 + 10 and st.dropped_steps >= 290 - 110
        s.config["port"] = port
        s.start(port)
        c.end_episode(eid, [0.0, 0.0])
        c.flush()
        st = c.local_stats()
        assert st.connected and st.reconnects >= 1 and st.buffered_steps == 0
        uploaded, dropped = st.uploaded_steps, st.dropped_steps
    assert uploaded + dropped == 300
    assert eventually(lambda: s.metric("tandem_timesteps_total") == uploaded)


@pytest.mark.parametrize("mode", MODES)
def test_ids_as_the_server_has_them_an_ended_id_restarts_and_an_empty_one_is_made(start_server, mode):
    s = start_server({"config": {"train_batch_size": 1000000}})
    with client(s, mode) as c:
        for _ in range(3):  # a fixed id per environment, reused episode after episode
            assert c.start_episode("env-0") == "env-0"
            c.get_action("env-0", [0, 0])
            c.end_episode("env-0", [0, 0])
        made = c.start_episode("")
        assert made.startswith("ep-")
        with pytest.raises(tandem.BadRequest, match="control character"):
            c.start_episode("bad\x01id")
        with pytest.raises(tandem.BadRequest, match="longer than 128"):
            c.get_action(made, {"a" * 200: [0, 0]})
        c.flush()
    assert eventually(lambda: s.metric("tandem_episodes_total") == 3)


def test_local_mode_keeps_each_observation_even_when_the_simulator_reuses_its_buffer(start_server, tmp_path):
    import pandas as pd
    out = tmp_path / "samples"
    s = start_server({"config": {"rollout_fragment_length": 8, "train_batch_size": 16, "sgd_minibatch_size": 8},
                      "output": str(out), "output_config": {"what": "fragments"}})
    buf = np.zeros(2, np.float32)
    with client(s, "local") as c:
        eid = c.start_episode()
        for t in range(16):
            buf[:] = [t / 2, -t / 2]  # the same array, new values (the Box is [-10, 10])
            c.get_action(eid, buf)
            c.log_returns(eid, 1.0)
        c.end_episode(eid, buf)
        c.flush()
    assert eventually(lambda: s.metric("tandem_training_iteration") >= 1)
    assert eventually(lambda: s.metric("tandem_output_rows_written_total") >= 16)
    df = pd.concat([pd.read_json(f, lines=True) for f in sorted(out.glob("output-*.json"))])
    rows = [o for frag in df["obs"] for o in frag]
    assert sorted(rows) == sorted([[t / 2, -t / 2] for t in range(16)])


def test_local_mode_cuts_a_fragment_too_large_for_one_frame(start_server):
    # 30,000 floats a step, 100 steps a fragment: 12 MB of observations, more than one frame.
    s = start_server({"config": {"train_batch_size": 1000000, "rollout_fragment_length": 100},
                      "policies": {"p": {"observation_space": {"type": "box", "shape": [30000]},
                                         "action_space": {"type": "discrete", "n": 2}}}})
    with client(s, "local") as c:
        eid = c.start_episode()
        obs = np.linspace(-1, 1, 30000).astype(np.float32)
        for _ in range(120):
            c.get_action(eid, obs)
            c.log_returns(eid, 1.0)
        c.end_episode(eid, obs)
        c.flush()
        st = c.local_stats()
        assert st.uploaded_steps == 120 and st.dropped_steps == 0 and st.rejected_reports == 0
    assert eventually(lambda: s.metric("tandem_timesteps_total") == 120)
    assert s.metric("tandem_episodes_total") == 1


def test_a_vectorised_call_beyond_the_server_bounds_is_refused_before_anything_is_sent(server):
    with client(server, "remote") as c:
        v = tandem.VectorStep()
        for i in range(1100):
            v.start_episode(f"e{i}")
        with pytest.raises(tandem.BadRequest, match="nothing was sent"):
            c.step(v)
        c.flush()
    assert server.metric("tandem_open_episodes") == 0


def test_local_uploads_go_in_pipelined_rounds_and_each_report_is_applied_once_across_drops(start_server):
    """Short episodes close reports faster than one round trip: the upload thread sends the
    queued ones together (fewer rounds than reports). The connection is cut mid-flow several
    times; every report is resent under its id and applied once: the server counts exactly
    what the simulator produced, nothing lost, nothing twice."""
    s = start_server({"config": {"train_batch_size": 1000000, "rollout_fragment_length": 4}})
    proxy = CuttingProxy(s.port)
    episodes, length = 300, 3
    try:
        with tandem.PolicyClient(proxy.address, inference_mode="local", reconnect_timeout=10, seed=5) as c:
            for e in range(episodes):
                eid = c.start_episode()
                for t in range(length):
                    c.get_action(eid, [0.1 * t, 0.0])
                    c.log_returns(eid, 1.0)
                c.end_episode(eid, [0.0, 0.0])
                if e % 75 == 40:
                    proxy.cut()
            c.flush()
            st = c.local_stats()
    finally:
        proxy.close()
    assert st.dropped_steps == 0 and st.rejected_reports == 0, st
    assert st.uploaded_reports == episodes and st.uploaded_steps == episodes * length, st
    assert st.reconnects >= 1 and st.resent_requests >= 1, st  # a cut met unanswered requests
    assert st.upload_rounds < st.uploaded_reports, st  # several reports went out together
    assert eventually(lambda: s.metric("tandem_episodes_total") == episodes)
    assert s.metric("tandem_timesteps_total") == episodes * length


def test_local_flow_control_waits_while_uploads_are_unanswered_then_gives_up_after_max_block(start_server):
    """While no upload is answered (replies held, as a server whose learner is behind holds
    them), a call that closes a fragment waits once more than max_unsent_steps wait unsent, at
    most max_block; after that the simulator runs on (stalled) and the reports are kept."""
    s = start_server({"config": {"train_batch_size": 1000000, "rollout_fragment_length": 4}})
    proxy = CuttingProxy(s.port)
    opt = tandem.ClientOptions(max_unsent_steps=20, max_block=0.6)
    try:
        with tandem.PolicyClient(proxy.address, inference_mode="local", reconnect_timeout=10, seed=5, options=opt) as c:
            eid = c.start_episode()
            proxy.replies.clear()
            waited = []  # (step, seconds) of the calls that waited
            t0 = time.monotonic()
            for t in range(400):
                a = time.monotonic()
                c.get_action(eid, [0.0, 0.0])
                c.log_returns(eid, 1.0)
                if time.monotonic() - a > 0.3:
                    waited.append((t, time.monotonic() - a))
            total = time.monotonic() - t0
            st = c.local_stats()
            proxy.replies.set()
            c.end_episode(eid, [0.0, 0.0])
            c.flush()
            done = c.local_stats()
    finally:
        proxy.close()
    # The first round in flight (at most 32 reports of 4) plus 20 unsent, then one fragment more.
    assert len(waited) == 1, waited
    step, seconds = waited[0]
    assert 20 <= step <= 32 * 4 + 20 + 8 and 0.5 <= seconds <= 3.0, waited
    assert total < seconds + 3.0  # stalled: no second wait
    assert st.buffered_steps >= 396 and st.dropped_steps == 0, st
    assert done.uploaded_steps == 400 and done.dropped_steps == 0, done
    assert eventually(lambda: s.metric("tandem_timesteps_total") == 400)
