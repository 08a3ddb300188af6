"""Pacing calls to an outside API under its rate limit, shared by every worker process.

WeChat Pay counts each merchant's calls in fixed windows it does not publish (the simulator
uses calendar seconds and minutes) and answers FREQUENCY_LIMITED past the limit. A counter on
our side cannot line its windows up with WeChat's, so instead of counting we *space* the calls:
GCRA (the generic cell rate algorithm) with no burst. One number per key, the theoretical
arrival time ``tat``, is kept in a store every process shares; a caller reserves the slot
``max(tat, now + lead)`` and moves ``tat`` one interval past it, in one atomic step. Callers
then sleep until their slot, so the calls go out at least ``interval`` apart across all
processes (the small ``lead`` is explained in :class:`RateLimiter`).

Why that never overfills a window of ``calls`` per ``per_seconds`` (a proof sketch): slots are
``interval = (per_seconds + allowance) / calls`` apart, so any stretch of
``per_seconds + allowance`` seconds holds at most ``calls`` slots. A call reaches WeChat some
delay after its slot; if the delays of any two calls differ by at most ``allowance``, the calls
arriving in one window had their slots in a stretch at most ``per_seconds + allowance`` long:
at most ``calls`` of them. We enforce the half of that allowance we can see: a caller that wakes
more than ``allowance / 2`` after its slot (its event loop or process was held up) drops the
slot and reserves a new one. The other half is for the path after the check (signing, network,
the remote side's own scheduling). Slots are on the store's clock; each process places them on
its own from the quickest recent round trip, so a slow reply does not shift them.

Stores (all do the reservation in one atomic step):

- :class:`RedisRateStore`: a Lua script on Redis's own clock (``TIME``), so hosts whose clocks
  disagree still space correctly; keys carry a hash tag (Redis Cluster) and the key prefix.
- :class:`DbRateStore`: one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on the
  ``rate_counters`` table (``count`` holds ``tat`` in microseconds), on PostgreSQL's clock.
- :class:`MemoryRateStore`: this process only (the SQLite deployment runs one worker).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis
from sqlalchemy import bindparam, func, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from jinli.platform.counters import RateCounter
from jinli.platform.db.base import UtcDateTime
from jinli.platform.runtime import Runtime

log = structlog.get_logger()

MICROS = 1_000_000
OFFSET_SAMPLES = 64
OFFSET_HORIZON_SECONDS = 5.0
"""Round trips used to place the store's clock on this process's (see ``RateLimiter``)."""
CALIBRATION_ROUND_TRIPS = 2
MAX_LEAD_SECONDS = 0.25
"""The furthest ahead of now a slot is reserved for a slow-answering store (``RateLimiter``)."""
KEY_TTL_SECONDS = 3600
"""How long an idle key is kept (Redis expiry, DB ``expires_at``); an expired key only means
the limiter was idle, which is the state it starts in."""


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``calls`` per ``per_seconds``, spaced with ``allowance`` seconds of margin."""

    calls: int
    per_seconds: float
    allowance: float = 0.05
    """Relative arrival jitter tolerated without overfilling a window (see the module doc)."""

    def __post_init__(self) -> None:
        if self.calls < 1 or self.per_seconds <= 0 or self.allowance < 0:
            raise ValueError("a rate needs calls ≥ 1, a positive period, a margin ≥ 0")

    @property
    def interval_us(self) -> int:
        """Microseconds between two slots (rounded up: never faster than the limit)."""
        return math.ceil((self.per_seconds + self.allowance) * MICROS / self.calls)

    @property
    def tolerance(self) -> float:
        """How late (seconds) a caller may be at its slot and still use it."""
        return self.allowance / 2

    @property
    def per_second(self) -> float:
        """The pace the limiter holds, in calls per second."""
        return MICROS / self.interval_us


@dataclass(frozen=True, slots=True)
class Grant:
    """A reserved slot, in microseconds on the store's clock."""

    slot_us: int
    now_us: int
    """The store's clock when it reserved the slot."""

    @property
    def wait(self) -> float:
        """Seconds from the reservation until the slot."""
        return max(0, self.slot_us - self.now_us) / MICROS


