"""scripts/tandem-tune (issue 18): grid expansion, trials run concurrently to their stop
criteria, a failing trial, resume after the experiment was killed. Real tandem-servers and the
Python arena example as the simulator, two trials at most at once."""
import csv
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, SERVER_BIN, eventually

TUNE = ROOT / "scripts" / "tandem-tune"
_loader = importlib.machinery.SourceFileLoader("tandem_tune", str(TUNE))
_spec = importlib.util.spec_from_loader("tandem_tune", _loader)
tune = importlib.util.module_from_spec(_spec)
_loader.exec_module(tune)

# Both arena agents on one server (policy_mapping "*"), tiny batches: an iteration is 200 steps.
SIM = [sys.executable, "examples/python/arena.py", "--route", "agent1={url}", "--route", "agent2={url}",
       "--steps", "10000000", "--report-every", "10000000"]
SMALL = {"policy_mapping": {"*": "policy1"}, "seed": 1,
         "config": {"train_batch_size": 200, "sgd_minibatch_size": 100, "num_sgd_iter": 1,
                    "rollout_fragment_length": 50, "model": {"fcnet_hiddens": [16]}}}


def experiment(tmp_path, name, config, stop, simulator=SIM, max_concurrent=2):
    exp = {"name": name, "server_config": "configs/arena_ppo.json", "config": config, "stop": stop,
           "max_concurrent": max_concurrent, "simulator": simulator}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(exp))
    return path


def run_tune(*args, timeout=120):
    return subprocess.run([sys.executable, str(TUNE), *map(str, args), "--server-bin", SERVER_BIN],
                          capture_output=True, text=True, timeout=timeout)


def rows(result_json):
    return [json.loads(line) for line in pathlib.Path(result_json).read_text().splitlines() if line.strip()]


def test_grid_expansion_crosses_every_grid_search_anywhere():
    spec = {"seed": 1, "config": {"lr": {"grid_search": [1e-4, 0.5]}, "model": {"fcnet_hiddens": {"grid_search": [[8], [16, 16], [32]]}}},
            "stop": {"training_iteration": 3}}
    out = tune.expand_grid(spec)
    assert len(out) == 6
    assert [p for _, p in out] == [{"config/lr": lr, "config/model/fcnet_hiddens": h}
                                   for lr in (1e-4, 0.5) for h in ([8], [16, 16], [32])]
    for resolved, p in out:
        assert resolved["seed"] == 1 and resolved["stop"] == {"training_iteration": 3}
        assert resolved["config"]["lr"] == p["config/lr"]
        assert resolved["config"]["model"]["fcnet_hiddens"] == p["config/model/fcnet_hiddens"]
    assert spec["config"]["lr"] == {"grid_search": [1e-4, 0.5]}  # the input is left alone
    assert tune.expand_grid({"a": 1}) == [({"a": 1}, {})]
    with pytest.raises(ValueError):
        tune.expand_grid({"a": {"grid_search": []}})
    # merged into a base config: nested dicts merge, the rest is replaced
    assert tune.merge({"config": {"lr": 1, "gamma": 0.9}, "x": [1]}, {"config": {"lr": 2}, "x": [2]}) == \
        {"config": {"lr": 2, "gamma": 0.9}, "x": [2]}
    # trial names: the last key, more of the path when two would read alike
    assert tune.param_labels({"ppo/config/lr": 1, "a2c/config/lr": 2}) == {"ppo/config/lr": "ppo/config/lr",
                                                                          "a2c/config/lr": "a2c/config/lr"}
    assert tune.trial_dirname("PPO_arena", 0, {"config/lr": 5e-05}) == "PPO_arena_00000_lr=5e-05"


