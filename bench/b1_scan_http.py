"""B1 scan_http: the consumer's one-tap claim over HTTP, against a bare ASGI hello-world.

Subject: Jinli's real ASGI app (``app.web.create_app``, as ``jinli serve`` builds it) served
by uvicorn in a process of its own, taking ``POST /s/{code}`` — the claim the H5 scan page
posts — with 64 connections from ``wrk``. Every request claims a *different* genuine code of
an activated batch of a live scan-to-win campaign, as a signed-in consumer: the ``jinli_h5``
session cookie is minted by ``web.h5.identity.session_value`` (the function the OAuth callback
uses, i.e. an auth stub at the edge; everything after it is the real path: guard, code tag,
CSRF token, the claim transaction, draw, payout, ledger reservation, events) and the form's
CSRF token by ``identity.csrf_token``. Requests rotate over many openids (the per-openid
daily claim limit is raised through ``JINLI_SCANS__CLAIMS_PER_OPENID_PER_DAY``); the guard
throttles guesses only, so all requests come from 127.0.0.1 (the batch's region).

Reference: a bare ASGI hello-world (a few lines, no framework) served by the *same* uvicorn
command line (1 worker, the same ``--loop``/``--http``, access log off, log level warning),
hit by the same wrk script (same requests, bodies and connections). Both servers stay up; the
wrk runs are interleaved (subject, reference, subject, …) after a warm-up of each, and the
ratio is median subject rps ÷ median reference rps (target ≥ 0.45, stretch 0.6).

Correctness: every subject response must be a successful claim (303 to the prize page; wrk
counts each status). After the server stopped (and, on a hot path, its relay settled every
grab, as the worker would), the database must hold one claimed code, one won draw and one
payout per answered claim — plus at most one per connection per run: the claims in flight
when wrk stopped, which the server completes but wrk never counts — with Σ draws == Σ payouts
== the ledger's reserved fen, and the campaign's ledger must verify. The server's peak RSS
(``VmHWM``) under the load is reported.

Backends: ``sqlite`` (a file in a temporary directory), ``postgres`` (a scratch database on
``JINLI_BENCH_POSTGRES_URL``, default the tests' server) and ``redis`` (that PostgreSQL plus
Redis on ``JINLI_BENCH_REDIS_URL`` with a scratch key prefix). The claim path is chosen by
settings: ``JINLI_SCANS__HOT_PATH`` is passed to the server (``sql`` on SQLite, ``postgres`` /
``redis`` otherwise, or ``<backend>:<hot path>``, e.g. ``postgres:sql``); the notes say which
store ran (``claim_path``). ``bench/run.py B1`` runs SQLite, PostgreSQL with its hot path
and PostgreSQL + Redis, and in a full run also PostgreSQL's SQL claim (``JINLI_B1_BACKENDS``
overrides the list; backends that do not answer are skipped with a note). ``--quick`` is one
short round each.

Run alone: ``python bench/b1_scan_http.py [--quick] [--backend sqlite|postgres|redis[:path]]
[--duration S] [--rounds N] [--connections C] [--threads T] [--rule tiers|pool] [--keep]
[--profile] [--app module:factory]``. ``--profile`` adds one unmeasured subject run with
py-spy sampling the server (if installed) and every SQL statement counted (per claim);
``--app`` benchmarks another ASGI factory on ``PYTHONPATH`` (an experiment) as the subject.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_ID = "B1"
HERE = Path(__file__).resolve().parent
PG_URL = os.environ.get(
    "JINLI_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("JINLI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
TARGET = 0.45
STRETCH = 0.6
REGION = "浙江/杭州"
"""The batch ships where 127.0.0.0/24 is in the default region map: no 串货 alert per claim."""
OWNER_PASSWORD = "b1-correct-horse-battery"  # noqa: S105 - a throwaway brand in a scratch database
SECRET_KEY = "b1-bench-secret-key-not-for-production-0123456789"  # noqa: S105 - same
OPENIDS = 20_000
"""Consumers the requests rotate over (each claims a handful of codes in a run)."""
RULES: dict[str, dict[str, Any]] = {
    # Every claim wins money: the full path (draw, payout, ledger reservation) on each request.
    "tiers": {
        "kind": "tiers",
        "tiers": [
            {"amount_fen": 888, "probability_ppm": 100_000, "label": "一等奖"},
            {"amount_fen": 188, "probability_ppm": 900_000, "label": "二等奖"},
        ],
        "message": "B1",
    },
    # A red packet split at publish: every claim takes the next share (抢红包).
    "pool": {"kind": "lucky_split", "total_fen": 0, "shares": 0, "min_fen": 1},
}
POOL_AVERAGE_FEN = 200
UVICORN_FLAGS = [
    "--host",
    "127.0.0.1",
    "--workers",
    "1",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
]
"""One uvicorn command line for both servers; only the application differs."""


# -- the two ASGI applications (imported by the server processes from --app-dir bench) ----------


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The reference: a bare ASGI hello-world, no framework."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world!"})


def subject() -> Any:
    """The subject (``--factory``): Jinli's app exactly as ``jinli serve`` builds it.

    With ``B1_SQL_COUNT=<file>`` (the ``--profile`` run only) every SQL statement the app
    sends is counted and the counts are written to that file at exit."""
    from jinli.app.bootstrap import bootstrap
    from jinli.app.web import create_app

    runtime = bootstrap()
    sink = os.environ.get("B1_SQL_COUNT")
    if sink:
        _count_statements(runtime.engine.sync_engine, Path(sink))
    return create_app(runtime)


def _count_statements(engine: Any, sink: Path) -> None:
    import atexit
    import re
    from collections import Counter

    from sqlalchemy import event

    counts: Counter[str] = Counter()
    spaces = re.compile(r"\s+")

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counts[spaces.sub(" ", statement).strip()[:160]] += 1

    atexit.register(lambda: sink.write_text(json.dumps(counts.most_common())))


# -- wrk ---------------------------------------------------------------------------------------

WRK_SCRIPT = r"""
-- B1: every request claims the next code of this thread's slice as the next consumer.
-- args: codes file, sessions file (cookie TAB csrf), threads
local threads = {}
local created = 0

