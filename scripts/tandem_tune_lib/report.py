"""tandem-tune's report: the live table, experiment_state.json, trials.csv, the best trial."""
import csv
import json
import math
import os
import pathlib
import time

from tandem_tune_lib.experiment import STATE_FILE, flatten, fmt_value, param_labels


# ---------------------------------------------------------------- table, state, results
def metric_of(row, metric):
    if not row:
        return None
    v = row.get(metric)
    if v is None and "/" in metric:
        v = flatten(row).get(metric)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def fmt_num(v, digits=4):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e5 else f"{v:.0f}"
    return str(v)


def table(state, exp_dir, metric):
    trials = state["trials"]
    counts = {}
    for t in trials:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    labels = param_labels(trials[0]["params"]) if trials else {}
    head = ["Trial name", "status"] + [labels[k] for k in labels] + ["iter", "total time (s)", "ts", "reward"]
    if metric not in ("episode_reward_mean",):
        head.append(metric)
    rows = []
    for t in trials:
        r = t.get("last_result") or {}
        row = [t["name"], t["status"]] + [fmt_value(t["params"].get(k)) for k in labels]
        row += [fmt_num(r.get("training_iteration")), fmt_num(r.get("time_total_s")),
                fmt_num(r.get("timesteps_total")), fmt_num(metric_of(r, "episode_reward_mean"))]
        if metric not in ("episode_reward_mean",):
            row.append(fmt_num(metric_of(r, metric)))
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    out = ["== Status ==",
           f"Current time: {time.strftime('%Y-%m-%d %H:%M:%S')} (running for {time.time() - state['start_time']:.0f} s)",
           f"Number of trials: {len(trials)} ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})",
           f"Result logdir: {exp_dir}", line,
           "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |", line]
    for row in rows:
        out.append("| " + " | ".join(str(x).ljust(w) for x, w in zip(row, widths)) + " |")
    out.append(line)
    for t in trials:
        if t["status"] == "ERROR" and t.get("error"):
            out.append(f"{t['name']}: {t['error']}")
    return "\n".join(out)


def write_state(state, exp_dir):
    p = pathlib.Path(exp_dir) / STATE_FILE
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    os.replace(tmp, p)


def write_trials_csv(state, exp_dir):
    rows, cols = [], []
    for t in state["trials"]:
        row = {"trial_name": t["name"], "trial_id": t["trial_id"], "status": t["status"], "logdir": t["dir"]}
        for k, v in t["params"].items():
            row[f"config/{k}"] = v
        multi = len(t["servers"]) > 1
        for sname, s in t["servers"].items():
            r = s.get("last_result") if multi else t.get("last_result")
            for k, v in flatten(r or {}).items():
                row[f"{sname}/{k}" if multi else k] = v
        for k in row:
            if k not in cols:
                cols.append(k)
        rows.append(row)
    with open(pathlib.Path(exp_dir) / "trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v) if isinstance(v, (list, dict, bool)) or v is None else v for k, v in r.items()})


def best_trial(trials, metric, mode):
    scored = [(metric_of(t.get("last_result"), metric), t) for t in trials]
    scored = [(v, t) for v, t in scored if v is not None]
    if not scored:
        return None, None
    v, t = (max if mode == "max" else min)(scored, key=lambda x: x[0])
    return t, v

