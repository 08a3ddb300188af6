"""The Redis ``HotClaimStore``: one Lua script grabs atomically; a stream per campaign is the
outbox the relay drains (perf reference §4.1).

Key layout (``P`` = the prefix, ``c`` = the campaign id; ``{scan:c}`` is the campaign's hash
tag, so every key one grab touches lives in one cluster slot):

- ``P{scan:c}:claimed``   HASH code_hash (16 raw bytes) → openid: the claimed codes. One
  HASH per campaign instead of one ``SET NX`` key per code: measured on Redis 7.0 with a
  28-character openid, a field costs ≈ 100 bytes (``MEMORY USAGE``; B2 prints it), a key
  ≈ 200 (its name repeats the prefix and tag, plus the key object and the keyspace entry):
  10⁷ claimed codes ≈ 1 GB. (Smaller still, if it ever matters: buckets of small
  listpack-encoded HASHes, ≈ 50 bytes a code.)
- ``P{scan:c}:allowance`` STRING, fen the store may still promise (never below 0).
- ``P{scan:c}:tranches``  SET of tranche ids already added (``add_allowance`` idempotency).
- ``P{scan:c}:releases``  HASH release id → fen taken out by that release.
- ``P{scan:c}:grabs``     STREAM of ``Grabbed`` entries (field ``e``, ``hot.encode``) with the
  consumer group ``relay``; settled entries are XACKed and XDELed.
- ``P{scan:c}:pool:<id>`` HASH ``n`` (shares) and ``taken`` (shares taken; position = taken).
- ``P{scan:c}:pool:<id>:shares`` LIST of the share amounts not yet taken, in position order
  (lucky pools only; a fixed pool stores no shares, its counter is enough).
- ``P{scan}:campaigns`` SET of the campaign ids that have grabbed: the ONE key outside any
  campaign's slot. The grab script never touches it (the driver adds a campaign once per
  process, before its first grab), so ``pending`` knows which streams to read.

A pool's shares go to the campaign's slot, but ``load_pool`` is not told the campaign (a
``PoolRef`` carries none), so the store keeps the shares in memory until the first grab of the
pool in this process, which installs them (once for all processes: the first complete load
wins, ``_LOAD_POOL``) and drops the copy. A grab of a pool that no process has installed and
that this process was not given raises ``PoolNotLoaded``.

The driver coalesces: the ``grab`` calls of one event-loop turn are sent together, as one
pipeline of EVALSHA (no MULTI), each caller awaiting its own reply. A NOSCRIPT reply (a
restarted or flushed server) loads the script and sends those grabs again (the script did not
run). An error reply fails its own caller only; a connection error fails every grab of the
pipeline, and their outcome is unknown (a script may have run: its entry is in the outbox, so
the relay settles it; a repeated scan answers ``taken``). A caller cancelled before its
pipeline leaves is never sent; once sent, the grab stands and the relay settles it. The
pipeline is written straight to a pooled connection (commands packed here, the head of a
campaign's command packed once; the ``Grabbed`` text written out field by field, equal to
``hot.encode``'s): with redis-py's pipeline and ``hot.encode`` (``asdict``) the same driver
made 7.7 k grabs/s on the 2-core box, this way 20–45 k (B2; the box was shared).

``pending``: a consumer group ``relay`` per stream; each call starts at a different campaign
(so none waits behind a busy one), claims that stream's entries pending longer than
``stale_seconds`` (XAUTOCLAIM: a crashed relay's), then reads new ones (XREADGROUP). Entry ids
are ``<campaign id>/<stream id>``; ``settled`` XACKs and XDELs them. An entry that does not
decode is logged and left pending (visible with XPENDING), never dropped.

What this store cannot know: a code claimed through the database (the service refuses those
before it grabs; the relay's ``mark_claimed`` catches a race). A code's short and full forms
are one field here: ``ticket.code_hash`` is the code's own key whichever form was scanned.
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import json.encoder
import math
import os
import re
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import structlog
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from jinli.scans.domain import (
    Claim,
    ClaimStatus,
    ClaimTicket,
    DrawRecord,
    PoolRef,
    share_record,
)
from jinli.scans.hot import ENTRY_VERSION, Pending, decode

log = structlog.get_logger()

GROUP: Final = "relay"
ENTRY_FIELD: Final = b"e"
LOAD_CHUNK: Final = 10_000
"""Shares per command when a pool is installed (argument lists stay small)."""
STAGING_TTL_SECONDS: Final = 3600

_TAKEN, _CLAIMED, _EXHAUSTED, _SHORT, _UNLOADED = 0, 1, 2, 3, 4

GRAB_SCRIPT: Final = """
-- KEYS: claimed, allowance, grabs [, pool, shares]
-- ARGV: code_hash, openid, mode ('d' pre-drawn, 'f' fixed pool, 'l' lucky pool), amount,
--       then the entry as pieces: text, marker, text, marker, … text
--       (marker 'p': the position taken, 'a': the amount taken)
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {0} end
local mode = ARGV[3]
local amount = tonumber(ARGV[4])
local position = 0
if mode ~= 'd' then
  local meta = redis.call('HMGET', KEYS[4], 'n', 'taken')
  if not meta[1] then return {4} end
  position = tonumber(meta[2]) + 1
  if position > tonumber(meta[1]) then return {2} end
  if mode == 'l' then
    local head = redis.call('LINDEX', KEYS[5], 0)
    if not head then return {2} end
    amount = tonumber(head)
  end
