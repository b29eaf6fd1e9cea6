"""Remote inference: every call is a request on one Connection (as policy_client/remote_client.cpp).

get_action, start_episode, get_config and a vectorised step wait for their reply.
log_returns and log_action are held and travel in the frame of the next call (one
VectorRequest: held calls first, in order, then that call), so a simulator loop of
get_action + log_returns costs one frame each way per step. end_episode is sent at once with
what is held; so are MAX_HELD held calls. An Error for a held call is raised by the first
call that starts after it arrived, or by flush().
"""
import threading

from tandem import codec
from tandem.connection import Connection, error_of, expect, new_episode_id
from tandem.errors import ProtocolError, RefusedError, TandemConnectionError, request_error

MAX_HELD = 64
MAX_HELD_BYTES = (8 << 20) // 4
MAX_AGENTS_PER_VECTOR = 8192   # core/request_checks.h kMaxAgentsPerVector
MAX_ENTRIES_PER_VECTOR = 1024  # kMaxEntriesPerVector


def _size(kind, args):
    """(agents, an upper estimate of the encoded bytes) of one entry."""
    agents, nbytes = 0, 64 + len(args[0])
    if kind in ("GetAction", "LogAction", "EndEpisode"):
        for agent_id, obs, mask in args[1]:
            agents += 1
            nbytes += 64 + len(agent_id) + 4 * (len(obs) + (len(mask) if mask is not None else 0))
        if kind == "LogAction":
            for agent_id, d, c in args[2]:
                nbytes += 64 + len(agent_id) + 8 * len(d) + 4 * len(c)
    elif kind == "LogReturns":
        agents += len(args[1])
        nbytes += sum(48 + len(a[0]) for a in args[1])
    return agents, nbytes


def call_name(kind, episode_id):
    return f"{kind}({episode_id})"


