"""The self-play league on a real tandem-server (core/league.h; docs/ARCHITECTURE.md "Self-play
league"), driven by the Python client in remote mode.

The games are built so the outcome proves the seating: each seat is asked for six actions
under a mask that allows columns 3..6; the `linear` script always answers 3 (its leftmost
legal column) while a learned policy (main or snapshot) samples; a seat that answered 3 every
time loses, and a game in which both or neither did is a draw. So the main policy must beat
`linear` in (almost) every game and draw with its own snapshots: the league's tallies show it
only if the server really put the drawn opponent on the other seat."""
import json
import pathlib
import time
import urllib.request

import numpy as np
import pytest

import tandem

CONFIG = json.loads((pathlib.Path(__file__).parents[2] / "configs" / "connect_four_ppo.json").read_text())
MASK = [0, 0, 0, 1, 1, 1, 1]
OBS = np.zeros(84, np.float32)
SEATS = ("player_0", "player_1")


def league_config(**league):
    cfg = json.loads(json.dumps(CONFIG))
    cfg.pop("port")
    cfg.pop("policy_mapping")  # the league seats the players
    cfg["config"].update({"train_batch_size": 60, "rollout_fragment_length": 6, "sgd_minibatch_size": 30,
                          "num_sgd_iter": 1, "model": {"fcnet_hiddens": [16]}})
    cfg["league"] = dict({"main_policy": "learned", "seats": list(SEATS), "opponents": ["linear"],
                          "win_rate_threshold": 0.0, "max_opponents": 3, "min_games": 4}, **league)
    cfg["checkpoint_at_end"] = True
    return cfg


def play(client, explore=True):
    """One game; returns the seats that answered 3 every time."""
    eid = client.start_episode(explore=explore)
    always3 = {s: True for s in SEATS}
    for _ in range(6):
        for s in SEATS:
            a = client.get_action(eid, {s: OBS}, action_mask={s: MASK})[s]
            assert a in (3, 4, 5, 6)
            always3[s] &= a == 3
    losers = {s for s in SEATS if always3[s]}
    rewards = {s: 0.0 for s in SEATS}
    if len(losers) == 1:
        (loser,) = losers
        for s in SEATS:
            rewards[s] = -1.0 if s == loser else 1.0
    client.log_returns(eid, rewards)
    client.end_episode(eid, {s: OBS for s in SEATS})
    return losers


def rows(server):
    path = pathlib.Path(server.config["results_dir"]) / "result.json"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except ValueError:  # a line being written
            break
    return out


def test_league_seats_games_adds_snapshots_and_drops_the_oldest(start_server):
    s = start_server(league_config(), whole=True)
    def linear_games(rs):
        return sum(r["league"]["opponents"].get("linear", {}).get("games", 0) for r in rs)

    with tandem.PolicyClient(s.address, inference_mode="remote", seed=5) as c:
        games = 0
        while games < 3000:
            rs = rows(s)
            if len([r for r in rs if r["league"]["added"]]) >= 4 and linear_games(rs) >= 20:
                break
            play(c)
            games += 1
        c.flush()
    assert s.stop() == 0
    rs = rows(s)
    added = [r["league"]["added"] for r in rs if r["league"]["added"]]
    assert added[:4] == ["learned_v1", "learned_v2", "learned_v3", "learned_v4"]
    # Two snapshot slots (max_opponents 3, one configured opponent): v3 pushes v1 out, v4 v2.
    dropped = [r["league"]["dropped"] for r in rs if r["league"]["dropped"]]
    assert dropped[:2] == ["learned_v1", "learned_v2"]
    for r in rs:
        lg = r["league"]
        assert lg["size"] <= 4 and lg["snapshots"] <= 2 and lg["members"][0] == "linear"
        assert lg["games"] == lg["wins"] + lg["draws"] + lg["losses"]
        assert lg["games"] == sum(o["games"] for o in lg["opponents"].values())
    # Summed over the run: the main policy beat linear (it never was the all-3 seat but by a
    # ~1/4^6 chance) and drew with every snapshot of itself (both sampled).
    tot, slots = {}, set()
    for r in rs:
        for policy, o in r["league"]["opponents"].items():
            name = o["name"]
            if policy != name:
                assert policy in ("learned_slot1", "learned_slot2") and name.startswith("learned_v")
                slots.add(policy)
            t = tot.setdefault(name, [0, 0, 0, 0])
            for i, k in enumerate(("games", "wins", "draws", "losses")):
                t[i] += o[k]
    assert tot["linear"][0] >= 20 and tot["linear"][1] >= 0.97 * tot["linear"][0]
    snaps = [n for n in tot if n.startswith("learned_v")]
    assert snaps, tot
    for n in snaps:
        assert tot[n][2] >= 0.97 * tot[n][0], (n, tot[n])  # draws
    # The whole game count reached the league.
    assert sum(t[0] for t in tot.values()) <= games
    assert sum(t[0] for t in tot.values()) >= games - 40  # at most the last iteration's games unreported
    # progress.csv has a column for every opponent policy that played, also the slots that came
    # later, and no column per snapshot name (its columns stay few however many snapshots come).
    header = (pathlib.Path(s.config["results_dir"]) / "progress.csv").read_text().splitlines()[0].split(",")
    for n in ["linear"] + sorted(slots):
        assert f"league/opponents/{n}/win_rate" in header
        assert f"league/opponents/{n}/name" in header
    assert not [h for h in header if "learned_v" in h]
    assert "league/win_rate" in header and "league/size" in header


