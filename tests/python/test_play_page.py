"""The Connect Four page (web/connect_four) served by tandem-server under /play/
(--static-dir, policy_server/static_files.h), tested as a person would use it: headless
Chromium (Debian's chromium + chromium-driver, driven by python3-selenium) plays full games by
clicking, against the real server's HTTP inference. After every move the DOM board must equal
a Python replica of the rules (sims/connect_four.h), the policy's reply must be a legal column
and the very column the server answers for the policy's own observation, the result text must
match the replica's outcome, and New game must clear the board. From Python (http.client):
what /play/ serves, traversal attempts (400/404, never a byte from outside), 404, 405, HEAD,
the bearer token, and a bad --static-dir refused at start.

Not skippable: without Chromium or selenium the browser test fails, naming the packages
(scripts/setup.sh installs them)."""
import http.client
import json
import os
import pathlib
import random
import shutil
import subprocess

import pytest

from conftest import SERVER_BIN

ROOT = pathlib.Path(__file__).resolve().parents[2]
WEB = ROOT / "web" / "connect_four"
CONFIG = json.loads((ROOT / "configs" / "connect_four_ppo.json").read_text())
CHROMIUM = os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TANDEM_CHROMEDRIVER", "/usr/bin/chromedriver")
ROWS, COLS = 6, 7
EMPTY, HUMAN, POLICY = "empty", "human", "policy"
TOKEN = "play-page-test-token-0123456789"


def config(**extra):
    cfg = json.loads(json.dumps(CONFIG))
    cfg.pop("port")
    cfg.update(extra)
    return cfg


def start(start_server, static_dir=WEB, extra=(), **cfg):
    return start_server(config(**cfg), extra_args=["--no-train", "--static-dir", str(static_dir), *extra], whole=True)


# --- a replica of the rules (sims/connect_four.h), written apart from the page's ---

class Replica:
    def __init__(self):
        self.cells = [[EMPTY] * COLS for _ in range(ROWS)]
        self.moves = 0
        self.over = False
        self.winner = None

    def legal(self, c):
        return not self.over and self.cells[0][c] == EMPTY

    def legal_columns(self):
        return [c for c in range(COLS) if self.legal(c)]

    def drop(self, c, who):
        assert self.legal(c), f"column {c} is not legal"
        row = max(r for r in range(ROWS) if self.cells[r][c] == EMPTY)  # row 0 is the top
        self.cells[row][c] = who
        self.moves += 1
        if self.four(who):
            self.over, self.winner = True, who
        elif self.moves == ROWS * COLS:
            self.over = True

    def four(self, who):
        for r in range(ROWS):
            for c in range(COLS):
                for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                    cells = [(r + k * dr, c + k * dc) for k in range(4)]
                    if all(0 <= y < ROWS and 0 <= x < COLS and self.cells[y][x] == who for y, x in cells):
                        return True
        return False

    def winning_move(self, who):
        for c in self.legal_columns():
            trial = Replica()
            trial.cells = [row[:] for row in self.cells]
            trial.moves = self.moves
            trial.drop(c, who)
            if trial.winner == who:
                return c
        return None

    def observation_of_policy(self):
        obs = [0.0] * (ROWS * COLS * 2)
        for r in range(ROWS):
            for c in range(COLS):
                if self.cells[r][c] == POLICY:
                    obs[(r * COLS + c) * 2] = 1.0
                elif self.cells[r][c] == HUMAN:
                    obs[(r * COLS + c) * 2 + 1] = 1.0
        return obs

    def mask(self):
        return [1.0 if self.cells[0][c] == EMPTY else 0.0 for c in range(COLS)]

    def result_text(self):
        return {HUMAN: "You win", POLICY: "Policy wins", None: "Draw"}[self.winner]


def request(port, method, path, body=None, headers=None):
    """(status, headers, body bytes); (None, {}, b"") when the server closes without answering."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body, headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return None, {}, b""
    finally:
        c.close()


def server_action(port, replica, policy_id):
    """The policy's greedy column for its own observation of the replica's board."""
    status, _, body = request(port, "POST", f"/v1/policies/{policy_id}/actions",
                              json.dumps({"observations": [replica.observation_of_policy()],
                                          "action_masks": [replica.mask()], "explore": False}),
                              {"Content-Type": "application/json"})
    assert status == 200, body
    return json.loads(body)["actions"][0]


# --- the browser ---

def chromium_driver():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the python3 selenium module")
    if missing:
        pytest.fail("the browser test needs Debian's chromium, chromium-driver and python3-selenium "
                    f"(bash scripts/setup.sh installs them); missing: {', '.join(missing)}", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=900,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


@pytest.fixture
def browser():
    d = chromium_driver()
    d.set_page_load_timeout(30)
    yield d
    d.quit()


READ_DOM = """
const cells = [];
for (let r = 0; r < 6; r++) {
  const row = [];
  for (let c = 0; c < 7; c++) row.push(document.getElementById(`cell-${r}-${c}`).dataset.content);
  cells.push(row);
}
const b = document.getElementById('board');
return {cells, state: b.dataset.state, moves: Number(b.dataset.moves),
        result: document.getElementById('result').textContent,
        error: document.getElementById('error').textContent};
