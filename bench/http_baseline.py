"""HTTP baseline benchmark: serve the app under gunicorn and measure key endpoints with wrk.

For each database backend (SQLite and PostgreSQL) this script prepares a fresh
database with demo data, starts gunicorn with production settings on a free
127.0.0.1 port, and drives it with wrk from a separate process. Every endpoint's
requests per second is reported next to the bare endpoint's (``/_bench/bare``,
which does no work) measured in the same run, so the ratio shows what the app
costs on top of gunicorn and Flask alone, whatever the machine.

Run it with ``make bench`` or ``.venv/bin/python bench/http_baseline.py``;
``--write-doc`` also updates docs/PERFORMANCE.md. Results are written as JSON to
bench/results/http_baseline.json. The exit status is non-zero when any request
failed (non-2xx/3xx responses, a failing check, or errors in gunicorn's log).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import (
    DEFAULT_POSTGRES_URL,
    DOC_FILE,
    OTHER_CPU_WARN_PCT,
    ROOT,
    CpuMeter,
    PostgresDatabase,
    SqliteDatabase,
    exit_cleanly_on_signals,
    idle_pct,
    parse_backends,
    write_doc_section,
)
from common import machine_facts as base_machine_facts

RESULTS_FILE = ROOT / "bench" / "results" / "http_baseline.json"
DOC_START = "<!-- http_baseline:start -->"
DOC_END = "<!-- http_baseline:end -->"

HOST = "127.0.0.1"
DEMO_LOGIN = {"login": "district", "password": "Timebank-demo-2026", "name": "http-baseline"}

READY_TIMEOUT_S = 60.0
WARMUP_S = 1
WRK_THREADS = 2
# With --wait-idle, a measurement disturbed by other processes is taken again this often.
MAX_RETRIES = 2
HTTP_TIMEOUT_S = 10.0
# Lines in gunicorn's output that mean the app misbehaved during the run.
LOG_PROBLEM = re.compile(r"Traceback|\[ERROR\]|\[CRITICAL\]|\"level\": \"(ERROR|CRITICAL)\"")


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    bearer: bool = False


ENDPOINTS = [
    Endpoint("bare (baseline)", "/_bench/bare"),
    Endpoint("healthz", "/healthz"),
    Endpoint("login page", "/login"),
    Endpoint("api me", "/api/v1/me", bearer=True),
    Endpoint("api regions", "/api/v1/regions?per_page=20", bearer=True),
]


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    other_cpu_pct: float | None = None


@dataclass
class EndpointResult:
    endpoint: str
    path: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    ratio: float | None
    requests: int
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    other_cpu_pct: float | None


@dataclass
class BackendRun:
    backend: str
    idle_before_pct: float | None = None
    process_title_marker: str | None = None
    results: list[EndpointResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    server_log_problems: list[str] = field(default_factory=list)
    worker_restarts: int = 0


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


def wait_for_idle(deadline: float) -> float | None:
    """Wait (until the monotonic deadline at most) for the machine to be at least 90% idle;
    return the last idle sample."""
    idle = idle_pct()
    while idle is not None and idle < 90 and time.monotonic() < deadline:
        print(f"machine only {idle:.0f}% idle; waiting for other work to finish", flush=True)
        time.sleep(5)
        idle = idle_pct()
    return idle


# --------------------------------------------------------------------------- wrk


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    """Read requests/s, p50/p99 latency and error counts from `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    dist = output.split("Latency Distribution", 1)
    if not rps or len(dist) != 2:
        raise BenchError(f"cannot parse wrk output:\n{output}")
    percentiles = {
        int(m.group(1)): _to_ms(m.group(2), m.group(3))
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", dist[1], re.MULTILINE)
    }
    if 50 not in percentiles or 99 not in percentiles:
        raise BenchError(f"no p50/p99 in wrk output:\n{output}")
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    non_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True))
        if sock
        else {}
    )
    return WrkResult(
        requests_per_s=float(rps.group(1)),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        requests=int(total.group(1)) if total else 0,
        non_2xx_3xx=int(non_ok.group(1)) if non_ok else 0,
        socket_errors=socket_errors,
    )


def run_wrk(
    url: str,
    duration: int,
    connections: int,
    token: str | None,
    meter_args: tuple[int, str | None] | None = None,
) -> WrkResult:
    """One bounded wrk run against a 127.0.0.1 URL."""
    assert url.startswith(f"http://{HOST}:"), url
    threads = min(WRK_THREADS, connections)  # wrk refuses fewer connections than threads
    cmd = ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{duration}s"]
    cmd += ["--timeout", "5s"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    cmd.append(url)
    meter = CpuMeter(*meter_args) if meter_args else CpuMeter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    result = parse_wrk(proc.stdout)
    result.other_cpu_pct = meter.other_pct()
    return result


def wrk_version() -> str:
    proc = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "unknown"


# ----------------------------------------------------------------------- HTTP


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
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------- server


def venv_tool(name: str) -> str:
    """A console script from the running interpreter's venv (falling back to the repo's)."""
    for directory in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        candidate = directory / name
        if candidate.exists():
            return str(candidate)
    raise BenchError(f"{name} not found; run `make install` first")


def app_env(database_url: str, instance_path: Path, port: int, workers: int) -> dict[str, str]:
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


def prepare_database(env: dict[str, str]) -> None:
    flask = venv_tool("flask")
    for args in (["db", "upgrade"], ["seed-demo", "--if-empty"]):
        proc = subprocess.run(
            [flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["(no output)"]
            raise BenchError(
                f"flask {' '.join(args)} failed: {lines[-1]}\n{proc.stdout}\n{proc.stderr}"
            )


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


# ------------------------------------------------------------------ benchmark


def get_token(port: int) -> str:
    status, body = http(port, "/api/v1/auth/tokens", body=DEMO_LOGIN)
    if status != 201:
        raise BenchError(f"POST /api/v1/auth/tokens answered {status}: {body[:300]!r}")
    return json.loads(body)["token"]


def log_problems(text: str) -> list[str]:
    return [line for line in text.splitlines() if LOG_PROBLEM.search(line)]


def measure_endpoints(run: BackendRun, server: Gunicorn, args: argparse.Namespace) -> None:
    """Check each endpoint answers 200, warm it up, then measure it with wrk."""
    port = server.port
    meter_args = (server.proc.pid, run.process_title_marker)
    token = get_token(port)
    baseline: float | None = None
    for endpoint in ENDPOINTS:
        bearer = token if endpoint.bearer else None
        status, body = http(port, endpoint.path, token=bearer)
        if status != 200:
            run.failures.append(f"{endpoint.path}: check request answered {status}: {body[:200]!r}")
            continue
        url = f"http://{HOST}:{port}{endpoint.path}"
        for attempt in range(1 + MAX_RETRIES):
            if args.wait_until > time.monotonic():
                wait_for_idle(args.wait_until)
            run_wrk(url, WARMUP_S, args.connections, bearer, meter_args)
            print(f"[{run.backend}] {endpoint.path} for {args.duration}s", flush=True)
            measured = run_wrk(url, args.duration, args.connections, bearer, meter_args)
            disturbed = (measured.other_cpu_pct or 0) > OTHER_CPU_WARN_PCT
            if not disturbed or attempt == MAX_RETRIES or args.wait_until <= time.monotonic():
                break
            print(f"[{run.backend}] disturbed by other processes; measuring again", flush=True)
        if baseline is None and endpoint is ENDPOINTS[0]:
            baseline = measured.requests_per_s
        ratio = measured.requests_per_s / baseline if baseline else None
        run.results.append(
            EndpointResult(
                endpoint=endpoint.name,
                path=endpoint.path,
                ratio=round(ratio, 3) if ratio is not None else None,
                **asdict(measured),
            )
        )
        if measured.non_2xx_3xx:
            run.failures.append(f"{endpoint.path}: {measured.non_2xx_3xx} non-2xx/3xx responses")
        if any(measured.socket_errors.values()):
            run.warnings.append(f"{endpoint.path}: socket errors {measured.socket_errors}")
        if (measured.other_cpu_pct or 0) > OTHER_CPU_WARN_PCT:
            run.warnings.append(
                f"{endpoint.path}: other processes used {measured.other_cpu_pct:.0f}% of the "
                "machine's CPU during the measurement; its figures are disturbed"
            )


def bench_backend(database, args: argparse.Namespace, workdir: Path) -> BackendRun:
    run = BackendRun(database.name, process_title_marker=database.process_title_marker)
    instance = workdir / f"instance-{database.name}"
    instance.mkdir()
    port = free_port()
    env = app_env(database.url, instance, port, args.workers)
    print(f"\n[{database.name}] preparing database", flush=True)
    prepare_database(env)
    print(f"[{database.name}] starting gunicorn ({args.workers} workers) on {HOST}:{port}")
    server = Gunicorn(env, port, workdir / f"gunicorn-{database.name}.log")
    try:
        server.start()
        server.wait_ready()
        run.idle_before_pct = idle_pct()
        measure_endpoints(run, server, args)
    except BenchError as exc:  # keep what was measured before the error
        print(f"[{database.name}] {exc}", file=sys.stderr)
        run.failures.append((str(exc).splitlines() or ["benchmark error"])[0])
    finally:
        server.stop()
        if server.log_path.exists():
            kept = RESULTS_FILE.parent / f"http_baseline-gunicorn-{database.name}.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.log_path, kept)
            log = kept.read_text(errors="replace")
            run.server_log_problems = log_problems(log)
            run.worker_restarts = log.count("Autorestarting worker")
    if run.server_log_problems:
        run.failures.append(
            f"{len(run.server_log_problems)} error lines in gunicorn's log "
            f"(bench/results/http_baseline-gunicorn-{database.name}.log)"
        )
        print(f"[{database.name}] gunicorn log problems (first 20):", file=sys.stderr)
        for line in run.server_log_problems[:20]:
            print(f"  {line}", file=sys.stderr)
    return run


# -------------------------------------------------------------------- reports


TABLE_HEADER = ("endpoint", "req/s", "p50 ms", "p99 ms", "ratio", "other CPU %")


def table_rows(run: BackendRun) -> list[tuple[str, ...]]:
    return [
        (
            r.path,
            f"{r.requests_per_s:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.ratio:.2f}" if r.ratio is not None else "-",
            f"{r.other_cpu_pct:.0f}" if r.other_cpu_pct is not None else "-",
        )
        for r in run.results
    ]


def markdown_table(run: BackendRun) -> list[str]:
    rows = [(f"`{row[0]}`", *row[1:]) for row in table_rows(run)]
    return [
        "| " + " | ".join(TABLE_HEADER) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(TABLE_HEADER) - 1)) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def print_table(run: BackendRun) -> None:
    header, rows = TABLE_HEADER, table_rows(run)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    print(f"\n== {run.backend} ==")
    for i, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for failure in run.failures:
        print(f"FAILURE: {failure}")
    for warning in run.warnings:
        print(f"warning: {warning}")
    if run.worker_restarts:
        print(f"note: gunicorn recycled a worker {run.worker_restarts} times (max_requests)")


def machine_facts(server_versions: dict[str, str]) -> dict[str, str]:
    return base_machine_facts(
        wrk=wrk_version(),
        **{f"{name}_server": version for name, version in server_versions.items()},
    )


DOC_INTRO = f"""# Performance

The benchmarks in `bench/` measure how fast the app answers over real HTTP, served
the way production serves it: gunicorn with the production configuration
(`TIMEBANK_ENV=production`), on SQLite and on PostgreSQL, loaded with the demo
district, and driven by [wrk](https://github.com/wg/wrk) from a separate process
on the same machine.

Run them with `make bench`, or `.venv/bin/python bench/http_baseline.py --write-doc`
to refresh the figures below (`--help` lists the options). wrk must be installed
(`apt-get install -y wrk`) and PostgreSQL reachable at
`{DEFAULT_POSTGRES_URL}`
(override with `--postgres-url`, or skip it with `--backends sqlite`). Raw results
land in `bench/results/http_baseline.json`, gunicorn's log next to them.

Absolute requests per second depend on the machine, so every table has a
**ratio** column: the endpoint's requests per second divided by those of
`/_bench/bare`, a no-work endpoint measured in the same run against the same
server. A ratio of 0.5 means the endpoint costs as much again as gunicorn and
Flask alone; compare ratios, not raw numbers, across machines. Each row also
says how much CPU other processes on the machine took while it was measured, so
a disturbed figure is visible as such; on a shared machine, `--wait-idle SECONDS`
waits for quiet before each measurement and takes disturbed ones again.

"""


def doc_section(runs: list[BackendRun], facts: dict[str, str], args: argparse.Namespace) -> str:
    threads = min(WRK_THREADS, args.connections)
    summary = (
        f"Measured {facts['date']} with `bench/http_baseline.py`: gunicorn "
        f"{args.workers} sync workers, wrk `--latency -t{threads} -c{args.connections} "
        f"-d{args.duration}s` after a {WARMUP_S}s warm-up per endpoint; the `/api/v1` "
        "endpoints authenticate with a demo administrator's bearer token. *other CPU %* is "
        "the share of the machine's CPU that processes other than gunicorn, its database "
        f"server and wrk used meanwhile; above {OTHER_CPU_WARN_PCT:.0f}% the row's figures "
        "are disturbed."
    )
    lines = [
        DOC_START,
        "## HTTP baseline",
        "",
        textwrap.fill(summary, width=88, break_on_hyphens=False),
        "",
        f"- Machine: {facts['cpus']} CPUs ({facts['cpu_model']}), {facts['memory']} RAM",
        f"- Python {facts['python']}, {facts['wrk']}",
    ]
    for key in ("sqlite_server", "postgresql_server"):
        if key in facts:
            lines.append(f"- {facts[key]}")
    for run in runs:
        lines += ["", f"### {run.backend}", "", *markdown_table(run)]
        notes = [f"**Failure:** {f}" for f in run.failures] + [f"Note: {w}" for w in run.warnings]
        if run.worker_restarts:
            notes.append(
                f"gunicorn recycled a worker {run.worker_restarts} times (`max_requests`) "
                "during the run; the stalls show in the p99 of the fastest endpoints"
            )
        if notes:
            lines += ["", *(f"- {note}" for note in notes)]
    lines += ["", DOC_END]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    write_doc_section(section, DOC_START, DOC_END, DOC_INTRO)


