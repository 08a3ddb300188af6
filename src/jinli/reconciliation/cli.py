"""``jinli reconcile …``: import or fetch a day's bill, show runs and differences, resolve
them, write a campaign's finance pack.

The sub-app needs a runtime and a WeChat Pay client, which only the composition root can build;
the root passes them as ``CliDeps`` in the Typer context object (``app(obj=CliDeps(...))``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from jinli.accounts import service as accounts_service
from jinli.kernel.money import format_yuan
from jinli.kernel.pagination import PageRequest
from jinli.platform.runtime import Runtime
from jinli.reconciliation import domain, service
from jinli.reconciliation.schemas import RunSummary

app = typer.Typer(
    help="Reconcile WeChat Pay bills with payouts (M11).",
    no_args_is_help=True,
    add_completion=False,
)
T = TypeVar("T")


@dataclass(frozen=True)
class CliDeps:
    """What the composition root gives the sub-app."""

    open_runtime: Callable[[], Runtime]
    bill_source: Callable[[Runtime], service.BillSource]
    """The WeChat Pay v3 client of the runtime (real or simulator)."""
    merchant_id: Callable[[Runtime], str]
    """The mchid whose bills are reconciled."""
    close_runtime: Callable[[Runtime], Awaitable[None]] | None = None
    """How to release the runtime (and any WeChat Pay clients built for it); by default
    ``runtime.aclose()``."""


def _deps(ctx: typer.Context) -> CliDeps:
    deps = ctx.obj
    if not isinstance(deps, CliDeps):
        raise RuntimeError("the reconcile commands need CliDeps in the Typer context object")
    return deps


def _run(deps: CliDeps, body: Callable[[Runtime], Coroutine[Any, Any, T]]) -> T:
    async def main() -> T:
        runtime = deps.open_runtime()
        try:
            return await body(runtime)
        finally:
            await (deps.close_runtime or Runtime.aclose)(runtime)

    return asyncio.run(main())


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _id(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise typer.BadParameter(f"{what} must be a UUID, got {text!r}") from None


def _fen(amount: int) -> str:
    return f"{format_yuan(amount)} CNY ({amount} fen)"


def _print_summary(summary: RunSummary) -> None:
    run = summary.run
    typer.echo(
        f"{run.bill_date} merchant {run.merchant_id} ({run.bill_kind}, {run.source}): "
        f"{run.row_count} rows, {run.payout_row_count} payout rows"
        + (" [stale: an earlier day changed, run again]" if run.stale else "")
    )
    typer.echo(f"  expense {run.expense_count} rows {_fen(run.expense_fen)}")
    typer.echo(f"  income  {run.income_count} rows {_fen(run.income_fen)}")
    typer.echo(
        f"  matched {run.matched_count} numbers, {run.closed_count} payouts closed, "
        f"{run.carried_count} carried forward, {run.unverified_count} unverified"
    )
    for total in summary.classes:
        typer.echo(f"  {total.difference_class:<22} {total.count:>7}  {_fen(total.amount_fen)}")


Merchant = Annotated[
    str | None, typer.Option(help="mchid (default: the configured WeChat Pay merchant).")
]
Day = Annotated[str, typer.Option("--date", help="Beijing bill day, YYYY-MM-DD.")]


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The bill (CSV).")],
    day: Day,
    merchant: Merchant = None,
) -> None:
    """Reconcile a bill file downloaded from the merchant platform."""
    deps = _deps(ctx)
    bill_date = _day(day)

    async def body(runtime: Runtime) -> RunSummary:
        mchid = merchant or deps.merchant_id(runtime)
        data = file.read_bytes()
        async with runtime.uow(system=True) as uow:
            run = await service.reconcile_bytes(
                uow,
                data,
                bill_date=bill_date,
                merchant_id=mchid,
                source="file",
                created_by="cli",
                workdir=service.workdir(Path(runtime.settings.data_dir)),
            )
            summary = await service.summarise(uow, run)
            await uow.commit()
        return summary

    _print_summary(_run(deps, body))


@app.command()
def fetch(
    ctx: typer.Context,
    day: Annotated[
        str | None, typer.Option("--date", help="Beijing bill day (default: yesterday).")
    ] = None,
    merchant: Merchant = None,
) -> None:
    """Download a day's fund-flow bill from WeChat Pay and reconcile it."""
    deps = _deps(ctx)

    async def body(runtime: Runtime) -> RunSummary:
        bill_date = _day(day) if day else domain.previous_day(runtime.clock.now())
        work = service.workdir(Path(runtime.settings.data_dir))
        mchid = merchant or deps.merchant_id(runtime)
        bill = work / f"fundflow-{mchid}-{bill_date}-{uuid.uuid4().hex[:8]}.csv"
        try:
            # The download happens before any unit of work is open (C5).
            with bill.open("wb") as sink:
                await service.fetch_fund_flow_bill(
                    deps.bill_source(runtime), bill_date, sink, now=runtime.clock.now()
                )
            async with runtime.uow(system=True) as uow:
                run = await service.reconcile_file(
                    uow,
                    bill,
                    bill_date=bill_date,
                    merchant_id=mchid,
                    source="fetch",
                    created_by="cli",
                    workdir=work,
                )
                summary = await service.summarise(uow, run)
                await uow.commit()
        finally:
            bill.unlink(missing_ok=True)
        return summary

    _print_summary(_run(deps, body))