def gcra_reserve(tat_us: int, now_us: int, interval_us: int, lead_us: int = 0) -> tuple[int, int]:
    """The GCRA step without burst: returns (slot, new tat). The slot is never sooner than
    ``lead`` from now, so the reply has time to arrive before it (see ``RateLimiter``). The
    Lua script and the SQL statement are this function written for Redis and the database."""
    slot = max(tat_us, now_us + lead_us)
    return slot, slot + interval_us


def gcra_push_back(tat_us: int, now_us: int, pause_us: int) -> int:
    """The new tat after a pause: no slot before ``now + pause`` (never earlier than ``tat``)."""
    return max(tat_us, now_us + pause_us)


class RateStore(Protocol):
    async def reserve(self, key: str, interval_us: int, lead_us: int = 0) -> Grant:
        """Atomically take the next slot of ``key`` (at least ``lead_us`` from now) and move
        it ``interval_us`` on."""
        ...

    async def push_back(self, key: str, pause_us: int) -> None:
        """Atomically make the next slot of ``key`` no earlier than now + ``pause_us``."""
        ...

    async def now_us(self) -> int:
        """The store's clock, in microseconds (what slots are expressed in)."""
        ...


class MemoryRateStore:
    """Slots in this process's memory (one worker process: the SQLite deployment)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._tat: dict[str, int] = {}

    def _now_us(self) -> int:
        return int(self._now() * MICROS)

    async def reserve(self, key: str, interval_us: int, lead_us: int = 0) -> Grant:
        # No await between read and write: atomic on the event loop.
        now = self._now_us()
        slot, self._tat[key] = gcra_reserve(self._tat.get(key, 0), now, interval_us, lead_us)
        return Grant(slot, now)

    async def push_back(self, key: str, pause_us: int) -> None:
        self._tat[key] = gcra_push_back(self._tat.get(key, 0), self._now_us(), pause_us)

    async def now_us(self) -> int:
        return self._now_us()


_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(tat, now + tonumber(ARGV[3]))
local new = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX',
           math.floor((new - now) / 1000) + tonumber(ARGV[2]))
return {slot, now}
"""
"""``gcra_reserve`` on Redis's clock. Microseconds since the epoch stay below 2^53, so the Lua
doubles are exact; ``%.0f`` keeps every digit (Lua's default formatting keeps only 14)."""

_PUSH_BACK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = math.max(tat, now + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX',
           math.floor((new - now) / 1000) + tonumber(ARGV[2]))