# ----------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default: both)",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("TIMEBANK_WORKERS", 4)),
        help="gunicorn workers (default: $TIMEBANK_WORKERS or 4)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="admin URL of the PostgreSQL server to create the benchmark database on",
    )
    parser.add_argument(
        "--wait-idle",
        type=int,
        default=0,
        metavar="SECONDS",
        help="in all, wait up to this long for the machine to be 90%% idle before each "
        "measurement, and measure again what other processes disturbed",
    )
    parser.add_argument(
        "--write-doc", action="store_true", help="update docs/PERFORMANCE.md with the results"
    )
    args = parser.parse_args(argv)
    args.backends = parse_backends(parser, args.backends)
    args.wait_until = time.monotonic() + max(0, args.wait_idle)
    if not 1 <= args.duration <= 600 or not 1 <= args.connections <= 1000:
        parser.error("duration must be 1-600 s and connections 1-1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_signals()
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed; install it with `apt-get install -y wrk` (Debian/Ubuntu).",
            file=sys.stderr,
        )
        return 2
    runs: list[BackendRun] = []
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="timebank-bench-") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        for backend in args.backends:
            try:
                database = (
                    SqliteDatabase(workdir)
                    if backend == "sqlite"
                    else PostgresDatabase(args.postgres_url)
                )
                with database:
                    versions[backend] = database.server_version()
                    runs.append(bench_backend(database, args, workdir))
            except Exception as exc:  # record the backend as failed; the others still run
                print(f"[{backend}] {type(exc).__name__}: {exc}", file=sys.stderr)
                first_line = (str(exc).splitlines() or [""])[0]
                runs.append(BackendRun(backend, failures=[f"{type(exc).__name__}: {first_line}"]))
    facts = machine_facts(versions)
    for run in runs:
        print_table(run)

    report = {
        "machine": facts,
        "settings": {
            "workers": args.workers,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": WARMUP_S,
            "wrk_threads": min(WRK_THREADS, args.connections),
        },
        "backends": {run.backend: asdict(run) for run in runs},
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nResults written to {RESULTS_FILE.relative_to(ROOT)}")
    if args.write_doc:
        write_doc(doc_section(runs, facts, args))
        print(f"Updated {DOC_FILE.relative_to(ROOT)}")
    failed = any(run.failures for run in runs)
    if failed:
        print("\nFAILED: see the failures above.", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
