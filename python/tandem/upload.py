"""The local client's uploads (as policy_client/upload_queue.cpp and upload_report.cpp): the
reports the simulator's episodes close, queued, sent by the background thread in pipelined
rounds, resent after a reconnect under their request ids (the server applies each once).

Data flow:
  simulator thread: LocalBackend._report -> _split (reports within the frame budget) ->
    _push (flow control: waits, at most max_block, while more than max_unsent_steps wait
    unsent; beyond max_buffered_steps, queued and in flight, the oldest queued are dropped)
  background thread (_run, the connection's owner after construction): takes every queued
    report (at most MAX_BATCH_REPORTS) as one round -> encodes them, one write -> reads the
    replies in order (_uploaded: counters, kept errors, newer weights) -> GetWeights every
    update_interval, at once when a reply shows newer weights, after any reconnect
Thread rules: queue, queued_steps, in_flight, errors, stats, stopping, stalled and newer are
guarded by qmu (a Condition); the connection is the background thread's alone.
"""
import time
from dataclasses import dataclass, field

import numpy as np

from tandem import codec
from tandem.connection import error_of
from tandem.errors import Internal, TandemConnectionError, request_error


REPORT_BUDGET = (8 << 20) - (64 << 10)
MAX_BATCH_REPORTS = 32   # reports in flight in one upload round (the connection allows 64 requests)
MAX_BATCH_BYTES = 16 << 20


@dataclass
class FragmentValue:
    agent_id: str
    obs: np.ndarray
    discrete: np.ndarray
    continuous: np.ndarray
    action_logp: np.ndarray
    vf_preds: np.ndarray
    dist_inputs: np.ndarray
    rewards: np.ndarray
    terminated: bool
    bootstrap_value: float


@dataclass
class Report:
    episode_id: str
    weights_version: int
    fragments: list
    env_steps: int
    training_enabled: bool
    explore: bool
    env_steps_before: int = 0     # env steps of the episode in this client's earlier reports
    episode_done: bool = False
    episode_reward: float = 0.0
    episode_length: int = 0
    agent_rewards: list = field(default_factory=list)
    custom_metrics: list = field(default_factory=list)

    def steps(self):
        return sum(len(f.rewards) for f in self.fragments)


@dataclass
class LocalStats:
    weights_version: int = -1
    policy_versions: dict = field(default_factory=dict)
    weight_updates: int = 0
    uploaded_steps: int = 0
    uploaded_reports: int = 0
    upload_rounds: int = 0        # rounds of pipelined ReportSamples (reports sent together)
    buffered_steps: int = 0
    dropped_steps: int = 0
    dropped_reports: int = 0
    rejected_reports: int = 0
    reconnects: int = 0
    resent_requests: int = 0      # requests sent again after a reconnect (each applied once)
    connected: bool = True


