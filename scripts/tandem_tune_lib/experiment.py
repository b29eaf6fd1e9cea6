"""tandem-tune's experiment: grid expansion (pure), the experiment file, the trials it makes."""
import copy
import itertools
import json
import os
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_SERVER_BIN = os.environ.get("TANDEM_SERVER_BIN", str(ROOT / "build" / "policy_server" / "tandem-server"))
STATE_FILE = "experiment_state.json"
START_TIMEOUT_S = 60       # a server must print "listening on" within this
SIM_GRACE_S = 5            # after the simulator fails: time for servers to stop on their own
END_GRACE_S = 30           # after SIGTERM: time for a process to exit before SIGKILL


# ---------------------------------------------------------------- grid expansion (pure)
def find_grids(obj, path=()):
    """Paths (tuples of keys and list indices) of every {"grid_search": [...]} in obj, in
    document order: inside objects and lists alike."""
    where = "/".join(map(str, path)) or "the top level"
    if isinstance(obj, dict):
        if "grid_search" in obj:
            if set(obj) != {"grid_search"}:
                raise ValueError(f"grid_search at {where} must be alone in its object, got keys {sorted(obj)}")
            if not isinstance(obj["grid_search"], list) or not obj["grid_search"]:
                raise ValueError(f"grid_search at {where} must be a non-empty list")
            return [path]
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return []
    out = []
    for k, v in items:
        out += find_grids(v, path + (k,))
    return out


