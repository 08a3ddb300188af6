"""Use cases of code batches: generate (streamed, with the printer's export written alongside),
list and read, activate when shipped, void, download and purge the export, and ``verify`` for
the scan. None of them commits: the edge does (C4).

Generation runs in the caller's one transaction, chunk by chunk: each chunk is generated,
bulk-inserted (hashes only) and appended to the zip, and then dropped, so memory stays flat in
the batch size. If anything fails, the transaction rolls back and the half-written zip is
deleted: a batch exists with all its codes and its export, or not at all. (On SQLite a very
large batch holds the write lock while it runs; generate those before the campaign is live, or
run PostgreSQL, where new rows block nobody.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Actor, Permission
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import CampaignStatus
from jinli.codes import domain
from jinli.codes.domain import BatchAction, BatchStatus, CodeChunk, CodeKeys, CodeLookup
from jinli.codes.errors import (
    CodeBatchCampaignClosed,
    CodeBatchNotFound,
    CodeBatchTooLarge,
    CodeExportPurged,
    CodeKeysInvalid,
    CodeNotFound,
)
from jinli.codes.models import CodeBatch
from jinli.codes.repository import BatchRepository, CodeRepository
from jinli.codes.repository import LockedCode as LockedCode  # the batch claim's rows
from jinli.codes.schemas import BatchActivate, BatchCreate
from jinli.kernel.events import DomainEvent
from jinli.kernel.pagination import Page, PageRequest
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.runtime import Runtime
from jinli.platform.settings import CodesSettings

Progress = Callable[[int], None]
"""Told how many more codes are done after each chunk (the CLI's progress bar)."""

# --- the environment: keys, where exports live, the scan URL ------------------------------------


@dataclass(frozen=True)
class CodeEnv:
    """What the code use cases need from the runtime, built once per runtime."""

    keys: CodeKeys
    exports_dir: Path
    url_prefix: str
    settings: CodesSettings


_ENV_KEY = "codes.env"


def env_for(runtime: Runtime) -> CodeEnv:
    """The runtime's ``CodeEnv`` (keys loaded or generated once, then cached on the runtime)."""
    env = runtime.extras.get(_ENV_KEY)
    if not isinstance(env, CodeEnv):
        data_dir = Path(runtime.settings.data_dir)
        env = CodeEnv(
            keys=load_keys(runtime.settings.codes, data_dir),
            exports_dir=data_dir / "codes" / "exports",
            url_prefix=domain.scan_url_prefix(runtime.settings.public_base_url),
            settings=runtime.settings.codes,
        )
        runtime.extras[_ENV_KEY] = env
    return env


def _stored_secrets(data_dir: Path) -> dict[str, str]:
    """The demo's code secrets in ``<data_dir>/codes/keys.json`` (0600), created once. Written
    to a temporary file and linked into place, so two processes starting together agree."""
    path = data_dir / "codes" / "keys.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".keys-{uuid.uuid4().hex}.json")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(
                {"tag_key": secrets.token_urlsafe(48), "lookup_key": secrets.token_urlsafe(48)},
                out,
            )
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its keys
        finally:
            tmp.unlink()
    data: dict[str, str] = json.loads(path.read_text())
    return data


def load_keys(settings: CodesSettings, data_dir: Path) -> CodeKeys:
    """The code keys from settings, or from the data dir when not configured (demo)."""
    tag = settings.tag_key.get_secret_value()
    lookup = settings.lookup_key.get_secret_value()
    if not tag or not lookup:
        stored = _stored_secrets(data_dir)
        tag, lookup = tag or stored["tag_key"], lookup or stored["lookup_key"]
    if tag == lookup:
        raise CodeKeysInvalid("the tag key and the lookup key must differ")
    try:
        return CodeKeys(
            tag_key=domain.derive_key(tag, "tag"),
            lookup_key=domain.derive_key(lookup, "lookup"),
            retired_tag_keys=tuple(
                domain.derive_key(r.get_secret_value(), "tag") for r in settings.retired_tag_keys
            ),
        )
    except ValueError as exc:
        raise CodeKeysInvalid(str(exc)) from None