@app.command()
def show(
    ctx: typer.Context,
    day: Day,
    merchant: Merchant = None,
    limit: Annotated[int, typer.Option(help="Differences to list.", min=1, max=200)] = 50,
    open_only: Annotated[bool, typer.Option("--open", help="Only open differences.")] = False,
) -> None:
    """A day's run: totals per class, then its differences."""
    deps = _deps(ctx)

    async def body(runtime: Runtime) -> None:
        async with runtime.uow(system=True) as uow:
            summary = await service.get_run(uow, merchant or deps.merchant_id(runtime), _day(day))
            page = await service.list_run_differences(
                uow, summary.run.id, PageRequest(limit=limit), open_only=open_only
            )
            _print_summary(summary)
            typer.echo(f"differences ({page.total}):")
            for diff in page.items:
                status = "resolved" if diff.resolved_at else "OPEN"
                typer.echo(
                    f"  {diff.id}  {status:<8} {diff.difference_class:<20} {diff.bill_number}  "
                    f"{_fen(diff.amount_fen)}  {diff.detail}"
                )

    _run(deps, body)


@app.command()
def resolve(
    ctx: typer.Context,
    difference_id: Annotated[str, typer.Argument(help="Difference id (from `show`).")],
    note: Annotated[str, typer.Option(help="How it was settled.")],
) -> None:
    """Resolve a difference with a note (audited for the brand it belongs to)."""
    deps = _deps(ctx)
    diff_id = _id(difference_id, "the difference id")

    async def body(runtime: Runtime) -> None:
        async with runtime.uow(system=True) as uow:
            brand_id = await service.difference_brand(uow, diff_id)
            if brand_id is None:
                await service.resolve_unattributed(uow, diff_id, note, by="cli")
                await uow.commit()
                return
        async with runtime.uow(brand_id=brand_id) as uow:
            actor = accounts_service.system_actor(brand_id, "cli")
            await service.resolve(uow, actor, diff_id, note)
            await uow.commit()

    _run(deps, body)
    typer.echo(f"difference {diff_id} resolved")


@app.command()
def pack(
    ctx: typer.Context,
    brand: Annotated[str, typer.Option(help="Brand id.")],
    campaign: Annotated[str, typer.Option(help="Campaign id.")],
    month: Annotated[str, typer.Option(help="YYYY-MM (Beijing time).")],
    out: Annotated[Path, typer.Option(help="File to write (.xlsx or .zip).")],
    fmt: Annotated[str, typer.Option("--format", help="xlsx or csv (a zip of CSVs).")] = "xlsx",
) -> None:
    """Write a campaign's finance pack for a month."""
    deps = _deps(ctx)
    brand_id, campaign_id = _id(brand, "--brand"), _id(campaign, "--campaign")
    if fmt not in ("xlsx", "csv"):
        raise typer.BadParameter("--format must be xlsx or csv")

    async def body(runtime: Runtime) -> service.FinancePack:
        async with runtime.uow(brand_id=brand_id) as uow:
            actor = accounts_service.system_actor(brand_id, "cli")
            result = await service.finance_pack(
                uow, actor, campaign_id, month, "csv" if fmt == "csv" else "xlsx"
            )
            await uow.commit()  # the export is audited
        return result

    result = _run(deps, body)
    out.write_bytes(result.content)
    typer.echo(f"wrote {out} ({len(result.content)} bytes)")