class UploadLoop:
    """The upload queue and thread of LocalBackend, which provides: opt (ClientOptions), conn
    (Connection), models (NumpyPolicy per policy) and _fetch(any_version); and sets up qmu,
    queue, queued_steps, in_flight, errors, stats, stopping, stalled and newer."""

    def _push(self, r):
        """Queues a report (as policy_client/upload_queue.cpp): while the server is reachable,
        first waits (at most max_block) until at most max_unsent_steps wait for upload; a server
        that does not answer within max_block is not waited for again until an upload goes
        through. Beyond max_buffered_steps (queued and in flight) the oldest queued reports are
        dropped (counted)."""
        n = r.steps()
        with self.qmu:
            deadline = time.monotonic() + self.opt.max_block
            while (self.stats.connected and not self.stopping and not self.stalled
                   and self.queued_steps > self.opt.max_unsent_steps):
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stalled = True
                    break
                self.qmu.wait(left)
            in_flight = self._in_flight_steps()  # sent, maybe applied: kept for their resend
            while self.queued_steps + in_flight + n > self.opt.max_buffered_steps and self.queue:
                old = self.queue.popleft()
                self.queued_steps -= old.steps()
                self.stats.dropped_steps += old.steps()
                self.stats.dropped_reports += 1
            self.queue.append(r)
            self.queued_steps += n
            self.qmu.notify_all()

    def flush(self):
        deadline = time.monotonic() + self.opt.reconnect_timeout
        with self.qmu:
            while self.queue or self.in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TandemConnectionError(f"flush: {self.queued_steps + self._in_flight_steps()} buffered steps "
                                                f"could not be uploaded to "
                                                f"{self.conn.endpoint} within {self.opt.reconnect_timeout} s")
                self.qmu.wait(min(left, 0.1))
        self.raise_kept_error()

    # ---- background thread ----
    def _take_batch(self):
        """Under qmu: the queue's oldest reports, as many as one round of pipelined frames holds."""
        batch, size = [], 0
        while self.queue and len(batch) < MAX_BATCH_REPORTS:
            n = _report_bytes(self.queue[0])
            if batch and size + n > MAX_BATCH_BYTES:
                break
            r = self.queue.popleft()
            self.queued_steps -= r.steps()
            batch.append(_InFlight(r))
            size += n
        self.qmu.notify_all()  # the queue shrank: a simulator call waiting in _push goes on
        return batch

    def _in_flight_steps(self):
        return sum(e.report.steps() for e in self.in_flight)

    def _run(self):
        next_poll = time.monotonic() + self.opt.update_interval
        backoff = 0.02
        stop_deadline = None
        seen_reconnects = 0
        refetch_all = False
        while True:
            with self.qmu:
                if not self.in_flight:
                    while not self.queue and not self.stopping and not self.newer:
                        left = next_poll - time.monotonic()
                        if left <= 0:
                            break
                        self.qmu.wait(left)
                if self.stopping and stop_deadline is None:
                    stop_deadline = time.monotonic() + self.opt.close_timeout
                if self.stopping and not self.in_flight and not self.queue:
                    return
                if stop_deadline is not None and time.monotonic() > stop_deadline:
                    self.stats.dropped_steps += self.queued_steps + self._in_flight_steps()
                    self.stats.dropped_reports += len(self.queue) + len(self.in_flight)
                    self.queue.clear()
                    self.queued_steps = 0
                    self.in_flight = []
                    self.qmu.notify_all()
                    return
                if not self.in_flight and self.queue:
                    self.in_flight = self._take_batch()
                current = list(self.in_flight)
            try:
                if not self.conn.connected():
                    self.conn.reconnect("reconnecting")  # resends every unanswered report
                with self.qmu:
                    self.stats.connected = True
                backoff = 0.02
                # One round: every report of the batch not sent yet goes out in one write; the
                # replies come back in order (a resend after a reconnect is applied once).
                frames = []
                for e in [e for e in current if e.rid == 0]:
                    rid = self.conn.next_id()
                    try:
                        frames.append((rid, codec.encode(rid, "ReportSamples", (e.report,)), e.what()))
                        e.rid = rid
                    except Exception as x:  # this report alone is lost (kept as an error, counted)
                        current.remove(e)
                        self._drop_in_flight([e], f"{e.what()}: {type(x).__name__}: {x}")
                if frames:
                    self.conn.send_many(frames)
                    with self.qmu:
                        self.stats.upload_rounds += 1
                for e in current:
                    self._uploaded(e, self.conn.wait(e.rid))
                if self.conn.reconnects != seen_reconnects:
                    seen_reconnects = self.conn.reconnects
                    refetch_all = True
                with self.qmu:
                    newer, self.newer = self.newer, False
                    stopping = self.stopping
                if not stopping and (newer or refetch_all or time.monotonic() >= next_poll):
                    next_poll = time.monotonic() + self.opt.update_interval
                    self._fetch(refetch_all)
                    refetch_all = False
            except TandemConnectionError:
                self.conn.disconnect()
                with self.qmu:
                    self.stats.connected = False
                    self.qmu.notify_all()
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
            except Exception as e:  # never let the thread die: keep the error, drop the reports in flight
                with self.qmu:
                    lost = list(self.in_flight)
                self._drop_in_flight(lost, f"{type(e).__name__}: {e}")
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    def _drop_in_flight(self, lost, why):
        """Drops reports of the round in progress (counted), keeping why as an Internal error."""
        with self.qmu:
            self.errors.append(Internal("local PolicyClient background thread", why))
            for f in lost:
                if f in self.in_flight:
                    self.in_flight.remove(f)
                self.stats.dropped_steps += f.report.steps()
                self.stats.dropped_reports += 1
                if f.rid:
                    self.conn.forget(f.rid)
            self.qmu.notify_all()

    def _uploaded(self, e, reply):
        r, what = e.report, e.what()
        with self.qmu:
            self.in_flight.remove(e)
            err = error_of(reply, what)
            if err is not None:
                self.stats.rejected_reports += 1
                if len(self.errors) < 64:
                    self.errors.append(err)
            elif isinstance(reply, codec.SamplesAcceptedReply):
                self.stalled = False
                self.stats.uploaded_steps += r.steps()
                self.stats.uploaded_reports += 1
                if self.opt.fetch_new_weights_at_once and any(
                        m is not None and v > m.version for m, v in zip(self.models, reply.policy_versions)):
                    self.newer = True
            else:
                self.stats.rejected_reports += 1
                self.errors.append(request_error("BadFrame", what, f"server answered with {type(reply).__name__}"))
            self.qmu.notify_all()