return 1
"""


class RedisRateStore:
    """Slots in Redis, shared by every process: one script call per reservation."""

    def __init__(self, redis: Redis, prefix: str = "jinli:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE_LUA)
        self._push_back = redis.register_script(_PUSH_BACK_LUA)

    def key(self, key: str) -> str:
        """The Redis key: the hash tag keeps a limiter on one cluster slot whatever the prefix."""
        return f"{self._prefix}ratelimit:{{{key}}}"

    async def reserve(self, key: str, interval_us: int, lead_us: int = 0) -> Grant:
        slot, now = await self._reserve(
            keys=[self.key(key)], args=[interval_us, KEY_TTL_SECONDS * 1000, lead_us]
        )
        return Grant(int(slot), int(now))

    async def push_back(self, key: str, pause_us: int) -> None:
        await self._push_back(keys=[self.key(key)], args=[pause_us, KEY_TTL_SECONDS * 1000])

    async def now_us(self) -> int:
        seconds, micros = await self._redis.time()
        return int(seconds) * MICROS + int(micros)


_PG_ADVANCE = text(
    """
    INSERT INTO rate_counters AS rc (key, count, expires_at)
    SELECT :key, t.now + :after_now, :expires
    FROM (SELECT set_config('synchronous_commit', 'off', true) AS cfg,
                 CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS now) AS t
    ON CONFLICT (key) DO UPDATE SET
        count = GREATEST(
            rc.count + :after_tat,
            CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) + :after_now
        ),
        expires_at = EXCLUDED.expires_at
    RETURNING rc.count, CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)
    """
).bindparams(bindparam("expires", type_=UtcDateTime()))
"""The tat becomes ``max(tat + after_tat, now + after_now)`` in one autocommitted statement.
``clock_timestamp()`` in ``SET`` is read once the row lock is held. ``set_config(…, true)``
makes this statement's own commit skip waiting for the WAL flush: the row lock is released at
once rather than queueing every reservation behind a disk flush, and a reservation lost in a
crash costs nothing."""


_PG_NOW = text("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)")


class DbRateStore:
    """Slots in the ``rate_counters`` table (``count`` holds the tat in microseconds), shared
    by every process on the database.

    On PostgreSQL the clock is the server's, so worker hosts need not agree on the time; one
    round trip per reservation. SQLite has no sub-millisecond server clock: its callers share
    one host, so the statement takes this host's clock.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._turn = asyncio.Lock()
        """One statement of this process at a time: the row lock serialises them in the
        database anyway, and waiting here holds no pooled connection that the payouts'
        own units of work need."""

    async def _advance(self, key: str, after_tat: int, after_now: int) -> tuple[int, int]:
        """Atomically set the tat of ``key`` to ``max(tat + after_tat, now + after_now)`` (a
        new key: ``now + after_now``); returns (new tat, now) in microseconds."""
        expires = datetime.now(UTC) + timedelta(seconds=KEY_TTL_SECONDS)
        if self._postgres:
            params = {"key": key, "after_tat": after_tat, "after_now": after_now}
            async with self._turn, self._engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                row = (await conn.execute(_PG_ADVANCE, {**params, "expires": expires})).one()
            return int(row[0]), int(row[1])
        async with self._turn:
            return await self._advance_sqlite(key, after_tat, after_now, expires)

    async def _advance_sqlite(
        self, key: str, after_tat: int, after_now: int, expires: datetime
    ) -> tuple[int, int]:
        now = int(time.time() * MICROS)
        values = sqlite.insert(RateCounter).values(
            key=key, count=now + after_now, expires_at=expires
        )
        stmt = values.on_conflict_do_update(
            index_elements=[RateCounter.key],
            set_={
                "count": func.max(RateCounter.count + after_tat, now + after_now),
                "expires_at": values.excluded.expires_at,
            },
        ).returning(RateCounter.count)
        async with self._engine.begin() as conn:  # BEGIN IMMEDIATE: one writer at a time
            tat = (await conn.execute(stmt)).scalar_one()
        return int(tat), now

    async def reserve(self, key: str, interval_us: int, lead_us: int = 0) -> Grant:
        # gcra_reserve: the new tat is max(tat, now + lead) + interval; the slot is one
        # interval before it.
        tat, now = await self._advance(key, interval_us, lead_us + interval_us)
        return Grant(tat - interval_us, now)

    async def push_back(self, key: str, pause_us: int) -> None:
        await self._advance(key, 0, pause_us)

    async def now_us(self) -> int:
        if not self._postgres:
            return int(time.time() * MICROS)
        async with self._engine.connect() as conn:
            return int((await conn.execute(_PG_NOW)).scalar_one())


