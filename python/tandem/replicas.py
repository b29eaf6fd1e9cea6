"""Several addresses: tandem-server replicas acting as one policy (as policy_client/replica_client.cpp).

    tandem.PolicyClient("ws://a:9900,ws://b:9900")      # or a list of addresses

Placement: an episode's home is fnv1a64(episode id) % replicas (the C++ client's rule, so both
place one id on one replica); a home that is down gives the next live replica after it. Every
call of an episode goes to its replica; step() splits the frame by replica and merges the
replies in order (send_step() does the whole step at once: nothing stays in flight);
get_config() asks any live replica.
Failover: a replica that cannot be reached again within failover_after s is gone. Its episodes
move to the next live replica, where each is re-created (StartEpisode, same id and flags) before
its next call, and the calls the gone replica had not answered are given again there, in order,
each once; the call that was waiting is then made again. Moved episodes stay where they moved.
The last live replica is waited for reconnect_timeout, then TandemConnectionError, as with one
server. Remote inference only (a local client takes one address).
Threading: every method is serialised by one lock.
"""
import threading
import time

from tandem.connection import new_episode_id
from tandem.errors import RefusedError, TandemConnectionError, first_of
from tandem.remote import RemoteBackend, call_name


def episode_hash(episode_id):
    """FNV-1a, 64 bits, over the id's UTF-8 bytes."""
    h = 14695981039346656037
    for c in episode_id.encode("utf-8"):
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def home_replica(episode_id, replicas):
    return episode_hash(episode_id) % replicas


def split_addresses(address):
    """A list of addresses, or one string with comma-separated ones."""
    items = list(address) if isinstance(address, (list, tuple)) else str(address).split(",")
    out = [a.strip() for a in items]
    if not out or any(not a for a in out):
        raise ValueError(f"empty address in {address!r}")
    return out


class _Episode:
    __slots__ = ("replica", "training_enabled", "explore", "needs_start", "ended")

    def __init__(self, replica):
        self.replica, self.training_enabled, self.explore = replica, True, True
        self.needs_start = self.ended = False


