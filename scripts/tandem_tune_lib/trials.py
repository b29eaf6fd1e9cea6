"""tandem-tune's processes: a trial's servers and simulator, from start to their end."""
import ctypes
import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

from tandem_tune_lib.experiment import END_GRACE_S, SIM_GRACE_S, START_TIMEOUT_S


# ---------------------------------------------------------------- processes
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _child_setup():
    """In the child: its own process group (set by start_new_session) and SIGTERM when
    tandem-tune dies, however it dies (PR_SET_PDEATHSIG = 1)."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM, 0, 0, 0)


def spawn(cmd, log_path, cwd=None):
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=cwd, start_new_session=True, preexec_fn=_child_setup)
    finally:
        log.close()


def wait_for_leftovers(trials, timeout=END_GRACE_S):
    """Resume: processes of the killed run that are still alive (a server writing its end
    checkpoint after the SIGTERM of PR_SET_PDEATHSIG) are waited for, then killed. A pid counts
    only while its command line names the trial's dir (pids are reused)."""
    def ours(pid, tdir):
        try:
            cmd = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state != "Z" and tdir in cmd

    left = [(s.get("pid"), t["dir"]) for t in trials if t["status"] != "TERMINATED" for s in t["servers"].values()]
    left = [(p, d) for p, d in left if p and ours(p, d)]
    end = time.time() + timeout
    while left and time.time() < end:
        time.sleep(0.2)
        left = [(p, d) for p, d in left if ours(p, d)]
    for p, _ in left:
        try:
            os.killpg(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def signal_group(proc, sig):
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def tail(path, lines=20):
    try:
        return "\n".join(pathlib.Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def last_row(result_json):
    """The last complete JSON line of a result.json (None if none)."""
    try:
        with open(result_json, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - (1 << 20)))
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    for line in reversed(data.splitlines()):
        try:
            row = json.loads(line)
            if isinstance(row, dict):
                return row
        except json.JSONDecodeError:
            continue
    return None


def newest_checkpoint(results_dir):
    cks = sorted(p for p in pathlib.Path(results_dir).glob("checkpoint_*") if p.is_dir() and ".tmp" not in p.name)
    return str(cks[-1]) if cks else None


def server_label(sname):
    return f"server {sname}" if sname else "server"


def stop_met(row, stop):
    if not row:
        return False
    for k, v in (stop or {}).items():
        x = row.get(k)
        if isinstance(x, (int, float)) and math.isfinite(x) and x >= v:
            return True
    return False


class TrialRunner:
    """Starts, watches and ends the processes of one trial (called from the main loop)."""

    def __init__(self, trial, sim_cmd, server_bin):
        self.t, self.sim_cmd, self.server_bin = trial, sim_cmd, server_bin
        self.servers = {}  # name -> Popen
        self.sim = None
        self.phase = "starting"  # starting -> running -> ending -> done
        self.t0 = time.time()
        self.deadline = None
        self.outcome = None  # (status, error, log tail)
        self.dirty = False  # state to write (a process started)

    def start(self):
        t = self.t
        pathlib.Path(t["dir"]).mkdir(parents=True, exist_ok=True)
        for sname, s in t["servers"].items():
            d = pathlib.Path(s["dir"])
            d.mkdir(parents=True, exist_ok=True)
            cfg = dict(s["config"], results_dir=str(d), port=0)
            (d / "server_config.json").write_text(json.dumps(cfg, indent=2))
            args = [self.server_bin, "-c", str(d / "server_config.json"), "--port", "0", "--results-dir", str(d)]
            ck = newest_checkpoint(d) if t["restores"] else None
            if ck:
                args += ["--restore", ck]
            if t["restores"]:  # the server starts result.json anew; keep the earlier files
                for f in ("result.json", "progress.csv", "server.log"):
                    if (d / f).exists():
                        (d / f).rename(d / f"{f}.before_resume_{t['restores']}")
            s["url"], s["returncode"] = None, None
            self.servers[sname] = spawn(args, d / "server.log")
            s["pid"] = self.servers[sname].pid
        sim_log = pathlib.Path(t["dir"]) / "simulator.log"
        if t["restores"] and sim_log.exists():
            sim_log.rename(sim_log.with_name(f"simulator.log.before_resume_{t['restores']}"))
        t["status"] = "RUNNING"
        t["error"] = t["log_tail"] = None
        t["sim_pid"] = t["sim_returncode"] = None
        t["start_time"] = time.time()

    def _server_url(self, s):
        try:
            with open(pathlib.Path(s["dir"]) / "server.log", errors="replace") as f:
                for line in f:
                    if line.startswith("listening on "):
                        return line.split()[2]
        except OSError:
            pass
        return None

    def _end(self, status, error=None, log_tail=None):
        self.outcome = (status, error, log_tail)
        self.phase = "ending"
        self.deadline = time.time() + END_GRACE_S
        signal_group(self.sim, signal.SIGTERM)
        for p in self.servers.values():
            signal_group(p, signal.SIGTERM)

    def kill(self):
        """tandem-tune is stopping: SIGTERM everything (servers checkpoint at their end); the
        trial is INTERRUPTED (--resume runs it again from its newest checkpoint)."""
        if self.phase != "done":
            self._end("INTERRUPTED")

    def poll(self):
        """Advances the trial; True once it is done (status set)."""
        t = self.t
        for sname, p in self.servers.items():
            rc = p.poll()
            t["servers"][sname]["returncode"] = rc
        sim_rc = self.sim.poll() if self.sim else None
        t["sim_returncode"] = sim_rc
        if self.phase == "starting":
            for sname, p in self.servers.items():
                s = t["servers"][sname]
                if p.returncode is not None:
                    log = pathlib.Path(s["dir"]) / "server.log"
                    self._end("ERROR", f"{server_label(sname)} exited with code {p.returncode} at start", tail(log))
                    return False
                if not s["url"]:
                    s["url"] = self._server_url(s)
            if all(s["url"] for s in t["servers"].values()):
                self._start_sim()
            elif time.time() - self.t0 > START_TIMEOUT_S:
                self._end("ERROR", "a server did not print 'listening on' in time",
                          tail(pathlib.Path(next(iter(t["servers"].values()))["dir"]) / "server.log"))
            return False
        if self.phase == "running":
            for sname, p in self.servers.items():
                if p.returncode is None:
                    continue
                log = pathlib.Path(t["servers"][sname]["dir"]) / "server.log"
                if p.returncode == 0:
                    self._end("TERMINATED")
                else:
                    self._end("ERROR", f"{server_label(sname)} exited with code {p.returncode}", tail(log))
                return False
            if sim_rc is not None:
                if sim_rc == 0:
                    self._end("TERMINATED")
                elif self.deadline is None:
                    # The servers stopping on their criteria drop the simulator's connections:
                    # give them time to exit 0 first.
                    met = any(stop_met(last_row(pathlib.Path(s["dir"]) / "result.json"), s["config"].get("stop"))
                              for s in t["servers"].values())
                    self.deadline = time.time() + (END_GRACE_S if met else SIM_GRACE_S)
                elif time.time() > self.deadline:
                    self._end("ERROR", f"simulator exited with code {sim_rc}", tail(pathlib.Path(t["dir"]) / "simulator.log"))
            return False
        if self.phase == "ending":
            procs = list(self.servers.values()) + ([self.sim] if self.sim else [])
            if all(p.poll() is not None for p in procs):
                status, error, log_tail = self.outcome
                bad = [n for n, p in self.servers.items() if p.returncode not in (0, -signal.SIGTERM)]
                if status == "TERMINATED" and bad:
                    n = bad[0]
                    status, error = "ERROR", f"{server_label(n)} exited with code {self.servers[n].returncode}"
                    log_tail = tail(pathlib.Path(t["servers"][n]["dir"]) / "server.log")
                t["status"], t["error"], t["log_tail"] = status, error, log_tail
                t["end_time"] = time.time()
                self.phase = "done"
                return True
            if time.time() > self.deadline:
                for p in procs:
                    signal_group(p, signal.SIGKILL)
            return False
        return self.phase == "done"

    def _start_sim(self):
        t = self.t
        first = next(iter(t["servers"].values()))
        cmd = []
        for a in self.sim_cmd:
            a = a.replace("{url}", first["url"]).replace("{trial_dir}", t["dir"])
            for sname, s in t["servers"].items():
                a = a.replace("{url:" + sname + "}", s["url"])
            cmd.append(a)
        t["simulator_command"] = cmd
        try:
            self.sim = spawn(cmd, pathlib.Path(t["dir"]) / "simulator.log")
        except OSError as e:
            self._end("ERROR", f"cannot start the simulator: {e}", "")
            return
        t["sim_pid"] = self.sim.pid
        self.phase = "running"
        self.dirty = True