class RateLimiter:
    """Waits for slots of a :class:`RateStore`; see the module docstring for the guarantee.

    Slots are on the store's clock. A reply arrives after the store read its clock, so
    ``received - store's now`` is at least the offset between the two clocks; the least over
    the recent replies (the quickest round trip) is the tightest such bound. Sleeping until
    ``slot + offset`` is therefore never early, and a slow reply does not shift the slot.
    Processes may place slots differently by up to their quickest round trip (well under a
    millisecond to a Redis or PostgreSQL next door), which the allowance has to absorb.

    Slots are reserved a *lead* ahead of the store's now: twice the spread of recent reply
    delays (at most ``MAX_LEAD_SECONDS``; about a millisecond on a healthy host). Without it, a
    process (or database) that answers late would be granted slots that pass before the reply
    arrives: each would be dropped as late and the next one reserved, late again, each try
    spending a slot. When work is queued the slots are further ahead anyway; the lead only
    delays the first call after a pause.
    """

    def __init__(
        self,
        store: RateStore,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self._monotonic = monotonic
        self._sleep = sleep
        self._samples: deque[tuple[float, float]] = deque(maxlen=OFFSET_SAMPLES)
        """(received, received - store's now) of recent round trips to the store."""
        self._calibrating = asyncio.Lock()
        self.missed = 0
        """Slots dropped because the caller woke too late for them (this process)."""

    def _recent(self, now: float) -> list[float]:
        horizon = now - OFFSET_HORIZON_SECONDS  # clocks drift: keep only recent samples
        return [offset for at, offset in self._samples if at >= horizon]

    def _sample(self, received: float, store_now_us: int) -> None:
        self._samples.append((received, received - store_now_us / MICROS))

    async def _calibrate(self) -> None:
        """Place the store's clock before the first slot (and after a pause): the first round
        trip may open a connection, and slots placed by it alone would be placed late, then
        the next ones less late, which bunches them. Only the later round trips are kept."""
        async with self._calibrating:
            if self._recent(self._monotonic()):
                return  # another caller just did
            for probe in range(CALIBRATION_ROUND_TRIPS + 1):
                store_now = await self.store.now_us()
                if probe:
                    self._sample(self._monotonic(), store_now)

    def _offset(self, now: float) -> float:
        """This process's clock minus the store's, never underestimated: the quickest recent
        round trip's ``received - store's now``."""
        return min(self._recent(now))

    def _lead_us(self, now: float) -> int:
        recent = self._recent(now)
        if not recent:
            return 0
        return int(min(MAX_LEAD_SECONDS, 2 * (max(recent) - min(recent))) * MICROS)

    async def acquire(self, key: str, rate: Rate, *, max_wait: float) -> bool:
        """Wait for the next slot of ``key``; call right after this returns True.

        False when no slot comes within ``max_wait`` seconds: the caller gives its work back
        (the slot it was offered then goes unused, which only slows the pace)."""
        if max_wait <= 0:
            return False
        give_up = self._monotonic() + max_wait
        if not self._recent(self._monotonic()):
            await self._calibrate()
        while True:
            grant = await self.store.reserve(
                key, rate.interval_us, self._lead_us(self._monotonic())
            )
            received = self._monotonic()
            self._sample(received, grant.now_us)
            due = grant.slot_us / MICROS + self._offset(received)
            if due > give_up:
                return False
            if due > received:
                await self._sleep(due - received)
            # Every call of this process is placed with the same offset, so its error is
            # common to them all; lateness against that placement is what spreads calls.
            late = self._monotonic() - due
            if late <= rate.tolerance:
                return True
            # Going now would crowd the callers behind us (module docstring): take a new slot.
            self.missed += 1
            log.warning("ratelimit.slot.missed", key=key, late_ms=round(late * 1000, 1))

    async def back_off(self, key: str, seconds: float) -> None:
        """Pause ``key`` for ``seconds`` from now (the remote side said we were too fast)."""
        await self.store.push_back(key, int(seconds * MICROS))


EXTRAS_KEY = "platform.rate_limiter"


def rate_limiter(runtime: Runtime) -> RateLimiter:
    """The runtime's limiter, built on first use and cached: Redis when configured, the
    database on PostgreSQL, this process's memory on SQLite (one worker)."""
    cached = runtime.extras.get(EXTRAS_KEY)
    if isinstance(cached, RateLimiter):
        return cached
    store: RateStore
    if runtime.redis is not None:
        store = RedisRateStore(runtime.redis, runtime.settings.redis_key_prefix)
    elif runtime.dialect == "postgresql":
        store = DbRateStore(runtime.engine)
    else:
        store = MemoryRateStore()
    limiter = RateLimiter(store)
    runtime.extras[EXTRAS_KEY] = limiter
    return limiter
