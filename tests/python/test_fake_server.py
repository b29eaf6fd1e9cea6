"""A server that breaks the protocol: the client raises a clear error and never hangs or crashes.
The fake is a real WebSocket server on loopback (handshake and framing by hand)."""
import base64
import hashlib
import json
import struct
import threading
import time

import flatbuffers
import numpy as np
import pytest

import tandem
from conftest import listen_on_loopback
from tandem import codec
from tandem.wire.fb import Envelope, TensorPart, Weights
from tandem.wire.fb.Message import Message

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeServer:
    """Accepts connections; answers every binary frame with reply(rid, message_type) -> list of
    (opcode, payload) frames, or closes the socket when it returns None."""

    def __init__(self, reply):
        self.reply = reply
        self.sock, self.port = listen_on_loopback()
        self.address = f"ws://127.0.0.1:{self.port}"
        self.connections = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _recv(self, c, n):
        b = b""
        while len(b) < n:
            chunk = c.recv(n - len(b))
            if not chunk:
                raise EOFError
            b += chunk
        return b

    def _serve(self, c):
        try:
            req = b""
            while b"\r\n\r\n" not in req:
                req += c.recv(4096)
            key = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            while True:
                b0, b1 = self._recv(c, 2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack(">H", self._recv(c, 2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", self._recv(c, 8))[0]
                mask = self._recv(c, 4)
                data = bytes(x ^ mask[i % 4] for i, x in enumerate(self._recv(c, n)))
                if b0 & 0x0F == 8:
                    return
                env = Envelope.Envelope.GetRootAs(data, 0)
                frames = self.reply(env.RequestId(), env.MessageType())
                if frames is None:
                    return
                for op, payload in frames:
                    head = bytes([0x80 | op])
                    if len(payload) < 126:
                        head += bytes([len(payload)])
                    elif len(payload) < 65536:
                        head += bytes([126]) + struct.pack(">H", len(payload))
                    else:
                        head += bytes([127]) + struct.pack(">Q", len(payload))
                    c.sendall(head + payload)
        except (EOFError, OSError):
            pass
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()


def envelope(rid, build, mtype, version=codec.PROTOCOL_VERSION):
    b = flatbuffers.Builder(256)
    off = build(b)
    Envelope.Start(b)
    Envelope.AddVersion(b, version)
    Envelope.AddRequestId(b, rid)
    Envelope.AddMessageType(b, mtype)
    Envelope.AddMessage(b, off)
    b.Finish(Envelope.End(b), file_identifier=b"TNDM")
    return bytes(b.Output())


def config_frame(rid):
    from tandem.wire.fb import Config
    cfg = json.dumps({
        "protocol_version": 2, "policy_order": ["p"], "policy_mapping": {"*": "p"},
        "policies": {"p": {"observation_space": {"type": "box", "shape": [2]}, "action_space": {"type": "discrete", "n": 2},
                           "config": {"rollout_fragment_length": 10, "max_abs_reward": 1e6}}},
        "models": {"p": {"format": "tandem-mlp-actor-critic/1", "observation_space": {"type": "box", "shape": [2]},
                         "action_space": {"type": "discrete", "n": 2}, "input_size": 2, "observation_clip": 0,
                         "activation": "tanh", "policy_trunk": [], "policy_head": "pi_out", "value_trunk": [],
                         "value_head": "vf_out", "vf_share_layers": False, "distribution": "categorical",
                         "dist_dim": 2, "free_log_std": False, "masked_logit": -1e9,
                         "tensors": [{"name": "pi_out.weight", "shape": [2, 2]}, {"name": "pi_out.bias", "shape": [2]},
                                     {"name": "vf_out.weight", "shape": [1, 2]}, {"name": "vf_out.bias", "shape": [1]}]}}})

    def build(b):
        s = b.CreateString(cfg)
        Config.Start(b)
        Config.AddJson(b, s)
        return Config.End(b)
    return envelope(rid, build, Message.Config)


def weights_frame(rid, parts, chunk=0, chunks=1):
    def build(b):
        offs = []
        for name, shape, offset, data in parts:
            n = b.CreateString(name)
            sh = b.CreateNumpyVector(np.array(shape, np.int64))
            d = b.CreateNumpyVector(np.array(data, np.float32))
            TensorPart.Start(b)
            TensorPart.AddName(b, n)
            TensorPart.AddShape(b, sh)
            TensorPart.AddOffset(b, offset)
            TensorPart.AddData(b, d)
            offs.append(TensorPart.End(b))
        tv = codec.vector_of_tables(b, Weights.StartTensorsVector, offs)
        pid = b.CreateString("p")
        Weights.Start(b)
        Weights.AddPolicyId(b, pid)
        Weights.AddVersion(b, 1)
        Weights.AddChunkIndex(b, chunk)
        Weights.AddNumChunks(b, chunks)
        Weights.AddTensors(b, tv)
        return Weights.End(b)
    return envelope(rid, build, Message.Weights)


def weights_server(weight_frames):
    """A fake that answers GetConfig with config_frame and GetWeights with weight_frames(rid)."""
    def reply(rid, t):
        if t == Message.GetConfig:
            return [(2, config_frame(rid))]
        if t == Message.GetWeights:
            return weight_frames(rid)
        return None
    return FakeServer(reply)


GOOD = [("pi_out.weight", [2, 2], 0, [1, 2, 3, 4]), ("pi_out.bias", [2], 0, [0, 0]),
        ("vf_out.weight", [1, 2], 0, [1, 1]), ("vf_out.bias", [1], 0, [0])]

GARBAGE = {
    "random bytes": lambda rid: [(2, bytes(range(200)))],
    "identifier, corrupt body": lambda rid: [(2, b"\xff\xff\xff\x7fTNDM" + b"\x01" * 40)],
    "truncated frame": lambda rid: [(2, config_frame(rid)[:20])],
    "old protocol version": lambda rid: [(2, envelope(rid, lambda b: (Envelope.Start(b), Envelope.End(b))[1] and 0,
                                                      Message.NONE, version=1))],
    "text frame": lambda rid: [(1, b"hello")],
    "a request instead of a reply": lambda rid: [(2, codec.encode(rid, "GetConfig", ()))],
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_from_the_server_is_a_protocol_error(case):
    fake = FakeServer(lambda rid, t: GARBAGE[case](rid))
    t0 = time.monotonic()
    with pytest.raises(tandem.ProtocolError):
        tandem.PolicyClient(fake.address, reconnect_timeout=2)
    assert time.monotonic() - t0 < 5
    fake.close()


BAD_WEIGHTS = {
    "overlapping parts": [("pi_out.weight", [2, 2], 0, [1, 2]), ("pi_out.weight", [2, 2], 1, [3, 4])] + GOOD[1:],
    "part beyond its tensor": [("pi_out.weight", [2, 2], 0, [1, 2, 3, 4, 5])] + GOOD[1:],
    "tensor cut short": [("pi_out.weight", [2, 2], 0, [1, 2, 3])] + GOOD[1:],
    "missing tensor": GOOD[:3],
    "wrong shape": [("pi_out.weight", [2, 3], 0, [1, 2, 3, 4, 5, 6])] + GOOD[1:],
    "name twice": GOOD + [GOOD[0]],
    "negative shape": [("pi_out.weight", [-2, 2], 0, [])] + GOOD[1:],
}


@pytest.mark.parametrize("case", sorted(BAD_WEIGHTS))
def test_bad_weights_are_refused_by_name(case):
    fake = weights_server(lambda rid: [(2, weights_frame(rid, BAD_WEIGHTS[case]))])
    with pytest.raises(tandem.ProtocolError) as e:
        tandem.PolicyClient(fake.address, inference_mode="local", reconnect_timeout=2)
    assert "weights" in str(e.value) and ("pi_out" in str(e.value) or "vf_out" in str(e.value)), str(e.value)
    fake.close()


BAD_CHUNKS = {
    "out of order": lambda rid: [(2, weights_frame(rid, GOOD[2:], 1, 2)), (2, weights_frame(rid, GOOD[:2], 0, 2))],
    "two sets mixed": lambda rid: [(2, weights_frame(rid, GOOD[:2], 0, 2)), (2, weights_frame(rid, GOOD[2:], 0, 3))],
    "a chunk more": lambda rid: [(2, weights_frame(rid, GOOD, 0, 1)), (2, weights_frame(rid, [], 1, 1))],
    "zero chunks": lambda rid: [(2, weights_frame(rid, GOOD, 0, 0))],
}
BAD_CHUNK_WORDS = {"out of order": "expected 0", "two sets mixed": "another weight set",
                   "a chunk more": None, "zero chunks": "num_chunks"}


@pytest.mark.parametrize("case", sorted(BAD_CHUNKS))
def test_bad_chunk_sequences_are_refused_by_the_assembler(case):
    fake = weights_server(BAD_CHUNKS[case])
    words = BAD_CHUNK_WORDS[case]
    if words is None:  # a stray chunk after a complete set is ignored (it answers no request)
        with tandem.PolicyClient(fake.address, inference_mode="local", reconnect_timeout=2) as c:
            assert c.local_stats().weight_updates == 1
    else:
        with pytest.raises(tandem.ProtocolError, match=words):
            tandem.PolicyClient(fake.address, inference_mode="local", reconnect_timeout=2)
    fake.close()


def test_good_weights_from_the_fake_give_the_expected_actions():
    def two_chunks(rid):  # the weight set in two chunks, a tensor split between them
        a = [GOOD[0][:3] + (GOOD[0][3][:3],)]
        b = [("pi_out.weight", [2, 2], 3, [4])] + GOOD[1:]
        return [(2, weights_frame(rid, a, 0, 2)), (2, weights_frame(rid, b, 1, 2))]
    fake = weights_server(two_chunks)
    with tandem.PolicyClient(fake.address, inference_mode="local", reconnect_timeout=2) as c:
        eid = c.start_episode(explore=False)
        # logits = W x: [1 2; 3 4] [1, 0] = [1, 3] -> greedy 1; [-1, 0] -> [-1, -3] -> 0
        assert c.get_action(eid, [1.0, 0.0]) == 1
        assert c.get_action(eid, [-1.0, 0.0]) == 0
    fake.close()


def test_a_server_that_closes_at_once_gives_a_connection_error():
    fake = FakeServer(lambda rid, t: None)
    t0 = time.monotonic()
    with pytest.raises(tandem.TandemConnectionError):
        tandem.PolicyClient(fake.address, reconnect_timeout=1)
    assert time.monotonic() - t0 < 5
    fake.close()


def test_the_cpp_client_gives_up_on_a_server_that_drops_every_connection():
    # model_eval is a C++ client (policy_client/connection.h): it must not retry forever either.
    import subprocess
    from conftest import MODEL_EVAL
    fake = FakeServer(lambda rid, t: None)
    t0 = time.monotonic()
    out = subprocess.run([MODEL_EVAL, fake.address], input="[]", capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "dropping the connection" in out.stderr, out.stderr
    assert time.monotonic() - t0 < 20
    fake.close()
