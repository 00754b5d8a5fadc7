"""Helpers shared by the benchmarks: machine facts, CPU metering, fresh databases, the doc.

The benchmarks run as scripts (``python bench/<name>.py``), so they import this module
as ``common``. Besides the above it holds what several of them do alike: gunicorn with
the production configuration, wrk driven by a Lua script, the app on a benchmark
database, options, tables and the results file.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import io
import json
import multiprocessing
import os
import platform
import pstats
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DOC_FILE = ROOT / "docs" / "PERFORMANCE.md"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"

if str(ROOT) not in sys.path:  # timebank and config live at the repository's root
    sys.path.insert(0, str(ROOT))


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


# ------------------------------------------------------------------------ CPU

# Share of the machine's CPU that processes other than the benchmark's own (its
# server, database backends, load generator) may use during a measurement before its
# figures are flagged as disturbed.
OTHER_CPU_WARN_PCT = 10.0
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks over all CPUs since boot, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def served_cpu_ticks(pgid: int | None, title_marker: str | None) -> dict[int, int]:
    """CPU ticks per process serving the benchmark: the server's process group (with its
    reaped workers) and, given a marker, processes whose title holds it (PostgreSQL
    backends show their database's name)."""
    ticks = {}
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            rest = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()
            ours = int(rest[2]) == pgid
            if not ours and title_marker:
                ours = title_marker in (proc_dir / "cmdline").read_text(errors="replace")
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        if ours:
            used = int(rest[11]) + int(rest[12])  # utime + stime
            if proc_dir.name == str(pgid):
                used += int(rest[13]) + int(rest[14])  # cutime + cstime of reaped workers
            ticks[int(proc_dir.name)] = used
    return ticks


def own_cpu_seconds() -> float:
    """CPU used by this script and its reaped children (wrk, flask commands, workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class CpuMeter:
    """How much of the machine's CPU went to processes other than ours meanwhile.

    Ours: this script and its reaped children, the process group pgid if given, and
    processes whose title holds title_marker if given. Children still running when
    other_pct() is called are not counted: join them first.
    """

    def __init__(self, pgid: int | None = None, title_marker: str | None = None):
        self.pgid, self.marker = pgid, title_marker
        self.machine = machine_cpu_ticks()
        self.served = served_cpu_ticks(pgid, title_marker) if pgid or title_marker else {}
        self.own = own_cpu_seconds()

    def other_pct(self) -> float | None:
        now = machine_cpu_ticks()
        if self.machine is None or now is None or now[1] <= self.machine[1]:
            return None
        busy = (now[0] - self.machine[0]) / _CLK_TCK
        capacity = (now[1] - self.machine[1]) / _CLK_TCK
        ours = own_cpu_seconds() - self.own
        if self.pgid or self.marker:
            ours += self.served_cpu_s()
        return round(max(0.0, busy - ours) / capacity * 100, 1)

    def served_cpu_s(self) -> float:
        """CPU seconds the server's process group and the marked processes used meanwhile."""
        served = served_cpu_ticks(self.pgid, self.marker)
        return sum(t - self.served.get(pid, 0) for pid, t in served.items()) / _CLK_TCK

    def machine_busy_pct(self) -> float | None:
        """How busy the whole machine was meanwhile, in % of its CPU."""
        now = machine_cpu_ticks()
        if self.machine is None or now is None or now[1] <= self.machine[1]:
            return None
        return round((now[0] - self.machine[0]) / (now[1] - self.machine[1]) * 100, 1)


def idle_pct(seconds: float = 2.0) -> float | None:
    """The machine's idle share over a short sample."""
    before = machine_cpu_ticks()
    time.sleep(seconds)
    after = machine_cpu_ticks()
    if before is None or after is None or after[1] <= before[1]:
        return None
    busy = after[0] - before[0]
    return round(100 - busy / (after[1] - before[1]) * 100, 1)


def wait_for_idle(deadline: float) -> float | None:
    """Wait, until the monotonic deadline at most, for a 90% idle machine; the last sample."""
    idle = idle_pct()
    while idle is not None and idle < 90 and time.monotonic() < deadline:
        print(f"machine only {idle:.0f}% idle; waiting for other work to finish", flush=True)
        time.sleep(5)
        idle = idle_pct()
    return idle


def may_measure_again(
    other_pcts: Iterable[float | None], attempt: int, max_retries: int, wait_until: float
) -> bool:
    """Whether a measurement disturbed by other processes may be taken again (time, tries left)."""
    disturbed = max((pct or 0 for pct in other_pcts), default=0)
    return (
        disturbed > OTHER_CPU_WARN_PCT and attempt < max_retries and wait_until > time.monotonic()
    )


def disturbance_warnings(
    label: str, other_pct: float | None, during: str = "meanwhile"
) -> list[str]:
    """The warning for a figure taken while other processes used too much of the CPU, if so."""
    if (other_pct or 0) <= OTHER_CPU_WARN_PCT:
        return []
    return [
        f"{label}: other processes used {other_pct:.0f}% of the machine's CPU {during}; "
        "its figures are disturbed"
    ]


# ------------------------------------------------------------------- backends


class SqliteDatabase:
    name = "sqlite"
    process_title_marker = None  # SQLite works inside the gunicorn workers

    def __init__(self, workdir: Path):
        self.url = f"sqlite:///{workdir / 'bench.sqlite'}"

    def __enter__(self) -> SqliteDatabase:
        return self

    def __exit__(self, *exc_info) -> None:
        pass  # the file lives in the run's temporary directory

    def server_version(self) -> str:
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"


class PostgresDatabase:
    """A fresh database on the admin URL's server, dropped (FORCE) at the end."""

    name = "postgresql"

    def __init__(self, admin_url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        self.db_name = f"timebank_bench_{secrets.token_hex(4)}"
        # Backends serving the benchmark show "postgres: user <db> host(port) state".
        self.process_title_marker = f" {self.db_name} "
        admin = make_url(admin_url)
        if admin.drivername in {"postgresql", "postgres"}:
            admin = admin.set(drivername="postgresql+psycopg")
        self.url = admin.set(database=self.db_name).render_as_string(hide_password=False)
        self.engine = create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.created = False

    def _execute(self, sql: str, *, scalar: bool = False):
        from sqlalchemy import text

        with self.engine.connect() as conn:
            result = conn.execute(text(sql))
            return result.scalar() if scalar else None

    def __enter__(self) -> PostgresDatabase:
        self.created = True  # even a half-done CREATE is dropped (IF EXISTS) on the way out
        try:
            self._execute(f'CREATE DATABASE "{self.db_name}"')
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self.created:
                self._execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        finally:
            self.engine.dispose()

    def server_version(self) -> str:
        return f"PostgreSQL {self._execute('SHOW server_version', scalar=True)}"


def backend_database(backend: str, postgres_url: str, workdir: Path):
    """A fresh database for `with`: a SQLite file in workdir, or a new PostgreSQL database."""
    return SqliteDatabase(workdir) if backend == "sqlite" else PostgresDatabase(postgres_url)


def run_each_backend(
    args: argparse.Namespace,
    bench_backend: Callable,
    run_class: type,
    *,
    tmp_prefix: str = "timebank-bench-",
    subdir: str | None = None,
) -> tuple[list, dict[str, str]]:
    """bench_backend(database, args, workdir) per backend; the runs and the server versions."""
    runs, versions = [], {}
    with tempfile.TemporaryDirectory(prefix=tmp_prefix) as tmp:
        workdir = Path(tmp) / subdir if subdir else Path(tmp)
        workdir.mkdir(exist_ok=True)
        for backend in args.backends:
            try:
                with backend_database(backend, args.postgres_url, workdir) as database:
                    versions[f"{backend}_server"] = database.server_version()
                    runs.append(bench_backend(database, args, workdir))
            except Exception as exc:  # record the backend as failed; the others still run
                print(f"[{backend}] {type(exc).__name__}: {exc}", file=sys.stderr)
                first_line = (str(exc).splitlines() or [""])[0]
                runs.append(run_class(backend, failures=[f"{type(exc).__name__}: {first_line}"]))
    return runs, versions


# ------------------------------------------------------------------------- app


def make_app(url: str, instance: Path | str, **config):
    """The app in the testing configuration on the benchmark database, config on top."""
    # The engine settings (pool, pre-ping, SQLite set-up) are those of every configuration.
    os.environ["TIMEBANK_INSTANCE_PATH"] = str(instance)
    from timebank import create_app

    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, **config})