def test_league_metrics_evaluation_round_robin_and_restore(start_server, tmp_path):
    s = start_server(league_config(max_opponents=4, evaluation_opponents=["linear", "random"]), whole=True)
    with tandem.PolicyClient(s.address, inference_mode="remote", seed=6) as c:
        while len([r for r in rows(s) if r["league"]["added"]]) < 2:
            play(c)
        c.flush()
    text = urllib.request.urlopen(f"http://127.0.0.1:{s.port}/metrics", timeout=10).read().decode()
    assert "tandem_league_size " in text and 'tandem_league_opponent_win_rate{opponent="linear"}' in text
    assert s.metric("tandem_league_snapshots") >= 1
    # Training stops once the games do (at most the batch collected meanwhile): wait for it.
    last = None
    while last != len(rows(s)):
        last = len(rows(s))
        time.sleep(1.5)
    members = rows(s)[-1]["league"]["members"]
    # What the slots serve, to compare after --restore (greedy, so deterministic).
    boards = [np.random.default_rng(i).integers(0, 2, 84).astype(float).tolist() for i in range(20)]

    def greedy(server, policy):
        body = json.dumps({"observations": boards, "explore": False}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{server.port}/v1/policies/{policy}/actions", body)
        return json.loads(urllib.request.urlopen(req, timeout=10).read())["actions"]

    served = {p: greedy(s, p) for p in ("learned", "learned_slot1")}
    assert s.stop() == 0
    ckpt = sorted(pathlib.Path(s.config["results_dir"]).glob("checkpoint_*"))[-1]
    state = json.loads((ckpt / "state.json").read_text())
    assert [x["name"] for x in state["league"]["snapshots"]] == members[1:]
    assert (ckpt / "learned_slot1.weights").exists()
    assert "learned_slot1" not in state["config"]["policies"]  # the league makes its slots

    # Restored into a server that does not train: the snapshots are members again, and
    # evaluation games run a round robin of evaluation_opponents x seats (2 x 2 here).
    cfg = league_config(max_opponents=4, evaluation_opponents=["linear", "random"])
    cfg["report_interval_s"] = 0.2
    r = start_server(cfg, extra_args=["--no-train", "--restore", str(ckpt)], whole=True, name="restored")
    assert {p: greedy(r, p) for p in served} == served
    with tandem.PolicyClient(r.address, inference_mode="remote", seed=7) as c:
        for _ in range(40):
            play(c, explore=False)
        c.flush()
    assert r.stop() == 0
    rr = rows(r)
    assert rr[-1]["league"]["members"] == members
    ev = {}
    for row in rr:
        for name, o in row.get("evaluation", {}).get("league", {}).get("opponents", {}).items():
            ev[name] = ev.get(name, 0) + o["games"]
    assert ev == {"linear": 20, "random": 20}


def test_league_config_errors_and_local_clients_refused(start_server):
    bad = league_config(opponents=["nope"])
    with pytest.raises(RuntimeError, match="not hosted"):
        start_server(bad, whole=True)
    s = start_server(league_config(), whole=True)
    with pytest.raises(tandem.TandemConnectionError, match="self-play league"):
        tandem.PolicyClient(s.address, inference_mode="local")
    # The server is unharmed, and a remote client plays on.
    with tandem.PolicyClient(s.address, inference_mode="remote") as c:
        play(c)
        c.flush()
