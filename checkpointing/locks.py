"""Per-thread turn locks with fencing tokens: Redis across workers, asyncio inside one process.

A conversation (thread) answers one turn at a time. Whoever holds a thread's lock got a
*fencing token* with it (a per-thread counter, incremented on every grant); the checkpoint
writer refuses writes that carry an older token (`checkpointing/fenced.py`), so a worker that
stalled past its lock's expiry cannot overwrite the turn that came after it.

Waiters are served first come, first served, and "first" means when the server received the
message: each call carries an arrival stamp (wall clock, taken by the caller as the request came
in; several workers share one queue). An arrival takes a ticket (INCR) and queues by (stamp,
ticket), so a waiter that had to open a connection before reaching Redis still gets its place
ahead of later arrivals that are still waiting. The lock is granted only to the head of the queue;
an arrival that finds the lock free and nobody live ahead of it gets it with its ticket, in one
round trip. What was already granted stays granted: stamps order the waiters, they cannot give
back a turn that started before an earlier message reached Redis. The fencing token is the
per-thread grant counter, never a clock. A waiter keeps a short-lived "alive" key
while it waits, so a waiter that died is dropped from the head of the queue; a holder that died
stops renewing and its lock expires after `lock_ttl_s`. One pub/sub channel per prefix tells
waiters "the lock was released, ticket N is next" and tells holders "a newer message interrupts
you"; polling with backoff backs it up, because pub/sub is fire-and-forget.

`LocalThreadLocks` is the same contract on asyncio for the embedded default (no `REDIS_URL`);
`FallbackThreadLocks` uses Redis and drops to the local locks while Redis is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

log = logging.getLogger("esquadra.locks")

DEFAULT_PREFIX = "esquadra:"

AcquireMode = Literal["wait", "try", "interrupt"]
"""wait: queue in arrival order; try: only if nobody holds or waits (else `Busy`);
interrupt: ask the current holder to stop, then queue."""


class Busy(Exception):
    """The thread is answering (or has messages waiting) and the caller would not wait."""


@dataclass(eq=False)
class Lease:
    """The right to run one turn on a thread, until released or expired."""

    thread_id: str
    token: int  # fencing token: strictly greater than every earlier grant on this thread
    # A newer message asks us to stop (interrupt policy).
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    lost: asyncio.Event = field(default_factory=asyncio.Event)  # the lock expired under us
    _release: Callable[[], Awaitable[None]] | None = None

    async def release(self) -> None:
        """Give the thread to the next waiter; idempotent."""
        release, self._release = self._release, None
        if release is not None:
            await release()


class ThreadLocks(Protocol):
    async def acquire(
        self, thread_id: str, *, ttl_s: float, mode: AcquireMode, arrived_at: float | None = None
    ) -> Lease:
        """The thread's lock, by `mode`; raises `Busy` in `try` mode when the thread is busy.

        `arrived_at`: when the message arrived (`time.time()`), its place in the queue; None:
        now."""
        ...

    async def join_burst(self, thread_id: str, request_id: str, text: str, ttl_s: float) -> str:
        """Add `text` to the thread's open burst (or open one); the id of the burst's leader."""
        ...

    async def collect_burst(
        self, thread_id: str, request_id: str, window_s: float, max_s: float
    ) -> list[str]:
        """For the leader: wait until `window_s` passed without a new message (at most `max_s`
        since the first), close the burst and return its texts in arrival order."""
        ...

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- in-process


_local_tokens = itertools.count(1)  # one counter for the process: monotonic per thread too


_local_arrivals = itertools.count()  # breaks ties between equal stamps, as the Redis ticket does


@dataclass
class _LocalThread:
    holder: Lease | None = None
    # A heap of (arrival stamp, arrival number, future): the earliest arrival is served next.
    waiters: list[tuple[float, int, asyncio.Future[Lease]]] = field(default_factory=list)


@dataclass
class _LocalBurst:
    leader: str
    first: float
    last: float
    texts: list[str]


class LocalThreadLocks:
    """The in-process gate: a fair (FIFO) lock per thread, no expiry (a task that dies releases
    in its `finally`; a process that dies takes its waiters with it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._threads: dict[str, _LocalThread] = {}
        self._bursts: dict[str, _LocalBurst] = {}
        self._clock = clock

    async def acquire(
        self, thread_id: str, *, ttl_s: float, mode: AcquireMode, arrived_at: float | None = None
    ) -> Lease:
        stamp = time.time() if arrived_at is None else arrived_at
        state = self._threads.setdefault(thread_id, _LocalThread())
        if state.holder is None and not state.waiters:
            return self._grant(thread_id, state)
        if mode == "try":
            raise Busy(thread_id)
        if mode == "interrupt" and state.holder is not None:
            state.holder.interrupted.set()
        waiter: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        entry = (stamp, next(_local_arrivals), waiter)
        heapq.heappush(state.waiters, entry)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                await waiter.result().release()  # handed to us as we were cancelled: pass it on
            elif entry in state.waiters:
                state.waiters.remove(entry)
                heapq.heapify(state.waiters)
            raise

    def _grant(self, thread_id: str, state: _LocalThread) -> Lease:
        lease = Lease(thread_id, next(_local_tokens))

        async def release() -> None:
            self._release(thread_id, lease)

        lease._release = release
        state.holder = lease
        return lease

    def _release(self, thread_id: str, lease: Lease) -> None:
        state = self._threads.get(thread_id)
        if state is None or state.holder is not lease:
            return
        state.holder = None
        while state.waiters:
            _, _, waiter = heapq.heappop(state.waiters)
            if not waiter.done():
                waiter.set_result(self._grant(thread_id, state))
                return
        del self._threads[thread_id]  # idle: forget it, so memory follows live threads only

    async def join_burst(self, thread_id: str, request_id: str, text: str, ttl_s: float) -> str:
        now = self._clock()
        burst = self._bursts.get(thread_id)
        if burst is None:
            self._bursts[thread_id] = _LocalBurst(request_id, now, now, [text])
            return request_id
        burst.texts.append(text)
        burst.last = now
        return burst.leader

    async def collect_burst(
        self, thread_id: str, request_id: str, window_s: float, max_s: float
    ) -> list[str]:
        while True:
            burst = self._bursts[thread_id]
            now = self._clock()
            wait = min(burst.last + window_s, burst.first + max_s) - now
            if wait <= 0:
                del self._bursts[thread_id]
                return burst.texts
            await asyncio.sleep(wait)

    async def aclose(self) -> None:
        return None


# --------------------------------------------------------------------------- Redis

# Grant the lock to `ticket` if it heads the queue (dropping dead waiters ahead of it) and nobody
# holds it. Ticket "" = "only if nobody is queued" (try mode). Returns the fencing token, 0 when
# not yet, -1 when our ticket was dropped as dead (the caller re-queues it).
_ACQUIRE = """
local lock, fence, queue = KEYS[1], KEYS[2], KEYS[3]
local ticket, owner, ttl, alive = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
while true do
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if not head or head == ticket then break end
  if redis.call('EXISTS', alive .. head) == 1 then return 0 end
  redis.call('ZREM', queue, head)
end
if ticket ~= '' and not redis.call('ZSCORE', queue, ticket) then return -1 end
if redis.call('EXISTS', lock) == 1 then return 0 end
local token = redis.call('INCR', fence)
redis.call('PEXPIRE', fence, ARGV[5])
redis.call('SET', lock, owner .. ':' .. token, 'PX', ttl)
if ticket ~= '' then redis.call('ZREM', queue, ticket) end
return token
"""

# An arrival in wait or interrupt mode, in one round trip. Interrupt mode (ARGV[6] = '1') first
# marks the current holder as interrupted (a key, for its renew loop) and tells it now (pub/sub).
# Then take a ticket; if, after dropping dead waiters, nobody is queued and nobody holds the lock,
# grant it at once, else queue the ticket at its arrival stamp (ARGV[9], microseconds) with its
# "alive" key, and grant it still if that put it at the head of a free lock (an arrival that was
# slow to reach Redis, between a release and the next waiter's grant). A ticket is zero-padded,
# so equal stamps sort by ticket. Returns {ticket, fencing token}, the token 0 when queued.
_ENQUEUE = """
local lock, fence, queue, tickets = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local owner, ttl, alive, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if ARGV[6] == '1' then
  local value = redis.call('GET', lock)
  if value then
    redis.call('SET', KEYS[5], value, 'PX', ttl)
    redis.call('PUBLISH', ARGV[7], 'i|' .. ARGV[8] .. '|' .. value)
  end
end
local ticket = string.format('%016d', redis.call('INCR', tickets))
redis.call('PEXPIRE', tickets, keep)
local head = redis.call('ZRANGE', queue, 0, 0)[1]
while head and redis.call('EXISTS', alive .. head) == 0 do
  redis.call('ZREM', queue, head)
  head = redis.call('ZRANGE', queue, 0, 0)[1]
end
if not head and redis.call('EXISTS', lock) == 0 then
  local token = redis.call('INCR', fence)
  redis.call('PEXPIRE', fence, keep)
  redis.call('SET', lock, owner .. ':' .. token, 'PX', ttl)
  return {ticket, token}
end
redis.call('SET', alive .. ticket, 1, 'PX', ARGV[5])
redis.call('ZADD', queue, ARGV[9], ticket)
redis.call('PEXPIRE', queue, keep)
if redis.call('ZRANGE', queue, 0, 0)[1] == ticket and redis.call('EXISTS', lock) == 0 then
  redis.call('ZREM', queue, ticket)
  redis.call('DEL', alive .. ticket)
  local token = redis.call('INCR', fence)
  redis.call('PEXPIRE', fence, keep)
  redis.call('SET', lock, owner .. ':' .. token, 'PX', ttl)
  return {ticket, token}
end
return {ticket, 0}
"""

# Extend our lock; {still ours, interrupt requested}.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 0} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then return {1, 1} end
return {1, 0}
"""

# Drop the lock if `owner` holds it (prefix match: the token may be unknown after a cancelled
# acquire), then tell the next ticket it may go.
_RELEASE = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1] + 1) == ARGV[1] .. ':' then
  redis.call('DEL', KEYS[1])
end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if head then redis.call('PUBLISH', ARGV[2], 'r|' .. ARGV[3] .. '|' .. head) end
return 1
"""

# Server time, so workers with skewed clocks agree on a burst's window.
_JOIN_BURST = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local leader = redis.call('HGET', KEYS[1], 'leader')
if not leader then
  leader = ARGV[1]
  redis.call('HSET', KEYS[1], 'leader', leader, 'first', now)
end
redis.call('HSET', KEYS[1], 'last', now)
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return leader
"""

# {wait_ms} while the burst is still open, else {0, text...} and the burst is closed.
_COLLECT_BURST = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local meta = redis.call('HMGET', KEYS[1], 'leader', 'first', 'last')
if meta[1] ~= ARGV[1] then return {-1} end
local quiet = tonumber(meta[3]) + tonumber(ARGV[2])
local wait = math.min(quiet, tonumber(meta[2]) + tonumber(ARGV[3])) - now
if wait > 0 then return {wait} end
local texts = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2])
table.insert(texts, 1, 0)
return texts
"""

_ALIVE_MS = 5_000  # a waiter silent this long is presumed dead and dropped from the queue
_COUNTER_TTL_MS = 7 * 24 * 3600 * 1000  # idle threads' counters leave Redis after a week
_MAX_POLL_S = 0.5
_SUBSCRIBE_WAIT_S = 1.0  # a Redis slower than this to confirm: grant anyway, the renew loop covers


async def _confirmed(pubsub: Any) -> None:
    """Wait for Redis's `subscribe` reply: from then on every publish on the channel reaches us."""
    while True:
        message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
        if message is not None and message.get("type") == "subscribe":
            return


class RedisThreadLocks:
    """The cross-worker gate on one Redis (Upstash works: Lua, pub/sub, no blocking calls)."""

    def __init__(self, client: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self.channel = f"{prefix}gate:events"
        self._enqueue = client.register_script(_ENQUEUE)
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._join = client.register_script(_JOIN_BURST)
        self._collect = client.register_script(_COLLECT_BURST)
        self._wakeups: dict[tuple[str, str], asyncio.Event] = {}  # (thread, ticket) → waiter
        self._holders: dict[str, Lease] = {}  # lock value → our lease
        self._listener: asyncio.Task[None] | None = None
        # Set once Redis has confirmed our subscription: before that, an interrupt published for
        # a lease we just granted would be lost (only the renew loop, a third of the TTL later,
        # would notice it).
        self._subscribed = asyncio.Event()
        self._cleanups: set[asyncio.Task[Any]] = set()
        self._closing = False

    def key(self, thread_id: str, name: str) -> str:
        # The hash tag keeps one thread's keys in one slot (Redis Cluster, scripts).
        return f"{self.prefix}gate:{{{thread_id}}}:{name}"

    async def acquire(
        self, thread_id: str, *, ttl_s: float, mode: AcquireMode, arrived_at: float | None = None
    ) -> Lease:
        # Stamped before the first await: opening a connection must not cost the caller its place.
        stamp = round((time.time() if arrived_at is None else arrived_at) * 1_000_000)
        cancels = _cancels()
        self._listen()
        if not self._subscribed.is_set():  # the process's first turns only
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), _SUBSCRIBE_WAIT_S)
        owner = uuid.uuid4().hex
        ttl_ms = max(1, round(ttl_s * 1000))
        lock, queue = self.key(thread_id, "lock"), self.key(thread_id, "queue")
        keys = [lock, self.key(thread_id, "fence"), queue]
        alive = self.key(thread_id, "alive:")
        if mode == "try":
            token = await self._acquire(keys, ["", owner, ttl_ms, alive, _COUNTER_TTL_MS])
            if token <= 0:
                raise Busy(thread_id)
            return self._lease(thread_id, owner, token, ttl_s)
        ticket, token = await self._arrive(
            thread_id, owner, ttl_ms, stamp, interrupt=mode == "interrupt"
        )
        if token > 0:  # uncontended (or first in line at a free lock): granted with the ticket
            if _cancels() > cancels:  # see below
                await asyncio.shield(self._release([lock, queue], [owner, self.channel, thread_id]))
                raise asyncio.CancelledError
            return self._lease(thread_id, owner, token, ttl_s)
        wakeup = self._wakeups[(thread_id, ticket)] = asyncio.Event()
        try:
            # The first try runs at once: a release published before the wakeup was registered
            # went unheard.
            delay, refreshed = 0.01, time.monotonic()
            while True:
                token = await self._acquire(keys, [ticket, owner, ttl_ms, alive, _COUNTER_TTL_MS])
                if token > 0:
                    # A cancel requested while we waited that never reached us (absorbed on the
                    # way, seen on Python 3.11 in 1 run of ~40): the caller is gone, so the lock
                    # must not be handed over. Raised here, the lock is dropped below.
                    if _cancels() > cancels:
                        raise asyncio.CancelledError
                    return self._lease(thread_id, owner, token, ttl_s)
                if token < 0 or time.monotonic() - refreshed > _ALIVE_MS / 3000:
                    await self._requeue(thread_id, ticket, stamp)
                    refreshed = time.monotonic()
                # Not `wait_for`: on Python 3.11 it returns normally when the wakeup and the
                # caller's cancel land together (observed); `timeout` counts cancels and lets
                # the caller's through, and needs no task per poll.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await wakeup.wait()
                if wakeup.is_set():
                    wakeup.clear()
                    delay = 0.01
                else:
                    delay = min(delay * 2, _MAX_POLL_S)
        except BaseException:
            # Cancelled or Redis failed: leave the queue and drop a lock granted in flight.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._leave(thread_id, ticket, owner))
            raise
        finally:
            self._wakeups.pop((thread_id, ticket), None)

    async def _arrive(
        self, thread_id: str, owner: str, ttl_ms: int, stamp: int, *, interrupt: bool
    ) -> tuple[str, int]:
        """Take a ticket and queue it at `stamp` (µs), interrupting the holder first if asked:
        (ticket, token), the token 0 when the ticket waits behind a holder or a live waiter."""
        lock, queue = self.key(thread_id, "lock"), self.key(thread_id, "queue")
        keys = [
            lock,
            self.key(thread_id, "fence"),
            queue,
            self.key(thread_id, "tickets"),
            self.key(thread_id, "interrupt"),
        ]
        args = [
            owner,
            ttl_ms,
            self.key(thread_id, "alive:"),
            _COUNTER_TTL_MS,
            _ALIVE_MS,
            int(interrupt),
            self.channel,
            thread_id,
            stamp,
        ]
        try:
            ticket, token = await self._enqueue(keys, args)
        except BaseException as exc:
            # The script may have run and granted us the lock (a cancel, a lost reply): drop it.
            # A cancelled caller waits for that, as in the wait loop below; a failed call does
            # not, so a dead Redis costs a turn no more than before.
            release = self._release([lock, queue], [owner, self.channel, thread_id])
            if isinstance(exc, asyncio.CancelledError):
                with contextlib.suppress(Exception):
                    await asyncio.shield(release)
            else:
                cleanup = asyncio.ensure_future(release)
                self._cleanups.add(cleanup)
                cleanup.add_done_callback(_forget_cleanup(self._cleanups))
            raise
        return ticket.decode() if isinstance(ticket, bytes) else str(ticket), int(token)

    async def _requeue(self, thread_id: str, ticket: str, stamp: int) -> None:
        queue = self.key(thread_id, "queue")
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self.key(thread_id, f"alive:{ticket}"), 1, px=_ALIVE_MS)
            pipe.zadd(queue, {ticket: stamp})
            pipe.pexpire(queue, _COUNTER_TTL_MS)
            await pipe.execute()

    async def _leave(self, thread_id: str, ticket: str, owner: str) -> None:
        queue = self.key(thread_id, "queue")
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zrem(queue, ticket)
            pipe.delete(self.key(thread_id, f"alive:{ticket}"))
            await pipe.execute()
        await self._release([self.key(thread_id, "lock"), queue], [owner, self.channel, thread_id])

    def _lease(self, thread_id: str, owner: str, token: int, ttl_s: float) -> Lease:
        value = f"{owner}:{token}"
        lease = Lease(thread_id, int(token))
        self._holders[value] = lease
        # Most turns end before the first renewal: a timer until then, cheaper than a task that
        # sleeps and is cancelled.
        renewers: list[asyncio.Task[None]] = []

        def renew() -> None:
            renewers.append(
                asyncio.create_task(self._keep(lease, value, ttl_s), name=f"lock-renew-{value}")
            )

        timer = asyncio.get_running_loop().call_later(ttl_s / 3, renew)

        async def release() -> None:
            timer.cancel()
            for renewer in renewers:
                renewer.cancel()
            self._holders.pop(value, None)
            await self._release(
                [self.key(thread_id, "lock"), self.key(thread_id, "queue")],
                [owner, self.channel, thread_id],
            )

        lease._release = release
        return lease

    async def _keep(self, lease: Lease, value: str, ttl_s: float) -> None:
        """Renew the lock while the turn runs; notice an interrupt or a lost lock. Started a
        period after the grant (`_lease`), it renews at once, then every period."""
        keys = [self.key(lease.thread_id, "lock"), self.key(lease.thread_id, "interrupt")]
        # A third of the TTL: two renewals may be late before the lock lapses. Interrupts arrive by
        # pub/sub at once; this loop is only the fallback for a message lost with a dropped
        # connection. Most turns end before the first renewal, which under load was ~5% of the
        # event loop when it ran every second.
        period = ttl_s / 3
        while True:
            try:
                owned, interrupted = await self._renew(keys, [value, round(ttl_s * 1000)])
            except Exception as exc:  # Redis down: keep answering; the fence still guards writes
                log.warning("could not renew the lock of thread %s: %s", lease.thread_id, exc)
            else:
                if interrupted:
                    lease.interrupted.set()
                if not owned:
                    log.warning(
                        "lost the lock of thread %s (token %s)", lease.thread_id, lease.token
                    )
                    lease.lost.set()
                    return
            await asyncio.sleep(period)

    def _listen(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen_loop(), name="lock-events")

    async def _listen_loop(self) -> None:
        # The flag, not only the cancellation, ends the loop: redis-py's `get_message(timeout=…)`
        # can swallow a cancel that lands as its own timeout fires (seen as a hung shutdown).
        while not self._closing:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    await _confirmed(pubsub)
                    self._subscribed.set()
                    while not self._closing:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None:
                            self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # polling covers the gap until we are subscribed again
                self._subscribed.clear()
                log.debug("lock events subscription dropped: %s", exc)
                await asyncio.sleep(1.0)

    def _dispatch(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        kind, thread_id, rest = text.split("|", 2)
        if kind == "r" and (wakeup := self._wakeups.get((thread_id, rest))) is not None:
            wakeup.set()
        elif kind == "i" and (lease := self._holders.get(rest)) is not None:
            lease.interrupted.set()

    async def join_burst(self, thread_id: str, request_id: str, text: str, ttl_s: float) -> str:
        keys = [self.key(thread_id, "burst"), self.key(thread_id, "burst:texts")]
        leader = await self._join(keys, [request_id, text, max(1, round(ttl_s * 1000))])
        return leader.decode() if isinstance(leader, bytes) else str(leader)

    async def collect_burst(
        self, thread_id: str, request_id: str, window_s: float, max_s: float
    ) -> list[str]:
        keys = [self.key(thread_id, "burst"), self.key(thread_id, "burst:texts")]
        args = [request_id, round(window_s * 1000), round(max_s * 1000)]
        while True:
            reply = await self._collect(keys, args)
            if reply[0] == 0:
                return [t.decode() if isinstance(t, bytes) else t for t in reply[1:]]
            if reply[0] < 0:  # the burst expired under us (we stalled): answer what we had
                return []
            await asyncio.sleep(reply[0] / 1000)

    async def aclose(self) -> None:
        """Stop listening and close the client (this object owns it)."""
        self._closing = True
        if self._listener is not None:
            while not self._listener.done():  # a swallowed cancel: ask again
                self._listener.cancel()
                await asyncio.wait({self._listener}, timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                self._listener.result()
        for cleanup in self._cleanups:  # best effort; an orphaned lock still expires
            cleanup.cancel()
        await self.client.aclose()


def _cancels() -> int:
    """How many cancels the running task was asked for (and not withdrawn)."""
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def _forget_cleanup(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed cleanup is expected while Redis is down

    return done


# --------------------------------------------------------------------------- fallback


class Breaker(Protocol):
    """The part of `GuardedRedis` the locks use: is Redis worth trying, and report a failure."""

    @property
    def available(self) -> bool: ...

    def trip(self, exc: BaseException) -> None: ...


def _redis_down_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class FallbackThreadLocks:
    """Redis while it answers; the in-process locks while it does not (degraded but answering).

    The service's one Redis breaker (`GuardedRedis`) decides: a lock command that fails opens
    it for every Redis user, and while it is open the locks are in-process; once it lets calls
    through again Redis is tried again, so recovery needs no restart. While degraded, two
    workers can run a turn on the same thread at once; the fence on the checkpoint writes
    still keeps the later turn's writes.
    """

    def __init__(
        self, primary: RedisThreadLocks, breaker: Breaker, local: LocalThreadLocks | None = None
    ) -> None:
        self.primary = primary
        self.breaker = breaker
        self.local = local or LocalThreadLocks()
        self._errors = _redis_down_errors()
        self._bursts: dict[tuple[str, str], ThreadLocks] = {}  # (thread, leader) → its store

    @property
    def degraded(self) -> bool:
        return not self.breaker.available

    async def _try(self, call: Callable[[ThreadLocks], Awaitable[Any]]) -> Any:
        if not self.degraded:
            try:
                result = await call(self.primary)
            except self._errors as exc:
                log.warning("redis unavailable for thread locks (%s); using in-process locks", exc)
                self.breaker.trip(exc)
            else:
                return result
        return await call(self.local)

    async def acquire(
        self, thread_id: str, *, ttl_s: float, mode: AcquireMode, arrived_at: float | None = None
    ) -> Lease:
        # Stamped once: a fall back to the local locks keeps the place Redis would have given.
        stamp = time.time() if arrived_at is None else arrived_at
        lease: Lease = await self._try(
            lambda locks: locks.acquire(thread_id, ttl_s=ttl_s, mode=mode, arrived_at=stamp)
        )
        return lease

    async def join_burst(self, thread_id: str, request_id: str, text: str, ttl_s: float) -> str:
        used: list[ThreadLocks] = []

        async def join(locks: ThreadLocks) -> str:
            used.append(locks)
            return await locks.join_burst(thread_id, request_id, text, ttl_s)

        leader: str = await self._try(join)
        if leader == request_id:
            self._bursts[(thread_id, request_id)] = used[-1]
        return leader

    async def collect_burst(
        self, thread_id: str, request_id: str, window_s: float, max_s: float
    ) -> list[str]:
        # A burst is collected where it was opened; if Redis died meanwhile its texts are out of
        # reach and the leader answers its own message alone (the gate's fallback).
        locks = self._bursts.pop((thread_id, request_id), self.local)
        try:
            return await locks.collect_burst(thread_id, request_id, window_s, max_s)
        except (*self._errors, KeyError) as exc:
            log.warning("burst on thread %s lost: %s", thread_id, exc)
            return []

    async def aclose(self) -> None:
        await self.primary.aclose()
