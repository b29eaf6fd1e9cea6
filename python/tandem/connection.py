"""One blocking WebSocket connection to a tandem-server, as the C++ Connection is.

    send(rid, frame) -> kept in unacked[rid] -> the server answers in order -> wait(rid)
    returns the decoded reply; replies to earlier pipelined requests met on the way are
    matched and, when they are Errors, kept for the caller to raise.

Identity: every (re)connection of one Connection sends the same X-Tandem-Client header
(an optional name and a random incarnation), so the server recognises a request resent
after a reconnect (same id, same bytes) and answers it with the original's reply, applying
it once. Request ids start at a random point and increase. At most MAX_UNACKED requests are
unanswered at a time. Not thread-safe: the owner serialises every call.
"""
import os
import random
import socket
import ssl
import time

import websocket

from tandem import codec
from tandem.errors import ProtocolError, RefusedError, TandemConnectionError, first_of, request_error
from tandem.frames import OP_BINARY, ConnectionClosed, FrameSocket, MaskKeys

MAX_UNACKED = 64
MAX_CLIENT_NAME = 40


def new_episode_id(rng):
    return "ep-%016x" % rng.getrandbits(64)


def error_of(reply, what):
    """The RequestError an ErrorReply stands for (None for any other reply)."""
    if isinstance(reply, codec.ErrorReply):
        return request_error(reply.code, what, reply.message)
    return None


def expect(reply, cls, what):
    if isinstance(reply, cls):
        return reply
    raise ProtocolError(f"server answered {what} with {type(reply).__name__}")


