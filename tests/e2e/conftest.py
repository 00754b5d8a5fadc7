"""End-to-end fixtures: the app served as `make run` serves it, and Chromium through Playwright."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import _compile_catalogues
from timebank import ROOT

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
STARTUP_TIMEOUT = 30  # seconds for /healthz to answer 200


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(instance: Path) -> dict[str, str]:
    """The environment of `make run`, with the database in a throwaway instance folder."""
    env = dict(os.environ)
    for key in ("TIMEBANK_DATABASE_URL", "DATABASE_URL"):
        env.pop(key, None)  # so the app falls back to SQLite in the instance folder
    env.update(
        FLASK_APP="wsgi",
        TIMEBANK_ENV="development",
        TIMEBANK_INSTANCE_PATH=str(instance),
        PYTHONUNBUFFERED="1",
        # The shortest period allowed, so a test can watch the personal code rotate.
        TIMEBANK_PERSONAL_CODE_SECONDS="30",
    )
    return env


def _flask(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"`flask {' '.join(args)}` exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )


def _log_tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"flask run exited with {server.returncode}:\n{_log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our server
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = repr(exc)
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer 200 in {STARTUP_TIMEOUT}s ({last}):\n{_log_tail(log)}")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """Migrate, seed the demo district and serve it, like `make run`; yields the base URL."""
    _compile_catalogues()  # `make run` compiles the .po catalogues first, too
    instance = tmp_path_factory.mktemp("live_instance")
    env = _server_env(instance)
    _flask("db", "upgrade", env=env)
    _flask("seed-demo", "--if-empty", env=env)

    port = _free_port()
    log = instance / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "flask", "run", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(f"{base_url}/healthz", server, log)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _chromium_path() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium; skipped when absent, unless TIMEBANK_REQUIRE_BROWSER=1."""
    required = os.environ.get("TIMEBANK_REQUIRE_BROWSER") == "1"
    executable = _chromium_path()
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed"
    if reason is None and executable is None:
        reason = "Chromium not found (neither /usr/bin/chromium nor `chromium` on PATH)"
    if reason is not None:
        if required:
            pytest.fail(f"TIMEBANK_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) whose language is Chinese, as for most users."""
    context = browser.new_context(locale="zh-CN", viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


# A live server whose database the test reads and writes too (the event screens' tests make
# their own events and check what a scan recorded). Same steps as live_server above.


class LiveSite:
    """The base URL of a server like live_server's, and its instance folder."""

    def __init__(self, url: str, instance: Path):
        self.url = url
        self.instance = instance

    @contextlib.contextmanager
    def context(self):
        """An app context on the live server's database and keys, in this process, for
        making data and checking it; commit what the server should see."""
        from timebank import create_app
        from timebank.extensions import db

        settings = {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{self.instance / 'timebank.sqlite'}",
            "SECRET_KEY": (self.instance / "secret_key").read_text().strip(),
            "DATA_KEY": (self.instance / "data_key").read_text().strip(),
        }
        app = create_app("development", settings)
        try:
            # URLs built here (codes) point at the live server, as its own pages do.
            with app.test_request_context(base_url=self.url):
                yield app
        finally:
            with app.app_context():
                db.engine.dispose()


@contextlib.contextmanager
def serve(tmp_path_factory, **settings: str):
    """Migrate, seed the demo and serve it like live_server, with TIMEBANK_* settings."""
    _compile_catalogues()
    instance = tmp_path_factory.mktemp("live_site")
    env = _server_env(instance)
    env.update({f"TIMEBANK_{key}": value for key, value in settings.items()})
    _flask("db", "upgrade", env=env)
    _flask("seed-demo", "--if-empty", env=env)
    port = _free_port()
    log = instance / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "flask", "run", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    site = LiveSite(f"http://127.0.0.1:{port}", instance)
    try:
        _wait_healthy(f"{site.url}/healthz", server, log)
        yield site
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def launch_chromium(browser):
    """launch_chromium(*args) → another Chromium with extra switches (a fake camera...),
    from the same Playwright as `browser`; closed after the test."""
    launched = []

    def launch(*args: str):
        other = browser.browser_type.launch(
            executable_path=_chromium_path(), args=[*CHROMIUM_ARGS, *args]
        )
        launched.append(other)
        return other

    yield launch
    for other in launched:
        other.close()
