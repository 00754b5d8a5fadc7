"""Helpers shared by the benchmarks: machine facts, CPU metering, fresh databases, the doc.

The benchmarks run as scripts (``python bench/<name>.py``), so they import this module
as ``common``.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DOC_FILE = ROOT / "docs" / "PERFORMANCE.md"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


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
            served = served_cpu_ticks(self.pgid, self.marker)
            ours += sum(t - self.served.get(pid, 0) for pid, t in served.items()) / _CLK_TCK
        return round(max(0.0, busy - ours) / capacity * 100, 1)


def idle_pct(seconds: float = 2.0) -> float | None:
    """The machine's idle share over a short sample."""
    before = machine_cpu_ticks()
    time.sleep(seconds)
    after = machine_cpu_ticks()
    if before is None or after is None or after[1] <= before[1]:
        return None
    busy = after[0] - before[0]
    return round(100 - busy / (after[1] - before[1]) * 100, 1)


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


def write_doc_section(section: str, start: str, end: str, intro: str) -> None:
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


BACKENDS = ("sqlite", "postgresql")


def parse_backends(parser, value: str) -> list[str]:
    """The --backends option as a list; anything but sqlite and postgresql is an error."""
    backends = [b.strip() for b in value.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        parser.error(f"unknown backends: {', '.join(sorted(unknown)) or '(none)'}")
    return backends


def _exit_on_signal(signum, _frame):
    # SystemExit unwinds the stack, so servers are stopped and databases dropped.
    raise SystemExit(128 + signum)


def exit_cleanly_on_signals() -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
