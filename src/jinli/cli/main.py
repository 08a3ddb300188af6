"""``jinli``: demo, serve, worker, db, brands, operators, assets.

Errors are one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import Annotated

import typer

from jinli.cli import demo as demo_module
from jinli.codes import cli as codes_cli
from jinli.integrations.simulator.cli import app as simulator_app
from jinli.kernel.errors import ErrorKind, JinliError
from jinli.platform.runtime import Runtime
from jinli.reconciliation import cli as reconciliation_cli

app = typer.Typer(
    help="Jinli (锦鲤): marketing campaigns for brands in the WeChat ecosystem.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
brands_app = typer.Typer(help="Brands (tenants).", no_args_is_help=True)
operators_app = typer.Typer(help="Console operators.", no_args_is_help=True)
assets_app = typer.Typer(help="Front-end assets from the npm registry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(brands_app, name="brands")
app.add_typer(operators_app, name="operators")
app.add_typer(assets_app, name="assets")
app.add_typer(simulator_app, name="simulator")
app.add_typer(reconciliation_cli.app, name="reconcile")
app.add_typer(demo_module.app, name="demo")  # `jinli demo` serves; `jinli demo traffic` plays


def _open_runtime() -> Runtime:
    from jinli.app.bootstrap import bootstrap

    return bootstrap()


# The codes sub-app gets its own context object (the root's is the reconcile commands').
app.add_typer(
    codes_cli.app, name="codes", context_settings={"obj": codes_cli.CliDeps(_open_runtime)}
)

EXIT_CODES: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 2,
    ErrorKind.UNAUTHENTICATED: 3,
    ErrorKind.FORBIDDEN: 3,
    ErrorKind.NOT_FOUND: 4,
    ErrorKind.CONFLICT: 5,
    ErrorKind.TOO_MANY: 6,
    ErrorKind.UNAVAILABLE: 7,
}


class CliError(JinliError):
    code = "cli_error"
    kind = ErrorKind.INVALID
    title = "Invalid command line"


class NotMigrated(JinliError):
    code = "not_migrated"
    kind = ErrorKind.UNAVAILABLE
    title = "The database has no Jinli tables yet; run `jinli db upgrade`"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the console and the REST API (stateless; run several behind a proxy)."""
    import uvicorn

    from jinli.app.bootstrap import bootstrap
    from jinli.app.web import create_app

    runtime = bootstrap()
    uvicorn.run(create_app(runtime), host=host, port=port, log_level="warning", proxy_headers=True)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run one pass and exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between idle passes.", min=0.05)] = 1.0,
) -> None:
    """Relay the outbox, apply campaign schedules, send and query payouts, reconcile bills."""
    from jinli.app.bootstrap import bootstrap
    from jinli.worker.main import run

    async def main() -> None:
        from jinli.app import wechat

        runtime = bootstrap()
        try:
            await run(
                runtime,
                interval=interval,
                once=once,
                gateway=wechat.wechatpay(runtime).gateway,
                reconcile=True,
            )
        finally:
            await wechat.close(runtime)
            await runtime.aclose()

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the schema of JINLI_DATABASE_URL (default: the SQLite file)."""
    from jinli.app.bootstrap import load_settings
    from jinli.migrations.runner import upgrade

    url = load_settings().resolved_database_url()
    upgrade(url, revision)
    typer.echo(f"database at {url.split('@')[-1]} is at {revision}")


@brands_app.command("create")
def brands_create(
    name: Annotated[str, typer.Option(help="Brand name.")],
    owner_email: Annotated[str, typer.Option(help="E-mail of the first owner.")],
    owner_name: Annotated[str, typer.Option(help="Name of the first owner.")] = "Owner",
    owner_password: Annotated[
        str | None, typer.Option(help="Password (asked for if omitted).")
    ] = None,
) -> None:
    """Create a brand (tenant) and its first owner."""
    password = owner_password or getpass.getpass("owner password: ")

    async def main() -> str:
        from jinli.accounts import service as accounts_service
        from jinli.app.bootstrap import bootstrap

        runtime = bootstrap()
        try:
            async with runtime.uow(system=True) as uow:
                brand, _ = await accounts_service.create_brand(
                    uow,
                    name=name,
                    owner_email=owner_email,
                    owner_name=owner_name,
                    owner_password=password,
                )
                await uow.commit()
            return str(brand.id)
        finally:
            await runtime.aclose()

    typer.echo(f"brand {asyncio.run(main())} created")


@operators_app.command("create")
def operators_create(
    brand: Annotated[str, typer.Option(help="Brand id.")],
    email: Annotated[str, typer.Option(help="Login e-mail.")],
    role: Annotated[str, typer.Option(help="owner, operator, finance or developer.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[str | None, typer.Option(help="Password (asked for if omitted).")] = None,
) -> None:
    """Add an operator to a brand."""
    import uuid

    from jinli.accounts.domain import Role

    try:
        brand_id = uuid.UUID(brand)
    except ValueError:
        raise CliError(f"--brand must be a brand id (a UUID), got {brand!r}") from None
    if role not in {r.value for r in Role}:
        raise CliError(f"--role must be one of {', '.join(r.value for r in Role)}")
    secret = password or getpass.getpass("password: ")

    async def main() -> str:
        from jinli.accounts import service as accounts_service
        from jinli.app.bootstrap import bootstrap

        runtime = bootstrap()
        try:
            async with runtime.uow(brand_id=brand_id) as uow:
                actor = accounts_service.system_actor(brand_id, "cli")
                await accounts_service.get_brand(uow, actor)
                operator = await accounts_service.create_operator(
                    uow, actor, email=email, name=name or email, role=Role(role), password=secret
                )
                await uow.commit()
            return str(operator.id)
        finally:
            await runtime.aclose()

    typer.echo(f"operator {asyncio.run(main())} created")


@assets_app.command("fetch")
def assets_fetch() -> None:
    """Download the console's front-end libraries from the npm registry (checked by sha512)."""
    from jinli.web import assets

    fetched = assets.fetch()
    typer.echo(f"fetched {', '.join(fetched)}" if fetched else "front-end assets are up to date")