def test_grid_search_inside_lists_and_bad_experiment_files(tmp_path):
    out = tune.expand_grid({"model": {"fcnet_hiddens": [{"grid_search": [8, 16]}, 4]}})
    assert [r["model"]["fcnet_hiddens"] for r, _ in out] == [[8, 4], [16, 4]]
    assert [p for _, p in out] == [{"model/fcnet_hiddens/0": 8}, {"model/fcnet_hiddens/0": 16}]
    with pytest.raises(ValueError, match="alone"):
        tune.expand_grid({"lr": {"grid_search": [1, 2], "x": 1}})
    good = {"name": "bad", "server_config": "configs/arena_ppo.json", "config": {}, "stop": {},
            "simulator": ["true"]}
    cases = [({"config": {"lr": {"grid_search": 5}}}, "non-empty list"),
             ({"config": {"lr": {"grid_search": []}}}, "non-empty list"),
             ({"simulatr": ["x"]}, "unknown key"),
             ({"config": [1]}, "'config' of the experiment must be an object"),
             ({"stop": "5"}, "'stop' must be an object"),
             ({"max_concurrent": None}, "'max_concurrent' must be an integer"),
             ({"name": "../escape"}, "'name' must be"),
             ({"servers": {"a": "x.json"}, "server_config": None}, "either 'servers'")]
    for change, message in cases:
        exp = dict(good, **change)
        exp = {k: v for k, v in exp.items() if v is not None or k == "max_concurrent"}
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(exp))
        out = run_tune(path, "--dir", tmp_path / "exps")
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, (change, out.stderr)
        assert not (tmp_path / "exps").exists()  # nothing made before the file is valid
    path.write_text("[1, 2]")
    out = run_tune(path, "--dir", tmp_path / "exps")
    assert out.returncode == 2 and "JSON object" in out.stderr


