"""tandem.frames against hand-made server frames on a socket pair: fragments joined, pings
answered, close and RFC violations reported, the client's frames masked and readable."""
import os
import random
import socket
import struct
import threading

import pytest

from tandem.errors import ProtocolError
from tandem.frames import OP_BINARY, OP_PING, OP_PONG, OP_TEXT, ConnectionClosed, FrameSocket, MaskKeys, mask


def server_frame(payload, op=OP_BINARY, fin=True, rsv=0, masked=False):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | op])
    m = 0x80 if masked else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if masked:
        key = b"\x01\x02\x03\x04"
        return head + key + mask(key, payload)
    return head + payload


def read_client_frame(sock):
    """(opcode, unmasked payload) of one frame the client wrote."""
    def take(n):
        b = b""
        while len(b) < n:
            b += sock.recv(n - len(b))
        return b
    b0, b1 = take(2)
    assert b0 & 0x80 and b1 & 0x80  # FIN, masked (RFC 6455: every client frame)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", take(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", take(8))[0]
    key = take(4)
    return b0 & 0x0F, mask(key, take(n))


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield FrameSocket(a, random.Random(1).randbytes, 1 << 20), b
    a.close()
    b.close()


@pytest.mark.parametrize("n", [0, 1, 5, 125, 126, 4096, 65535, 65536, 70001])
def test_mask_is_its_own_inverse_and_equals_bytewise_xor(n):
    data = os.urandom(n)
    key = os.urandom(4)
    out = mask(key, data)
    assert out == bytes(x ^ key[i % 4] for i, x in enumerate(data))
    assert mask(key, out) == data


@pytest.mark.parametrize("n", [0, 3, 125, 126, 65535, 65536, 300000])
def test_client_frames_are_masked_and_carry_the_payload(pair, n):
    fs, peer = pair
    payloads = [os.urandom(n), b"second"]
    t = threading.Thread(target=fs.send_many, args=(payloads,))  # beyond the socket's buffer
    t.start()
    assert read_client_frame(peer) == (OP_BINARY, payloads[0])
    assert read_client_frame(peer) == (OP_BINARY, b"second")
    t.join()


def test_fragments_are_joined_and_a_ping_between_them_is_answered(pair):
    fs, peer = pair
    peer.sendall(server_frame(b"he", fin=False) + server_frame(b"ping!", op=OP_PING)
                 + server_frame(b"ll", op=0, fin=False) + server_frame(b"o", op=0)
                 + server_frame(b"", op=OP_PONG) + server_frame(b"next", op=OP_TEXT))
    assert fs.recv_message() == (OP_BINARY, b"hello")
    assert read_client_frame(peer) == (OP_PONG, b"ping!")
    assert fs.recv_message() == (OP_TEXT, b"next")


def test_small_frames_in_one_read_or_split_across_reads_arrive_whole_and_in_order(pair):
    # A lone small frame per read takes the one-read path; frames that share a read, or one
    # that arrives in parts, are parsed from the buffer.
    fs, peer = pair
    peer.sendall(server_frame(b"one"))
    assert fs.recv_message() == (OP_BINARY, b"one")
    peer.sendall(server_frame(b"two") + server_frame(b"") + server_frame(b"x" * 125))
    assert [fs.recv_message() for _ in range(3)] == [(OP_BINARY, b"two"), (OP_BINARY, b""), (OP_BINARY, b"x" * 125)]
    f = server_frame(b"split")
    peer.sendall(f[:4])
    threading.Timer(0.05, peer.sendall, args=(f[4:] + server_frame(b"after"),)).start()
    assert fs.recv_message() == (OP_BINARY, b"split")
    assert fs.recv_message() == (OP_BINARY, b"after")
    peer.sendall(server_frame(b"t", op=OP_TEXT))
    assert fs.recv_message() == (OP_TEXT, b"t")
    for n in (126, 4000, 65000):  # a 16-bit length
        peer.sendall(server_frame(b"y" * n))
        assert fs.recv_message() == (OP_BINARY, b"y" * n)


