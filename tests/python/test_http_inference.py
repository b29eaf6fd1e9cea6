"""HTTP JSON inference on the server's port (policy_server/http_inference.h), from outside
with http.client as any HTTP user would: both body shapes, the same greedy actions as the
WebSocket path, masks, scripted policies, every error as JSON with its status, keep-alive,
the bearer token, and bodies over the limits."""
import http.client
import json
import pathlib
import random
import socket

import numpy as np

import tandem

ROOT = pathlib.Path(__file__).parents[2]
CONFIG = json.loads((ROOT / "configs" / "connect_four_ppo.json").read_text())
TOKEN = "http-inference-test-token-0123"


def config(**extra):
    cfg = json.loads(json.dumps(CONFIG))
    cfg.pop("port")
    cfg["config"]["model"]["fcnet_hiddens"] = [32]
    cfg["policy_mapping"]["agent0"] = "learned"
    cfg["http_inference_paths"] = {"/connect4": "learned", "/heuristic": "linear"}
    cfg.update(extra)
    return cfg


class Http:
    def __init__(self, server, token=None):
        self.c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        self.token = token

    def post(self, path, body, raw=False, headers=None):
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(headers or {})
        self.c.request("POST", path, body if raw else json.dumps(body), h)
        r = self.c.getresponse()
        data = r.read().decode()
        return r.status, (json.loads(data) if r.getheader("Content-Type") == "application/json" else data)


def test_actions_match_the_websocket_path_and_respect_masks(start_server):
    s = start_server(config(), extra_args=["--no-train"], whole=True)
    rng = random.Random(3)
    obs = [[float(rng.random() < 0.3) for _ in range(84)] for _ in range(300)]
    masks = [[rng.randrange(2) for _ in range(7)] for _ in range(300)]
    for k, m in enumerate(masks):
        m[rng.randrange(7)] = 1
        if k % 5 == 0:
            masks[k] = [0] * 7
            masks[k][rng.randrange(7)] = 1
    h = Http(s)
    status, r = h.post("/v1/policies/learned/actions", {"observations": obs, "action_masks": masks})
    assert status == 200, r
    assert r["policy_version"] >= 0 and len(r["actions"]) == 300
    assert all(masks[k][a] == 1 for k, a in enumerate(r["actions"]))
    # The same greedy actions as a WebSocket client in an explore=False episode.
    with tandem.PolicyClient(s.address) as c:
        eid = c.start_episode(explore=False, training_enabled=False)
        ws = [c.get_action(eid, {"agent0": np.array(o, np.float32)}, action_mask={"agent0": m})["agent0"]
              for o, m in zip(obs, masks)]
    # Equal wherever the greedy choice is not a near-tie (a 300-row batch and batch-1 round
    # differently): the gap between the two best allowed logits of the numpy model.
    with tandem.PolicyClient(s.address, inference_mode="local") as c:
        model = c._b.models[c._b.policy_ids.index("learned")]
        clear = []
        for o, m in zip(obs, masks):
            dist, _ = model.forward1(model.preprocess(np.array(o, np.float32)))
            top = np.sort(np.where(np.array(m) > 0, dist, -np.inf))[::-1]
            clear.append(len(top) < 2 or not np.isfinite(top[1]) or top[0] - top[1] > 1e-4)
    assert sum(clear) > 250
    assert [w for w, ok in zip(ws, clear) if ok] == [a for a, ok in zip(r["actions"], clear) if ok]
    # The single shape (Ray Serve's), on the same keep-alive connection.
    for k in range(0, 300, 30):
        status, one = h.post("/connect4", {"observation": obs[k], "action_mask": masks[k]})
        assert status == 200 and one["action"] == r["actions"][k]
    # Sampling: explore=true spreads over the allowed actions only.
    status, r = h.post("/v1/policies/learned/actions",
                       {"observations": [obs[0]] * 500, "action_masks": [[1, 0, 1, 0, 1, 0, 0]] * 500, "explore": True})
    assert status == 200 and set(r["actions"]) == {0, 2, 4}
    # Scripted policies answer too (stateless: beat_last without memory, linear).
    status, r = h.post("/heuristic", {"observation": obs[0], "action_mask": [0, 0, 0, 1, 1, 0, 0]})
    assert status == 200 and r["action"] == 3
    one_stone = [0.0] * 84
    one_stone[(5 * 7 + 4) * 2 + 1] = 1.0  # the opponent's only stone: column 4
    status, r = h.post("/v1/policies/beat_last/actions", {"observations": [one_stone], "action_masks": [[1, 1, 0, 1, 1, 1, 1]]})
    assert status == 200 and r["actions"] == [4]
    assert s.metric("tandem_http_inference_requests_total") == 14
    assert s.metric("tandem_stateless_actions_total") >= 300 + 10 + 500 + 2
    assert s.metric("tandem_open_episodes") == 1  # the WebSocket client's: HTTP inference opens none


