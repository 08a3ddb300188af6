"""B2 grab_redis_path: Jinli's in-process Redis grab driver against ``redis-benchmark``.

Subject: ``scans.adapters.redis_store.RedisHotStore.grab`` called by 256 concurrent coroutines
in one process (the coalescing driver sends the grabs of one event-loop turn as one pipeline of
EVALSHA), each grab a distinct code with a pre-drawn 1.00-yuan prize, against an allowance that
does not run out; the tickets are built before the clock starts (the service's work, not the
store's). Figure: claimed grabs/s.

Reference, against the same Redis, the same script (the same sha) and arguments of the same
shape and size (three keys of a campaign, a 16-character code, an openid, the pre-drawn mode
and amount, an encoded ``Grabbed`` entry of a real ticket): ``redis-benchmark -P 16 -n …
-r 2·10⁹ EVALSHA <sha> 3 <claimed> <allowance> <grabs> code__rand_int__ …``, 50 connections, so
every call claims a fresh code and does the full grab (claim, allowance, XADD); the rare
random repeats answer ``taken`` and are not counted. Figure: successful grabs/s (requests/s ×
stream entries ÷ requests). B2b is the same with ``-P 1``.

Rounds are interleaved (A, B, A, B…) after a warm-up; the medians give the ratio. Correctness,
after every round: one stream entry and one claimed field per successful grab, Σ of the
entries' fen + the allowance left == the allowance given, no caller saw an error.

Redis: ``JINLI_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/14``, a DB the tests do
not use); every key has the prefix ``jinli-b2-<random>:`` and is deleted after its round.
``--quick``: 2 rounds of 30 k grabs; full: 5 rounds of 150 k. The headline subject runs on the
default asyncio loop; ``subject_uvloop`` is the same on uvloop (what uvicorn picks when it is
installed), measured in the same rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from redis.asyncio import Redis

try:
    import uvloop
except ImportError:  # pragma: no cover - optional: uvicorn uses it when installed
    uvloop = None  # type: ignore[assignment]

from jinli.kernel.money import Fen
from jinli.scans.adapters.redis_store import GRAB_SCRIPT, GRAB_SHA, RedisHotStore
from jinli.scans.domain import ClaimStatus, ClaimTicket, fixed_record
from jinli.scans.hot import decode

BENCH_ID = "B2"
REDIS_URL = os.environ.get("JINLI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"
CONCURRENCY = 256
PRIZE = 100
ALLOWANCE = 10**12
AT = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
BRAND, BATCH = uuid.UUID(int=7), uuid.UUID(int=8)
DRAW = fixed_record(Fen(PRIZE), "b2-rule-" + "0" * 56, "浙江")


def _tickets(campaign: uuid.UUID, n: int, salt: str) -> list[ClaimTicket]:
    return [
        ClaimTicket(
            code_hash=f"{salt}{i:010d}".encode()[-16:].rjust(16, b"0"),
            short=False,
            brand_id=BRAND,
            campaign_id=campaign,
            batch_id=BATCH,
            openid=f"oB2_{i:024d}",
            at=AT,
            batch_region="浙江",
            scan_region="浙江/杭州",
            draw=DRAW,
            pool=None,
        )
        for i in range(n)
    ]


async def _drop(redis: Redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await redis.delete(*keys)


async def _drop_url(prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        await _drop(redis, prefix)
    finally:
        await redis.aclose()


async def _check(redis: Redis, store: RedisHotStore, campaign: uuid.UUID, grabs: int) -> bool:
    """One entry and one claimed field per grab; Σ entries + allowance left == given."""
    keys = store.keys(campaign)
    entries = await redis.xlen(keys["grabs"])
    claimed = await redis.hlen(keys["claimed"])
    left = int(await redis.get(keys["allowance"]) or 0)
    fen = 0
    async for batch in _xrange_all(redis, keys["grabs"]):
        fen += sum(int(decode(f[b"e"]).draw.amount_fen) for _, f in batch)
    return entries == claimed == grabs and fen + left == ALLOWANCE and fen == grabs * PRIZE


async def _xrange_all(redis: Redis, stream: str) -> Any:
    start = "-"
    while True:
        batch: Any = await redis.xrange(stream, start, "+", count=10_000)
        if not batch:
            return
        yield batch
        last = batch[-1][0].decode()
        ms, seq = last.split("-")
        start = f"{ms}-{int(seq) + 1}"


async def _subject(n: int) -> tuple[float, bool, int]:
    """(claimed grabs/s, correct, memory bytes per claimed code) of one round."""
    redis = Redis.from_url(REDIS_URL)
    prefix = f"jinli-b2-{uuid.uuid4().hex[:10]}:"
    store = RedisHotStore(redis, prefix=prefix)
    campaign = uuid.uuid4()
    try:
        await store.add_allowance(campaign, "b2", ALLOWANCE)
        tickets = _tickets(campaign, n, "s")
        draw_ids = [uuid.uuid4() for _ in range(n)]
        await store.grab(tickets[0], draw_ids[0])  # registers the campaign, loads the script
        next_i = 1
        won = 1
        errors = 0

        async def worker() -> None:
            nonlocal next_i, won, errors
            while next_i < n:
                i = next_i
                next_i += 1
                try:
                    result = await store.grab(tickets[i], draw_ids[i])
                except Exception:
                    errors += 1
                    continue
                if result.status == ClaimStatus.claimed:
                    won += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
        ok = errors == 0 and won == n and await _check(redis, store, campaign, won)
        usage = await redis.memory_usage(store.keys(campaign)["claimed"]) or 0
        return (won - 1) / elapsed, ok, round(int(usage) / won)
    finally:
        await store.aclose()
        await _drop(redis, prefix)
        await redis.aclose()


def _reference(n: int, pipeline: int) -> tuple[float, bool, int]:
    """(successful grabs/s, correct, random repeats) of one redis-benchmark round."""
    url = urlparse(REDIS_URL)
    db = (url.path or "/0").strip("/") or "0"
    prefix = f"jinli-b2-{uuid.uuid4().hex[:10]}:"

    async def setup() -> tuple[list[str], str]:
        redis = Redis.from_url(REDIS_URL)
        store = RedisHotStore(redis, prefix=prefix)
        campaign = uuid.uuid4()
        await store.add_allowance(campaign, "b2", ALLOWANCE)
        await redis.script_load(GRAB_SCRIPT)
        args = store._grab_args(_tickets(campaign, 1, "r")[0], uuid.uuid4())
        await redis.aclose()
        keys = [str(a) for a in args[1:4]]
        argv = [
            "code__rand_int__",  # 16 characters, like a 16-byte code hash
            *(a.decode() if isinstance(a, bytes) else str(a) for a in args[5:]),
        ]
        return [*keys, *argv], campaign.hex

    call, _ = asyncio.run(setup())
    command = [
        REDIS_BENCHMARK,
        "-h",
        url.hostname or "127.0.0.1",
        "-p",
        str(url.port or 6379),
        "--dbnum",
        db,
        "-P",
        str(pipeline),
        "-n",
        str(n),
        "-r",
        "2000000000",  # an int: 10¹² would overflow
        "--csv",
        "EVALSHA",
        GRAB_SHA,
        "3",
        *call,
    ]
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rps = float(out.strip().splitlines()[-1].rsplit('","', 7)[1])  # the command has quotes
    except BaseException:
        asyncio.run(_drop_url(prefix))
        raise

    async def verify() -> tuple[bool, int]:
        redis = Redis.from_url(REDIS_URL)
        try:
            entries = int(await redis.xlen(call[2]))
            claimed = int(await redis.hlen(call[0]))
            left = int(await redis.get(call[1]) or 0)
            ok = entries == claimed and left == ALLOWANCE - PRIZE * entries and entries > 0
            return ok and entries >= n * 0.99, n - entries
        finally:
            await _drop(redis, prefix)
            await redis.aclose()

    ok, repeats = asyncio.run(verify())
    return rps * (n - repeats) / n, ok, repeats


def _bench(quick: bool) -> list[dict[str, Any]]:
    rounds = 2 if quick else 5
    n_subject = 30_000 if quick else 150_000
    n_reference = 100_000 if quick else 400_000
    asyncio.run(_subject(5_000))  # warm-up
    _reference(20_000, 16)
    subj: list[float] = []
    subj_uv: list[float] = []
    ref16: list[float] = []
    ref1: list[float] = []
    correct = True
    repeats = 0
    memory = 0
    for _ in range(rounds):
        rate, ok, memory = asyncio.run(_subject(n_subject))
        subj.append(rate)
        correct &= ok
        rate16, ok16, rep = _reference(n_reference, 16)
        ref16.append(rate16)
        correct &= ok16
        repeats += rep
        rate1, ok1, rep = _reference(n_reference // 4, 1)
        ref1.append(rate1)
        correct &= ok1
        repeats += rep
        if uvloop is not None:
            rate, ok, memory = uvloop.run(_subject(n_subject))
            subj_uv.append(rate)
            correct &= ok
    s, r16, r1 = statistics.median(subj), statistics.median(ref16), statistics.median(ref1)
    host = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "redis_same_host": True,
    }
    notes = (
        f"{CONCURRENCY} coroutines, one process, asyncio default loop, redis-py "
        f"{_redis_version()} + hiredis; {os.cpu_count()} CPUs shared by this process, "
        "redis-server and redis-benchmark (the reference's client is C and also takes a core "
        "share); random repeats in the reference (taken, not counted): "
        f"{repeats}; claimed HASH ≈ {memory} bytes per claimed code"
    )
    common: dict[str, Any] = {"unit": "grabs/s", "correct": correct, "host": host}
    if subj_uv:
        uv = statistics.median(subj_uv)
        common["subject_uvloop"] = round(uv)
        common["ratio_uvloop"] = round(uv / r16, 3)
        common["ratio_uvloop_b2b"] = round(uv / r1, 3)
        common["rounds_uvloop"] = [round(a) for a in subj_uv]
    return [
        {
            "bench": "B2_grab_redis_path",
            "subject": round(s),
            "reference": round(r16),
            "ratio": round(s / r16, 3),
            "target": 0.35,
            "rounds": [
                {"subject": round(a), "reference": round(b)}
                for a, b in zip(subj, ref16, strict=True)
            ],
            **common,
            "notes": "reference: redis-benchmark -P 16 EVALSHA <same sha>; " + notes,
        },
        {
            "bench": "B2b_grab_redis_unpipelined",
            "subject": round(s),
            "reference": round(r1),
            "ratio": round(s / r1, 3),
            "target": 0.6,
            "rounds": [
                {"subject": round(a), "reference": round(b)}
                for a, b in zip(subj, ref1, strict=True)
            ],
            **common,
            "notes": "reference: redis-benchmark -P 1 EVALSHA <same sha>; " + notes,
        },
    ]


def _redis_version() -> str:
    import redis

    return str(redis.__version__)


def run(quick: bool) -> list[dict[str, Any]]:
    problem = _problem()
    if problem is not None:
        return [
            {
                "bench": "B2_grab_redis_path",
                "subject": None,
                "reference": None,
                "unit": "grabs/s",
                "ratio": None,
                "target": 0.35,
                "correct": True,
                "notes": f"skipped: {problem}",
            }
        ]
    return _bench(quick)


def _problem() -> str | None:
    if not os.path.exists(REDIS_BENCHMARK):
        return "redis-benchmark not found"

    async def ping() -> str | None:
        redis = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        try:
            await redis.ping()
        except Exception as exc:
            return f"Redis not reachable at {REDIS_URL} ({type(exc).__name__})"
        finally:
            await redis.aclose()
        return None

    return asyncio.run(ping())


if __name__ == "__main__":
    for line in run("--quick" in sys.argv):
        print(json.dumps(line, ensure_ascii=False))