function setup(thread)
  thread:set("tid", created)
  created = created + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[3])
  codes = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid then codes[#codes + 1] = line end
    i = i + 1
  end
  sessions = {}
  local j = 0
  for line in io.lines(args[2]) do
    if j % nthreads == tid then
      local cookie, csrf = line:match("^([^\t]+)\t(.+)$")
      sessions[#sessions + 1] = {
        { ["Cookie"] = cookie, ["Content-Type"] = "application/x-www-form-urlencoded" },
        "csrf=" .. csrf,
      }
    end
    j = j + 1
  end
  issued = 0
  wrapped = 0
  statuses = {}
end

function request()
  issued = issued + 1
  if issued > #codes then wrapped = wrapped + 1 end
  local code = codes[((issued - 1) % #codes) + 1]
  local s = sessions[((issued - 1) % #sessions) + 1]
  return wrk.format("POST", "/s/" .. code, s[1], s[2])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local agg = {}
  local issued_max, wrapped_all = 0, 0
  for _, t in ipairs(threads) do
    local n = t:get("issued") or 0
    if n > issued_max then issued_max = n end
    wrapped_all = wrapped_all + (t:get("wrapped") or 0)
    for k, v in pairs(t:get("statuses") or {}) do agg[k] = (agg[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(agg) do parts[#parts + 1] = string.format('"%d":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'B1JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"issued_max":%d,"wrapped":%d,"statuses":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, issued_max, wrapped_all,
    table.concat(parts, ","), e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class WrkRun:
    rps: float
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    errors: dict[str, int]
    issued_max: int
    wrapped: int
    server_cpu_seconds: float

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 400)

    def summary(self) -> dict[str, Any]:
        return {
            "rps": round(self.rps, 1),
            "requests": self.requests,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "socket_errors": {k: v for k, v in self.errors.items() if v and k != "status"},
            "server_cpu_ms_per_request": round(
                1000 * self.server_cpu_seconds / max(self.requests, 1), 3
            ),
        }


def wrk_available() -> str | None:
    """None if wrk runs (installing it with apt-get when absent and possible), else why not."""
    if shutil.which("wrk"):
        return None
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        subprocess.run(
            [apt, "install", "-y", "-qq", "wrk"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if shutil.which("wrk"):
            return None
    return "wrk is not installed and could not be installed (apt-get install wrk)"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def run_wrk(
    port: int,
    pid: int,
    script: Path,
    codes: Path,
    sessions: Path,
    *,
    seconds: float,
    connections: int,
    threads: int,
) -> WrkRun:
    cpu_before = _cpu_seconds(pid)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            str(codes),
            str(sessions),
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    cpu = _cpu_seconds(pid) - cpu_before
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("B1JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}{out.stderr}")
    data = json.loads(line.removeprefix("B1JSON "))
    duration = data["duration_us"] / 1e6
    return WrkRun(
        rps=data["requests"] / duration if duration else 0.0,
        requests=data["requests"],
        seconds=round(duration, 2),
        p50_ms=round(data["p50_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        statuses={int(k): v for k, v in data["statuses"].items()},
        errors=data["errors"],
        issued_max=data["issued_max"],
        wrapped=data["wrapped"],
        server_cpu_seconds=cpu,
    )


# -- servers -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> float | None:
        """Stop it (SIGINT, as Ctrl-C); returns its peak RSS in MB, read just before."""
        peak = _peak_rss_mb(self.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return peak


def start_server(name: str, app: str, env: dict[str, str], cwd: Path, factory: bool) -> Server:
    port = _free_port()
    log = cwd / f"{name}.log"
    command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(HERE), "--port", str(port)]
    command += UVICORN_FLAGS + (["--factory"] if factory else [])
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=sink, stderr=sink)
    server = Server(name, process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} server exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} server did not listen within 60 s: {log.read_text()[-2000:]}")


# -- the world: brand, live campaign, activated codes, consumers -------------------------------


@dataclass
class World:
    values: dict[str, Any]
    brand_id: uuid.UUID
    campaign_id: uuid.UUID
    codes: list[str] = field(default_factory=list)
    batches: list[uuid.UUID] = field(default_factory=list)


def _runtime(values: dict[str, Any]) -> Any:
    from jinli.app.bootstrap import bootstrap
    from jinli.platform.settings import Settings

    return bootstrap(Settings(**values))


async def _print_batch(runtime: Any, world: World, count: int) -> None:
    """Generate and activate a batch of ``count`` codes; its plaintext from the export."""
    import csv
    import io
    import zipfile

    from jinli.accounts.service import system_actor
    from jinli.codes import service as codes_service
    from jinli.codes.schemas import BatchActivate, BatchCreate

    env = codes_service.env_for(runtime)
    actor = system_actor(world.brand_id, "b1")
    async with runtime.uow(brand_id=world.brand_id) as uow:
        batch = await codes_service.generate(
            uow,
            actor,
            env,
            world.campaign_id,
            BatchCreate(count=count, label=f"B1 {len(world.batches) + 1}", qr_sheets=False),
            max_count=count,
        )
        await codes_service.activate(
            uow, actor, batch.id, BatchActivate(region=REGION, distributor="B1 经销")
        )
        await uow.commit()
    world.batches.append(batch.id)
    if batch.export_name is None:
        raise RuntimeError("the batch has no printer export to read its codes from")
    with zipfile.ZipFile(env.exports_dir / batch.export_name) as archive:
        for name in sorted(n for n in archive.namelist() if n.endswith(".csv")):
            reader = csv.DictReader(io.StringIO(archive.read(name).decode("ascii")))
            world.codes.extend(row["code"] for row in reader)


async def _build_world(values: dict[str, Any], rule_name: str, codes: int) -> World:
    from datetime import timedelta

    from jinli.accounts import service as accounts_service
    from jinli.campaigns import service as campaigns_service
    from jinli.campaigns.domain import Action
    from jinli.campaigns.schemas import CampaignCreate

    runtime = _runtime(values)
    try:
        async with runtime.uow(system=True) as uow:
            brand, _ = await accounts_service.create_brand(
                uow,
                name="B1 锦鲤茶饮",
                owner_email=f"b1-{uuid.uuid4().hex[:8]}@example.com",
                owner_name="B1",
                owner_password=OWNER_PASSWORD,
            )
            await uow.commit()
        actor = accounts_service.system_actor(brand.id, "b1")
        rule = dict(RULES[rule_name])
        if rule["kind"] == "lucky_split":  # room for the batches printed as the rps needs
            rule.update(shares=10 * codes, total_fen=10 * codes * POOL_AVERAGE_FEN)
        budget = 2_000_000_000  # ¥20 M: the tiers' 2.58 ¥ a claim for ~7 M claims
        now = runtime.clock.now()
        data = CampaignCreate.model_validate(
            {
                "name": "B1 瓶盖扫码赢红包",
                "budget_cap_fen": budget,
                "initial_funding_fen": budget,
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(days=7)).isoformat(),
                "reward_rule": rule,
            }
        )
        async with runtime.uow(brand_id=brand.id) as uow:
            campaign = await campaigns_service.create(uow, actor, data)
            await uow.commit()
        world = World(values, brand.id, campaign.id)
        await _print_batch(runtime, world, codes)
        async with runtime.uow(brand_id=brand.id) as uow:
            await campaigns_service.transition(
                uow,
                actor,
                campaign.id,
                Action.publish,
                publish_preparation=_publish_preparation(runtime),
            )
            await uow.commit()
        return world
    finally:
        await runtime.aclose()


def _publish_preparation(runtime: Any) -> Any:
    """The publish hook the edges use (``campaigns.ports.publish_preparation``: the budget
    check, the pool split and, with a hot store, its first allowance)."""
    from jinli.campaigns import ports as campaigns_ports
    from jinli.scans import service as scans_service

    if campaigns_ports.PUBLISH_PREPARATION in runtime.extras:
        return campaigns_ports.publish_preparation(runtime.extras)
    return scans_service.prepare_publish


async def _more_codes(world: World, count: int) -> None:
    runtime = _runtime(world.values)
    try:
        await _print_batch(runtime, world, count)
    finally:
        await runtime.aclose()


def _sessions(values: dict[str, Any], path: Path, count: int) -> None:
    """One line per consumer: its cookies (session as the OAuth callback signs it, a device
    id as the H5 edge would have set) and the CSRF token its scan page would carry."""
    import secrets
    from types import SimpleNamespace

    from jinli.web.h5 import identity

    runtime = _runtime(values)
    lines = []
    for i in range(count):
        session = identity.session_value(runtime, f"o_b1_{i:06d}_{secrets.token_hex(4)}")
        page = SimpleNamespace(cookies={identity.SESSION_COOKIE: session})
        csrf = identity.csrf_token(page, runtime)  # type: ignore[arg-type]
        device = secrets.token_urlsafe(16)
        cookie = f"{identity.SESSION_COOKIE}={session}; {identity.DEVICE_COOKIE}={device}"
        lines.append(f"{cookie}\t{csrf}\n")
    asyncio.run(runtime.aclose())
    path.write_text("".join(lines))


async def _settle_hot_path(values: dict[str, Any]) -> dict[str, Any]:
    """Which claim path the server ran (the hot store bootstrap wires for these settings, or
    the SQL claim), and, for a hot store, let its relay settle every grab into the database
    (as the worker would) so the database can be counted."""
    from jinli.scans import service as scans_service

    runtime = _runtime(values)
    key = getattr(scans_service, "HOT_STORE_KEY", None)
    store = runtime.extras.get(key) if key else None
    info: dict[str, Any] = {"store": "SqlClaimStore" if store is None else type(store).__name__}
    try:
        if store is not None:
            from jinli.scans import tasks

            settled = 0
            for _ in range(100_000):
                done = await tasks.relay_once(runtime)
                if not done:
                    break
                settled += done
            info["relay_settled_after_run"] = settled
    except Exception as exc:  # a hot path under construction: say so, count what is there
        info["relay_error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await runtime.aclose()
    return info


async def _count(world: World) -> dict[str, Any]:
    """What the database holds for the campaign: claimed codes, draws, payouts, and whether
    the ledger verifies."""
    from sqlalchemy import func, select

    from jinli.codes.models import Code
    from jinli.ledger import service as ledger
    from jinli.payouts.models import PayoutOrder
    from jinli.rewards.domain import DrawOutcome
    from jinli.scans.models import ScanDraw

    runtime = _runtime(world.values)
    try:
        async with runtime.uow(brand_id=world.brand_id) as uow:
            session = uow.session
            claimed = await session.scalar(
                select(func.count())
                .select_from(Code)
                .where(Code.batch_id.in_(world.batches), Code.claimed_at.is_not(None))
            )
            draws = await session.scalar(
                select(func.count())
                .select_from(ScanDraw)
                .where(ScanDraw.campaign_id == world.campaign_id)
            )
            won = await session.scalar(
                select(func.count())
                .select_from(ScanDraw)
                .where(
                    ScanDraw.campaign_id == world.campaign_id, ScanDraw.outcome == DrawOutcome.won
                )
            )
            won_fen = await session.scalar(
                select(func.coalesce(func.sum(ScanDraw.amount_fen), 0)).where(
                    ScanDraw.campaign_id == world.campaign_id
                )
            )
            payouts = await session.scalar(
                select(func.count())
                .select_from(PayoutOrder)
                .where(PayoutOrder.campaign_id == world.campaign_id)
            )
            payout_fen = await session.scalar(
                select(func.coalesce(func.sum(PayoutOrder.amount_fen), 0)).where(
                    PayoutOrder.campaign_id == world.campaign_id
                )
            )
            ledger_error = None
            try:
                balances = await ledger.verify_book(uow, world.campaign_id)
                reserved = int(balances.reserved) + int(balances.paid)
            except Exception as exc:
                ledger_error = f"{type(exc).__name__}: {exc}"
                reserved = -1
    finally:
        await runtime.aclose()
    return {
        "claimed_codes": int(claimed or 0),
        "draws": int(draws or 0),
        "won_draws": int(won or 0),
        "won_fen": int(won_fen or 0),
        "payouts": int(payouts or 0),
        "payout_fen": int(payout_fen or 0),
        "ledger_reserved_fen": reserved,
        "ledger_error": ledger_error,
    }


# -- databases ---------------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncio.wait_for(
        asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://")), timeout=5
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _reachable(backend: str) -> str | None:
    async def ping() -> None:
        await _pg_admin("SELECT 1")
        if backend == "redis":
            from redis.asyncio import Redis

            redis = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
            try:
                await redis.ping()
            finally:
                await redis.aclose()

    if backend == "sqlite":
        return None
    try:
        asyncio.run(ping())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def _drop_redis_keys(prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
    finally:
        await redis.aclose()


HOT_PATHS = {"sqlite": "sql", "postgres": "postgres", "redis": "redis"}


def _hot_path_field() -> bool:
    from jinli.platform.settings import ScanSettings

    return "hot_path" in ScanSettings.model_fields


# -- one scenario ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    backend: str = "sqlite"
    seconds: float = 15.0
    warmup: float = 3.0
    rounds: int = 3
    connections: int = 64
    threads: int = 1
    rule: str = "tiers"
    hot_path: str | None = None
    profile: bool = False
    app: str = "b1_scan_http:subject"
    """The subject's ASGI factory (another one, e.g. an experiment on PYTHONPATH, for A/B)."""
    keep: bool = False
    quick: bool = False


def _env(values: dict[str, Any], hot_path: str) -> dict[str, str]:
    """The server's environment: the parent's, minus any JINLI_* it carries, plus the
    scenario's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINLI_")}
    env.update(
        {
            "JINLI_ENVIRONMENT": "development",
            "JINLI_DATABASE_URL": values["database_url"],
            "JINLI_DATA_DIR": values["data_dir"],
            "JINLI_SECRET_KEY": values["secret_key"],
            "JINLI_LOG_LEVEL": values["log_level"],
            "JINLI_SCANS__CLAIMS_PER_OPENID_PER_DAY": str(
                values["scans"]["claims_per_openid_per_day"]
            ),
            "JINLI_SCANS__HOT_PATH": hot_path,
        }
    )
    if values.get("redis_url"):
        env["JINLI_REDIS_URL"] = values["redis_url"]
        env["JINLI_REDIS_KEY_PREFIX"] = values["redis_key_prefix"]
    return env


def run_scenario(opts: Options) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="jinli-b1-"))
    tag = uuid.uuid4().hex[:10]
    hot_path = opts.hot_path or HOT_PATHS[opts.backend]
    if opts.backend == "sqlite":
        db_url = f"sqlite+aiosqlite:///{tmp / 'jinli.db'}"
    else:
        base, _, _ = PG_URL.rpartition("/")
        db_url = f"{base}/jinli_b1_{tag}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "jinli_b1_{tag}"'))
    values: dict[str, Any] = {
        "environment": "development",
        "database_url": db_url,
        "data_dir": str(tmp / "data"),
        "secret_key": SECRET_KEY,
        "log_level": "WARNING",
        "scans": {"claims_per_openid_per_day": 1_000_000},
    }
    if _hot_path_field():
        values["scans"]["hot_path"] = hot_path  # the set-up wires the store the server runs
    if opts.backend == "redis":
        values["redis_url"] = REDIS_URL
        values["redis_key_prefix"] = f"jinli:b1:{tag}:"
    servers: list[Server] = []
    try:
        from jinli.migrations.runner import upgrade

        setup_started = time.perf_counter()
        upgrade(db_url)
        first_batch = 8_000 if opts.quick else 20_000  # more are printed as the rps needs
        world = asyncio.run(_build_world(values, opts.rule, first_batch))
        sessions = tmp / "sessions.txt"
        _sessions(values, sessions, OPENIDS)
        script = tmp / "b1.lua"
        script.write_text(WRK_SCRIPT)
        setup_seconds = time.perf_counter() - setup_started

        env = _env(values, hot_path)
        subject_server = start_server("subject", opts.app, env, tmp, factory=True)
        servers.append(subject_server)
        reference_server = start_server("reference", "b1_scan_http:hello", env, tmp, False)
        servers.append(reference_server)

        cursor = 0
        estimate = 0.0  # subject rps seen so far (codes needed for the next run)
        code_files = 0

        def subject_run(seconds: float) -> WrkRun:
            nonlocal cursor, estimate, code_files
            needed = int(max(estimate, 500.0) * seconds * 1.5) + 2_000
            if len(world.codes) - cursor < needed:
                asyncio.run(_more_codes(world, max(needed, first_batch)))
            code_files += 1
            path = tmp / f"codes-{code_files}.txt"
            path.write_text("\n".join(world.codes[cursor:]) + "\n")
            result = run_wrk(
                subject_server.port,
                subject_server.pid,
                script,
                path,
                sessions,
                seconds=seconds,
                connections=opts.connections,
                threads=opts.threads,
            )
            cursor += result.issued_max * opts.threads
            estimate = max(estimate, result.rps)
            return result

        def reference_run(seconds: float) -> WrkRun:
            return run_wrk(
                reference_server.port,
                reference_server.pid,
                script,
                tmp / "codes-1.txt",
                sessions,
                seconds=seconds,
                connections=opts.connections,
                threads=opts.threads,
            )

        load_before = round(os.getloadavg()[0], 2)
        warm = [subject_run(opts.warmup), reference_run(opts.warmup)]
        subjects: list[WrkRun] = []
        references: list[WrkRun] = []
        for _ in range(opts.rounds):
            subjects.append(subject_run(opts.seconds))
            references.append(reference_run(opts.seconds))
        load_after = round(os.getloadavg()[0], 2)
        subject_peak = subject_server.stop()
        reference_peak = reference_server.stop()
        server_errors = [
            ln for ln in subject_server.log.read_text(errors="replace").splitlines() if ln.strip()
        ]
        profile = None
        if opts.profile:
            sql_file = tmp / "sql-counts.json"
            profiled = start_server(
                "profiled",
                opts.app,
                {**env, "B1_SQL_COUNT": str(sql_file)},
                tmp,
                factory=True,
            )
            servers.append(profiled)
            subject_server = profiled
            profile_run, profile = _profiled_run(
                lambda: subject_run(opts.seconds), profiled.pid, opts.seconds, tmp
            )
            profiled.stop()
            warm.append(profile_run)
            profile["requests"] = profile_run.requests
            profile["rps_under_profiler"] = round(profile_run.rps, 1)
            profile["sql"] = _sql_summary(sql_file, profile_run)
        claim_path = asyncio.run(_settle_hot_path(values))
        counted = asyncio.run(_count(world))
        return _result(
            opts,
            hot_path,
            warm,
            subjects,
            references,
            counted,
            {
                "subject_peak_rss_mb": subject_peak,
                "reference_peak_rss_mb": reference_peak,
                "setup_seconds": round(setup_seconds, 1),
                "codes_printed": len(world.codes),
                "load_average_1m_before": load_before,
                "load_average_1m_after": load_after,
                "claim_path": claim_path,
                "server_log_lines": len(server_errors),
                "server_log_tail": server_errors[-8:],
                "profile": profile,
            },
        )
    finally:
        for server in servers:
            server.stop()
        if opts.backend != "sqlite":
            with contextlib.suppress(Exception):
                asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "jinli_b1_{tag}" WITH (FORCE)'))
        if opts.backend == "redis":
            with contextlib.suppress(Exception):
                asyncio.run(_drop_redis_keys(f"jinli:b1:{tag}:"))
        if opts.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _result(
    opts: Options,
    hot_path: str,
    warm: list[WrkRun],
    subjects: list[WrkRun],
    references: list[WrkRun],
    counted: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    subject_rps = statistics.median(r.rps for r in subjects)
    reference_rps = statistics.median(r.rps for r in references)
    ratio = subject_rps / reference_rps if reference_rps else 0.0
    claim_runs = [warm[0], *subjects, *warm[2:]]  # warm[2]: the --profile run, if any
    successes = sum(r.statuses.get(303, 0) for r in claim_runs)
    not_claims = sum(r.requests - r.statuses.get(303, 0) for r in claim_runs)
    socket_errors = sum(
        v for r in claim_runs for k, v in r.errors.items() if k != "status" and k != "timeout"
    )
    timeouts = sum(r.errors.get("timeout", 0) for r in claim_runs)
    wrapped = sum(r.wrapped for r in claim_runs)
    # wrk stops with up to one request per connection in flight: the server still completes
    # (claims) them, but wrk never counts their answers. So the database holds every answered
    # claim plus at most that many, and never more claims than codes sent.
    issued = sum(r.issued_max * opts.threads for r in claim_runs)
    in_flight = counted["claimed_codes"] - successes
    db_matches = (
        0 <= in_flight <= opts.connections * len(claim_runs)
        and counted["claimed_codes"] <= issued
        and counted["won_draws"] == counted["draws"] == counted["claimed_codes"]
        and counted["payouts"] == counted["claimed_codes"]
        and counted["won_fen"] == counted["payout_fen"] == counted["ledger_reserved_fen"]
        and counted["ledger_error"] is None
    )
    correct = db_matches and not_claims == 0 and wrapped == 0
    mid = subjects[len(subjects) // 2] if subjects else warm[0]
    return {
        "bench": "B1_scan_http",
        "scenario": f"{opts.backend}, JINLI_SCANS__HOT_PATH={hot_path}",
        "subject": round(subject_rps, 1),
        "reference": round(reference_rps, 1),
        "unit": "req/s",
        "ratio": round(ratio, 3),
        "target": TARGET,
        "correct": correct,
        "rounds": [round(s.rps / r.rps, 3) for s, r in zip(subjects, references, strict=True)],
        "notes": {
            "quick": opts.quick,
            "request": "POST /s/{code} (csrf form, session + device cookies): one claim each",
            "stretch": STRETCH,
            "subject_p50_ms": statistics.median(r.p50_ms for r in subjects),
            "subject_p99_ms": statistics.median(r.p99_ms for r in subjects),
            "reference_p50_ms": statistics.median(r.p50_ms for r in references),
            "reference_p99_ms": statistics.median(r.p99_ms for r in references),
            "subject_rounds": [r.summary() for r in subjects],
            "reference_rounds": [r.summary() for r in references],
            "warmup": {"subject": warm[0].summary(), "reference": warm[1].summary()},
            "subject_server_cpu_ms_per_claim": mid.summary()["server_cpu_ms_per_request"],
            "successful_claims_303": successes,
            "claims_in_flight_at_wrk_stop": in_flight,
            "codes_sent": issued,
            "non_claim_responses": not_claims,
            "socket_errors": socket_errors,
            "timeouts": timeouts,
            "codes_reused_wrapped": wrapped,
            "stalled_subject_rounds": sum(1 for r in subjects if r.requests == 0),
            "database": counted,
            "database_matches_responses": db_matches,
            "settings": {
                "backend": opts.backend,
                "rule": opts.rule,
                "hot_path_env": hot_path,
                "hot_path_setting_exists": _hot_path_field(),
                "connections": opts.connections,
                "wrk_threads": opts.threads,
                "seconds": opts.seconds,
                "warmup_seconds": opts.warmup,
                "uvicorn": " ".join(UVICORN_FLAGS),
                "subject_app": opts.app,
                "openids": OPENIDS,
            },
            **extra,
        },
    }


def _profiled_run(
    run_once: Any, pid: int, seconds: float, tmp: Path
) -> tuple[WrkRun, dict[str, Any]]:
    """One more subject run with py-spy sampling the server (if py-spy is installed): the top
    functions by own and by inclusive samples."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return run_once(), {"error": "py-spy is not installed (pip install py-spy)"}
    raw = tmp / "profile.txt"
    sampler = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds) - 1)),
         "--rate", "250", "--format", "raw", "--nonblocking", "-o", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    result = run_once()
    sampler.wait(timeout=60)
    if not raw.exists():
        return result, {"error": "py-spy wrote nothing (ptrace not permitted?)"}
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].split(":")[0].rstrip(")")
                  for f in stack.split(";")]  # fmt: skip
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n

    def top(table: dict[str, int], k: int) -> list[tuple[str, float]]:
        ranked = sorted(table.items(), key=lambda kv: -kv[1])[:k]
        return [(name, round(100 * n / max(total, 1), 1)) for name, n in ranked]

    kept = Path(os.environ.get("B1_PROFILE_OUT", str(tmp / "profile.txt")))
    if kept != raw:
        shutil.copyfile(raw, kept)
    return result, {
        "samples": total,
        "raw": str(kept),
        "top_own_pct": top(own, 25),
        "top_inclusive_pct": top(inclusive, 40),
    }


def _sql_summary(path: Path, run: WrkRun) -> dict[str, Any]:
    if not path.exists():
        return {"error": "no statement counts written"}
    counts = json.loads(path.read_text())
    # Claims the server made (answered ones plus those in flight when wrk stopped): one draw
    # row each.
    claims = max(
        sum(n for stmt, n in counts if stmt.startswith("INSERT INTO scan_draws")), run.ok, 1
    )
    return {
        "claims": claims,
        "statements_per_claim": round(sum(n for _, n in counts) / claims, 2),
        "top": [(stmt, round(n / claims, 2)) for stmt, n in counts[:30]],
    }


def _error_result(backend: str, why: str, quick: bool) -> dict[str, Any]:
    return {
        "bench": "B1_scan_http",
        "scenario": backend,
        "subject": None,
        "reference": None,
        "unit": "req/s",
        "ratio": None,
        "target": TARGET,
        "correct": False,
        "rounds": [],
        "notes": {"quick": quick, "error": why},
    }


def run(quick: bool, backends: list[str] | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """Each backend is ``sqlite``, ``postgres`` or ``redis``, optionally ``:<hot path>``
    (``postgres:sql`` is the SQL claim on PostgreSQL; without one, the backend's own hot
    path). Default: ``JINLI_B1_BACKENDS``, else SQLite, PostgreSQL with its hot path and
    PostgreSQL + Redis, and in a full run also PostgreSQL's SQL claim."""
    if backends is None:
        default = "sqlite,postgres,redis" if quick else "sqlite,postgres:sql,postgres,redis"
        backends = os.environ.get("JINLI_B1_BACKENDS", default).split(",")
    missing = wrk_available()
    if missing is not None:
        print(f"B1: {missing}", file=sys.stderr)
        return [_error_result(",".join(backends), missing, quick)]
    results = []
    for spec in (b.strip() for b in backends if b.strip()):
        backend, _, chosen = spec.partition(":")
        if backend not in HOT_PATHS:
            results.append(_error_result(spec, f"unknown backend {backend!r}", quick))
            continue
        problem = _reachable(backend)
        if problem is not None:
            results.append(_error_result(spec, f"skipped: {problem}", quick))
            continue
        sizes: dict[str, Any] = (
            {"seconds": 5.0, "warmup": 1.0, "rounds": 1}
            if quick
            else {"seconds": 15.0, "warmup": 3.0, "rounds": 3}
        )
        if chosen:
            sizes["hot_path"] = chosen
        sizes.update(overrides)
        opts = Options(backend=backend, quick=quick, **sizes)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                results.append(run_scenario(opts))
        except Exception as exc:  # one backend's failure is reported, the others still run
            why = f"{type(exc).__name__}: {str(exc)[-1500:]}"
            results.append(_error_result(spec, why, quick))
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--backend", action="append", help="sqlite | postgres | redis [:hot path]; repeatable"
    )
    parser.add_argument("--duration", type=float, dest="seconds")
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--connections", type=int)
    parser.add_argument("--threads", type=int, help="wrk threads (default 1)")
    parser.add_argument("--rule", choices=sorted(RULES))
    parser.add_argument("--hot-path", help="JINLI_SCANS__HOT_PATH for the server")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--app", help="subject ASGI factory module:name (on PYTHONPATH)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more subject run (not measured) under py-spy, counting SQL statements",
    )
    args = parser.parse_args(argv)
    overrides = {
        k: v
        for k, v in vars(args).items()
        if k not in ("quick", "backend") and v not in (None, False)
    }
    for result in run(args.quick, args.backend, **overrides):
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
