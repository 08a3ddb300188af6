"""B5 codegen: Jinli's code generation to the printer's export vs ``os.urandom`` + base32.

Subject: the export path exactly as ``codes.service.generate`` runs it, minus the database:
chunks of ``domain.generate_codes`` (80 CSPRNG bits + 40-bit AES-CMAC tag, Crockford base32)
streamed through ``service.ExportWriter`` (CSV rows ``serial,code,url`` into a deflated zip
member, 100,000 codes per CSV file). Reference, in the same process and interleaved (A, B, A,
B…): ``os.urandom(10·n)`` + ``base64.b32encode`` slices (16 characters, no tag) written as the
same CSV rows to a plain file, in the same chunk size. Ratio = subject codes/s ÷ reference.

Also reported: the extrapolated time for 10⁹ codes on one core; peak memory (RSS of a fresh
process, and tracemalloc's peak) for two batch sizes, which must stay flat in N (streamed,
never all in memory: ≤ 256 MB for 10⁷ codes); and, for scale, the whole pipeline with the
lookup hashes and the bulk inserts into SQLite (``service.generate``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from jinli.codes import domain, service
from jinli.codes.domain import CodeChunk, CodeKeys

BENCH_ID = "B5"
CHUNK = 10_000
PER_FILE = 100_000
URL = "http://127.0.0.1:8000/s/"
KEYS = CodeKeys(tag_key=b"\x01" * 32, lookup_key=b"\x02" * 32)


def subject(n: int, out: Path, *, compress: bool = False) -> None:
    """Jinli: generate n codes in chunks and stream them into the printer's zip."""
    writer = service.ExportWriter(
        out,
        short=False,
        url_prefix=URL,
        codes_per_file=PER_FILE,
        qr=False,
        readme="bench\n",
        compress=compress,
    )
    for first in range(1, n + 1, CHUNK):
        count = min(CHUNK, n + 1 - first)
        codes = domain.generate_codes(count, KEYS, secrets.token_bytes)
        writer.write(range(first, first + count), CodeChunk(codes, []))
    writer.close()


def reference(n: int, out: Path) -> None:
    """os.urandom(10·n) + base64.b32encode slices, the same CSV rows, the same chunks."""
    with out.open("w") as sink:
        sink.write("serial,code,url\n")
        for first in range(1, n + 1, CHUNK):
            count = min(CHUNK, n + 1 - first)
            text = base64.b32encode(os.urandom(10 * count)).decode("ascii")
            sink.write(
                "".join(
                    [
                        f"{k},{text[i : i + 16]},{URL}{text[i : i + 16]}\n"
                        for k, i in zip(
                            range(first, first + count), range(0, 16 * count, 16), strict=True
                        )
                    ]
                )
            )