"""


def dom(d):
    return d.execute_script(READ_DOM)


def wait_for(d, pred, what, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.02).until(lambda drv: (lambda s: s if pred(s) else None)(dom(drv)))
    except Exception as e:  # TimeoutException: say what was awaited and what the page shows
        raise AssertionError(f"waiting for {what}: the page shows {dom(d)}") from e


def click(d, element_id):
    d.find_element("id", element_id).click()


def new_game(d, human_starts):
    click(d, "start-human" if human_starts else "start-policy")
    click(d, "new-game")


def take_policy_move(d, port, replica, policy_id):
    """Waits for the policy's stone, checks it against the rules and the server, applies it."""
    s = wait_for(d, lambda s: s["moves"] == replica.moves + 1 or s["state"] == "error", "the policy's move")
    assert s["state"] != "error", s["error"]
    new = [(r, c) for r in range(ROWS) for c in range(COLS) if s["cells"][r][c] != replica.cells[r][c]]
    assert len(new) == 1, f"one new stone expected, got {new}"
    r, c = new[0]
    assert s["cells"][r][c] == POLICY
    assert replica.legal(c), f"the policy played the full column {c}"
    # The page asked with the policy's own observation: the server answers the same column.
    assert server_action(port, replica, policy_id) == c
    replica.drop(c, POLICY)
    assert s["cells"] == replica.cells  # the stone landed on the lowest empty row


def set_policy_id(d, policy_id):
    field = d.find_element("id", "policy-id")
    field.clear()
    field.send_keys(policy_id)


def play_game(d, port, human_starts, rng, careless=False, policy_id="learned", avoid=()):
    """One game by clicks; careless: never takes a winning move; avoid: columns not played."""
    set_policy_id(d, policy_id)
    new_game(d, human_starts)
    replica = Replica()
    s = dom(d)
    if human_starts:
        assert s["cells"] == replica.cells and s["moves"] == 0 and s["result"] == "Your move"
    else:
        take_policy_move(d, port, replica, policy_id)
    while not replica.over:
        s = wait_for(d, lambda s: s["state"] in ("human", "over", "error"), "the person's turn")
        assert s["cells"] == replica.cells and s["moves"] == replica.moves
        assert s["state"] == "human" and s["result"] == "Your move", s
        full = [c for c in range(COLS) if not replica.legal(c)]
        if full:  # a click on a full column does nothing
            click(d, f"col-{full[0]}")
            after = dom(d)
            assert after["cells"] == replica.cells and after["state"] == "human" and after["moves"] == replica.moves
        # Win when possible (careless: never look), else stack mostly in the middle (columns
        # fill up: illegal clicks).
        col = None if careless else replica.winning_move(HUMAN)
        if col is None:
            legal = [c for c in replica.legal_columns() if c not in avoid] or replica.legal_columns()
            col = 3 if 3 in legal and rng.random() < 0.5 else rng.choice(legal)
        click(d, f"col-{col}")
        replica.drop(col, HUMAN)
        if replica.over:
            break
        take_policy_move(d, port, replica, policy_id)
    s = wait_for(d, lambda s: s["state"] == "over", "the end of the game")
    assert s["cells"] == replica.cells
    assert s["result"] == replica.result_text()
    assert s["error"] == ""
    # After the end, clicks change nothing.
    for c in range(COLS):
        click(d, f"col-{c}")
    assert dom(d)["cells"] == replica.cells
    return replica


def test_browser_plays_full_games_by_clicking(start_server, browser, tmp_path):
    s = start(start_server)
    browser.get(f"http://127.0.0.1:{s.port}/play/")
    assert browser.title.startswith("Tandem")
    first = dom(browser)
    assert first["moves"] == 0 and first["result"] == "Your move"
    assert all(v == EMPTY for row in first["cells"] for v in row)
    rng = random.Random(7)
    outcomes = []
    shot = tmp_path / "connect_four_play.png"
    for k in range(6):
        replica = play_game(browser, s.port, human_starts=(k % 2 == 0), rng=rng, careless=(k >= 2))
        outcomes.append(replica.result_text())
        if replica.winner is not None and not shot.exists():
            assert browser.save_screenshot(str(shot))
        # New game clears the board.
        new_game(browser, human_starts=True)
        cleared = dom(browser)
        assert all(v == EMPTY for row in cleared["cells"] for v in row)
        assert cleared["moves"] == 0 and cleared["state"] == "human" and cleared["result"] == "Your move"
    # The scripted "linear" policy (the leftmost legal column) wins when it starts and
    # column 0 is left to it: "Policy wins" is shown.
    replica = play_game(browser, s.port, human_starts=False, rng=rng, careless=True, policy_id="linear", avoid=(0,))
    assert replica.winner == POLICY
    outcomes.append(replica.result_text())
    if not shot.exists():
        assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 1000
    if os.environ.get("TANDEM_PLAY_SCREENSHOT"):  # to refresh docs/img/connect_four_play.png
        shutil.copy(shot, os.environ["TANDEM_PLAY_SCREENSHOT"])
    print("outcomes:", outcomes)