class Connection:
    def __init__(self, address, client_id="", auth_token=None, tls_ca_file=None, reconnect_timeout=30.0):
        if not (address.startswith("ws://") or address.startswith("wss://")):
            raise ValueError(f"address must look like ws://HOST:PORT or wss://HOST:PORT, got {address!r}")
        rest = address.split("://", 1)[1]
        hostport = rest.split("/", 1)[0]
        if ":" not in hostport or hostport.endswith(":") or hostport.startswith(":"):
            raise ValueError(f"address must look like ws://HOST:PORT or wss://HOST:PORT, got {address!r}")
        self.address = address
        self.endpoint = address.split("://", 1)[0] + "://" + hostport
        self._tls = address.startswith("wss://")
        self._sslopt = None
        if self._tls:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if tls_ca_file:
                if not os.path.isfile(tls_ca_file):
                    raise ValueError(f"tls_ca_file {tls_ca_file!r} cannot be read")
                ctx.load_verify_locations(cafile=tls_ca_file)
            self._sslopt = {"context": ctx}
        if auth_token is None:
            auth_token = os.environ.get("TANDEM_TOKEN", "")
        self._token = auth_token
        if len(client_id) > MAX_CLIENT_NAME or any(c < "!" or c > "~" or c == "/" for c in client_id):
            raise ValueError(f"client_id must be at most {MAX_CLIENT_NAME} printable ASCII characters without "
                             "spaces or '/'")
        self.rng = random.Random()
        self._mask_keys = MaskKeys()
        self.resent = 0      # requests resent after a reconnect
        incarnation = "%016x" % random.SystemRandom().getrandbits(64)
        self._client_id = f"{client_id}/{incarnation}" if client_id else incarnation
        self._next_id = (random.SystemRandom().getrandbits(64) >> 2) | 1
        self.reconnect_timeout = reconnect_timeout
        self.reconnects = 0
        self._ws = None
        self._frames = None  # tandem.frames.FrameSocket on _ws's socket
        self._unacked = {}   # rid -> (frame, what, entry names); insertion order = send order
        self._errors = []    # RequestErrors of pipelined requests, raised by the next call
        self._aborted = False
        self._failing_since = None  # the first failure since the last reply read (None: none)

    # ---- connecting ----
    def connected(self):
        return self._ws is not None

    def disconnect(self):
        ws, self._ws = self._ws, None
        self._frames = None  # what the old connection left buffered is never read
        if ws is not None:
            try:
                ws.sock and ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                ws.shutdown()
            except Exception:
                pass

    def abort(self):
        """From another thread: fails the blocking call in progress and every later connect."""
        self._aborted = True
        ws = self._ws
        if ws is not None and ws.sock is not None:
            try:
                ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _connect_once(self):
        if self._aborted:
            raise TandemConnectionError("connection aborted")
        header = [f"X-Tandem-Client: {self._client_id}"]
        if self._token:
            header.append(f"Authorization: Bearer {self._token}")
        try:
            ws = websocket.create_connection(
                self.address, header=header, sslopt=self._sslopt, timeout=None,
                sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),), enable_multithread=False,
                skip_utf8_validation=True)
        except websocket.WebSocketBadStatusException as e:
            if e.status_code in (400, 401):
                why = ("missing or wrong auth token (auth_token or TANDEM_TOKEN)" if e.status_code == 401
                       else (e.resp_body or b"")[:200].decode("utf-8", "replace"))
                raise RefusedError(f"tandem-server at {self.endpoint} refused the connection "
                                   f"(HTTP {e.status_code}): {why}") from None
            raise
        except ssl.SSLCertVerificationError as e:
            raise RefusedError(f"tandem-server at {self.endpoint}: its TLS certificate is not trusted "
                               f"({e.verify_message}; see tls_ca_file)") from None
        # websocket-client did the handshake; the frames go through tandem.frames, their masks
        # from a pool of os.urandom bytes (tandem.frames.MaskKeys).
        self._frames = FrameSocket(ws.sock, self._mask_keys, codec.MAX_FRAME_BYTES)
        self._ws = ws

    def reconnect(self, why):
        """(Re)connects with backoff for up to reconnect_timeout s, then resends every unanswered request."""
        deadline = time.monotonic() + self.reconnect_timeout
        backoff = 0.02
        while True:
            try:
                self.disconnect()
                self._connect_once()
                if self._unacked:
                    self._frames.send_many([frame for frame, _, _ in self._unacked.values()])
                    self.resent += len(self._unacked)
                break
            except RefusedError:
                self.disconnect()
                raise
            except Exception as e:  # refused, reset, timed out, dropped during the resend
                self.disconnect()
                if self._aborted or time.monotonic() + backoff > deadline:
                    raise TandemConnectionError(f"cannot reach tandem-server at {self.endpoint} ({why}; last: "
                                                f"{type(e).__name__}: {e})") from None
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
        self.reconnects += 1

    # ---- requests ----
    def next_id(self):
        rid = self._next_id
        self._next_id += 1
        return rid

    def send(self, rid, frame, what, entries=None):
        while len(self._unacked) >= MAX_UNACKED:  # bound the window: wait for the oldest first
            oldest = next(iter(self._unacked))
            _, w, names = self._unacked[oldest]
            self._keep_errors(self.wait(oldest), w, names)
        self._unacked[rid] = (frame, what, entries)
        if self._ws is None:
            self.reconnect("not connected")  # sends this one too
            return
        try:
            self._frames.send_binary(frame)
        except Exception as e:
            self.reconnect(f"{type(e).__name__}: {e}")

    def send_many(self, items):
        """send() of several [(rid, frame, what)] in one write: one system call, and one release
        of the GIL, for a round of pipelined requests (the local client's uploads)."""
        if len(items) > MAX_UNACKED // 2:
            raise ValueError(f"send_many: at most {MAX_UNACKED // 2} requests at a time")
        while len(self._unacked) + len(items) > MAX_UNACKED:
            oldest = next(iter(self._unacked))
            _, w, names = self._unacked[oldest]
            self._keep_errors(self.wait(oldest), w, names)
        for rid, frame, what in items:
            self._unacked[rid] = (frame, what, None)
        if self._ws is None:
            self.reconnect("not connected")  # sends these too
            return
        try:
            self._frames.send_many([frame for _, frame, _ in items])
        except Exception as e:
            self.reconnect(f"{type(e).__name__}: {e}")

    def _read(self):
        if self._frames is None:
            raise ConnectionClosed("not connected")
        op, data = self._frames.recv_message()
        return codec.decode_reply(data if op == OP_BINARY else data.decode("utf-8", "replace"))

    def wait(self, rid):
        """Reads replies until the one for rid arrives (reconnecting and resending on the way)."""
        while True:
            try:
                if self._ws is None:
                    raise websocket.WebSocketConnectionClosedException("not connected")
                got, reply = self._read()
            except ProtocolError:
                self.disconnect()
                raise
            except Exception as e:
                if self._aborted:
                    raise TandemConnectionError("connection aborted") from None
                # A server that accepts every connection and drops it before answering: give up
                # after reconnect_timeout without a reply, as when it cannot be reached at all.
                now = time.monotonic()
                if self._failing_since is None:
                    self._failing_since = now
                elif now - self._failing_since > self.reconnect_timeout:
                    self._failing_since = None
                    self.disconnect()
                    raise TandemConnectionError(f"tandem-server at {self.endpoint} keeps dropping the connection "
                                                f"without answering (last: {type(e).__name__}: {e})") from None
                try:
                    self.reconnect(f"{type(e).__name__}: {e}")
                except Exception:
                    self._failing_since = None  # a later call starts its count afresh
                    raise
                continue
            self._failing_since = None
            sent = self._unacked.pop(got, None)
            if sent is None:
                continue  # a late duplicate reply, or a stray chunk
            if got == rid:
                return reply
            self._keep_errors(reply, sent[1], sent[2])

    def wait_more(self, rid):
        """A further reply frame for rid (chunked Weights); TandemConnectionError when the connection drops."""
        while True:
            try:
                got, reply = self._read()
            except ProtocolError:
                self.disconnect()
                raise
            except Exception as e:
                self.disconnect()
                raise TandemConnectionError(f"connection dropped during a chunked reply: {e}") from None
            if got == rid:
                return reply

    def _keep_errors(self, reply, what, entries):
        e = error_of(reply, what)
        if e is not None:
            self._errors.append(e)
        if isinstance(reply, codec.VectorReplyValue):
            for i, r in enumerate(reply.replies):
                if isinstance(r, codec.ErrorReply):
                    name = entries[i] if entries and i < len(entries) else what
                    self._errors.append(request_error(r.code, name, r.message))

    def keep(self, error):
        self._errors.append(error)

    def raise_pending(self):
        if self._errors:
            errors, self._errors = self._errors, []
            raise first_of(errors)

    def call(self, rid, frame, what):
        """send + wait; raises RequestError for an Error reply (a kept pipelined error first)."""
        self.raise_pending()
        self.send(rid, frame, what)
        reply = self.wait(rid)
        e = error_of(reply, what)
        if e is not None:
            raise e
        return reply

    def drain(self):
        """Waits for every unanswered request; keeps their errors."""
        while self._unacked:
            rid = next(reversed(self._unacked))
            _, what, names = self._unacked[rid]
            self._keep_errors(self.wait(rid), what, names)

    def forget(self, rid):
        self._unacked.pop(rid, None)

    def has_unacked(self):
        return bool(self._unacked)