end
if amount > tonumber(redis.call('GET', KEYS[2]) or '0') then return {3} end
local entry = ARGV[5]
if #ARGV > 5 then
  local parts = {ARGV[5]}
  for i = 6, #ARGV, 2 do
    parts[#parts + 1] = (ARGV[i] == 'p') and tostring(position) or tostring(amount)
    parts[#parts + 1] = ARGV[i + 1]
  end
  entry = table.concat(parts)
end
-- Every check passed: now the writes. A script is not rolled back, so the one write on a key
-- no read above has type-checked (the stream) goes first; after it nothing can fail (the
-- other keys were read with their own types, and OOM is refused at the first write).
redis.call('XADD', KEYS[3], '*', 'e', entry)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if mode ~= 'd' then
  redis.call('HSET', KEYS[4], 'taken', position)
  if mode == 'l' then redis.call('LPOP', KEYS[5]) end
end
if amount > 0 then redis.call('DECRBY', KEYS[2], amount) end
return {1, amount, position}
"""

_ADD_ALLOWANCE: Final = """
-- KEYS: tranches, allowance; ARGV: tranche id, fen
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[2], ARGV[2])
return 1
"""

_RELEASE: Final = """
-- KEYS: releases, allowance; ARGV: release id
local done = redis.call('HGET', KEYS[1], ARGV[1])
if done then return tonumber(done) end
local left = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('SET', KEYS[2], 0)
redis.call('HSET', KEYS[1], ARGV[1], left)
return left
"""

_LOAD_POOL: Final = """
-- KEYS: pool, shares, staging; ARGV: n. The first complete load wins; later ones drop theirs.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[3])
  return 0
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[2])
  redis.call('PERSIST', KEYS[2])  -- the staging key's expiry does not come along