def set_path(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def expand_grid(spec):
    """Every combination of the grid_search values in spec (crossed; the first grid found
    varies slowest): a list of (resolved spec, {"a/b/c": value}) pairs. No grid: one pair."""
    paths = find_grids(spec)
    lists = []
    for p in paths:
        node = spec
        for k in p:
            node = node[k]
        lists.append(node["grid_search"])
    out = []
    for combo in itertools.product(*lists):
        s = copy.deepcopy(spec)
        for p, v in zip(paths, combo):
            set_path(s, p, copy.deepcopy(v))
        out.append((s, {"/".join(map(str, p)): v for p, v in zip(paths, combo)}))
    return out


def merge(base, over):
    """base with over merged in: dicts recursively, anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def param_labels(params):
    """Short names of the searched params: the last key, or more of the path if ambiguous."""
    paths = [p.split("/") for p in params]
    labels = {}
    for p in paths:
        n = 1
        while n < len(p) and sum(1 for q in paths if q[-n:] == p[-n:]) > 1:
            n += 1
        labels["/".join(p)] = "/".join(p[-n:])
    return labels


def fmt_value(v):
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def trial_dirname(prefix, index, params):
    labels = param_labels(params)
    tail = ",".join(f"{labels[k]}={fmt_value(v)}" for k, v in params.items())
    name = f"{prefix}_{index:05d}" + (f"_{tail}" if tail else "")
    return re.sub(r"[^A-Za-z0-9_.,=+@-]", "_", name)[:200]


def flatten(row, prefix="", out=None):
    out = {} if out is None else out
    for k, v in row.items():
        key = f"{prefix}/{k}" if prefix else k
        if isinstance(v, dict):
            flatten(v, key, out)
        else:
            out[key] = v
    return out


# ---------------------------------------------------------------- experiment file
def load_json(path):
    text = pathlib.Path(path).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # the server's config reader allows // comments
        return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))


def resolve_file(name, exp_dir):
    for base in (pathlib.Path.cwd(), ROOT, exp_dir):
        p = pathlib.Path(base) / name
        if p.exists():
            return p.resolve()
    raise FileNotFoundError(f"'{name}' not found (relative to the current dir, {ROOT} or {exp_dir})")


def resolve_command(cmd, exp_dir):
    """The simulator command with its relative paths (arguments with a '/' naming a file that
    exists) made absolute like resolve_file: it runs from any directory."""
    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        raise ValueError("'simulator' must be a non-empty list of strings")
    out = []
    for a in cmd:
        if "/" in a and not os.path.isabs(a) and not a.startswith("-") and "{" not in a and "=" not in a:
            try:
                a = str(resolve_file(a, exp_dir))
            except FileNotFoundError:
                pass
        out.append(a)
    return out


EXPERIMENT_KEYS = {"name", "server_config", "config", "stop", "max_concurrent", "simulator", "servers"}
SERVER_KEYS = {"server_config", "config"}


def load_experiment(path):
    """The experiment with every server's base config loaded: {"name", "servers": {name:
    {"base": config, "config": overrides}}, "stop", "max_concurrent", "simulator"}. A file of
    the wrong shape raises ValueError naming the key."""
    exp = load_json(path)
    exp_dir = pathlib.Path(path).resolve().parent
    if not isinstance(exp, dict):
        raise ValueError("the experiment file must hold a JSON object")
    unknown = sorted(set(exp) - EXPERIMENT_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} (known: {sorted(EXPERIMENT_KEYS)})")
    name = exp.get("name", pathlib.Path(path).stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.+=,-]{1,100}", name) or name in (".", ".."):
        raise ValueError(f"'name' must be 1-100 characters of letters, digits and _.+=,- (a directory name), got {name!r}")
    if "servers" in exp:
        if "server_config" in exp or "config" in exp:
            raise ValueError("give either 'servers' or 'server_config' (+ 'config'), not both")
        servers_in = exp["servers"]
    else:
        servers_in = {"": {"server_config": exp.get("server_config"), "config": exp.get("config", {})}}
    if not isinstance(servers_in, dict) or not servers_in:
        raise ValueError("'servers' must be a non-empty object {name: {server_config, config}}")
    servers = {}
    for sname, s in servers_in.items():
        label = f"servers.{sname}" if sname else "the experiment"
        if not isinstance(s, dict):
            raise ValueError(f"'{label}' must be an object {{server_config, config}}")
        if set(s) - SERVER_KEYS:
            raise ValueError(f"unknown key(s) {sorted(set(s) - SERVER_KEYS)} in '{label}'")
        if not isinstance(s.get("server_config"), str) or not s["server_config"]:
            raise ValueError(f"{label} needs a 'server_config' (a file name)")
        if not isinstance(s.get("config", {}), dict):
            raise ValueError(f"'config' of {label} must be an object (overrides of the server config)")
        find_grids(s.get("config", {}))  # a bad grid_search is refused here, before any trial
        servers[sname] = {"base": load_json(resolve_file(s["server_config"], exp_dir)),
                          "config": s.get("config", {})}
    stop = exp.get("stop", {})
    if not isinstance(stop, dict):
        raise ValueError("'stop' must be an object, e.g. {\"training_iteration\": 5}")
    conc = exp.get("max_concurrent", 1)
    if isinstance(conc, bool) or not isinstance(conc, int) or conc < 1:
        raise ValueError(f"'max_concurrent' must be an integer >= 1, got {conc!r}")
    return {"name": name, "servers": servers, "stop": stop, "max_concurrent": conc,
            "simulator": resolve_command(exp.get("simulator"), exp_dir)}


def make_trials(exp, exp_dir):
    """Trials of an experiment (list of dicts, all PENDING), one per grid combination."""
    multi = len(exp["servers"]) > 1
    search = {s: v["config"] for s, v in exp["servers"].items()}
    algos = "+".join(str(v["base"].get("algorithm", "algo")).upper() for v in exp["servers"].values())
    trials = []
    for i, (resolved, params) in enumerate(expand_grid(search)):
        if not multi:
            params = {k.split("/", 1)[1]: v for k, v in params.items()}  # drop the "" server key
        name = trial_dirname(f"{algos}_{exp['name']}", i, params)
        tdir = pathlib.Path(exp_dir) / name
        servers = {}
        for sname, s in exp["servers"].items():
            cfg = merge(s["base"], resolved[sname])
            if exp["stop"]:
                cfg["stop"] = merge(cfg.get("stop", {}), exp["stop"])
            servers[sname] = {"dir": str(tdir / sname) if multi else str(tdir), "config": cfg,
                              "pid": None, "returncode": None, "url": None}
        trials.append({"trial_id": f"{i:05d}", "name": name, "params": params, "status": "PENDING",
                       "dir": str(tdir), "servers": servers, "sim_pid": None, "sim_returncode": None,
                       "error": None, "log_tail": None, "last_result": None, "checkpoint": None,
                       "restores": 0})
    return trials