def server_app_config(env: dict[str, str]) -> dict:
    """make_app() settings for setting up a served database: the server's keys, TESTING off."""
    # With the server's keys, the ID numbers setup encrypts and the codes and tickets it
    # signs are the ones the server reads.
    return {
        "SECRET_KEY": env["TIMEBANK_SECRET_KEY"],
        "DATA_KEY": env["TIMEBANK_DATA_KEY"],
        "TESTING": False,
    }


def migrate(app) -> None:
    """Bring the benchmark database to the latest schema."""
    import logging

    from flask_migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    with app.app_context():
        upgrade()


def close_app_database(app) -> None:
    """Drop the app's session and pooled connections (before others use the database)."""
    from timebank.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def write_csv(path: Path, header: list[str], rows: Iterable[list]) -> None:
    """Write header and rows (streamed) to path as UTF-8 CSV with a BOM, as spreadsheets do."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


def create_district(prefix: str, communities: int) -> list:
    """A district with one street of `communities` communities, named after prefix."""
    from timebank.core.security import SYSTEM
    from timebank.regions.services import create_region

    district = create_region(SYSTEM, name=f"{prefix}基准区", parent=None, level="district")
    street = create_region(SYSTEM, name=f"{prefix}街道", parent=district)
    return [
        create_region(SYSTEM, name=f"{prefix}社区{n + 1}", parent=street)
        for n in range(communities)
    ]


def import_verified(csv_path: Path, count: int, what: str) -> list[int]:
    """Import csv_path with the real importer and mark everyone verified; their user ids."""
    from sqlalchemy import select, update

    from timebank.core.db import utcnow
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.volunteers.imports import import_volunteers
    from timebank.volunteers.models import Volunteer, VolunteerStatus

    with csv_path.open("rb") as stream:
        result = import_volunteers(SYSTEM, stream, filename=csv_path.name, commit=db.session.commit)
    if result.added != count:
        raise BenchError(f"imported {result.added} of {count} {what}: {result}")
    now = utcnow()
    db.session.execute(
        update(Volunteer).values(
            status=VolunteerStatus.VERIFIED.value, verified_at=now, status_changed_at=now
        )
    )
    return list(db.session.scalars(select(Volunteer.user_id).order_by(Volunteer.id)))


def issue_tokens(user_ids: list[int], name: str, now) -> list[str]:
    """Bulk-insert a day-long API token per user; returns the plain tokens in the same order."""
    from sqlalchemy import insert

    from timebank.auth.models import ApiToken, hash_token
    from timebank.auth.services import TOKEN_PREFIX
    from timebank.extensions import db

    plain = [TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in user_ids]
    db.session.execute(
        insert(ApiToken),
        [
            {
                "user_id": user_id,
                "name": name,
                "token_hash": hash_token(token),
                "prefix": token[:10],
                "created_at": now,
                "expires_at": now + timedelta(days=1),
            }
            for user_id, token in zip(user_ids, plain, strict=True)
        ],
    )
    return plain


class StatementCounter:
    """Counts the SQL statements an engine executes (those after a commit apart), keeping a few."""

    def __init__(self, engine, keep: int = 0):
        self.engine, self.keep = engine, keep
        self.count = self.after_commit = 0
        self.committed = False  # the caller resets it to count per request
        self.kept: list[str] = []

    def _on_execute(self, _conn, _cursor, statement, *_rest):
        self.count += 1
        if self.committed:
            self.after_commit += 1
        if len(self.kept) < self.keep:
            self.kept.append(" ".join(statement.split())[:110])

    def _on_commit(self, *_args):
        self.committed = True

    def __enter__(self) -> StatementCounter:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        event.listen(self.engine, "commit", self._on_commit)
        return self

    def __exit__(self, *exc_info) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._on_execute)
        event.remove(self.engine, "commit", self._on_commit)


class ActivitySampler:
    """On PostgreSQL, samples the benchmark database's pg_stat_activity in a thread meanwhile.

    Subclasses give the QUERY and count() each sample's rows into samples, active and
    waiting (for a lock); elsewhere (SQLite) nothing is sampled.
    """

    INTERVAL_S = 0.1
    QUERY = ""

    def __init__(self, url: str | None):
        self.url = url if url and url.startswith("postgresql") else None
        self.samples = self.active = self.waiting = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self, rows) -> None:
        """Count one sample's rows."""
        raise NotImplementedError

    def _run(self) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        query = text(self.QUERY)
        try:
            with engine.connect() as conn:
                while not self._stop.wait(self.INTERVAL_S):
                    self.samples += 1
                    self.count(conn.execute(query))
        finally:
            engine.dispose()

    def __enter__(self) -> ActivitySampler:
        if self.url:
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self.url:
            self._thread.join(timeout=10)

    def waiting_pct(self) -> float | None:
        """The share (%) of active-backend samples that were waiting for a lock."""
        return round(100 * self.waiting / self.active, 1) if self.active else None

    def shares(self, counter, n: int) -> dict[str, float]:
        """The n most common of counter, as a share (%) of active-backend samples."""
        if not self.active:
            return {}
        return {key: round(100 * c / self.active, 1) for key, c in counter.most_common(n)}


