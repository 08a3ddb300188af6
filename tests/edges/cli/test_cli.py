"""The `jinli` command line: help everywhere, one-line errors with non-zero exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jinli.cli.main import app

JINLI = str(Path(sys.executable).parent / "jinli")

COMMANDS = [
    [],
    ["serve"],
    ["worker"],
    ["demo"],
    ["db"],
    ["db", "upgrade"],
    ["brands"],
    ["brands", "create"],
    ["operators"],
    ["operators", "create"],
    ["assets"],
    ["assets", "fetch"],
    ["reconcile"],
    ["reconcile", "import"],
    ["simulator"],
    ["simulator", "credentials"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "jinli")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def _run(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "JINLI_DATA_DIR": str(tmp_path),
        "JINLI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "JINLI_SECRET_KEY": "cli-test",
    }
    return subprocess.run(
        [JINLI, *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def test_brand_and_operator_creation_and_its_errors(tmp_path: Path) -> None:
    """The happy path works; each mistake is one line on stderr with its code and exit status."""
    assert _run(["db", "upgrade"], tmp_path).returncode == 0
    created = _run(
        [
            "brands",
            "create",
            "--name",
            "Acme",
            "--owner-email",
            "owner@acme.test",
            "--owner-password",
            "long-enough-secret",
        ],
        tmp_path,
    )
    assert created.returncode == 0, created.stderr
    brand_id = created.stdout.split()[1]

    operator = _run(
        [
            "operators",
            "create",
            "--brand",
            brand_id,
            "--email",
            "fin@acme.test",
            "--role",
            "finance",
            "--password",
            "another-long-secret",
        ],
        tmp_path,
    )
    assert operator.returncode == 0, operator.stderr

    cases = [
        (
            [
                "operators",
                "create",
                "--brand",
                "nope",
                "--email",
                "xavier@y.z",
                "--role",
                "owner",
                "--password",
                "long-enough-secret",
            ],
            2,
            "cli_error",
        ),
        (
            [
                "operators",
                "create",
                "--brand",
                brand_id,
                "--email",
                "xavier@y.z",
                "--role",
                "king",
                "--password",
                "long-enough-secret",
            ],
            2,
            "cli_error",
        ),
        (
            [
                "operators",
                "create",
                "--brand",
                brand_id,
                "--email",
                "fin@acme.test",
                "--role",
                "operator",
                "--password",
                "long-enough-secret",
            ],
            5,
            "email_taken",
        ),
        (
            [
                "operators",
                "create",
                "--brand",
                brand_id,
                "--email",
                "weak@acme.test",
                "--role",
                "operator",
                "--password",
                "short",
            ],
            2,
            "weak_password",
        ),
        (
            [
                "operators",
                "create",
                "--brand",
                "00000000-0000-0000-0000-000000000000",
                "--email",
                "zed@acme.test",
                "--role",
                "operator",
                "--password",
                "long-enough-secret",
            ],
            4,
            "not_found",
        ),
    ]
    for args, status, code in cases:
        result = _run(args, tmp_path)
        assert result.returncode == status, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        assert lines[0].endswith(f"[{code}]")
        assert "Traceback" not in result.stderr


def test_usage_errors_exit_non_zero_without_traceback(tmp_path: Path) -> None:
    result = _run(["serve", "--port", "not-a-port"], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_a_database_without_tables_gets_one_line_saying_how_to_migrate(tmp_path: Path) -> None:
    """A command run before ``jinli db upgrade`` must not spill the driver's SQL and
    parameters: one line naming the fix, the exit code of an unavailable dependency (7)."""
    result = _run(
        [
            "codes",
            "activate",
            "00000000-0000-0000-0000-000000000000",
            "--region",
            "x",
            "--distributor",
            "y",
        ],
        tmp_path,
    )
    assert result.returncode == 7
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: the database has no Jinli tables yet; run `jinli db upgrade` [not_migrated]"
    ]
