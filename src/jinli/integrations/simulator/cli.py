"""``jinli simulator …``: serve the WeChat Pay simulator alone, print its credentials.

The merchant is generated once in ``<data_dir>/simulator/`` and reused; ``serve`` records the
URL it listens on, so ``credentials --json`` prints the base URL to point SDKs at.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .credentials import load_or_create_credentials

app = typer.Typer(
    help="The local WeChat Pay simulator (Jinli's offline default).",
    no_args_is_help=True,
    add_completion=False,
)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="JINLI_DATA_DIR",
        help="Jinli's data directory; the simulator keeps its merchant in <data-dir>/simulator.",
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", help="The URL clients reach the simulator at (recorded)."),
]


def simulator_dir(data_dir: Path) -> Path:
    """Where the simulated merchant's credentials and key files live."""
    return data_dir / "simulator"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8100,
    data_dir: DataDir = Path("var"),
    base_url: BaseUrl = None,
    frozen: Annotated[
        bool, typer.Option(help="Start the clock frozen at now (advance it via /_sim/).")
    ] = False,
) -> None:
    """Serve the simulator alone (real time; POST /_sim/clock/advance to jump ahead)."""
    from datetime import UTC, datetime

    from jinli.kernel.clock import FrozenClock

    from .server import SimulatorServer, public_host
    from .simulator import Simulator

    url = base_url or f"http://{public_host(host)}:{port}"
    clock = FrozenClock(datetime.now(UTC)) if frozen else None
    sim = Simulator.from_directory(simulator_dir(data_dir), base_url=url, clock=clock)
    server = SimulatorServer(sim, host=host, port=port)
    server.start()
    sim.set_base_url(url)
    typer.echo(f"WeChat Pay simulator: {url}  (mchid {sim.credentials.mchid})")
    typer.echo(f"  consumer pages: {url}/pages/   admin: {url}/_sim/")
    typer.echo("  credentials:    jinli simulator credentials --json")
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


@app.command()
def credentials(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for any SDK).")] = False,
    data_dir: DataDir = Path("var"),
    base_url: BaseUrl = None,
) -> None:
    """Print the simulated merchant's credentials (generated on first use)."""
    creds = load_or_create_credentials(simulator_dir(data_dir), base_url=base_url)
    data = creds.as_dict()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key in (
        "base_url",
        "mchid",
        "appid",
        "merchant_serial_no",
        "merchant_private_key_path",
        "platform_certificate_serial_no",
        "platform_public_key_id",
        "platform_public_key_path",
        "api_v3_key",
        "api_key",
    ):
        typer.echo(f"{key:32} {data[key]}")