end
redis.call('HSET', KEYS[1], 'n', ARGV[1], 'taken', 0)
return 1
"""

_SCRIPTS: Final = {
    name: (text, hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest())
    for name, text in {
        "grab": GRAB_SCRIPT,
        "add": _ADD_ALLOWANCE,
        "release": _RELEASE,
        "load": _LOAD_POOL,
    }.items()
}
GRAB_SHA: Final = _SCRIPTS["grab"][1]

# Placeholders in a pool grab's entry, replaced by the script with the position and amount it
# took. Digits only, so they encode as JSON numbers exactly where the real figures go.
_POS_MARK: Final = 987_654_321_012_345
_AMT_MARK: Final = 987_654_321_054_321
_MARKS: Final = re.compile(f"({_POS_MARK}|{_AMT_MARK})")


class PoolNotLoaded(RuntimeError):
    """A pool grab before any process installed the pool and this one was not given it."""


@dataclass(slots=True)
class _Call:
    packed: bytes
    future: asyncio.Future[Any]


_EVALSHA_HEAD: Final = b"$7\r\nEVALSHA\r\n$40\r\n" + GRAB_SHA.encode() + b"\r\n"


def pack_grab(args: tuple[Any, ...]) -> bytes:
    """``EVALSHA <grab sha> *args`` in the Redis protocol (str, bytes and int arguments)."""
    out = [b"*%d\r\n" % (len(args) + 2), _EVALSHA_HEAD]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(out)


_ids: dict[uuid.UUID, str] = {}


def _id(value: uuid.UUID) -> str:
    """``str(value)`` for the ids every grab of a campaign repeats (brand, campaign, batch,
    pool), remembered: ``UUID.__str__`` is slow enough to matter here."""
    text = _ids.get(value)
    if text is None:
        if len(_ids) >= 10_000:
            _ids.clear()
        text = _ids[value] = str(value)
    return text


_str = json.encoder.encode_basestring  # a JSON string literal, quotes included (C)


def _opt(value: str | int | None) -> str:
    if value is None:
        return "null"
    return _str(value) if isinstance(value, str) else int.__repr__(value)


def entry_text(ticket: ClaimTicket, draw_id: uuid.UUID, draw: DrawRecord) -> str:
    """``hot.encode(Grabbed.of(ticket, draw_id, draw))``, character for character (tests hold
    them equal, Hypothesis over odd strings included), written out field by field: 8× cheaper
    than ``asdict`` + ``json.dumps`` and 2.5× cheaper than ``json.dumps`` of a dict, and on
    the hot path it was most of a grab's Python time. A change of ``hot.encode`` must be made
    here too (the tests fail until it is)."""
    d = draw
    pool = "null" if ticket.pool is None else f'"{_id(ticket.pool.id)}"'
    return (
        f'{{"v":"{ENTRY_VERSION}","draw_id":"{draw_id}","code_hash":"{ticket.code_hash.hex()}",'
        f'"short":{"true" if ticket.short else "false"},"brand_id":"{_id(ticket.brand_id)}",'
        f'"campaign_id":"{_id(ticket.campaign_id)}","batch_id":"{_id(ticket.batch_id)}",'
        f'"openid":{_str(ticket.openid)},"at":"{ticket.at.isoformat()}",'
        f'"batch_region":{_opt(ticket.batch_region)},"scan_region":{_opt(ticket.scan_region)},'
        f'"pool_id":{pool},"draw":{{"kind":{_str(d.kind)},"algorithm":{_str(d.algorithm)},'
        f'"rule_hash":{_str(d.rule_hash)},"region":{_opt(d.region)},'
        f'"tier_label":{_str(d.tier_label)},"drawn_fen":{int.__repr__(d.drawn_fen)},'
        f'"amount_fen":{int.__repr__(d.amount_fen)},"outcome":{_str(d.outcome)},'
        f'"table_region":{_opt(d.table_region)},"random_value":{_opt(d.random_value)},'
        f'"share_no":{_opt(d.share_no)},"tier_index":{_opt(d.tier_index)}}}}}'
    )


def campaign_tag(prefix: str, campaign_id: uuid.UUID) -> str:
    """The common start of a campaign's keys, hash tag included."""
    return f"{prefix}{{scan:{_id(campaign_id)}}}:"


