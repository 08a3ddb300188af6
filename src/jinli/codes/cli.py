"""``jinli codes …``: generate a batch (streamed, any size, with a progress bar), list and show
batches, activate or void them, copy out or purge the printer's export, verify a code.

The CLI acts as the brand's system operator (audited as ``cli``). A batch or campaign id names
its brand; ``--brand`` only double-checks it. The sub-app gets its runtime from the composition
root through ``CliDeps`` in the Typer context object.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Actor
from jinli.codes import domain, service
from jinli.codes.domain import BatchStatus
from jinli.codes.models import CodeBatch
from jinli.codes.schemas import BatchActivate, BatchCreate
from jinli.kernel.errors import NotFound
from jinli.kernel.pagination import PageRequest
from jinli.platform.runtime import Runtime

app = typer.Typer(
    help="One item, one code (M3): batches of codes for print.",
    no_args_is_help=True,
    add_completion=False,
)
T = TypeVar("T")


@dataclass(frozen=True)
class CliDeps:
    open_runtime: Callable[[], Runtime]
    close_runtime: Callable[[Runtime], Awaitable[None]] | None = None


def _deps(ctx: typer.Context) -> CliDeps:
    deps = ctx.obj
    if not isinstance(deps, CliDeps):
        raise RuntimeError("the codes commands need codes.cli.CliDeps in the context object")
    return deps


def _run(ctx: typer.Context, body: Callable[[Runtime], Coroutine[Any, Any, T]]) -> T:
    deps = _deps(ctx)

    async def main() -> T:
        runtime = deps.open_runtime()
        try:
            return await body(runtime)
        finally:
            await (deps.close_runtime or Runtime.aclose)(runtime)

    return asyncio.run(main())


def _id(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise typer.BadParameter(f"{what} must be a UUID, got {text!r}") from None


def _check_brand(found: uuid.UUID, given: str | None) -> None:
    if given is not None and _id(given, "--brand") != found:
        raise NotFound("no such campaign or batch in this brand")


async def _batch_scope(runtime: Runtime, batch_id: uuid.UUID, brand: str | None) -> Actor:
    async with runtime.uow(system=True) as uow:
        brand_id = await service.batch_brand(uow, batch_id)
    _check_brand(brand_id, brand)
    return accounts_service.system_actor(brand_id, "cli")


def _describe(batch: CodeBatch) -> str:
    where = f"  {batch.region} / {batch.distributor}" if batch.region else ""
    export = "export purged" if batch.export_name is None else f"export {batch.export_bytes} B"
    return (
        f"{batch.id}  {batch.status:<9} {batch.size:>10,} codes  "
        f"{batch.label or '-'}{where}  ({export})"
    )


BrandOpt = Annotated[
    str | None, typer.Option("--brand", help="Brand id (checked against the batch's).")
]
BatchArg = Annotated[str, typer.Argument(help="Batch id.")]


@app.command()
def generate(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option(help="Campaign id.")],
    count: Annotated[int, typer.Option(help="How many codes.", min=1)],
    brand: BrandOpt = None,
    label: Annotated[str, typer.Option(help="Name of the print run.")] = "",
    short: Annotated[
        bool, typer.Option("--short/--no-short", help="Also a 15-character short form.")
    ] = False,
    qr: Annotated[
        bool | None,
        typer.Option("--qr/--no-qr", help="QR print sheets (default: for small batches)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Also copy the printer's zip to this path.")
    ] = None,
) -> None:
    """Generate a batch of codes, streamed in chunks, with the printer's export."""
    campaign_id = _id(campaign, "--campaign")
    data = BatchCreate(count=count, label=label, short_codes=short, qr_sheets=qr)

    async def body(runtime: Runtime) -> CodeBatch:
        async with runtime.uow(system=True) as uow:
            brand_id = await service.campaign_brand(uow, campaign_id)
        _check_brand(brand_id, brand)
        env = service.env_for(runtime)
        actor = accounts_service.system_actor(brand_id, "cli")
        batch_id = uuid.uuid4()
        columns = (
            TextColumn("generating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns) as bar:
            task = bar.add_task("codes", total=count)
            try:
                async with runtime.uow(brand_id=brand_id) as uow:
                    batch = await service.generate(
                        uow,
                        actor,
                        env,
                        campaign_id,
                        data,
                        max_count=env.settings.max_count,
                        progress=lambda n: bar.advance(task, n),
                        batch_id=batch_id,
                    )
                    await uow.commit()
            except BaseException:
                service.discard_export(env, brand_id, batch_id)
                raise
        if out is not None and batch.export_name is not None:
            shutil.copyfile(env.exports_dir / batch.export_name, out)
        return batch

    batch = _run(ctx, body)
    typer.echo(f"batch {batch.id}: {batch.size:,} codes, status {batch.status}")
    typer.echo(f"export sha256 {batch.export_sha256} ({batch.export_bytes:,} bytes)")
    if out is not None:
        typer.echo(f"wrote {out}")
    typer.echo(
        "activate it when it ships: jinli codes activate "
        f"{batch.id} --region … --distributor …; purge the export once printed"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    campaign: Annotated[str | None, typer.Option(help="Campaign id.")] = None,
    brand: BrandOpt = None,
    status: Annotated[str | None, typer.Option(help="generated, active or voided.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Batches of a campaign (or of a brand), newest first."""
    if campaign is None and brand is None:
        raise typer.BadParameter("give --campaign or --brand")
    wanted = BatchStatus(status) if status in set(BatchStatus) else None
    if status is not None and wanted is None:
        raise typer.BadParameter("--status must be generated, active or voided")
    campaign_id = _id(campaign, "--campaign") if campaign else None

    async def body(runtime: Runtime) -> list[str]:
        if campaign_id is not None:
            async with runtime.uow(system=True) as uow:
                brand_id = await service.campaign_brand(uow, campaign_id)
            _check_brand(brand_id, brand)
        else:
            brand_id = _id(str(brand), "--brand")
        actor = accounts_service.system_actor(brand_id, "cli")
        async with runtime.uow(brand_id=brand_id) as uow:
            page = await service.list_(
                uow, actor, PageRequest(limit=limit), campaign_id=campaign_id, status=wanted
            )
            return [_describe(batch) for batch in page.items]

    for line in _run(ctx, body):
        typer.echo(line)


@app.command()
def show(ctx: typer.Context, batch: BatchArg, brand: BrandOpt = None) -> None:
    """One batch: status, shipment, export, how many codes were scanned and claimed."""
    batch_id = _id(batch, "BATCH")

    async def body(runtime: Runtime) -> list[str]:
        actor = await _batch_scope(runtime, batch_id, brand)
        async with runtime.uow(brand_id=actor.brand_id) as uow:
            found = await service.get(uow, actor, batch_id)
            stats = await service.stats(uow, actor, batch_id)
            return [
                _describe(found),
                f"campaign {found.campaign_id}; created {found.created_at:%Y-%m-%d %H:%M} UTC",
                f"codes {stats.codes:,}, scanned {stats.scanned:,}, claimed {stats.claimed:,}",
            ]

    for line in _run(ctx, body):
        typer.echo(line)


@app.command()
def activate(
    ctx: typer.Context,
    batch: BatchArg,
    region: Annotated[str, typer.Option(help="Where the batch shipped.")],
    distributor: Annotated[str, typer.Option(help="Who it shipped to.")],
    brand: BrandOpt = None,
) -> None:
    """The batch shipped: bind it to a region and distributor; its codes can now pay."""
    batch_id = _id(batch, "BATCH")
    data = BatchActivate(region=region, distributor=distributor)

    async def body(runtime: Runtime) -> CodeBatch:
        actor = await _batch_scope(runtime, batch_id, brand)
        async with runtime.uow(brand_id=actor.brand_id) as uow:
            done = await service.activate(uow, actor, batch_id, data)
            await uow.commit()
        return done

    typer.echo(_describe(_run(ctx, body)))


@app.command()
def void(ctx: typer.Context, batch: BatchArg, brand: BrandOpt = None) -> None:
    """Withdraw a batch (lost or stolen shipment, misprint): its codes never pay again."""
    batch_id = _id(batch, "BATCH")

    async def body(runtime: Runtime) -> CodeBatch:
        actor = await _batch_scope(runtime, batch_id, brand)
        async with runtime.uow(brand_id=actor.brand_id) as uow:
            done = await service.void(uow, actor, batch_id)
            await uow.commit()
        return done

    typer.echo(_describe(_run(ctx, body)))


@app.command()
def export(
    ctx: typer.Context,
    batch: BatchArg,
    out: Annotated[Path, typer.Option(help="Where to write the printer's zip.")],
    brand: BrandOpt = None,
) -> None:
    """Copy the printer's zip out (audited: it holds codes worth money)."""
    batch_id = _id(batch, "BATCH")

    async def body(runtime: Runtime) -> service.ExportFile:
        actor = await _batch_scope(runtime, batch_id, brand)
        async with runtime.uow(brand_id=actor.brand_id) as uow:
            found = await service.export_file(uow, actor, service.env_for(runtime), batch_id)
            await uow.commit()
        shutil.copyfile(found.path, out)
        return found

    found = _run(ctx, body)
    typer.echo(f"wrote {out} ({found.size:,} bytes, sha256 {found.sha256})")


@app.command()
def purge(ctx: typer.Context, batch: BatchArg, brand: BrandOpt = None) -> None:
    """Delete the plaintext export once the printer has it (irreversible)."""
    batch_id = _id(batch, "BATCH")

    async def body(runtime: Runtime) -> CodeBatch:
        actor = await _batch_scope(runtime, batch_id, brand)
        async with runtime.uow(brand_id=actor.brand_id) as uow:
            done = await service.purge_export(uow, actor, service.env_for(runtime), batch_id)
            await uow.commit()
        return done

    typer.echo(_describe(_run(ctx, body)))


@app.command()
def verify(ctx: typer.Context, code: Annotated[str, typer.Argument(help="A code.")]) -> None:
    """Check a code as the scan will: its tag (no database), then its batch and state."""

    async def body(runtime: Runtime) -> domain.CodeLookup:
        async with runtime.uow(system=True) as uow:
            return await service.verify(uow, service.env_for(runtime), code)

    found = _run(ctx, body)
    typer.echo(
        f"genuine {found.form} code #{found.serial} of batch {found.batch_id} "
        f"({found.batch_status}{', ' + str(found.region) if found.region else ''}); "
        f"scanned {found.scans}×, {'claimed' if found.claimed_at else 'unclaimed'}, "
        f"{'payable' if found.payable else 'not payable'}"
    )