def profile_calls(calls: Callable[[], object], *, cumulative: int = 0, tottime: int = 0) -> str:
    """Run calls() under cProfile; its top functions by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    calls()
    profiler.disable()
    return profile_stats(profiler, cumulative=cumulative, tottime=tottime)


def profile_stats(profiler, *, cumulative: int = 0, tottime: int = 0) -> str:
    """The profiler's top functions by cumulative and by own time, as pstats prints them."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    if cumulative:
        stats.sort_stats("cumulative").print_stats(cumulative)
    if tottime:
        stats.sort_stats("tottime").print_stats(tottime)
    return out.getvalue()


def run_in_fresh_process(
    target: Callable, args: tuple, title_marker: str | None, timeout_s: float
) -> dict:
    """target(*args, results) in a spawned process; the dict it put on results, other CPU added."""
    # A fresh process, so that its peak RSS is its own.
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    worker = spawn.Process(target=target, args=(*args, results))
    meter = CpuMeter(title_marker=title_marker)
    worker.start()
    try:
        outcome = results.get(timeout=timeout_s)
        worker.join(timeout=60)
    finally:
        if worker.is_alive():
            worker.kill()
            worker.join(timeout=10)
    outcome["other_cpu_pct"] = meter.other_pct()
    return outcome


def proc_status_kib(key: str) -> int | None:
    """A KiB figure (VmRSS, VmHWM) of this process from /proc/self/status."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# ------------------------------------------------------------------- server

READY_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 10.0
# Lines in gunicorn's output that mean the app misbehaved during the run.
LOG_PROBLEM = re.compile(r"Traceback|\[ERROR\]|\[CRITICAL\]|\"level\": \"(ERROR|CRITICAL)\"")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def http(
    port: int, path: str, *, token: str | None = None, body: dict | None = None
) -> tuple[int, bytes]:
    """One request to the local server; returns (status, body) without following redirects."""
    url = f"http://{HOST}:{port}{path}"
    headers = {"Accept": "application/json, text/html"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - local URL
    try:
        with _opener.open(request, timeout=HTTP_TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def venv_tool(name: str) -> str:
    """A console script from the running interpreter's venv (falling back to the repo's)."""
    for directory in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        candidate = directory / name
        if candidate.exists():
            return str(candidate)
    raise BenchError(f"{name} not found; run `make install` first")


def app_env(database_url: str, instance_path: Path, port: int, workers: int) -> dict[str, str]:
    """The environment of gunicorn and flask commands: production settings, fresh keys."""
    from cryptography.fernet import Fernet

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TIMEBANK_") and key not in {"DATABASE_URL", "FLASK_APP"}
    }
    env.update(
        FLASK_APP="wsgi",
        TIMEBANK_ENV="production",
        DATABASE_URL=database_url,
        TIMEBANK_SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
        TIMEBANK_DATA_KEY=Fernet.generate_key().decode(),
        TIMEBANK_BENCH_ENDPOINTS="1",
        TIMEBANK_DEMO_ALLOWED="1",
        TIMEBANK_RATELIMIT_ENABLED="0",
        TIMEBANK_INSTANCE_PATH=str(instance_path),
        TIMEBANK_LOG_LEVEL="WARNING",
        TIMEBANK_BIND=f"{HOST}:{port}",
        TIMEBANK_WORKERS=str(workers),
    )
    return env


def server_env(database, workdir: Path, workers: int) -> tuple[Path, int, dict[str, str]]:
    """A fresh instance folder, a free port and gunicorn's environment for the database."""
    instance = workdir / f"instance-{database.name}"
    instance.mkdir()
    port = free_port()
    return instance, port, app_env(database.url, instance, port, workers)