def test_one_tandem_tune_per_experiment_dir(tmp_path):
    exp_dir = tmp_path / "exps" / "locked"
    exp_dir.mkdir(parents=True)
    (exp_dir / "experiment_state.json").write_text(json.dumps({"name": "locked", "trials": [], "simulator": ["true"]}))
    import fcntl
    with open(exp_dir / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        out = run_tune("--resume", exp_dir)
    assert out.returncode == 2 and "another tandem-tune" in out.stderr, out.stderr


def test_two_trials_run_concurrently_to_their_stop_criteria(tmp_path):
    config = dict(SMALL, config=dict(SMALL["config"], lr={"grid_search": [1e-4, 1e-3]}))
    exp = experiment(tmp_path, "two", config, {"training_iteration": 2})
    out = run_tune(exp, "--dir", tmp_path / "exps")
    assert out.returncode == 0, out.stdout + out.stderr
    exp_dir = tmp_path / "exps" / "two"
    state = json.loads((exp_dir / "experiment_state.json").read_text())
    trials = state["trials"]
    assert [t["name"] for t in trials] == ["PPO_two_00000_lr=0.0001", "PPO_two_00001_lr=0.001"]
    assert all(t["status"] == "TERMINATED" for t in trials)
    # concurrently: each started before the other ended
    assert trials[0]["start_time"] < trials[1]["end_time"] and trials[1]["start_time"] < trials[0]["end_time"]
    for t, lr in zip(trials, (1e-4, 1e-3)):
        d = pathlib.Path(t["dir"])
        assert d.parent == exp_dir
        cfg = json.loads((d / "server_config.json").read_text())
        assert cfg["config"]["lr"] == lr and cfg["stop"]["training_iteration"] == 2
        r = rows(d / "result.json")
        assert r[-1]["training_iteration"] == 2 and r[-1]["info"]["learner"]["policy1"]["cur_lr"] == pytest.approx(lr)
        assert t["last_result"] == r[-1]
        assert t["checkpoint"] == str(d / "checkpoint_000002") and (d / "checkpoint_000002").is_dir()
        assert list(d.glob("events.out.tfevents.*"))
    with open(exp_dir / "trials.csv") as f:
        csv_rows = list(csv.DictReader(f))
    assert [r["trial_name"] for r in csv_rows] == [t["name"] for t in trials]
    assert [float(r["config/config/lr"]) for r in csv_rows] == [1e-4, 1e-3]
    assert all(r["training_iteration"] == "2" and r["status"] == "TERMINATED" for r in csv_rows)
    assert "info/learner/policy1/entropy" in csv_rows[0]
    assert "TERMINATED" in out.stdout and "| lr " in out.stdout
    best = state["best_trial"]
    assert f"Best trial by episode_reward_mean (max): {best['name']}" in out.stdout
    assert best["checkpoint"].endswith("checkpoint_000002") and best["checkpoint"] in out.stdout


def test_a_failing_trial_is_reported_and_the_other_finishes(tmp_path):
    # The simulator of the seed=2 trial exits 3 at once; the seed=1 trial trains on.
    sim = ["sh", "-c", "case '{trial_dir}' in *seed=2*) echo 'sim: broken on purpose' >&2; exit 3;; esac; exec \"$@\"",
           "sim"] + SIM
    exp = experiment(tmp_path, "failing", dict(SMALL, seed={"grid_search": [1, 2]}), {"training_iteration": 2}, simulator=sim)
    out = run_tune(exp, "--dir", tmp_path / "exps")
    assert out.returncode == 1, out.stdout + out.stderr
    state = json.loads((tmp_path / "exps" / "failing" / "experiment_state.json").read_text())
    good, bad = state["trials"]
    assert good["status"] == "TERMINATED" and good["last_result"]["training_iteration"] == 2
    assert bad["status"] == "ERROR" and bad["error"] == "simulator exited with code 3"
    assert "broken on purpose" in bad["log_tail"]
    assert "ERROR" in out.stdout and "broken on purpose" in out.stderr


def alive(pid):
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.parametrize("kill_children", [True, False])
def test_resume_continues_a_killed_experiment(tmp_path, kill_children):
    """kill_children: SIGKILL for tandem-tune and every process of its trials (resumed from
    the periodic checkpoints); else for tandem-tune alone: its children get SIGTERM
    (PR_SET_PDEATHSIG), the servers write their end checkpoints and exit."""
    # 1000 steps an iteration: neither trial ends while the other one's simulator starts
    config = dict(SMALL, checkpoint_frequency=1,
                  config=dict(SMALL["config"], train_batch_size=1000, lr={"grid_search": [1e-4, 1e-3]}))
    exp = experiment(tmp_path, "resumed", config, {"training_iteration": 12})
    exp_dir = tmp_path / "exps" / "resumed"
    proc = subprocess.Popen([sys.executable, str(TUNE), str(exp), "--dir", str(tmp_path / "exps"), "--server-bin", SERVER_BIN],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def iterations():
        try:
            return [rows(d / "result.json")[-1]["training_iteration"] for d in sorted(exp_dir.glob("PPO_*"))]
        except (OSError, IndexError, ValueError):
            return []

    def pids():
        try:
            state = json.loads((exp_dir / "experiment_state.json").read_text())
        except (OSError, ValueError):
            return [None]
        return [s["pid"] for t in state["trials"] for s in t["servers"].values()] + [t["sim_pid"] for t in state["trials"]]

    assert eventually(lambda: len(pids()) == 4 and None not in pids(), timeout=60)
    pids = pids()
    # killed as soon as both trials have a checkpoint (checkpoint_frequency 1), far from the stop
    def checkpointed():
        dirs = sorted(exp_dir.glob("PPO_*"))
        return len(dirs) == 2 and all(any(".tmp" not in c.name for c in d.glob("checkpoint_*")) for d in dirs)

    assert eventually(checkpointed, timeout=60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for pid in pids if kill_children else []:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert eventually(lambda: not any(alive(p) for p in pids), timeout=30)
    state = json.loads((exp_dir / "experiment_state.json").read_text())
    assert all(t["status"] == "RUNNING" for t in state["trials"])
    before = iterations()
    assert all(i < 12 for i in before), before

    out = run_tune("--resume", exp_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    state = json.loads((exp_dir / "experiment_state.json").read_text())
    for t in state["trials"]:
        assert t["status"] == "TERMINATED" and t["restores"] == 1
        d = pathlib.Path(t["dir"])
        log = (d / "server.log").read_text()
        assert "restored" in log, log[-2000:]
        r = rows(d / "result.json")
        # restored from a checkpoint of the killed run: iterations carry on from it
        assert r[0]["training_iteration"] >= 2 and r[-1]["training_iteration"] == 12
        assert list(d.glob("result.json.before_resume_1"))
        assert t["checkpoint"] == str(d / "checkpoint_000012")