class _InFlight:
    """A report taken from the queue: its request id once sent (0: not yet)."""
    __slots__ = ("report", "rid")

    def __init__(self, report):
        self.report, self.rid = report, 0

    def what(self):
        return f"ReportSamples({self.report.episode_id})"


def _split_off(f, k):
    """f's steps [k:] as a new fragment; f keeps [:k], cut and bootstrapped from the tail's
    first value (as policy_client/upload_report.cpp split_off)."""
    t = len(f.rewards)

    def tail(x):
        w = x.size // t
        return x[k * w:], x[:k * w]
    obs_t, f.obs = tail(f.obs)
    d_t, f.discrete = tail(f.discrete)
    c_t, f.continuous = tail(f.continuous)
    di_t, f.dist_inputs = tail(f.dist_inputs)
    out = FragmentValue(f.agent_id, obs_t, d_t, c_t, f.action_logp[k:], f.vf_preds[k:], di_t, f.rewards[k:],
                        f.terminated, f.bootstrap_value)
    f.action_logp, f.vf_preds, f.rewards = f.action_logp[:k], f.vf_preds[:k], f.rewards[:k]
    f.terminated = False
    f.bootstrap_value = float(out.vf_preds[0])
    return out


def _report_bytes(r):
    return 512 + sum(_fragment_bytes(f) for f in r.fragments)


def _fragment_bytes(f):
    return 256 + 4 * (f.obs.size + f.continuous.size + f.dist_inputs.size + 3 * f.rewards.size) + 8 * f.discrete.size


def _split(r):
    """r as reports within the frame budget: a fragment too large for one frame is cut into
    pieces by steps; pieces go into reports in order; env_steps never above a part's agent
    steps; env_steps_before counts on; the episode's summary on the last."""
    pieces = []
    for f in r.fragments:
        while _fragment_bytes(f) > REPORT_BUDGET and len(f.rewards) > 1:
            per_step = max(1, (_fragment_bytes(f) - 256) // len(f.rewards))
            fit = max(1, (REPORT_BUDGET - 256) // per_step)
            rest = _split_off(f, min(fit, len(f.rewards) - 1))
            pieces.append(f)
            f = rest
        pieces.append(f)
    if len(pieces) == len(r.fragments) and sum(_fragment_bytes(f) for f in pieces) <= REPORT_BUDGET:
        return [r]
    parts, cur, cur_size = [], [], 0
    for f in pieces:
        if cur and cur_size + _fragment_bytes(f) > REPORT_BUDGET:
            parts.append(cur)
            cur, cur_size = [], 0
        cur.append(f)
        cur_size += _fragment_bytes(f)
    parts.append(cur)
    out, env_left, before = [], r.env_steps, r.env_steps_before
    for i, frags in enumerate(parts):
        steps = sum(len(f.rewards) for f in frags)
        n = min(env_left, steps)
        env_left -= n
        last = i == len(parts) - 1
        out.append(Report(r.episode_id, r.weights_version, frags, n, r.training_enabled, r.explore, before,
                          r.episode_done and last, r.episode_reward if last else 0.0,
                          r.episode_length if last else 0, r.agent_rewards if last else [],
                          r.custom_metrics if last else []))
        before += n
    return out