def _check(n: int, out: Path) -> bool:
    """Every row present, serials in order, codes unique and genuine (a sample is parsed)."""
    seen: set[str] = set()
    expected = 1
    with zipfile.ZipFile(out) as archive:
        for name in sorted(x for x in archive.namelist() if x.endswith(".csv")):
            with archive.open(name) as member:
                next(member)
                for line in member:
                    serial, code, url = line.decode("ascii").rstrip("\n").split(",")
                    if int(serial) != expected or url != URL + code or code in seen:
                        return False
                    seen.add(code)
                    expected += 1
    sample = list(seen)[:: max(1, len(seen) // 1000)]
    return expected == n + 1 and all(domain.parse(c, KEYS).code == c for c in sample)


def _memory(n: int) -> dict[str, float]:
    """Peak RSS and tracemalloc peak of a fresh interpreter generating n codes."""
    code = f"""
import resource, sys, tempfile, tracemalloc, pathlib
sys.path.insert(0, {str(Path(__file__).parent)!r})
import b5_codegen as b
with tempfile.TemporaryDirectory() as tmp:
    b.subject({n}, pathlib.Path(tmp) / "rss.zip")
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tracemalloc.start()
with tempfile.TemporaryDirectory() as tmp:
    b.subject(min({n}, 1_000_000), pathlib.Path(tmp) / "tm.zip")
print(rss, tracemalloc.get_traced_memory()[1] / 2**20)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=3600
    )
    rss, traced = (float(x) for x in done.stdout.split())
    return {"codes": n, "peak_rss_mb": round(rss, 1), "tracemalloc_peak_mb": round(traced, 2)}


def _pipeline(n: int, workdir: Path) -> float:
    """Codes/s of ``service.generate`` into a fresh SQLite file (hashes + bulk inserts + zip)."""
    from jinli.accounts import service as accounts_service
    from jinli.app.bootstrap import bootstrap
    from jinli.campaigns import service as campaigns_service
    from jinli.campaigns.schemas import CampaignCreate
    from jinli.codes.schemas import BatchCreate
    from jinli.migrations.runner import upgrade
    from jinli.platform.settings import Settings

    url = f"sqlite+aiosqlite:///{workdir}/b5.db"
    upgrade(url)

    async def main() -> float:
        settings = Settings(
            database_url=url,
            data_dir=workdir,
            secret_key="bench-secret",  # type: ignore[arg-type]  # noqa: S106 - a throwaway bench database
            log_level="WARNING",
        )
        runtime = bootstrap(settings)
        try:
            async with runtime.uow(system=True) as uow:
                brand, _ = await accounts_service.create_brand(
                    uow,
                    name="B5",
                    owner_email=f"b5-{uuid.uuid4().hex[:6]}@example.com",
                    owner_name="B5",
                    owner_password="bench-password-long",  # noqa: S106 - a throwaway bench database
                )
                await uow.commit()
            actor = accounts_service.system_actor(brand.id, "bench")
            now = runtime.clock.now()
            async with runtime.uow(brand_id=brand.id) as uow:
                campaign = await campaigns_service.create(
                    uow,
                    actor,
                    CampaignCreate(
                        name="B5",
                        budget_cap_fen=0,
                        starts_at=now,
                        ends_at=now.replace(year=now.year + 1),
                    ),
                )
                await uow.commit()
            env = service.env_for(runtime)
            started = time.perf_counter()
            async with runtime.uow(brand_id=brand.id) as uow:
                await service.generate(
                    uow, actor, env, campaign.id, BatchCreate(count=n), max_count=n
                )
                await uow.commit()
            return n / (time.perf_counter() - started)
        finally:
            await runtime.aclose()

    return asyncio.run(main())


def run(quick: bool) -> list[dict[str, Any]]:
    n = 200_000 if quick else 1_000_000
    rounds = 3 if quick else 5
    sizes = (100_000, 1_000_000) if quick else (1_000_000, 10_000_000)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subject(20_000, work / "warm.zip")
        reference(20_000, work / "warm.csv")
        subject_rates: list[float] = []
        reference_rates: list[float] = []
        correct = True
        for r in range(rounds):
            started = time.perf_counter()
            subject(n, work / f"s{r}.zip")
            subject_rates.append(n / (time.perf_counter() - started))
            started = time.perf_counter()
            reference(n, work / f"r{r}.csv")
            reference_rates.append(n / (time.perf_counter() - started))
            if r == 0:
                correct = _check(n, work / "s0.zip")
            zip_bytes = (work / f"s{r}.zip").stat().st_size
            csv_bytes = (work / f"r{r}.csv").stat().st_size
            (work / f"s{r}.zip").unlink()
            (work / f"r{r}.csv").unlink()
        started = time.perf_counter()
        subject(n, work / "deflated.zip", compress=True)
        deflated_rate = n / (time.perf_counter() - started)
        deflated_bytes = (work / "deflated.zip").stat().st_size
        (work / "deflated.zip").unlink()
        memory = [_memory(size) for size in sizes]
        pipeline_n = 50_000 if quick else 200_000
        pipeline = _pipeline(pipeline_n, work / "pipeline")
    s_rate = statistics.median(subject_rates)
    r_rate = statistics.median(reference_rates)
    flat = memory[1]["peak_rss_mb"] <= memory[0]["peak_rss_mb"] * 1.25 + 8
    results.append(
        {
            "bench": "B5_codegen",
            "subject": round(s_rate),
            "reference": round(r_rate),
            "unit": "codes/s",
            "ratio": round(s_rate / r_rate, 3),
            "target": 0.8,
            "correct": correct and flat and memory[-1]["peak_rss_mb"] <= 256,
            "rounds": [
                {"subject": round(a), "reference": round(b)}
                for a, b in zip(subject_rates, reference_rates, strict=True)
            ],
            "codes_per_round": n,
            "extrapolated_1e9_codes_hours": round(1e9 / s_rate / 3600, 2),
            "memory": memory,
            "memory_flat_in_n": flat,
            "zip_bytes_per_code": round(zip_bytes / n, 1),
            "csv_bytes_per_code_reference": round(csv_bytes / n, 1),
            "deflated_export_codes_per_s": round(deflated_rate),
            "deflated_zip_bytes_per_code": round(deflated_bytes / n, 1),
            "pipeline_with_sqlite_codes_per_s": round(pipeline),
            "pipeline_codes": pipeline_n,
            "notes": "one core; subject = 24-char CMAC-tagged Crockford codes into the zip "
            "(the real ExportWriter, CSV stored; deflated_* = JINLI_CODES__COMPRESS_EXPORT); "
            "reference = 16-char untagged base32 into a plain CSV; "
            "pipeline = service.generate incl. HMAC lookup hashes and bulk inserts on SQLite",
        }
    )
    return results


if __name__ == "__main__":
    for line in run("--quick" in sys.argv):
        print(json.dumps(line, ensure_ascii=False))