class ChunkSocket:
    """A socket whose recv returns the given chunks one by one (then b"": the end)."""

    def __init__(self, chunks):
        self.chunks = list(chunks)

    def recv(self, n):
        return self.chunks.pop(0) if self.chunks else b""

    def sendall(self, data):
        pass


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
def test_a_frame_that_arrives_in_pieces_of_any_size_is_read_whole(cut):
    for payload in (b"z" * 10, b"w" * 300):
        f = server_frame(payload)
        fs = FrameSocket(ChunkSocket([f[:cut], f[cut:]]), random.Random(1).randbytes, 1 << 20)
        assert fs.recv_message() == (OP_BINARY, payload)


def test_a_whole_frame_in_one_read_is_taken_as_it_is_and_the_limit_still_holds():
    fs = FrameSocket(ChunkSocket([server_frame(b"a" * 100), server_frame(b"b" * 1000)]), random.Random(1).randbytes, 1 << 20)
    assert fs.recv_message() == (OP_BINARY, b"a" * 100)
    assert fs.recv_message() == (OP_BINARY, b"b" * 1000)
    assert len(fs.buf) == 0  # neither went through the buffer
    for n in (100, 1000):  # a limit below the frame: refused on the one-read path too
        fs = FrameSocket(ChunkSocket([server_frame(b"c" * n)]), random.Random(1).randbytes, 50)
        with pytest.raises(ProtocolError, match="more than"):
            fs.recv_message()


def test_a_big_message_arrives_whole_across_many_reads(pair):
    fs, peer = pair
    data = os.urandom(600000)
    t = threading.Thread(target=peer.sendall, args=(server_frame(data[:1000], fin=False)
                                                   + server_frame(data[1000:], op=0),))
    t.start()
    assert fs.recv_message() == (OP_BINARY, data)
    t.join()


@pytest.mark.parametrize("frames,why", [
    (server_frame(b"x", masked=True), "masked"),
    (server_frame(b"x", rsv=0x40), "reserved bits"),
    (server_frame(b"x", op=0x3), "unknown opcode"),
    (server_frame(b"x", op=0), "continuation frame outside"),
    (server_frame(b"a", fin=False) + server_frame(b"b"), "inside a fragmented"),
    (server_frame(b"p" * 10, op=OP_PING, fin=False), "control frame"),
    (server_frame(b"x" * ((1 << 20) + 1)), "more than"),
    (bytes([0x82, 127]) + struct.pack(">Q", 1 << 62), "more than"),  # a length nobody may send
], ids=["masked", "rsv", "opcode", "lone continuation", "message in message", "fragmented ping", "too big",
        "absurd length"])
def test_what_a_server_may_not_send_is_a_protocol_error(pair, frames, why):
    fs, peer = pair
    threading.Thread(target=lambda: _send_quietly(peer, frames), daemon=True).start()  # may block: not read
    with pytest.raises(ProtocolError, match=why):
        fs.recv_message()


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


def test_a_close_frame_or_the_end_of_the_socket_is_connection_closed(pair):
    fs, peer = pair
    peer.sendall(server_frame(b"\x03\xe8bye", op=0x8))
    with pytest.raises(ConnectionClosed):
        fs.recv_message()
    assert read_client_frame(peer) == (0x8, b"\x03\xe8")  # answered with its status code
    peer.sendall(server_frame(b"half")[:3])
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(ConnectionClosed):
        fs.recv_message()


def test_mask_keys_come_from_a_refilled_pool_of_os_random_bytes():
    keys = MaskKeys(pool_bytes=64)
    got = [keys(4) for _ in range(100)]  # 400 bytes: the pool refilled 6 times
    assert all(len(k) == 4 for k in got) and len(set(got)) > 95
    assert len(keys(100)) == 100  # larger than the pool