class Gunicorn:
    """gunicorn in its own process group, always stopped with the whole group."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path):
        self.env, self.port, self.log_path = env, port, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        # No control socket: its default path is shared by every gunicorn of this user,
        # and the benchmark must not take it over from another running server.
        self.proc = subprocess.Popen(
            [venv_tool("gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        """Poll /healthz until it answers 200, for a bounded time."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited ({self.proc.returncode}):\n{self.log_text()}")
            try:
                status, body = http(self.port, "/healthz")
                if status == 200:
                    return
                last = f"{status} {body[:200]!r}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise BenchError(f"server not ready after {READY_TIMEOUT_S:.0f}s: {last}")

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left in it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=35)
        # Strays in the group (a worker that outlived its master) go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()


def log_problems(text: str) -> list[str]:
    """The lines of gunicorn's log that mean the app misbehaved."""
    return [line for line in text.splitlines() if LOG_PROBLEM.search(line)]


def measure_on_gunicorn(
    run,
    env: dict[str, str],
    port: int,
    workdir: Path,
    bench_name: str,
    measure: Callable[[Gunicorn], None],
    *,
    log_heading: bool = False,
) -> None:
    """Serve with gunicorn while measure(server) runs; its log's errors become run's failures."""
    name = run.backend
    print(f"[{name}] starting gunicorn ({env['TIMEBANK_WORKERS']} workers) on {HOST}:{port}")
    server = Gunicorn(env, port, workdir / f"gunicorn-{name}.log")
    kept = RESULTS_DIR / f"{bench_name}-gunicorn-{name}.log"
    try:
        server.start()
        server.wait_ready()
        measure(server)
    except BenchError as exc:  # keep what was measured before the error
        print(f"[{name}] {exc}", file=sys.stderr)
        run.failures.append((str(exc).splitlines() or ["benchmark error"])[0])
    finally:
        server.stop()
        if server.log_path.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.log_path, kept)
            log = kept.read_text(errors="replace")
            run.server_log_problems = log_problems(log)
            run.worker_restarts = log.count("Autorestarting worker")
    if run.server_log_problems:
        run.failures.append(
            f"{len(run.server_log_problems)} error lines in gunicorn's log "
            f"({kept.relative_to(ROOT)})"
        )
        if log_heading:
            print(f"[{name}] gunicorn log problems (first 20):", file=sys.stderr)
        for line in run.server_log_problems[:20]:
            print(f"  {line}", file=sys.stderr)