def test_browser_shows_an_error_when_the_request_fails(start_server, browser):
    s = start(start_server)
    browser.get(f"http://127.0.0.1:{s.port}/play")  # without the slash: the same page
    set_policy_id(browser, "no_such_policy")
    new_game(browser, human_starts=False)
    st = wait_for(browser, lambda s: s["state"] == "error", "the error")
    assert "404" in st["error"] and st["result"] == "Error"
    assert all(v == EMPTY for row in st["cells"] for v in row)
    for c in range(COLS):  # no moves while in error
        click(browser, f"col-{c}")
    assert dom(browser)["moves"] == 0
    set_policy_id(browser, "learned")
    new_game(browser, human_starts=False)
    st = wait_for(browser, lambda s: s["moves"] == 1, "the policy's first move")
    assert st["error"] == "" and st["result"] == "Your move"


# --- HTTP, from outside ---

def test_static_files_over_http(start_server, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(WEB, site)
    (tmp_path / "secret.txt").write_text("TOP-SECRET-OUTSIDE")
    (site / "leak.txt").symlink_to(tmp_path / "secret.txt")
    s = start(start_server, static_dir=site)
    for path in ("/play/", "/play", "/play/index.html", "/play/?x=1"):
        status, h, body = request(s.port, "GET", path)
        assert status == 200 and h["Content-Type"] == "text/html; charset=utf-8"
        assert body == (WEB / "index.html").read_bytes()
        assert h.get("X-Content-Type-Options") == "nosniff"
    status, h, body = request(s.port, "GET", "/play/app.js")
    assert status == 200 and h["Content-Type"].startswith("text/javascript") and body == (WEB / "app.js").read_bytes()
    status, h, body = request(s.port, "GET", "/play/style.css")
    assert status == 200 and h["Content-Type"].startswith("text/css")
    status, h, body = request(s.port, "HEAD", "/play/app.js")
    assert status == 200 and body == b"" and int(h["Content-Length"]) == (WEB / "app.js").stat().st_size

    secrets = (b"TOP-SECRET-OUTSIDE", b"root:", b"# Tandem", b"cmake_minimum_required", b"listening")
    for path in ("/play/../secret.txt", "/play/..", "/play/%2e%2e/secret.txt", "/play/%2E%2E/secret.txt",
                 "/play/..%2fsecret.txt", "/play/%2e%2e%2f%2e%2e%2fREADME.md", "/play/../../../../../../etc/passwd",
                 "/play//etc/passwd", "/play/%2fetc%2fpasswd", "/play/..\\secret.txt", "/play/%5c..%5csecret.txt",
                 "/play/%00", "/play/app.js%00.png", "/play/.%2e/.%2e/README.md", "/play/%252e%252e/secret.txt",
                 "/play/leak.txt", "/play/.hidden", "/play/sub/", "/play/%", "/play/%zz"):
        status, h, body = request(s.port, "GET", path)
        assert status in (400, 404, None), (path, status)
        assert not any(x in body for x in secrets), (path, body[:200])
        if status is not None:
            assert h["Content-Type"] == "application/json", path
    status, h, body = request(s.port, "GET", "/play/nope.js")
    assert status == 404 and json.loads(body)["error"] == "NotFound"
    for method in ("POST", "PUT", "DELETE"):
        status, h, body = request(s.port, method, "/play/", body=b"{}", headers={"Content-Type": "application/json"})
        assert status == 405 and json.loads(body)["error"] == "MethodNotAllowed", method
    # The other paths are unchanged.
    assert request(s.port, "GET", "/healthz")[0] == 200
    assert request(s.port, "GET", "/playground")[0] == 404


def test_static_files_need_the_token_when_the_server_has_one(start_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    s = start(start_server, auth_token_file=str(token_file))
    assert request(s.port, "GET", "/play/")[0] == 401
    status, _, body = request(s.port, "GET", "/play/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and body == (WEB / "index.html").read_bytes()


def test_without_static_dir_play_is_404(start_server):
    s = start_server(config(), extra_args=["--no-train"], whole=True)
    status, h, body = request(s.port, "GET", "/play/")
    assert status == 404 and "static" in json.loads(body)["message"]


def test_a_bad_static_dir_is_refused_at_start(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(config(results_dir=str(tmp_path / "r"))))
    for bad in (tmp_path / "missing", WEB / "index.html"):
        p = subprocess.run([SERVER_BIN, "-c", str(cfg), "--port", "0", "--no-train", "--static-dir", str(bad)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and "'static_dir'" in p.stderr, p.stderr
