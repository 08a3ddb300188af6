"""A real Jinli server and a real headless Chromium for the browser journeys.

The server is the installed ``jinli`` command (``db upgrade``, ``brands create``, ``serve``) on
its own SQLite file in a temporary directory, exactly as an operator would start it. Chromium is
Debian's ``/usr/bin/chromium`` driven by Playwright; without it every test here skips and says
why. Fixtures are synchronous: Playwright's sync API must not run inside an event loop, and
pytest-asyncio (auto mode) leaves plain functions alone. Server and browser live for one test
module, so each module starts from a fresh brand and no browser outlives it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Page,
        Response,
    )

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
JINLI = Path(sys.executable).parent / "jinli"
STARTUP_TIMEOUT_S = 20.0


BRAND_NAME = "锦鲤茶饮 E2E"
OWNER_NAME = "王小锦"
OWNER_EMAIL = "owner@e2e.jinli.test"
OWNER_PASSWORD = "koi-e2e-password-2026"


@dataclass(frozen=True)
class Server:
    """A running ``jinli serve`` and the one brand (with its owner) it was seeded with."""

    base_url: str
    owner_email: str
    owner_password: str
    owner_name: str
    brand_name: str
    env: dict[str, str]
    """The server's JINLI_* environment: other ``jinli`` processes (a worker) share its data."""
    data_dir: Path

    def jinli(self, *args: str) -> str:
        """Run ``jinli ARGS`` on the server's database and data directory; its stdout."""
        return _run(list(args), self.env, self.data_dir)

    def tool(self, module: str, *args: str) -> str:
        """Run ``python -m MODULE ARGS`` (a test helper) on the server's database and data."""
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            env={**self.env, "PYTHONPATH": str(REPO)},
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"`{module} {' '.join(args[:1])}` failed: {done.stderr[-3000:]}")
        return done.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [str(JINLI), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"`jinli {' '.join(args[:2])}` failed ({done.returncode}): {done.stderr}")
    return done.stdout


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`jinli serve` exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - local http
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(
        f"`jinli serve` did not answer {url} within {STARTUP_TIMEOUT_S} s:\n{log.read_text()}"
    )


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is not installed (Debian: apt-get install chromium fonts-wqy-microhei)"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def server(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``jinli serve`` on a free port, with a migrated database and one brand and owner."""
    if not JINLI.exists():
        pytest.fail(f"the `jinli` command is not installed next to {sys.executable}")
    data_dir = tmp_path_factory.mktemp("e2e-server")
    # Nothing from the developer's own JINLI_* settings (Redis, secure cookies, …) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINLI_")}
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env.update(
        # The simulator's notification URL and its own base URL derive from this.
        JINLI_PUBLIC_BASE_URL=base_url,
        JINLI_DATA_DIR=str(data_dir),
        JINLI_DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'e2e.db'}",
        JINLI_SECRET_KEY="e2e-secret-key-not-for-production-0123456789",
        JINLI_ENVIRONMENT="test",
        JINLI_LOG_LEVEL="WARNING",
    )
    _run(["assets", "fetch"], env, data_dir)
    _run(["db", "upgrade"], env, data_dir)
    _run(
        [
            *("brands", "create", "--name", BRAND_NAME, "--owner-name", OWNER_NAME),
            *("--owner-email", OWNER_EMAIL, "--owner-password", OWNER_PASSWORD),
        ],
        env,
        data_dir,
    )
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(JINLI), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(f"{base_url}/healthz", process, log)
        yield Server(
            base_url=base_url,
            owner_email=OWNER_EMAIL,
            owner_password=OWNER_PASSWORD,
            owner_name=OWNER_NAME,
            brand_name=BRAND_NAME,
            env=env,
            data_dir=data_dir,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    server_log = log.read_text(errors="replace")
    assert "Traceback" not in server_log, f"the server logged a traceback:\n{server_log}"


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Browser]:
    """Chromium for one test module. Module scope, not session: while Playwright's sync API is
    started it holds an event loop in this thread, and every async test after it would fail
    with "Runner.run() cannot be called from a running event loop"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class BrowserProblems:
    """What a page did wrong: script errors, console errors, failed loads and any 5xx.

    A document answered 401 or 422 on purpose (wrong password, invalid form) is the test's
    business; every other failed load (script, style, icon, even the browser's own
    ``/favicon.ico``) and every console error is a problem.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.failed_loads: dict[str, str] = {}
        self.documents: set[str] = set()

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource"):
            self.failed_loads[message.location.get("url", "?")] = message.text
        else:
            self.errors.append(f"console error: {message.text}")

    def on_response(self, response: Response) -> None:
        if response.request.resource_type == "document":
            self.documents.add(response.url)
        if response.status >= 500:
            self.errors.append(
                f"HTTP {response.status} for {response.request.method} {response.url}"
            )

    def report(self) -> list[str]:
        loads = [
            f"{text}: {url}" for url, text in self.failed_loads.items() if url not in self.documents
        ]
        return self.errors + loads


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A fresh browser profile (no cookies) in Chinese, failing on any browser-side problem."""
    context: BrowserContext = browser.new_context(
        base_url=server.base_url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(5_000)
    page = context.new_page()
    problems = BrowserProblems()
    page.on("pageerror", problems.on_page_error)
    page.on("console", problems.on_console)
    page.on("response", problems.on_response)
    yield page
    context.close()
    assert not problems.report(), "the browser saw errors:\n" + "\n".join(problems.report())


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