class RedisHotStore:
    """``HotClaimStore`` on Redis (module docstring). ``max_batch`` bounds one pipeline;
    ``consumer`` names this process in the relay's consumer group."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "jinli:",
        max_batch: int = 512,
        consumer: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._max_batch = max_batch
        self._timeout = timeout
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._registry = f"{prefix}{{scan}}:campaigns"
        self._queue: list[_Call] = []
        self._flushing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._registered: set[uuid.UUID] = set()
        self._groups: set[uuid.UUID] = set()
        self._staged: dict[uuid.UUID, array.array[int]] = {}
        self._installed: set[uuid.UUID] = set()
        self._turn = 0
        self._heads: dict[tuple[uuid.UUID, uuid.UUID | None, int], bytes] = {}
        self._jobs: dict[tuple[str, uuid.UUID], asyncio.Future[None]] = {}

    # --- keys ---------------------------------------------------------------------------------

    def keys(self, campaign_id: uuid.UUID, pool_id: uuid.UUID | None = None) -> dict[str, str]:
        """Every key of a campaign (and of its pool) by role; all share its hash tag."""
        base = campaign_tag(self._prefix, campaign_id)
        keys = {
            "claimed": base + "claimed",
            "allowance": base + "allowance",
            "grabs": base + "grabs",
            "tranches": base + "tranches",
            "releases": base + "releases",
        }
        if pool_id is not None:
            keys["pool"] = f"{base}pool:{pool_id}"
            keys["shares"] = f"{base}pool:{pool_id}:shares"
        return keys

    @property
    def registry_key(self) -> str:
        return self._registry

    # --- the grab -----------------------------------------------------------------------------

    async def grab(self, ticket: ClaimTicket, draw_id: uuid.UUID, /) -> Claim:
        if (ticket.draw is None) == (ticket.pool is None):
            raise ValueError("a ticket carries either a pre-drawn prize or a pool")
        campaign = ticket.campaign_id
        if campaign not in self._registered:
            await self._once(("register", campaign), lambda: self._register(campaign))
        pool = ticket.pool
        if pool is not None and pool.id in self._staged:
            await self._once(("install", pool.id), lambda: self._install(campaign, pool))
        packed = self._packed(ticket, draw_id)
        reply = await self._submit(packed)
        if reply[0] == _UNLOADED and pool is not None and pool.id in self._staged:
            await self._once(("install", pool.id), lambda: self._install(campaign, pool))
            reply = await self._submit(packed)
        status = int(reply[0])
        if status == _CLAIMED:
            if pool is None:
                return Claim(ClaimStatus.claimed, ticket.draw)
            draw = share_record(
                pool.plan, pool.rule_hash, int(reply[2]), int(reply[1]), ticket.batch_region
            )
            return Claim(ClaimStatus.claimed, draw)
        if status == _TAKEN:
            return Claim(ClaimStatus.taken)
        if status == _EXHAUSTED:
            return Claim(ClaimStatus.exhausted)
        if status == _SHORT:
            return Claim(ClaimStatus.short)
        raise PoolNotLoaded(f"pool {pool.id if pool else None} is not in the store")

    async def _once(self, key: tuple[str, uuid.UUID], job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` once for all the callers that need it at the same time (one SADD, one
        pool install, not one per concurrent grab); a failure is every waiter's, and the next
        caller tries again."""
        task = self._jobs.get(key)
        if task is None:
            task = asyncio.ensure_future(job())
            self._jobs[key] = task
            task.add_done_callback(lambda _: self._jobs.pop(key, None))
        await asyncio.shield(task)

    async def _register(self, campaign_id: uuid.UUID) -> None:
        await self._redis.sadd(self._registry, str(campaign_id))
        self._registered.add(campaign_id)

    def _grab_keys(self, ticket: ClaimTicket) -> tuple[str, ...]:
        base = campaign_tag(self._prefix, ticket.campaign_id)
        keys = (base + "claimed", base + "allowance", base + "grabs")
        if ticket.pool is None:
            return keys
        return (*keys, f"{base}pool:{ticket.pool.id}", f"{base}pool:{ticket.pool.id}:shares")

    def _grab_argv(self, ticket: ClaimTicket, draw_id: uuid.UUID) -> tuple[Any, ...]:
        """The script's ARGV (see ``GRAB_SCRIPT``)."""
        pool = ticket.pool
        if pool is None:
            if ticket.draw is None:  # pragma: no cover - grab checked it
                raise ValueError("a ticket without a pool carries its draw")
            text = entry_text(ticket, draw_id, ticket.draw)
            return (ticket.code_hash, ticket.openid, "d", int(ticket.draw.amount_fen), text)
        lucky = pool.plan.stores_shares
        amount = 0 if lucky else int(pool.plan.pool.min_fen)
        template = share_record(
            pool.plan,
            pool.rule_hash,
            _POS_MARK,
            _AMT_MARK if lucky else amount,
            ticket.batch_region,
        )
        pieces = _MARKS.split(entry_text(ticket, draw_id, template))
        expected = 3 if lucky else 1  # share_no, and drawn_fen + amount_fen for lucky shares
        if len(pieces) != 2 * expected + 1:
            raise ValueError("a grab's text holds a placeholder figure; cannot template it")
        argv: list[str] = [pieces[0]]
        for i in range(1, len(pieces), 2):
            argv.append("p" if pieces[i] == str(_POS_MARK) else "a")
            argv.append(pieces[i + 1])
        return (ticket.code_hash, ticket.openid, "l" if lucky else "f", amount, *argv)

    def _grab_args(self, ticket: ClaimTicket, draw_id: uuid.UUID) -> tuple[Any, ...]:
        """EVALSHA's arguments after the sha: numkeys, keys, ARGV."""
        keys = self._grab_keys(ticket)
        return (len(keys), *keys, *self._grab_argv(ticket, draw_id))

    def _packed(self, ticket: ClaimTicket, draw_id: uuid.UUID) -> bytes:
        """``pack_grab(self._grab_args(…))`` with the command's head (EVALSHA, sha, keys)
        packed once per campaign and pool."""
        argv = self._grab_argv(ticket, draw_id)
        pool_id = None if ticket.pool is None else ticket.pool.id
        head = self._heads.get((ticket.campaign_id, pool_id, len(argv)))
        if head is None:
            keys = self._grab_keys(ticket)
            head = pack_grab((len(keys), *keys)).replace(
                b"*%d\r\n" % (len(keys) + 3), b"*%d\r\n" % (len(keys) + 3 + len(argv)), 1
            )
            if len(self._heads) >= 10_000:
                self._heads.clear()
            self._heads[(ticket.campaign_id, pool_id, len(argv))] = head
        out = [head]
        for arg in argv:
            raw = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
        return b"".join(out)

    async def _submit(self, packed: bytes) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Call(packed, future))
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        """Send what this turn of the loop queued, ``max_batch`` grabs per pipeline."""
        self._flushing = False
        queue, self._queue = self._queue, []
        live = [c for c in queue if not c.future.done()]  # cancelled before sending: dropped
        for start in range(0, len(live), self._max_batch):
            task = asyncio.get_running_loop().create_task(
                self._send(live[start : start + self._max_batch])
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            replies = await self._pipeline([c.packed for c in batch])
            again = [c for c, r in zip(batch, replies, strict=True) if isinstance(r, NoScriptError)]
            if again:
                await self._load_scripts()
                retried = await self._pipeline([c.packed for c in again])
                answers = dict(zip(map(id, again), retried, strict=True))
                replies = [answers.get(id(c), r) for c, r in zip(batch, replies, strict=True)]
        except asyncio.CancelledError:  # the loop is closing: so are the callers
            for call in batch:
                call.future.cancel()
            raise
        except Exception as exc:  # the whole pipeline: every caller gets it
            for call in batch:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        for call, reply in zip(batch, replies, strict=True):
            if call.future.done():
                continue
            if isinstance(reply, BaseException):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)

    async def _pipeline(self, commands: Sequence[bytes]) -> list[Any]:
        """Send packed commands on one pooled connection in one write and read every reply
        (an error reply is that command's answer; anything else ends the connection)."""
        pool = self._redis.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            # One deadline for the whole batch instead of one per reply (redis-py's per-read
            # timeout costs more than the read when the replies are already buffered).
            async with asyncio.timeout(self._timeout):
                await conn.send_packed_command(b"".join(commands), check_health=False)
                replies: list[Any] = []
                for _ in commands:
                    try:
                        replies.append(await conn.read_response(timeout=math.inf))
                    except ResponseError as exc:
                        replies.append(exc)
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        finally:
            await pool.release(conn)
        return replies

    async def _load_scripts(self) -> None:
        for text, sha in _SCRIPTS.values():
            loaded = await self._redis.script_load(text)
            if loaded != sha:  # pragma: no cover - the server hashes as we do
                raise RuntimeError("SCRIPT LOAD returned an unexpected sha")

    async def _call(self, name: str, keys: Sequence[str], *argv: Any) -> Any:
        """One EVALSHA of a small script (not coalesced), loading it on NOSCRIPT."""
        _, sha = _SCRIPTS[name]
        try:
            return await self._redis.evalsha(sha, len(keys), *keys, *argv)
        except NoScriptError:
            await self._load_scripts()
            return await self._redis.evalsha(sha, len(keys), *keys, *argv)

    async def aclose(self) -> None:
        """Wait for the pipelines in flight (the client is the caller's to close)."""
        while self._tasks or self._queue:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            else:
                await asyncio.sleep(0)

    # --- pools --------------------------------------------------------------------------------

    async def load_pool(self, pool: PoolRef, shares: Sequence[int], /) -> None:
        if pool.id in self._installed or pool.id in self._staged:
            return
        if len(shares) != pool.plan.pool.shares:
            raise ValueError(
                f"pool {pool.id} has {pool.plan.pool.shares} shares, got {len(shares)}"
            )
        self._staged[pool.id] = array.array("q", shares if pool.plan.stores_shares else ())

    async def _install(self, campaign_id: uuid.UUID, pool: PoolRef) -> None:
        """Put a staged pool into the campaign's slot (the first complete load wins)."""
        staged = self._staged.get(pool.id)
        if staged is None:
            return  # installed by a caller that was first
        keys = self.keys(campaign_id, pool.id)
        staging = f"{keys['shares']}:load:{uuid.uuid4().hex}"
        if not await self._redis.exists(keys["pool"]):
            for start in range(0, len(staged), LOAD_CHUNK):
                await self._redis.rpush(staging, *staged[start : start + LOAD_CHUNK])
                if start == 0:  # a loader that dies half-way leaves nothing for long
                    await self._redis.expire(staging, STAGING_TTL_SECONDS)
            await self._call("load", [keys["pool"], keys["shares"], staging], pool.plan.pool.shares)
        self._installed.add(pool.id)
        del self._staged[pool.id]

    # --- the allowance ------------------------------------------------------------------------

    async def allowance(self, campaign_id: uuid.UUID, /) -> int:
        value = await self._redis.get(self.keys(campaign_id)["allowance"])
        return 0 if value is None else int(value)

    async def add_allowance(self, campaign_id: uuid.UUID, tranche: str, fen: int, /) -> bool:
        if fen < 0:
            raise ValueError("a tranche adds fen, it never takes")
        keys = self.keys(campaign_id)
        return bool(await self._call("add", [keys["tranches"], keys["allowance"]], tranche, fen))

    async def release_allowance(self, campaign_id: uuid.UUID, release: str, /) -> int:
        keys = self.keys(campaign_id)
        return int(await self._call("release", [keys["releases"], keys["allowance"]], release))

    # --- the outbox ---------------------------------------------------------------------------

    async def _group(self, campaign_id: uuid.UUID, stream: str, *, again: bool = False) -> None:
        if again:
            self._groups.discard(campaign_id)
        if campaign_id in self._groups:
            return
        try:
            await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(campaign_id)

    async def pending(self, *, limit: int, stale_seconds: float) -> list[Pending]:
        """Entries of every campaign's stream: first those handed out more than
        ``stale_seconds`` ago and not settled (XAUTOCLAIM: a crashed relay's), then new ones
        (XREADGROUP), up to ``limit`` in all."""
        out: list[Pending] = []
        members = sorted(await self._redis.smembers(self._registry))
        if members:  # a different campaign first each call: none waits behind a busy one
            turn = self._turn % len(members)
            self._turn += 1
            members = members[turn:] + members[:turn]
        idle_ms = max(0, int(stale_seconds * 1000))
        for member in members:
            if len(out) >= limit:
                break
            campaign_id = uuid.UUID(member.decode() if isinstance(member, bytes) else member)
            stream = self.keys(campaign_id)["grabs"]
            await self._group(campaign_id, stream)
            try:
                await self._read(campaign_id, stream, limit, idle_ms, out)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # the stream was deleted since this process made its group: make it again
                await self._group(campaign_id, stream, again=True)
                await self._read(campaign_id, stream, limit, idle_ms, out)
        return out

    async def _read(
        self, campaign_id: uuid.UUID, stream: str, limit: int, idle_ms: int, out: list[Pending]
    ) -> None:
        """One stream: the stale entries first (XAUTOCLAIM, walking the whole pending list),
        then new ones (XREADGROUP), until ``out`` holds ``limit``."""
        cursor: Any = "0-0"
        while len(out) < limit:
            claimed: Any = await self._redis.xautoclaim(
                stream, GROUP, self._consumer, idle_ms, cursor, count=limit - len(out)
            )
            self._collect(campaign_id, claimed[1], out)
            cursor = claimed[0]
            if cursor in (b"0-0", "0-0"):
                break
        if len(out) >= limit:
            return
        fresh: Any = await self._redis.xreadgroup(
            GROUP, self._consumer, {stream: ">"}, count=limit - len(out)
        )
        for _, entries in fresh:
            self._collect(campaign_id, entries, out)

    def _collect(self, campaign_id: uuid.UUID, entries: Sequence[Any], out: list[Pending]) -> None:
        for stream_id, values in entries:
            sid = stream_id.decode() if isinstance(stream_id, bytes) else str(stream_id)
            if not values:
                continue  # deleted while pending (settled): XAUTOCLAIM drops it
            text = values.get(ENTRY_FIELD) or values.get(ENTRY_FIELD.decode())
            try:
                grabbed = decode(text)
            except (ValueError, KeyError, TypeError):
                log.error("scan.hot.bad_entry", campaign_id=str(campaign_id), entry_id=sid)
                continue  # left pending: it stays visible (XPENDING) for an operator
            out.append(Pending(f"{campaign_id}/{sid}", grabbed))

    async def settled(self, entry_ids: Sequence[str], /) -> None:
        by_stream: dict[str, list[str]] = {}
        for entry_id in entry_ids:
            campaign, _, sid = entry_id.partition("/")
            by_stream.setdefault(self.keys(uuid.UUID(campaign))["grabs"], []).append(sid)
        if not by_stream:
            return
        pipe = self._redis.pipeline(transaction=False)
        for stream, ids in by_stream.items():
            pipe.xack(stream, GROUP, *ids)
            pipe.xdel(stream, *ids)
        await pipe.execute()
