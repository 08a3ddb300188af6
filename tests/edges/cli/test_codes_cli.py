"""``jinli codes``: generate with a progress bar, activate, verify, export and purge, as an
operator at a terminal would, against a real SQLite file."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jinli.cli.main import app
from jinli.codes.errors import CodeBatchIllegalTransition, CodeExportPurged
from jinli.kernel.errors import NotFound
from jinli.migrations.runner import upgrade
from tests.conftest import make_settings
from tests.factories import create_brand, create_campaign

JINLI = str(Path(sys.executable).parent / "jinli")


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "JINLI_DATA_DIR": str(tmp_path),
        "JINLI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "JINLI_SECRET_KEY": "cli-test-secret",
        "JINLI_LOG_LEVEL": "WARNING",
        "JINLI_CODES__CHUNK_SIZE": "500",
        "JINLI_CODES__CODES_PER_FILE": "1000",
    }


def _seed(tmp_path: Path) -> tuple[uuid.UUID, uuid.UUID]:
    """A migrated database with one brand and one draft campaign."""
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    upgrade(url)

    async def main() -> tuple[uuid.UUID, uuid.UUID]:
        from jinli.app.bootstrap import bootstrap

        runtime = bootstrap(make_settings(url, tmp_path))
        try:
            brand = await create_brand(runtime)
            campaign = await create_campaign(runtime, brand, reward_rule={"kind": "none"})
            return brand.brand_id, campaign
        finally:
            await runtime.aclose()

    return asyncio.run(main())


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[uuid.UUID, uuid.UUID]:
    return _seed(tmp_path)


def _rows(path: Path) -> list[dict[str, str]]:
    with zipfile.ZipFile(path) as archive:
        rows: list[dict[str, str]] = []
        for name in sorted(n for n in archive.namelist() if n.endswith(".csv")):
            rows.extend(csv.DictReader(io.StringIO(archive.read(name).decode())))
    return rows


def test_the_whole_batch_lifecycle(tmp_path: Path, seeded: tuple[uuid.UUID, uuid.UUID]) -> None:
    """generate → verify (not payable) → activate → verify (payable) → export → purge."""
    brand_id, campaign_id = seeded
    runner = CliRunner()
    env = _env(tmp_path)
    out = tmp_path / "printer.zip"
    made = runner.invoke(
        app,
        [
            "codes",
            "generate",
            "--campaign",
            str(campaign_id),
            "--count",
            "2300",
            "--short",
            "--label",
            "Line 3",
            "--brand",
            str(brand_id),
            "--out",
            str(out),
        ],
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert "2,300 codes, status generated" in made.output
    batch_id = made.output.split("batch ")[1].split(":")[0]
    rows = _rows(out)
    assert [int(r["serial"]) for r in rows] == list(range(1, 2301))
    with zipfile.ZipFile(out) as archive:
        assert {"codes-00001.csv", "codes-00003.csv", "README.txt"} <= set(archive.namelist())
        assert not any(n.startswith("qr/") for n in archive.namelist())  # 2,300 > 2,000

    checked = runner.invoke(app, ["codes", "verify", rows[41]["short_code"].lower()], env=env)
    assert checked.exit_code == 0, checked.output
    assert "#42" in checked.output
    assert "not payable" in checked.output

    shipped = runner.invoke(
        app,
        ["codes", "activate", batch_id, "--region", "浙江省杭州市", "--distributor", "华东经销"],
        env=env,
    )
    assert shipped.exit_code == 0, shipped.output
    assert "active" in shipped.output
    again = runner.invoke(
        app, ["codes", "activate", batch_id, "--region", "x", "--distributor", "y"], env=env
    )
    assert isinstance(again.exception, CodeBatchIllegalTransition)
    payable = runner.invoke(app, ["codes", "verify", rows[0]["code"]], env=env)
    assert ", payable" in payable.output

    listed = runner.invoke(app, ["codes", "list", "--campaign", str(campaign_id)], env=env)
    assert batch_id in listed.output
    shown = runner.invoke(app, ["codes", "show", batch_id], env=env)
    assert "codes 2,300, scanned 0, claimed 0" in shown.output

    copy = tmp_path / "copy.zip"
    exported = runner.invoke(app, ["codes", "export", batch_id, "--out", str(copy)], env=env)
    assert exported.exit_code == 0, exported.output
    assert copy.read_bytes() == out.read_bytes()
    purged = runner.invoke(app, ["codes", "purge", batch_id], env=env)
    assert "export purged" in purged.output
    assert list((tmp_path / "codes" / "exports").rglob("*.zip")) == []
    gone = runner.invoke(app, ["codes", "export", batch_id, "--out", str(copy)], env=env)
    assert isinstance(gone.exception, CodeExportPurged)


def test_another_brand_is_refused(tmp_path: Path, seeded: tuple[uuid.UUID, uuid.UUID]) -> None:
    _, campaign_id = seeded
    result = CliRunner().invoke(
        app,
        [
            "codes",
            "generate",
            "--campaign",
            str(campaign_id),
            "--count",
            "5",
            "--brand",
            str(uuid.uuid4()),
        ],
        env=_env(tmp_path),
    )
    assert isinstance(result.exception, NotFound)
    assert list((tmp_path / "codes").rglob("*.zip")) == []


def test_errors_are_one_line_with_their_code(tmp_path: Path) -> None:
    """A forged code and an unknown batch: one line on stderr, the kind's exit code."""
    _seed(tmp_path)
    env = {**os.environ, **_env(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [JINLI, "codes", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    forged = run("verify", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01")
    assert forged.returncode == 2
    assert forged.stderr.strip().endswith("[code_not_genuine]")
    assert len(forged.stderr.strip().splitlines()) == 1
    unknown = run("void", str(uuid.uuid4()))
    assert unknown.returncode == 4
    assert "[code_batch_not_found]" in unknown.stderr


@pytest.mark.parametrize(
    "command",
    ["", "generate", "list", "show", "activate", "void", "export", "purge", "verify"],
)
def test_every_codes_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, ["codes", *([command] if command else []), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