# --- the printer's export -----------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    path: Path
    filename: str
    size: int
    sha256: str


class ExportWriter:
    """Streams a batch's export into a zip: ``README.txt``, CSV files of ``codes_per_file``
    codes each, and (small batches) SVG QR print sheets of 40 labels under ``qr/``.

    CSV members are stored (≈ 75 bytes a code) by default: deflate at level 1 makes the zip ≈ 3×
    smaller but costs ≈ 1.5 µs a code, more than generating the code (B5), so it is opt-in
    (``compress``, ``JINLI_CODES__COMPRESS_EXPORT``) for slow links to the printer. Only one
    member can be open at a time, so QR labels (small batches only) are drawn at the end."""

    def __init__(
        self,
        path: Path,
        *,
        short: bool,
        url_prefix: str,
        codes_per_file: int,
        qr: bool,
        readme: str,
        compress: bool = False,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self._zip = zipfile.ZipFile(
            os.fdopen(self._fd, "w+b"), "w", method, compresslevel=1 if compress else None
        )
        self._zip.writestr("README.txt", readme, compress_type=zipfile.ZIP_DEFLATED)
        self._short = short
        self._url_prefix = url_prefix
        self._per_file = codes_per_file
        self._member: IO[bytes] | None = None
        self._in_member = 0
        self._files = 0
        self._labels: list[tuple[int, str, str]] | None = [] if qr else None

    def write(self, serials: range | list[int], chunk: CodeChunk) -> None:
        start = 0
        while start < len(chunk):
            member = self._member
            if member is None or self._in_member >= self._per_file:
                member = self._next_member()
            take = min(len(chunk) - start, self._per_file - self._in_member)
            part = chunk.slice(start, start + take) if take < len(chunk) else chunk
            numbers = serials[start : start + take]
            member.write(domain.csv_rows(numbers, part, self._url_prefix).encode("ascii"))
            self._in_member += take
            if self._labels is not None:
                texts = part.shorts if part.shorts is not None else part.codes
                self._labels.extend(
                    (n, f"{self._url_prefix}{c}", domain.grouped(t))
                    for n, c, t in zip(numbers, part.codes, texts, strict=True)
                )
            start += take

    def _next_member(self) -> IO[bytes]:
        if self._member is not None:
            self._member.close()
        self._files += 1
        member = self._zip.open(f"codes-{self._files:05d}.csv", "w", force_zip64=True)
        member.write(domain.csv_header(self._short).encode("ascii"))
        self._member, self._in_member = member, 0
        return member

    def close(self) -> tuple[int, str]:
        """Finish the zip; returns its size and SHA-256."""
        if self._member is not None:
            self._member.close()
            self._member = None
        if self._labels:
            per = domain.SheetLayout().per_sheet
            for k in range(0, len(self._labels), per):
                sheet = domain.qr_sheet_svg(self._labels[k : k + per])
                name = f"qr/sheet-{k // per + 1:05d}.svg"
                self._zip.writestr(name, sheet, compress_type=zipfile.ZIP_DEFLATED)
        self._zip.close()
        digest = hashlib.sha256()
        with self.path.open("rb") as done:
            for block in iter(lambda: done.read(1 << 20), b""):
                digest.update(block)
        return self.path.stat().st_size, digest.hexdigest()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            if self._member is not None:
                self._member.close()
            self._zip.close()
        self.path.unlink(missing_ok=True)


def _export_path(env: CodeEnv, batch: CodeBatch) -> Path:
    return env.exports_dir / str(batch.brand_id) / f"{batch.id}.zip"


def discard_export(env: CodeEnv, brand_id: uuid.UUID, batch_id: uuid.UUID) -> None:
    """Delete the zip of a batch whose transaction did not commit (its codes do not exist)."""
    (env.exports_dir / str(brand_id) / f"{batch_id}.zip").unlink(missing_ok=True)


def _readme(batch: CodeBatch, campaign_name: str, qr: bool, env: CodeEnv) -> str:
    columns = "serial,code,short_code,url" if batch.short_codes else "serial,code,url"
    return "\n".join(
        [
            "Jinli 一物一码 — printer export",
            "",
            f"batch:     {batch.id}  {batch.label}",
            f"campaign:  {batch.campaign_id}  {campaign_name}",
            f"codes:     {batch.size}",
            f"generated: {batch.created_at.isoformat()} by {batch.created_by}",
            "",
            f"codes-NNNNN.csv: {columns} ({env.settings.codes_per_file} codes per file, serial",
            "  = print order). Print the QR code of `url`; print `short_code` (or `code` in",
            "  groups of four) as text for typing by hand. Codes are case-insensitive.",
            "qr/sheet-NNNNN.svg: A4 sheets of 40 QR labels."
            if qr
            else f"No QR sheets (batch above {env.settings.qr_sheet_max_codes} codes): "
            "render the QR from the url column.",
            "",
            "Jinli keeps no plaintext of these codes. Delete this file once printed and ask the",
            "brand to purge its copy: the codes are worth money until they are scanned.",
            "",
        ]
    )


# --- use cases ----------------------------------------------------------------------------------


def _emit(uow: UnitOfWork, topic: str, batch: CodeBatch, **payload: Any) -> None:
    body = {
        "batch_id": str(batch.id),
        "campaign_id": str(batch.campaign_id),
        "status": str(batch.status),
        "size": batch.size,
        **payload,
    }
    uow.emit(DomainEvent(topic, str(batch.id), body, brand_id=batch.brand_id))


async def _load(uow: UnitOfWork, batch_id: uuid.UUID, *, for_update: bool = False) -> CodeBatch:
    batch = await BatchRepository(uow).get(batch_id, for_update=for_update)
    if batch is None:
        raise CodeBatchNotFound()
    return batch


async def generate(
    uow: UnitOfWork,
    actor: Actor,
    env: CodeEnv,
    campaign_id: uuid.UUID,
    data: BatchCreate,
    *,
    max_count: int,
    progress: Progress | None = None,
    randbytes: domain.RandBytes = secrets.token_bytes,
    batch_id: uuid.UUID | None = None,
) -> CodeBatch:
    """Generate a batch of ``data.count`` codes for a campaign of the actor's brand, with its
    printer export, in chunks (memory flat in the count). ``max_count`` is the surface's limit
    (the API's synchronous limit, or the CLI's). The batch starts *generated*: its codes never
    pay until it is activated."""
    actor.require(Permission.campaigns_write)
    limit = min(max_count, env.settings.max_count)
    if data.count > limit:
        raise CodeBatchTooLarge(
            f"at most {limit:,} codes per batch here; generate larger batches with "
            "`jinli codes generate` (streamed) or split the run"
        )
    qr_limit = env.settings.qr_sheet_max_codes
    if data.qr_sheets and data.count > qr_limit:
        raise CodeBatchTooLarge(
            f"QR print sheets are drawn for batches of at most {qr_limit:,} codes; larger "
            "runs print the QR from the export's url column"
        )
    qr = data.qr_sheets if data.qr_sheets is not None else data.count <= qr_limit
    campaign = await campaigns_service.get(uow, actor, campaign_id)
    if campaign.status in (CampaignStatus.ended, CampaignStatus.settled):
        raise CodeBatchCampaignClosed(f"the campaign is {campaign.status}")
    batch = BatchRepository(uow).add(
        CodeBatch(
            id=batch_id or uuid.uuid4(),
            brand_id=actor.brand_id,
            campaign_id=campaign.id,
            label=data.label,
            size=data.count,
            status=BatchStatus.generated,
            short_codes=data.short_codes,
            qr_sheets=qr,
            created_at=uow.clock.now(),
            created_by=actor.name,
            export_bytes=0,
            export_sha256="",
            export_downloads=0,
        )
    )
    await uow.session.flush()
    path = _export_path(env, batch)
    writer = ExportWriter(
        path,
        short=data.short_codes,
        url_prefix=env.url_prefix,
        codes_per_file=env.settings.codes_per_file,
        qr=qr,
        readme=_readme(batch, campaign.name, qr, env),
        compress=env.settings.compress_export,
    )
    try:
        await _fill(uow, env, batch, writer, progress, randbytes)
        size, sha = writer.close()
    except BaseException:
        writer.abort()
        raise
    batch.export_name = path.relative_to(env.exports_dir).as_posix()
    batch.export_bytes, batch.export_sha256 = size, sha
    accounts_service.record_audit(
        uow,
        actor,
        "code_batch.generated",
        "code_batch",
        batch.id,
        campaign_id=campaign.id,
        size=batch.size,
        short_codes=batch.short_codes,
        export_sha256=sha,
    )
    _emit(uow, "code_batch.generated", batch)
    return batch


async def _fill(
    uow: UnitOfWork,
    env: CodeEnv,
    batch: CodeBatch,
    writer: ExportWriter,
    progress: Progress | None,
    randbytes: domain.RandBytes,
) -> None:
    codes = CodeRepository(uow)
    step = env.settings.chunk_size
    for first in range(1, batch.size + 1, step):
        serials: range | list[int] = range(first, min(first + step, batch.size + 1))
        while serials:
            chunk = domain.generate_chunk(
                len(serials), env.keys, randbytes, short=batch.short_codes
            )
            inserted = await codes.insert_chunk(batch, serials, chunk)
            if inserted is None:
                writer.write(serials, chunk)
                break
            # A hash was already taken (80 random bits collided, or a broken random source):
            # keep what went in and draw fresh codes for the serials that did not.
            kept: set[int] = set()
            for i, code_hash in enumerate(chunk.code_hashes):
                if code_hash in inserted:
                    kept.add(i)
                    inserted.discard(code_hash)  # a twin within the chunk went in only once
            writer.write([serials[i] for i in sorted(kept)], chunk.keep(kept.__contains__))
            serials = [serials[i] for i in range(len(serials)) if i not in kept]
        if progress is not None:
            progress(min(step, batch.size + 1 - first))


async def get(uow: UnitOfWork, actor: Actor, batch_id: uuid.UUID) -> CodeBatch:
    actor.require(Permission.campaigns_read)
    return await _load(uow, batch_id)


async def list_(
    uow: UnitOfWork,
    actor: Actor,
    page: PageRequest,
    *,
    campaign_id: uuid.UUID | None = None,
    status: BatchStatus | None = None,
) -> Page[CodeBatch]:
    """The brand's batches, newest first; with ``campaign_id``, that campaign's (which must
    exist for the brand)."""
    actor.require(Permission.campaigns_read)
    if campaign_id is not None:
        await campaigns_service.get(uow, actor, campaign_id)
    repo = BatchRepository(uow)
    return await repo.page(repo.listing(campaign_id=campaign_id, status=status), page)


async def activate(
    uow: UnitOfWork, actor: Actor, batch_id: uuid.UUID, data: BatchActivate
) -> CodeBatch:
    """Ship the batch: bind it to a region and a distributor; from now on its codes can pay."""
    actor.require(Permission.campaigns_publish)
    batch = await _load(uow, batch_id, for_update=True)
    batch.status = domain.next_status(batch.status, BatchAction.activate)
    batch.region, batch.distributor = data.region, data.distributor
    batch.activated_at, batch.activated_by = uow.clock.now(), actor.name
    await uow.session.flush()
    accounts_service.record_audit(
        uow,
        actor,
        "code_batch.activated",
        "code_batch",
        batch.id,
        region=data.region,
        distributor=data.distributor,
    )
    _emit(uow, "code_batch.activated", batch, region=data.region, distributor=data.distributor)
    return batch


async def void(uow: UnitOfWork, actor: Actor, batch_id: uuid.UUID) -> CodeBatch:
    """Withdraw a batch (lost or stolen shipment, misprint): its codes never pay again."""
    actor.require(Permission.campaigns_publish)
    batch = await _load(uow, batch_id, for_update=True)
    previous = batch.status
    batch.status = domain.next_status(batch.status, BatchAction.void)
    batch.voided_at, batch.voided_by = uow.clock.now(), actor.name
    await uow.session.flush()
    accounts_service.record_audit(
        uow, actor, "code_batch.voided", "code_batch", batch.id, from_status=previous
    )
    _emit(uow, "code_batch.voided", batch, previous=str(previous))
    return batch


async def export_file(
    uow: UnitOfWork, actor: Actor, env: CodeEnv, batch_id: uuid.UUID
) -> ExportFile:
    """The printer's zip, for download. Every download is counted and audited: the file holds
    codes worth money."""
    actor.require(Permission.campaigns_write)
    batch = await _load(uow, batch_id, for_update=True)
    path = env.exports_dir / batch.export_name if batch.export_name else None
    if path is None or not path.is_file():
        raise CodeExportPurged()
    batch.export_downloads += 1
    accounts_service.record_audit(
        uow,
        actor,
        "code_batch.export_downloaded",
        "code_batch",
        batch.id,
        sha256=batch.export_sha256,
    )
    name = f"jinli-codes-{batch.created_at:%Y%m%d}-{str(batch.id)[:8]}.zip"
    return ExportFile(path, name, batch.export_bytes, batch.export_sha256)


async def purge_export(
    uow: UnitOfWork, actor: Actor, env: CodeEnv, batch_id: uuid.UUID
) -> CodeBatch:
    """Delete the plaintext export once the printer has it. Irreversible: the codes then exist
    only on print (Jinli keeps their hashes)."""
    actor.require(Permission.campaigns_write)
    batch = await _load(uow, batch_id, for_update=True)
    if batch.export_name is None:
        raise CodeExportPurged()
    (env.exports_dir / batch.export_name).unlink(missing_ok=True)
    batch.export_name = None
    batch.export_purged_at = uow.clock.now()
    accounts_service.record_audit(
        uow,
        actor,
        "code_batch.export_purged",
        "code_batch",
        batch.id,
        downloads=batch.export_downloads,
    )
    _emit(uow, "code_batch.export_purged", batch)
    return batch


async def verify(uow: UnitOfWork, env: CodeEnv, text: str) -> CodeLookup:
    """What the scan asks first: is this a genuine code, and of which batch, in what state?

    The shape and the keyed tag are checked before any I/O, so forged and mistyped codes cost
    no database query (``CodeMalformed`` / ``CodeNotGenuine``). A genuine code is then looked up
    by its keyed hash across brands (the consumer's scan names no brand). ``CodeLookup.payable``
    is false unless the batch is active: an inactive code never pays."""
    parsed = domain.parse(text, env.keys)
    with uow.unscoped():
        code = await CodeRepository(uow).by_hash(
            parsed.lookup_hash, short=parsed.form == domain.CodeForm.short
        )
        if code is None:
            raise CodeNotFound()
        batch = (await BatchRepository(uow).by_ids([code.batch_id]))[code.batch_id]
    return CodeLookup(
        form=parsed.form,
        serial=code.serial,
        code_hash=code.code_hash,
        batch_id=batch.id,
        brand_id=batch.brand_id,
        campaign_id=batch.campaign_id,
        batch_status=batch.status,
        region=batch.region,
        distributor=batch.distributor,
        scans=code.scans,
        claimed_at=code.claimed_at,
        first_scanned_at=code.first_scanned_at,
        first_scan_region=code.first_scan_region,
    )


async def verify_many(
    uow: UnitOfWork, parsed: Sequence[domain.ParsedCode]
) -> dict[bytes, CodeLookup]:
    """``verify`` of many codes that passed their tags (``domain.parse``) at once: one
    statement per form, keyed by lookup hash; codes not found are absent."""
    found: dict[bytes, CodeLookup] = {}
    codes = CodeRepository(uow)
    with uow.unscoped():
        for form in domain.CodeForm:
            hashes = [p.lookup_hash for p in parsed if p.form == form]
            if not hashes:
                continue
            for row in await codes.lookups(hashes, short=form == domain.CodeForm.short):
                found[row.lookup_hash] = CodeLookup(
                    form=form,
                    serial=row.serial,
                    code_hash=row.code_hash,
                    batch_id=row.batch_id,
                    brand_id=row.brand_id,
                    campaign_id=row.campaign_id,
                    batch_status=domain.BatchStatus(row.batch_status),
                    region=row.region,
                    distributor=row.distributor,
                    scans=row.scans,
                    claimed_at=row.claimed_at,
                    first_scanned_at=row.first_scanned_at,
                    first_scan_region=row.first_scan_region,
                )
    return found


@dataclass(frozen=True)
class BatchStats:
    codes: int
    scanned: int
    claimed: int


async def stats(uow: UnitOfWork, actor: Actor, batch_id: uuid.UUID) -> BatchStats:
    """How many of a batch's codes exist, were scanned and were claimed."""
    actor.require(Permission.campaigns_read)
    batch = await _load(uow, batch_id)
    repo = CodeRepository(uow)
    scanned, claimed = await repo.scan_totals(batch.id)
    return BatchStats(codes=await repo.count_in_batch(batch.id), scanned=scanned, claimed=claimed)


async def campaign_brand(uow: UnitOfWork, campaign_id: uuid.UUID) -> uuid.UUID:
    """The brand of a campaign, looked up across brands: for the operator's CLI, where the
    campaign id alone names the batch's owner (``--brand`` then only double-checks it)."""
    with uow.unscoped():
        actor = accounts_service.system_actor(uuid.UUID(int=0), "cli")
        campaign = await campaigns_service.get(uow, actor, campaign_id)
    return campaign.brand_id


async def batch_brand(uow: UnitOfWork, batch_id: uuid.UUID) -> uuid.UUID:
    """The brand of a batch, looked up across brands (the operator's CLI names only the batch)."""
    with uow.unscoped():
        batch = await BatchRepository(uow).get(batch_id)
    if batch is None:
        raise CodeBatchNotFound()
    return batch.brand_id


# --- the scan's writes (scan-to-win claims and counts through these) ---------------------------


@dataclass(frozen=True)
class ScanCount:
    """A genuine code's scan figures after counting a scan (the anti-counterfeit answer)."""

    scans: int
    first_scanned_at: datetime | None
    first_scan_region: str | None


async def claim_code(
    uow: UnitOfWork, lookup_hash: bytes, *, short: bool, openid: str, region: str | None
) -> bool:
    """Claim the code for ``openid`` and count the scan: true for exactly one caller per code,
    whatever the concurrency (one conditional UPDATE). Brand scope (the code's brand)."""
    scans = await CodeRepository(uow).claim(
        lookup_hash, short=short, openid=openid, at=uow.clock.now(), region=region
    )
    return scans is not None


async def mark_claimed(
    uow: UnitOfWork,
    lookup_hash: bytes,
    *,
    short: bool,
    openid: str,
    at: datetime,
    region: str | None,
) -> bool:
    """Record in the database a claim a hot store already decided (the relay): claim the
    code for ``openid`` at ``at`` if it is unclaimed; true as well when ``openid`` holds it
    already (a store that claims in the database, or an entry settled twice); false when
    someone else holds it. Brand scope (the code's brand)."""
    repo = CodeRepository(uow)
    scans = await repo.claim(lookup_hash, short=short, openid=openid, at=at, region=region)
    if scans is not None:
        return True
    return await repo.claimed_by(lookup_hash, short=short) == openid


async def count_scan(
    uow: UnitOfWork, lookup_hash: bytes, *, short: bool, region: str | None
) -> ScanCount:
    """Count one more scan of a genuine code (a re-scan, or a scan that could not pay) and
    return its figures. Brand scope (the code's brand)."""
    row = await CodeRepository(uow).count_scan(
        lookup_hash, short=short, at=uow.clock.now(), region=region
    )
    if row is None:
        raise CodeNotFound()
    return ScanCount(*row)


async def planned_codes(uow: UnitOfWork, campaign_id: uuid.UUID) -> dict[str | None, int]:
    """Codes of a campaign's batches that can still pay, by batch region (``None`` for batches
    not shipped yet): the plan of the publish-time budget check."""
    plan: dict[str | None, int] = {}
    batches = await uow.session.scalars(BatchRepository(uow).listing(campaign_id=campaign_id))
    for batch in batches:
        if batch.status != BatchStatus.voided:
            plan[batch.region] = plan.get(batch.region, 0) + batch.size
    return plan


# --- the hot store's batch claim (many scans, one transaction) ---------------------------------


@dataclass(frozen=True, slots=True)
class CodeClaim:
    """One claim in a batch: which code (by the hash of the form scanned), for whom, when and
    where, and the brand the scan believes owns it (a row of another brand is not claimed)."""

    lookup_hash: bytes
    short: bool
    brand_id: uuid.UUID
    openid: str
    at: datetime
    region: str | None


async def lock_claimable_codes(
    uow: UnitOfWork, claims: Sequence[CodeClaim]
) -> list[LockedCode | None]:
    """Step one of a batch claim: lock the codes these claims could win and write nothing.
    For each claim, the code row (as it is) if it may claim it — the code exists, belongs to
    the claim's brand, is unclaimed, and no earlier claim of the list names the same code (by
    either form) — else ``None``. The rows stay locked (PostgreSQL, in primary-key order)
    until the transaction ends, so ``claim_locked_codes`` then wins every one of them.

    System scope: a batch mixes brands, and each claim names its own."""
    locked = await CodeRepository(uow).lock_unclaimed([(c.lookup_hash, c.short) for c in claims])
    by_full = {row.code_hash: row for row in locked}
    by_short = {row.short_hash: row for row in locked if row.short_hash is not None}
    taken: set[bytes] = set()
    answer: list[LockedCode | None] = []
    for claim in claims:
        row = (by_short if claim.short else by_full).get(claim.lookup_hash)
        if row is None or row.brand_id != claim.brand_id or row.code_hash in taken:
            answer.append(None)
            continue
        taken.add(row.code_hash)
        answer.append(row)
    return answer


async def claim_locked_codes(
    uow: UnitOfWork, claims: Sequence[tuple[LockedCode, CodeClaim]]
) -> set[bytes]:
    """Step two: claim the codes ``lock_claimable_codes`` locked — (row, claim) each — and
    count their scans, in one statement (``CodeRepository.claim_many``; the same conditional
    UPDATE as ``claim_code``). Returns the code hashes claimed. System scope."""
    return await CodeRepository(uow).claim_many(
        [(row.code_hash, c.openid, c.at, c.region) for row, c in claims]
    )


async def unclaim_locked_codes(uow: UnitOfWork, rows: Sequence[LockedCode]) -> None:
    """Undo ``claim_locked_codes`` for these rows before the transaction commits (a grab
    that turned out unpayable): each row is put back as it was locked. System scope."""
    if rows:
        await CodeRepository(uow).unclaim_many(rows)
