"""The Python client over several replicas (tandem/replicas.py): real tandem-server processes
with the same config; placement by id (the C++ client's hash), a replica stopped then killed
mid-episode (every step reaches one server once, counted from /metrics and the experience
output), vectorised steps across replicas, every replica gone."""
import json
import os
import signal
import threading
import time

import pytest

import tandem
from tandem.replicas import episode_hash, home_replica, split_addresses

from conftest import eventually


def group(start_server, tmp_path, n):
    servers = []
    for r in range(n):
        out = tmp_path / f"out{r}"
        servers.append(start_server({"output": str(out), "output_config": {"what": "episodes"},
                                     "config": {"rollout_fragment_length": 1000}},
                                    extra_args=["--no-train"], name=f"replica{r}"))
    return servers


def addresses(servers):
    return ",".join(s.address for s in servers)


def pause(s):
    """SIGSTOP, and wait until every thread stopped (a request sent at once could be answered)."""
    os.kill(s.proc.pid, signal.SIGSTOP)

    def stopped():
        tasks = os.listdir(f"/proc/{s.proc.pid}/task")
        return all(open(f"/proc/{s.proc.pid}/task/{t}/stat").read().rsplit(")", 1)[1].split()[0] == "T" for t in tasks)
    assert eventually(stopped, timeout=5)


def steps_of(out_dir, eid):
    t = []
    for f in sorted(out_dir.glob("output-*.json")):
        for line in f.read_text().splitlines():
            row = json.loads(line)
            if row["eps_id"][0] == eid:
                t += [int(o[1]) for o in row["obs"]]
    return t


def ids_on(r, n, count, prefix):
    out, i = [], 0
    while len(out) < count:
        if home_replica(f"{prefix}{i}", n) == r:
            out.append(f"{prefix}{i}")
        i += 1
    return out


def options():
    return tandem.ClientOptions(failover_after=1.0)


def test_hash_is_the_cpp_clients():
    assert episode_hash("a") == 0xaf63dc4c8601ec8c
    assert episode_hash("") == 0xcbf29ce484222325
    assert split_addresses("ws://a:1, ws://b:2") == ["ws://a:1", "ws://b:2"]
    with pytest.raises(ValueError):
        split_addresses("ws://a:1,,ws://b:2")


def test_three_replicas_spread_by_id(start_server, tmp_path):
    servers = group(start_server, tmp_path, 3)
    ids = [f"spread-{i}" for i in range(24)]
    expected = [sum(1 for i in ids if home_replica(i, 3) == r) for r in range(3)]
    assert all(expected)
    with tandem.PolicyClient([s.address for s in servers], options=options(), reconnect_timeout=10) as c:
        for eid in ids:
            c.start_episode(eid)
            for t in range(3):
                c.get_action(eid, [0.0, float(t)])
                c.log_returns(eid, 1.0)
            c.end_episode(eid, [0.0, 3.0])
        c.flush()
        assert c.failovers == 0
    for r, s in enumerate(servers):
        assert eventually(lambda: s.metric("tandem_episodes_total") == expected[r], timeout=5)
        assert s.metric("tandem_timesteps_total") == 3 * expected[r]


def test_a_replica_killed_mid_episode(start_server, tmp_path):
    servers = group(start_server, tmp_path, 3)
    c = tandem.PolicyClient(addresses(servers), options=options(), reconnect_timeout=10)
    x, y = ids_on(0, 3, 2, "fo-")
    z, w = ids_on(1, 3, 1, "fo-")[0], ids_on(2, 3, 1, "fo-")[0]
    eps, before, steps = [x, y, z, w], 3, 8
    for e in eps:
        c.start_episode(e, explore=False)
    for t in range(before):
        for k, e in enumerate(eps):
            c.get_action(e, [float(k), float(t)])
            c.log_returns(e, 1.0)
    c.flush()
    assert servers[0].metric("tandem_timesteps_total") == 2 * before
    pause(servers[0])
    killer = threading.Timer(0.3, servers[0].proc.kill)
    killer.start()
    c.end_episode(x, [0.0, float(before)])
    for t in range(before, steps):
        for k, e in enumerate(eps[1:], 1):
            c.get_action(e, [float(k), float(t)])
            c.log_returns(e, 1.0)
    killer.join()
    for k, e in enumerate(eps[1:], 1):
        c.end_episode(e, [float(k), float(steps)])
    c.flush()
    assert c.failovers == 1
    c.close()
    assert eventually(lambda: servers[1].metric("tandem_timesteps_total") == steps + steps - before, timeout=5)
    assert servers[2].metric("tandem_timesteps_total") == steps
    assert eventually(lambda: servers[1].metric("tandem_episodes_total") == 3, timeout=5)
    servers[1].stop()
    servers[2].stop()
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    assert steps_of(out1, y) == list(range(before, steps))  # none lost, none doubled
    assert steps_of(out1, z) == list(range(steps))
    assert steps_of(out2, w) == list(range(steps))
    assert steps_of(out1, x) == []


def test_vectorised_steps_across_replicas_one_killed(start_server, tmp_path):
    servers = group(start_server, tmp_path, 2)
    c = tandem.PolicyClient(addresses(servers), options=options(), reconnect_timeout=10)
    ids = [f"vec-{e}" for e in range(8)]
    per = [sum(1 for i in ids if home_replica(i, 2) == r) for r in range(2)]
    assert all(per)
    before, steps = 3, 6
    v = tandem.VectorStep()
    for eid in ids:
        v.start_episode(eid)
    c.step(v)

    def play(t):
        v = tandem.VectorStep()
        for k, eid in enumerate(ids):
            if t > 0:
                v.log_returns(eid, 1.0)
            v.get_action(eid, [float(k), float(t)])
        values = c.step(v)
        assert len([a for a in values if a is not None]) == len(ids)

    for t in range(before):
        play(t)
    assert [s.metric("tandem_timesteps_total") for s in servers] == [p * before for p in per]
    pause(servers[0])
    killer = threading.Timer(0.3, servers[0].proc.kill)
    killer.start()
    for t in range(before, steps):
        play(t)
    killer.join()
    v = tandem.VectorStep()
    for k, eid in enumerate(ids):
        v.end_episode(eid, [float(k), float(steps)])
    c.step(v)
    c.flush()
    assert c.failovers == 1
    c.close()
    assert servers[1].metric("tandem_timesteps_total") == per[1] * steps + per[0] * (steps - before)
    servers[1].stop()
    for eid in ids:
        start = before if home_replica(eid, 2) == 0 else 0
        assert steps_of(tmp_path / "out1", eid) == list(range(start, steps)), eid


def test_every_replica_gone(start_server, tmp_path):
    servers = group(start_server, tmp_path, 2)
    opt = tandem.ClientOptions(failover_after=0.5)
    c = tandem.PolicyClient(addresses(servers), options=opt, reconnect_timeout=2.0)
    a, b = ids_on(0, 2, 1, "gone-")[0], ids_on(1, 2, 1, "gone-")[0]
    for e in (a, b):
        c.start_episode(e)
        c.get_action(e, [0.0, 0.0])
    for s in servers:
        s.proc.kill()
        s.proc.wait()
    t0 = time.monotonic()
    with pytest.raises(ConnectionError):
        c.get_action(a, [0.0, 1.0])
    assert 1.0 < time.monotonic() - t0 < 8.0
    assert c.failovers == 1
    with pytest.raises(ValueError):
        tandem.PolicyClient("ws://127.0.0.1:1,ws://127.0.0.1:2", inference_mode="local")
