"""WebSocket frames (RFC 6455) on a connected socket, after websocket-client's handshake.

    send_many([payload, ...]) -> one masked binary frame each, all in one sendall
    recv_message()            -> (opcode, bytes) of the next whole message

websocket-client's frame layer (ABNF objects, a lock, one method call per header field, the
mask through several copies) cost ~40% of a small round trip's Python time here; this is the
part of it the data path needs. Reading goes through one buffer: a small reply is one recv
system call. Continuation frames are joined; a ping is answered with a pong; a close frame
ends the connection (ConnectionClosed); anything the RFC forbids a server to send (a masked
frame, reserved bits, an unknown opcode, a message beyond max_message_bytes) is a
ProtocolError. Not thread-safe: the owner serialises sends and receives.
"""
import os

import numpy as np

from tandem.errors import ProtocolError

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_SMALL = 1 << 16


class MaskKeys:
    """Frame masking keys from the OS's random source (RFC 6455 5.3: unpredictable), taken from
    a pool: one os.urandom call (a GIL release) per 1,024 frames instead of one per frame."""

    def __init__(self, pool_bytes=4096):
        self.pool_bytes = pool_bytes
        self.pool, self.at = b"", 0

    def __call__(self, n):
        if self.at + n > len(self.pool):
            self.pool, self.at = os.urandom(max(self.pool_bytes, n)), 0
        self.at += n
        return self.pool[self.at - n:self.at]


class ConnectionClosed(Exception):
    """The peer closed the connection (a close frame, or the socket ended)."""


def mask(key, data):
    """data XOR the 4-byte key repeated (the client-to-server masking)."""
    n = len(data)
    if n == 0:
        return b""
    if n <= _SMALL:
        k = (key * ((n + 3) // 4))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")
    pad = -n % 4
    words = np.frombuffer(bytes(data) + bytes(pad), np.uint32) ^ np.frombuffer(key, np.uint32)[0]
    return words.tobytes()[:n]


class FrameSocket:
    def __init__(self, sock, mask_key, max_message_bytes):
        self.sock = sock
        self.mask_key = mask_key            # n -> n random bytes
        self.max_message_bytes = max_message_bytes
        self.buf = bytearray()
        self.pos = 0

    # ---- writing ----
    def frame(self, payload, opcode=OP_BINARY):
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        key = self.mask_key(4)
        return head + key + mask(key, payload)

    def send_many(self, payloads, chunk_bytes=1 << 20):
        """The payloads' frames in as few writes as fit in chunk_bytes (a larger one alone)."""
        out, size = [], 0
        for p in payloads:
            f = self.frame(p)
            if out and size + len(f) > chunk_bytes:
                self.sock.sendall(b"".join(out))
                out, size = [], 0
            out.append(f)
            size += len(f)
        if out:
            self.sock.sendall(out[0] if len(out) == 1 else b"".join(out))

    def send_binary(self, payload):
        self.sock.sendall(self.frame(payload))

    # ---- reading ----
    def _fill(self, n):
        """Until n unread bytes are buffered."""
        while len(self.buf) - self.pos < n:
            chunk = self.sock.recv(min(max(65536, n - (len(self.buf) - self.pos)), 1 << 20))
            if not chunk:
                raise ConnectionClosed("the connection ended")
            if self.pos:
                del self.buf[:self.pos]
                self.pos = 0
            self.buf += chunk

    def _take(self, n):
        self._fill(n)
        p = self.pos
        self.pos = p + n
        return bytes(self.buf[p:p + n])

    def _frame_header(self):
        """(fin, opcode, payload length) of the next frame."""
        self._fill(2)
        b0, b1 = self.buf[self.pos], self.buf[self.pos + 1]
        self.pos += 2
        if b0 & 0x70:
            raise ProtocolError("the server sent a WebSocket frame with reserved bits set")
        if b1 & 0x80:
            raise ProtocolError("the server sent a masked WebSocket frame")
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._take(2), "big")
        elif n == 127:
            n = int.from_bytes(self._take(8), "big")
        return bool(b0 & 0x80), b0 & 0x0F, n

    def recv_message(self):
        """(opcode, payload) of the next text or binary message, its fragments joined."""
        if self.pos == len(self.buf):  # nothing buffered: a small reply is one whole frame per recv
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("the connection ended")
            if len(chunk) >= 2 and chunk[0] == 0x80 | OP_BINARY:  # one whole unmasked binary frame,
                n = chunk[1]                                        # short or 16-bit length
                if n < 126 and len(chunk) == 2 + n and n <= self.max_message_bytes:
                    return OP_BINARY, chunk[2:]
                if n == 126 and len(chunk) >= 4 and len(chunk) == 4 + ((chunk[2] << 8) | chunk[3]) \
                        and len(chunk) - 4 <= self.max_message_bytes:
                    return OP_BINARY, chunk[4:]
            self.buf[:] = chunk  # anything else is parsed from the buffer below
            self.pos = 0
        parts, opcode, total = [], None, 0
        while True:
            fin, op, n = self._frame_header()
            if op >= 0x8:  # control frames: whole, small, between a message's fragments
                if not fin or n > 125:
                    raise ProtocolError("the server sent a fragmented or oversized control frame")
                payload = self._take(n)
                if op == OP_CLOSE:  # answered with its status code (RFC 6455 5.5.1), best effort
                    try:
                        self.sock.sendall(self.frame(payload[:2], OP_CLOSE))
                    except OSError:
                        pass
                    raise ConnectionClosed("closed by the server")
                if op == OP_PING:
                    self.sock.sendall(self.frame(payload, OP_PONG))
                elif op != OP_PONG:
                    raise ProtocolError(f"the server sent a WebSocket frame of unknown opcode {op}")
                continue
            if op == 0:
                if opcode is None:
                    raise ProtocolError("the server sent a continuation frame outside a message")
            elif op in (OP_TEXT, OP_BINARY):
                if opcode is not None:
                    raise ProtocolError("the server started a message inside a fragmented one")
                opcode = op
            else:
                raise ProtocolError(f"the server sent a WebSocket frame of unknown opcode {op}")
            total += n
            if total > self.max_message_bytes:
                raise ProtocolError(f"the server sent a message of more than {self.max_message_bytes} bytes")
            parts.append(self._take(n))
            if fin:
                return opcode, parts[0] if len(parts) == 1 else b"".join(parts)