class RemoteBackend:
    def __init__(self, address, options, connect_now=True):
        self.conn = Connection(address, options.client_id, options.auth_token, options.tls_ca_file,
                               options.reconnect_timeout)
        self.mu = threading.Lock()
        self.held = []        # (kind, args, name)
        self.held_agents = 0
        self.held_bytes = 0
        self.sent_steps = {}    # rid -> ticket of a step sent and not read yet (in send order)
        self.step_results = {}  # rid -> (replies, error) read ahead of its step_wait
        # Replica group (tandem/replicas.py): the calls of each frame sent, until answered, and
        # the frame of the call in progress with how many of its last entries are that call's.
        self.given = {}        # rid -> [(kind, args, name)]
        self.current = (0, 0)
        self.epoch = 0
        self._ever_connected = connect_now
        self._tracking = not connect_now  # a replica of a group keeps what it was given
        if connect_now:
            self.conn.reconnect("connecting")
            self.conn.reconnects = 0

    # ---- replica group (the calls as in policy_client/remote_client.h) ----
    def _given(self, rid, entries, tail=0):
        if not self._tracking:
            return  # one address: nothing to replay elsewhere, no bookkeeping
        for old in [r for r in self.given if r not in self.conn._unacked]:
            del self.given[old]
        self.given[rid] = list(entries)
        if tail:
            self.current = (rid, tail)

    def take_unanswered(self):
        """(calls not answered, in order, except the call in progress; kept errors); forgets them all."""
        with self.mu:
            calls = []
            for rid in sorted(self.given):
                if rid not in self.conn._unacked:
                    continue
                entries = self.given[rid]
                if rid == self.current[0]:
                    entries = entries[:max(0, len(entries) - self.current[1])]
                calls.extend(entries)
            calls.extend(self._take_held())
            errors, self.conn._errors = self.conn._errors, []
            self.conn._unacked.clear()
            self.conn.disconnect()
            self.given.clear()
            self.sent_steps.clear()
            self.step_results.clear()
            self.current = (0, 0)
            self.epoch += 1
            return calls, errors

    def try_connect(self, timeout):
        with self.mu:
            if self.conn.connected():
                return True
            keep, self.conn.reconnect_timeout = self.conn.reconnect_timeout, timeout
            try:
                self.conn.reconnect("connecting")
            except RefusedError:
                raise
            except TandemConnectionError:
                pass
            finally:
                self.conn.reconnect_timeout = keep
            if self.conn.connected() and not self._ever_connected:
                self.conn.reconnects = 0
            self._ever_connected = self._ever_connected or self.conn.connected()
            return self.conn.connected()

    def has_unanswered(self):
        return self.conn.has_unacked() or bool(self.held)

    def make_room(self, kind, args):
        with self.mu:
            agents, nbytes = _size(kind, args)
            if (self.held_agents + agents > MAX_AGENTS_PER_VECTOR // 2 or self.held_bytes + nbytes > MAX_HELD_BYTES
                    or len(self.held) >= MAX_HELD):
                self._send_held()

    def push_held(self, kind, args, name):
        with self.mu:
            agents, nbytes = _size(kind, args)
            self.held.append((kind, args, name))
            self.held_agents += agents
            self.held_bytes += nbytes

    def send_if_full(self):
        with self.mu:
            if len(self.held) >= MAX_HELD:
                self._send_held()

    def send_pending(self):
        with self.mu:
            self._send_held()

    def drain(self):
        with self.mu:
            self._send_held()
            self.conn.drain()

    def take_errors(self):
        with self.mu:
            errors, self.conn._errors = self.conn._errors, []
            return errors

    # ---- calls ----
    def start_episode(self, episode_id, training_enabled, explore):
        with self.mu:
            eid = episode_id if episode_id is not None else new_episode_id(self.conn.rng)
            what = call_name("StartEpisode", eid)
            return expect(self._call("StartEpisode", (eid, training_enabled, explore), what),
                          codec.EpisodeStartedReply, what).episode_id

    def get_action(self, episode_id, agents):
        with self.mu:
            what = call_name("GetAction", episode_id)
            return expect(self._call("GetAction", (episode_id, agents), what), codec.ActionsReply, what)

    def log_action(self, episode_id, agents, actions):
        with self.mu:
            self._hold("LogAction", (episode_id, agents, actions), call_name("LogAction", episode_id))

    def log_returns(self, episode_id, rewards):
        with self.mu:
            self._hold("LogReturns", (episode_id, rewards), call_name("LogReturns", episode_id))

    def end_episode(self, episode_id, agents, truncated, metrics):
        with self.mu:
            self._hold("EndEpisode", (episode_id, agents, truncated, metrics), call_name("EndEpisode", episode_id))
            self._send_held()

    def step(self, entries):
        """entries: (kind, args, name); one frame with the held calls first; the VectorReply's replies
        of `entries` (the held calls' errors are kept)."""
        return self.step_wait(self.step_send(entries))

    def step_send(self, entries):
        """Sends the frame of step() without waiting for its reply; returns its ticket."""
        with self.mu:
            self.conn.raise_pending()
            n_agents = sum(len(a[1]) for k, a, _ in entries if k != "StartEpisode")  # _size's agents
            if len(entries) > MAX_ENTRIES_PER_VECTOR or n_agents > MAX_AGENTS_PER_VECTOR:
                raise request_error("BadRequest", f"VectorRequest({len(entries)} entries)",
                                    f"a vectorised call holds at most {MAX_ENTRIES_PER_VECTOR} calls and "
                                    f"{MAX_AGENTS_PER_VECTOR} agents (got {len(entries)}, {n_agents}): nothing was sent")
            self._send_held()  # held calls go first, in their own frame (as the C++ client)
            held = []
            allv = list(entries)
            rid = self.conn.next_id()
            self._given(rid, allv, len(allv))
            names = [n for _, _, n in allv]
            frame = codec.encode_vector(rid, allv)
            what = f"VectorRequest({len(entries)} entries)"
            self.conn.send(rid, frame, what, names)
            ticket = (rid, len(held), names, what, len(allv))
            self.sent_steps[rid] = ticket
            return ticket

    def step_wait(self, ticket):
        """The replies of a step_send() ticket (earlier tickets' replies are read first and kept)."""
        with self.mu:
            rid = ticket[0]
            while rid not in self.step_results:
                first = next(iter(self.sent_steps))
                t = self.sent_steps.pop(first)
                try:
                    self.step_results[first] = (self._step_replies(t, self.conn.wait(first)), None)
                except Exception as e:  # raised by the wait of its own ticket
                    self.step_results[first] = (None, e)
            replies, error = self.step_results.pop(rid)
            if error is not None:
                raise error
            return replies

    def _step_replies(self, ticket, reply):
        _, nheld, names, what, n = ticket
        e = error_of(reply, what)
        if e is not None:
            raise e
        reply = expect(reply, codec.VectorReplyValue, what)
        if len(reply.replies) != n:
            raise ProtocolError(f"server answered {what} with {len(reply.replies)} replies for {n}")
        for i in range(nheld):
            r = reply.replies[i]
            if isinstance(r, codec.ErrorReply):
                self.conn.keep(request_error(r.code, names[i], r.message))
        return reply.replies[nheld:]

    def flush(self):
        with self.mu:
            self._send_held()
            self.conn.drain()
            self.conn.raise_pending()

    def raise_kept_error(self):
        with self.mu:
            self.conn.raise_pending()

    def get_config(self):
        with self.mu:
            self._send_held()
            return self._get_config_locked()

    def _get_config_locked(self):
        rid = self.conn.next_id()
        return expect(self.conn.call(rid, codec.encode(rid, "GetConfig", ()), "GetConfig"),
                      codec.ConfigReply, "GetConfig").json

    def reconnects(self):
        return self.conn.reconnects

    def close(self):
        with self.mu:
            try:
                # Let pipelined requests land first: nothing is lost when the socket ends. Not when
                # the server is gone (reconnecting could take reconnect_timeout).
                if self.conn.connected():
                    self._send_held()
                    self.conn.drain()
            except Exception:
                pass
            self.conn.disconnect()

    # ---- held calls ----
    def _hold(self, kind, args, name):
        self.conn.raise_pending()
        agents, nbytes = _size(kind, args)
        if self.held_agents + agents > MAX_AGENTS_PER_VECTOR // 2 or self.held_bytes + nbytes > MAX_HELD_BYTES:
            self._send_held()
        self.held.append((kind, args, name))
        self.held_agents += agents
        self.held_bytes += nbytes
        if len(self.held) >= MAX_HELD:
            self._send_held()

    def _take_held(self):
        held, self.held = self.held, []
        self.held_agents = self.held_bytes = 0
        return held

    def _send_held(self):
        if not self.held:
            return
        held = self._take_held()
        rid = self.conn.next_id()
        self._given(rid, held)
        if len(held) == 1:
            kind, args, name = held[0]
            self.conn.send(rid, codec.encode(rid, kind, args), name)
        else:
            self.conn.send(rid, codec.encode_vector(rid, held),
                           f"{len(held)} pipelined calls", [n for _, _, n in held])

    def _call(self, kind, args, what):
        """A call that waits for its reply, with the held calls in front of it in the same frame."""
        self.conn.raise_pending()  # before anything is sent: a failing call applies nothing
        rid = self.conn.next_id()
        if not self.held:
            self._given(rid, [(kind, args, what)], 1)
            return self.conn.call(rid, codec.encode(rid, kind, args), what)
        agents, nbytes = _size(kind, args)
        if self.held_agents + agents > MAX_AGENTS_PER_VECTOR // 2 or self.held_bytes + nbytes > MAX_HELD_BYTES:
            self._send_held()
            rid = self.conn.next_id()
            self._given(rid, [(kind, args, what)], 1)
            return self.conn.call(rid, codec.encode(rid, kind, args), what)
        held = self._take_held()
        entries = held + [(kind, args, what)]
        self._given(rid, entries, 1)
        names = [n for _, _, n in entries]
        self.conn.send(rid, codec.encode_vector(rid, entries),
                       f"{len(held)} pipelined calls and {what}", names)
        mine = self._step_replies((rid, len(held), names, what, len(entries)), self.conn.wait(rid))[-1]
        e = error_of(mine, what)
        if e is not None:
            raise e
        return mine