# --------------------------------------------------------------------------- wrk


def wrk_installed() -> bool:
    """Whether wrk is on PATH; if not, says how to install it."""
    if shutil.which("wrk") is not None:
        return True
    print(
        "wrk is not installed; install it with `apt-get install -y wrk` (Debian/Ubuntu).",
        file=sys.stderr,
    )
    return False


def wrk_version() -> str:
    """wrk's version line, without its copyright."""
    proc = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "unknown"


# The start of the wrk Lua scripts that send until they decide to stop, and sum in done()
# what every thread counted: a monotonic clock, wrk's threads, finish_thread() to tell
# run_wrk_script() that the thread has all its answers (a marker file per thread, the
# global `marker` set by init()), and report_latency() for done().
WRK_LUA_PRELUDE = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads, counter = {}, 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function finish_thread()
  local f = io.open(marker, "w")
  f:write("done\n")
  f:close()
  wrk.thread:stop()
end

local function report_latency(summary, latency)
  io.write(string.format("BENCH p50_us %d\nBENCH p99_us %d\n",
    latency:percentile(50), latency:percentile(99)))
  local e = summary.errors
  io.write(string.format("BENCH socket_errors %d %d %d %d\n",
    e.connect, e.read, e.write, e.timeout))
end
"""


def run_wrk_script(
    script: Path,
    source: str,
    url: str,
    threads: int,
    connections: int,
    limit_s: int,
    timeout_s: int,
    marker: Path,
    script_args: list[str],
) -> tuple[str, str]:
    """Run wrk with a Lua script until every thread wrote marker.<n>; returns wrk's output."""
    if not script.exists():
        script.write_text(source)
    cmd = [
        "wrk",
        "--latency",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{limit_s}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(script),
        url,
        "--",
        *script_args,
    ]
    markers = [Path(f"{marker}.{t}") for t in range(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None and not all(m.exists() for m in markers):
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # wrk prints its totals and calls done()
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def read_bench_output(stdout: str) -> tuple[dict[str, str], list[str]]:
    """done()'s "BENCH key value" lines as a dict, and the bad answers it sampled."""
    values: dict[str, str] = {}
    samples = []
    for line in stdout.splitlines():
        if line.startswith("BENCH sample "):
            samples.append(line.removeprefix("BENCH sample ")[:300])
        elif line.startswith("BENCH "):
            key, _, value = line.removeprefix("BENCH ").partition(" ")
            values[key] = value
    return values, samples


def wrk_latency(values: dict[str, str]) -> tuple[float, float, dict[str, int]]:
    """p50 and p99 in ms and wrk's socket errors by kind, from report_latency()'s lines."""
    errors = [int(v) for v in values.get("socket_errors", "0 0 0 0").split()]
    return (
        round(int(values["p50_us"]) / 1000, 2),
        round(int(values["p99_us"]) / 1000, 2),
        dict(zip(("connect", "read", "write", "timeout"), errors, strict=True)),
    )


def wrk_warnings(
    label: str, socket_errors: dict[str, int], other_pct: float | None, during: str = "meanwhile"
) -> list[str]:
    """Warnings on a wrk run: socket errors, and other processes' CPU above the limit."""
    warnings = [f"{label}: socket errors {socket_errors}"] if any(socket_errors.values()) else []
    return warnings + disturbance_warnings(label, other_pct, during)


# ---------------------------------------------------------------- reporting


def machine_facts(**extra: str) -> dict[str, str]:
    """Date, CPUs, memory and Python, then whatever the benchmark adds (tool versions)."""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    nproc = shutil.which("nproc")
    cpus = (
        subprocess.run([nproc], capture_output=True, text=True, check=False).stdout.strip()
        if nproc
        else str(os.cpu_count())
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": cpus,
        "memory": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "unknown",
        "cpu_model": model.group(1).strip() if model else platform.processor() or "unknown",
        "python": platform.python_version(),
        **extra,
    }


def print_problems(run) -> None:
    """Print the run's failures and warnings under its table."""
    for failure in run.failures:
        print(f"FAILURE: {failure}")
    for warning in run.warnings:
        print(f"warning: {warning}")


def machine_lines(facts: dict[str, str]) -> list[str]:
    """The doc's bullets on the machine, Python (and wrk) and the database servers."""
    python = f"- Python {facts['python']}" + (f", {facts['wrk']}" if "wrk" in facts else "")
    lines = [
        f"- Machine: {facts['cpus']} CPUs ({facts['cpu_model']}), {facts['memory']} RAM",
        python,
    ]
    return lines + [
        f"- {facts[key]}" for key in ("sqlite_server", "postgresql_server") if key in facts
    ]


def fmt(value, spec: str) -> str:
    """value formatted by spec, or "-" when there is none."""
    return format(value, spec) if value is not None else "-"


def other_cpu_cell(*pcts: float | None) -> str:
    """The other-CPU shares of a row's measurements as "12/3" ("-" when none was taken)."""
    return "/".join(f"{p:.0f}" for p in pcts if p is not None) or "-"


def print_aligned(header: tuple[str, ...], rows: list[tuple[str, ...]], left=(0,)) -> None:
    """Print rows under header in columns, those in left aligned left and the others right."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for i, row in enumerate([header, *rows]):
        cells = [
            c.ljust(w) if n in left else c.rjust(w)
            for n, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]], left=(0,)) -> list[str]:
    """rows under header as a Markdown table, the columns in left aligned left, the others right."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if n in left else "---:" for n in range(len(header))) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def wrap(text: str) -> str:
    """A paragraph of the doc, wrapped at 88 columns."""
    return textwrap.fill(text, width=88, break_on_hyphens=False)


def bullet(text: str) -> str:
    """A bullet of the doc, wrapped at 88 columns with its lines indented under the text."""
    return textwrap.fill(f"- {text}", width=88, subsequent_indent="  ", break_on_hyphens=False)


DOC_INTRO = """# Performance

Figures from the benchmarks in `bench/`.
"""


def write_doc_section(section: str, start: str, end: str, intro: str = DOC_INTRO) -> None:
    """Put section (which begins with start and ends with end) in place of the text
    between those markers in docs/PERFORMANCE.md, or append it; a missing file starts
    with intro."""
    text = DOC_FILE.read_text() if DOC_FILE.exists() else intro
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC_FILE.parent.mkdir(parents=True, exist_ok=True)
    DOC_FILE.write_text(text)
    print(f"Updated {DOC_FILE.relative_to(ROOT)}")


def save_results(results_file: Path, report: dict) -> None:
    """Write the report as JSON to results_file, and say where."""
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nResults written to {results_file.relative_to(ROOT)}")


def exit_status(runs: list) -> int:
    """1 (after saying so) when any run recorded a failure, else 0."""
    if any(run.failures for run in runs):
        print("\nFAILED: see the failures above.", file=sys.stderr)
        return 1
    return 0


# -------------------------------------------------------------------- options

BACKENDS = ("sqlite", "postgresql")


def add_backends_option(parser: argparse.ArgumentParser) -> None:
    """--backends: the databases to measure on, both by default."""
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default: both)",
    )


