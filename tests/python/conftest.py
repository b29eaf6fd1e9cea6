"""Fixtures of the Python client's tests: real tandem-server processes on port 0.

    def test_x(server):                        # a server with the default config below
        with tandem.PolicyClient(server.address) as c: ...
    def test_y(start_server):
        s = start_server(config_overrides)     # any config; stopped at the end of the test

The server binary is $TANDEM_SERVER_BIN (ctest sets it), else build/policy_server/tandem-server.
"""
import copy
import json
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("TANDEM_BUILD_DIR", ROOT / "build"))
SERVER_BIN = os.environ.get("TANDEM_SERVER_BIN", str(BUILD / "policy_server" / "tandem-server"))
MODEL_EVAL = os.environ.get("TANDEM_MODEL_EVAL", str(BUILD / "tests" / "model_eval"))

BASE_CONFIG = {
    "algorithm": "ppo", "port": 0, "seed": 3,
    "config": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 2,
               "rollout_fragment_length": 16, "model": {"fcnet_hiddens": [16]}},
    "policies": {"p": {"observation_space": {"type": "box", "shape": [2], "low": -10, "high": 10},
                       "action_space": {"type": "discrete", "n": 3}}},
}


def merged(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "policies":
            out[k] = merged(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class ServerProcess:
    def __init__(self, config, workdir, extra_args=()):
        self.config = config
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config["results_dir"] = str(self.dir / "results")  # never a path of the config's own
        self.extra = list(extra_args)
        self.proc = None
        self.port = None
        self.lines = []
        self.start(self.config.get("port", 0))

    def start(self, port=0):
        cfg_path = self.dir / "server_config.json"
        cfg = dict(self.config, port=port)
        cfg_path.write_text(json.dumps(cfg))
        self.stderr = open(self.dir / "server.stderr.log", "ab")
        self.proc = subprocess.Popen([SERVER_BIN, "-c", str(cfg_path), "--port", str(port)] + self.extra,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        first = []
        ready = threading.Event()

        def drain():
            for line in self.proc.stdout:
                self.lines.append(line)
                if not first and line.startswith("listening on "):
                    first.append(line.strip())
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(30) or not first:
            self.proc.kill()
            raise RuntimeError(f"tandem-server did not start: {(self.dir / 'server.stderr.log').read_text()[-2000:]}")
        self.url = first[0][len("listening on "):]
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    @property
    def address(self):
        return self.url

    def metric(self, name):
        import urllib.request
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def restart_on_same_port(self):
        port = self.port
        self.stop()
        for _ in range(20):
            try:
                self.start(port)
                return
            except RuntimeError:
                time.sleep(0.25)
        raise RuntimeError("could not restart on the same port")


def listen_on_loopback():
    """A listening TCP socket on 127.0.0.1 and a free port: (socket, port)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, sock.getsockname()[1]


class CuttingProxy:
    """A TCP proxy on loopback to `port`; cut() resets every connection through it (the client
    sees a dropped connection, the server keeps its state)."""

    def __init__(self, port):
        self.target = port
        self.sock, listen_port = listen_on_loopback()
        self.address = f"ws://127.0.0.1:{listen_port}"
        self.pairs = []
        self.lock = threading.Lock()
        self.replies = threading.Event()  # cleared: the server's bytes wait here (held replies)
        self.replies.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.sock.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.target))
            except OSError:  # the server is away: the client sees a dropped connection
                a.close()
                continue
            with self.lock:
                self.pairs.append((a, b))
            for x, y, gate in ((a, b, None), (b, a, self.replies)):
                threading.Thread(target=self._pump, args=(x, y, gate), daemon=True).start()

    @staticmethod
    def _pump(x, y, gate):
        try:
            while True:
                d = x.recv(65536)
                if not d:
                    break
                if gate is not None:
                    gate.wait()
                y.sendall(d)
        except OSError:
            pass
        for s in (x, y):
            try:
                s.close()
            except OSError:
                pass

    def cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()
        self.cut()


def eventually(pred, timeout=30.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(every)
    return pred()


@pytest.fixture
def start_server(tmp_path):
    started = []

    def start(overrides=None, extra_args=(), name="server", whole=False):
        """overrides on BASE_CONFIG, or (whole=True) the whole config."""
        config = copy.deepcopy(overrides) if whole else merged(BASE_CONFIG, overrides)
        s = ServerProcess(config, tmp_path / f"{name}{len(started)}", extra_args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def server(start_server):
    return start_server()
