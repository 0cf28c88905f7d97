"""The dashboard in a real headless browser: Debian's ``chromium`` driven by Playwright
through ``executable_path`` (Playwright's own browser download cannot work on these
machines), against ``tokentrace demo`` running as a user runs it.

Without chromium the browser tests are skipped, except in CI (``CI=true``), where
``.ci/run`` installs it and a missing browser is an error. Screenshots are saved under
``$TOKENTRACE_TEST_ARTIFACTS/dashboard`` (default ``test-artifacts/dashboard`` in the
repository).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tokentrace_backend.scenario.processes import free_port
from tokentrace_backend.scenario.stack import tokentrace_command

REPOSITORY = Path(__file__).resolve().parents[2]
DEMO_READY_SECONDS = 240


def artifacts_dir() -> Path:
    root = Path(os.environ.get("TOKENTRACE_TEST_ARTIFACTS", REPOSITORY / "test-artifacts"))
    directory = root / "dashboard"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@dataclass
class RunningDemo:
    """``tokentrace demo`` in a subprocess, with what it printed."""

    process: subprocess.Popen[str]
    dashboard_url: str
    otlp_url: str
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def _url_after(label: str, lines: list[str]) -> str | None:
    for line in lines:
        match = re.match(rf"\s*{label}:?\s+(http://\S+)", line)
        if match:
            return match.group(1)
    return None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    """The demo, serving with its live trickle of traffic, until the module ends."""
    directory = tmp_path_factory.mktemp("demo")
    process = subprocess.Popen(
        [
            *tokentrace_command(),
            "demo",
            "--dir",
            str(directory / "data"),
            "--port",
            str(free_port()),
            "--otlp-port",
            str(free_port()),
            "--live-interval",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + DEMO_READY_SECONDS
    dashboard = otlp = None
    while time.monotonic() < deadline and process.poll() is None:
        dashboard = _url_after("Dashboard", lines)
        otlp = _url_after("OTLP/HTTP ingest", lines)
        if dashboard and otlp:
            break
        time.sleep(0.2)
    if not (dashboard and otlp):
        process.kill()
        process.wait()
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        pytest.fail("the demo did not print its URLs:\n" + "\n".join(lines))
    running = RunningDemo(process, dashboard.rstrip("/") + "/", otlp, lines)
    try:
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        finally:
            reader.join(timeout=5)
            if process.stdout is not None:
                process.stdout.close()
        assert code == 0, running.output


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs Debian's chromium for the browser tests (.ci/run installs it)")
        pytest.skip("no chromium (apt-get install chromium) for the browser tests")
    return path


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Module-scoped: while the sync driver runs, its event loop is the main thread's, and
    # asyncio.run() in later tests (tests/library) would fail.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    arguments = ["--no-sandbox"] if os.geteuid() == 0 else []  # root cannot use the sandbox
    launched = playwright.chromium.launch(executable_path=_chromium(), args=arguments)
    try:
        yield launched
    finally:
        launched.close()


@dataclass
class WatchedPage:
    """A page, the console errors it logged and the hosts it asked for."""

    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    urls: list[str] = field(default_factory=list)

    def open(self, route: str) -> Page:
        self.page.goto(self.base_url + route)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def screenshot(self, name: str) -> Path:
        path = artifacts_dir() / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def watched_page(browser: Browser, base_url: str) -> Iterator[WatchedPage]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watched = WatchedPage(page, base_url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))

    def on_request(url: str) -> None:
        watched.urls.append(url)
        if not url.startswith(("data:", "blob:")):
            watched.hosts.add(urlsplit(url).netloc)

    page.on("request", lambda request: on_request(request.url))
    try:
        yield watched
    finally:
        context.close()


@pytest.fixture
def dashboard(browser: Browser, demo: RunningDemo) -> Iterator[WatchedPage]:
    """A fresh browser page on the demo's dashboard; at the end, no console error and no
    request to another host."""
    with watched_page(browser, demo.dashboard_url) as watched:
        yield watched
        assert watched.errors == []
        assert watched.hosts <= {urlsplit(demo.dashboard_url).netloc}