def _reconcile_deps() -> reconciliation_cli.CliDeps:
    """The composition root's runtime and WeChat Pay client for ``jinli reconcile``."""
    from jinli.app import wechat
    from jinli.app.bootstrap import bootstrap

    async def close(runtime: Runtime) -> None:
        await wechat.close(runtime)
        await runtime.aclose()

    return reconciliation_cli.CliDeps(
        open_runtime=bootstrap,
        bill_source=lambda rt: wechat.wechatpay(rt).v3,
        merchant_id=lambda rt: wechat.wechatpay(rt).v3.config.mchid,
        close_runtime=close,
    )


def main() -> None:
    try:
        app(obj=_reconcile_deps())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # never a traceback to a user; the log has the details
        error = _as_jinli_error(exc)
        if error is None:
            first = str(exc).splitlines()[0] if str(exc) else ""
            typer.secho(
                f"error: {type(exc).__name__}: {first} [internal_error]",
                err=True,
                fg=typer.colors.RED,
            )
            sys.exit(1)
        typer.secho(f"error: {error.detail} [{error.code}]", err=True, fg=typer.colors.RED)
        sys.exit(EXIT_CODES[error.kind])


def _as_jinli_error(exc: Exception) -> JinliError | None:
    """A domain error as it is; a database without Jinli's tables as ``NotMigrated`` (the
    driver's message runs on with SQL and parameters); anything else unknown."""
    if isinstance(exc, JinliError):
        return exc
    text = str(exc)
    if "no such table" in text or "UndefinedTable" in text:
        return NotMigrated("the database has no Jinli tables yet; run `jinli db upgrade`")
    return None