def test_errors_are_json_with_their_status_and_change_nothing(start_server):
    s = start_server(config(), extra_args=["--no-train"], whole=True)
    z = [0.0] * 84
    cases = [
        ("/v1/policies/nobody/actions", {"observations": [z]}, 404, "UnknownPolicy"),
        ("/v1/policies/learned/actions", {"observations": [[0.0] * 83]}, 400, "BadObservation"),
        ("/v1/policies/learned/actions", {"observations": [[2.0] * 84]}, 400, "BadObservation"),
        ("/v1/policies/learned/actions", {"observations": [z], "action_masks": [[0] * 7]}, 400, "BadObservation"),
        ("/v1/policies/learned/actions", {"observations": [z], "action_masks": [[1] * 6]}, 400, "BadObservation"),
        ("/v1/policies/learned/actions", {"observations": [z], "action_masks": [[1] * 7, [1] * 7]}, 400, "BadRequest"),
        ("/v1/policies/learned/actions", {"observations": [z], "action_masks": [[0.5] * 7]}, 400, "BadObservation"),
        ("/v1/policies/learned/actions", {"observations": []}, 400, "BadRequest"),
        ("/v1/policies/learned/actions", {"observations": [z] * 1025}, 400, "BadRequest"),
        ("/v1/policies/learned/actions", {"observations": [["a"] * 84]}, 400, "BadRequest"),
        ("/v1/policies/learned/actions", {"observations": [[1e300] * 84]}, 400, "BadRequest"),
        ("/v1/policies/learned/actions", {"observations": z}, 400, "BadRequest"),
        ("/v1/policies/learned/actions", {"observations": [z], "explore": "yes"}, 400, "BadRequest"),
        ("/v1/policies/learned/actions", {"observations": [z], "extra": 1}, 400, "BadRequest"),
        ("/v1/policies/learned/actions", [z], 400, "BadRequest"),
        ("/connect4", {"observations": [z]}, 400, "BadRequest"),
        ("/connect4", {"observation": [z]}, 400, "BadRequest"),
    ]
    h = Http(s)
    for path, body, status, code in cases:
        got, r = h.post(path, body)
        assert (got, r["error"]) == (status, code), (path, body if len(str(body)) < 200 else "...", r)
        assert r["message"]
    got, r = h.post("/v1/policies/learned/actions", "{not json", raw=True)
    assert (got, r["error"]) == (400, "BadRequest") and "not JSON" in r["message"]
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    c.request("GET", "/v1/policies/learned/actions")
    assert c.getresponse().status == 405
    # Too large: 1 KiB for anything but an inference POST, 8 MiB for one.
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    c.request("POST", "/healthz", "x" * 2000)
    assert c.getresponse().status == 413
    # (the header alone: the server answers 413 at once and closes without reading the body)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
        raw.sendall(f"POST /v1/policies/learned/actions HTTP/1.1\r\nHost: x\r\nContent-Length: {9 << 20}\r\n\r\n".encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 413")
    # The server is unharmed: a good request still works, and no episode was opened.
    assert Http(s).post("/v1/policies/learned/actions", {"observations": [z]})[0] == 200
    assert s.metric("tandem_open_episodes") == 0


def test_the_bearer_token_guards_the_endpoint(start_server, tmp_path):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    s = start_server(config(auth_token_file=str(token)), extra_args=["--no-train"], whole=True)
    z = [0.0] * 84
    got, _ = Http(s).post("/v1/policies/learned/actions", {"observations": [z]})
    assert got == 401
    got, _ = Http(s, "wrong-token-wrong-token").post("/connect4", {"observation": z})
    assert got == 401
    got, r = Http(s, TOKEN).post("/v1/policies/learned/actions", {"observations": [z] * 20})
    assert got == 200 and len(r["actions"]) == 20
    # Before authentication a body is at most 1 KiB, even on an inference path.
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    c.request("POST", "/v1/policies/learned/actions", json.dumps({"observations": [z] * 20}))
    assert c.getresponse().status == 413  # ~8 KB > 1 KiB, refused before it is read