def add_workers_option(parser: argparse.ArgumentParser) -> None:
    """--workers: gunicorn's sync workers."""
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("TIMEBANK_WORKERS", 4)),
        help="gunicorn workers (default: $TIMEBANK_WORKERS or 4)",
    )


def add_postgres_url_option(parser: argparse.ArgumentParser) -> None:
    """--postgres-url: where the fresh PostgreSQL databases are created."""
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="admin URL of the PostgreSQL server to create the benchmark database on",
    )


def add_wait_idle_option(
    parser: argparse.ArgumentParser, before: str, measure_again: bool = True
) -> None:
    """--wait-idle: how long, in all, to wait for a quiet machine before measurements."""
    parser.add_argument(
        "--wait-idle",
        type=int,
        default=0,
        metavar="SECONDS",
        help=f"in all, wait up to this long for the machine to be 90%% idle before {before}"
        + (", and measure again what other processes disturbed" if measure_again else ""),
    )


def add_write_doc_option(parser: argparse.ArgumentParser) -> None:
    """--write-doc: update the benchmark's section of docs/PERFORMANCE.md."""
    parser.add_argument(
        "--write-doc", action="store_true", help="update docs/PERFORMANCE.md with the results"
    )


def parse_backends(parser, value: str) -> list[str]:
    """The --backends option as a list; anything but sqlite and postgresql is an error."""
    backends = [b.strip() for b in value.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        parser.error(f"unknown backends: {', '.join(sorted(unknown)) or '(none)'}")
    return backends


def parse_bench_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse argv: --backends as a list and, with --wait-idle, wait_until (monotonic)."""
    args = parser.parse_args(argv)
    args.backends = parse_backends(parser, args.backends)
    if hasattr(args, "wait_idle"):
        args.wait_until = time.monotonic() + max(0, args.wait_idle)
    return args


def _exit_on_signal(signum, _frame):
    # SystemExit unwinds the stack, so servers are stopped and databases dropped.
    raise SystemExit(128 + signum)


def exit_cleanly_on_signals() -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