class ReplicaBackend:
    def __init__(self, addresses, options, failover_after=5.0):
        self.opt = options
        self.failover_s = min(failover_after, options.reconnect_timeout)
        self.replicas = [RemoteBackend(a, options, connect_now=False) for a in addresses]
        self.names = ", ".join(addresses)
        self.live = [True] * len(addresses)
        self.down_since = [0.0] * len(addresses)
        self.episodes = {}  # id -> _Episode
        self.kept = []
        self.failovers = 0
        self.mu = threading.RLock()
        self.rng = self.replicas[0].conn.rng
        for r, c in enumerate(self.replicas):
            self._set_live(r, c.try_connect(self.failover_s))
        if not any(self.live):
            self._revive_any("connecting", time.monotonic() + options.reconnect_timeout)

    # ---- calls ----
    def start_episode(self, episode_id, training_enabled, explore):
        with self.mu:
            self._raise_kept()
            eid = episode_id if episode_id is not None else new_episode_id(self.rng)
            return self._on_replica(("StartEpisode", (eid, training_enabled, explore)),
                                    lambda c: c.start_episode(eid, training_enabled, explore))

    def get_action(self, episode_id, agents):
        with self.mu:
            self._raise_kept()
            return self._on_replica(("GetAction", (episode_id, agents)), lambda c: c.get_action(episode_id, agents))

    def log_action(self, episode_id, agents, actions):
        self._pipelined("LogAction", (episode_id, agents, actions), False)

    def log_returns(self, episode_id, rewards):
        self._pipelined("LogReturns", (episode_id, rewards), False)

    def end_episode(self, episode_id, agents, truncated, metrics):
        self._pipelined("EndEpisode", (episode_id, agents, truncated, metrics), True)

    def step(self, entries):
        with self.mu:
            self._raise_kept()
            out = [None] * len(entries)
            todo = list(range(len(entries)))
            while todo:
                parts = {}  # replica -> [indices]
                for i in todo:
                    kind, args, _ = entries[i]
                    parts.setdefault(self._route(kind, args), []).append(i)
                again, sent = [], {}
                for r, idx in parts.items():
                    try:
                        sent[r] = (self.replicas[r].epoch, self.replicas[r].step_send([entries[i] for i in idx]))
                    except RefusedError:
                        raise
                    except TandemConnectionError as e:
                        self._fail_over(r, str(e))
                        again += idx
                for r, (epoch, ticket) in sent.items():
                    idx = parts[r]
                    try:
                        if not self.live[r] or self.replicas[r].epoch != epoch:
                            raise TandemConnectionError("replica failed over")
                        for i, reply in zip(idx, self.replicas[r].step_wait(ticket)):
                            out[i] = reply
                        self._after_answer(r)
                    except RefusedError:
                        raise
                    except TandemConnectionError as e:
                        if self.live[r] and self.replicas[r].epoch == epoch:
                            self._fail_over(r, str(e))
                        again += idx
                todo = sorted(again)
            return out

    def step_send(self, entries):
        try:
            return (self.step(entries), None)
        except Exception as e:  # raised by its step_wait, as the one-address client does
            return (None, e)

    def step_wait(self, ticket):
        replies, error = ticket
        if error is not None:
            raise error
        return replies

    def flush(self):
        with self.mu:
            again = True
            while again:
                again = False
                for r, c in enumerate(self.replicas):
                    if not self.live[r]:
                        continue
                    try:
                        c.drain()
                        self._after_answer(r)
                    except RefusedError:
                        raise
                    except TandemConnectionError as e:
                        self._fail_over(r, str(e))
                        again = True
            self._raise_kept()

    def raise_kept_error(self):
        with self.mu:
            self._raise_kept()

    def get_config(self):
        with self.mu:
            while True:
                live = [r for r in range(len(self.replicas)) if self.live[r]]
                r = live[0] if live else self._revive_any("GetConfig", time.monotonic() + self.opt.reconnect_timeout)
                try:
                    return self.replicas[r].get_config()
                except RefusedError:
                    raise
                except TandemConnectionError as e:
                    self._fail_over(r, str(e))

    def reconnects(self):
        return sum(c.conn.reconnects for c in self.replicas)

    def close(self):
        for c in self.replicas:
            c.close()

    # ---- routing ----
    def _raise_kept(self):
        for c in self.replicas:
            self.kept += c.take_errors()
        if self.kept:
            errors, self.kept = self.kept, []
            raise first_of(errors)

    def _route(self, kind, args):
        eid = args[0]
        e = self.episodes.get(eid)
        if e is not None and not self.live[e.replica]:
            self._fail_over(e.replica, "replica down")
            e = self.episodes.get(eid)
        if e is None:
            e = self.episodes[eid] = _Episode(self._place(eid))
        if kind == "StartEpisode":
            e.training_enabled, e.explore = args[1], args[2]
            e.needs_start = e.ended = False
        elif e.needs_start:
            self.replicas[e.replica].push_held("StartEpisode", (eid, e.training_enabled, e.explore),
                                               call_name("StartEpisode", eid))
            e.needs_start = False
        if kind == "EndEpisode":
            e.ended = True
        return e.replica

    def _place(self, eid):
        home = home_replica(eid, len(self.replicas))
        if not self.live[home] and time.monotonic() - self.down_since[home] > self.failover_s:
            if self.replicas[home].try_connect(0):
                self._set_live(home, True)
            else:
                self.down_since[home] = time.monotonic()
        r = self._live_from(home, 0)
        return r if r is not None else self._revive_any("no replica live", time.monotonic() + self.opt.reconnect_timeout)

    def _live_from(self, r, first):
        n = len(self.replicas)
        for k in range(first, n):
            if self.live[(r + k) % n]:
                return (r + k) % n
        return None

    def _on_replica(self, call, f):
        while True:
            r = self._route(*call)
            try:
                out = f(self.replicas[r])
                self._after_answer(r)
                return out
            except RefusedError:
                raise
            except TandemConnectionError as e:
                self._fail_over(r, str(e))

    def _pipelined(self, kind, args, send_now):
        with self.mu:
            self._raise_kept()
            what = call_name(kind, args[0])
            while True:
                r = self._route(kind, args)
                try:
                    self.replicas[r].make_room(kind, args)
                except RefusedError:
                    raise
                except TandemConnectionError as e:
                    self._fail_over(r, str(e))  # not given yet: again, on the new replica
                    continue
                self.replicas[r].push_held(kind, args, what)
                try:
                    if send_now:
                        self.replicas[r].send_pending()
                    else:
                        self.replicas[r].send_if_full()
                except RefusedError:
                    raise
                except TandemConnectionError as e:
                    self._fail_over(r, str(e))  # given: it is among the replayed calls
                return

    def _after_answer(self, r):
        if not self.replicas[r].has_unanswered():
            for eid in [k for k, e in self.episodes.items() if e.ended and e.replica == r]:
                del self.episodes[eid]

    # ---- failover ----
    def _set_live(self, r, up):
        if self.live[r] and not up:
            self.down_since[r] = time.monotonic()
        self.live[r] = up
        timeout = self.opt.reconnect_timeout if sum(self.live) <= 1 else self.failover_s
        for c in self.replicas:
            c.conn.reconnect_timeout = timeout

    def _fail_over(self, r, why):
        was_last = self.live[r] and sum(self.live) == 1
        self._set_live(r, False)
        to = self._live_from(r, 1)
        if to is None:
            to = self._revive_other(r)
        if to is None:
            if was_last:
                self._set_live(r, True)
                raise TandemConnectionError(f"cannot reach any tandem-server replica ({self.names}): {why}")
            to = self._revive_any(why, time.monotonic() + self.opt.reconnect_timeout)
            if to == r:
                return
        calls, errors = self.replicas[r].take_unanswered()
        self.kept += errors
        for e in self.episodes.values():
            if e.replica == r:
                e.replica, e.needs_start = to, True
        self.failovers += 1
        self._replay(calls)

    def _replay(self, calls):
        touched = set()
        while calls:
            kind, args, name = calls[0]
            t = self._route(kind, args)
            try:
                self.replicas[t].make_room(kind, args)
            except RefusedError:
                raise
            except TandemConnectionError as e:
                try:
                    self._fail_over(t, str(e))
                except TandemConnectionError:
                    for k, a, n in calls:  # t stays in charge (the last replica)
                        self.replicas[t].push_held(k, a, n)
                    raise
                continue
            self.replicas[t].push_held(kind, args, name)
            calls = calls[1:]
            touched.add(t)
        for t in touched:
            if self.live[t]:
                try:
                    self.replicas[t].send_pending()
                except TandemConnectionError as e:
                    self._fail_over(t, str(e))

    def _revive_other(self, r):
        n = len(self.replicas)
        for k in range(1, n):
            q = (r + k) % n
            if not self.live[q] and self.replicas[q].try_connect(0):
                self._set_live(q, True)
                return q
        return None

    def _revive_any(self, why, deadline):
        backoff = 0.02
        while True:
            for r, c in enumerate(self.replicas):
                if c.try_connect(0):
                    self._set_live(r, True)
                    return r
            if time.monotonic() + backoff > deadline:
                raise TandemConnectionError(f"cannot reach any tandem-server replica ({self.names}): {why}")
            time.sleep(backoff)
            backoff = min(backoff * 2, 1.0)
