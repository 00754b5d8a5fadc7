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
import json
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import (
    DEFAULT_POSTGRES_URL,
    HOST,
    OTHER_CPU_WARN_PCT,
    ROOT,
    BenchError,
    CpuMeter,
    Gunicorn,
    add_backends_option,
    add_postgres_url_option,
    add_wait_idle_option,
    add_workers_option,
    add_write_doc_option,
    exit_cleanly_on_signals,
    exit_status,
    fmt,
    http,
    idle_pct,
    machine_facts,
    machine_lines,
    markdown_table,
    may_measure_again,
    measure_on_gunicorn,
    parse_bench_args,
    print_aligned,
    print_problems,
    run_each_backend,
    save_results,
    server_env,
    venv_tool,
    wait_for_idle,
    wrap,
    write_doc_section,
    wrk_installed,
    wrk_version,
    wrk_warnings,
)

RESULTS_FILE = ROOT / "bench" / "results" / "http_baseline.json"
DOC_START = "<!-- http_baseline:start -->"
DOC_END = "<!-- http_baseline:end -->"

DEMO_LOGIN = {"login": "district", "password": "Timebank-demo-2026", "name": "http-baseline"}

WARMUP_S = 1
WRK_THREADS = 2
# With --wait-idle, a measurement disturbed by other processes is taken again this often.
MAX_RETRIES = 2


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


# --------------------------------------------------------------------- server


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


# ------------------------------------------------------------------ benchmark


def get_token(port: int) -> str:
    status, body = http(port, "/api/v1/auth/tokens", body=DEMO_LOGIN)
    if status != 201:
        raise BenchError(f"POST /api/v1/auth/tokens answered {status}: {body[:300]!r}")
    return json.loads(body)["token"]


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
            if not may_measure_again(
                (measured.other_cpu_pct,), attempt, MAX_RETRIES, args.wait_until
            ):
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
        run.warnings += wrk_warnings(
            endpoint.path, measured.socket_errors, measured.other_cpu_pct, "during the measurement"
        )


def bench_backend(database, args: argparse.Namespace, workdir: Path) -> BackendRun:
    run = BackendRun(database.name, process_title_marker=database.process_title_marker)
    _instance, port, env = server_env(database, workdir, args.workers)
    print(f"\n[{database.name}] preparing database", flush=True)
    prepare_database(env)

    def measure(server) -> None:
        run.idle_before_pct = idle_pct()
        measure_endpoints(run, server, args)

    measure_on_gunicorn(run, env, port, workdir, "http_baseline", measure, log_heading=True)
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
            fmt(r.ratio, ".2f"),
            fmt(r.other_cpu_pct, ".0f"),
        )
        for r in run.results
    ]


def print_table(run: BackendRun) -> None:
    print(f"\n== {run.backend} ==")
    print_aligned(TABLE_HEADER, table_rows(run))
    print_problems(run)
    if run.worker_restarts:
        print(f"note: gunicorn recycled a worker {run.worker_restarts} times (max_requests)")


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
        wrap(summary),
        "",
        *machine_lines(facts),
    ]
    for run in runs:
        rows = [(f"`{row[0]}`", *row[1:]) for row in table_rows(run)]
        lines += ["", f"### {run.backend}", "", *markdown_table(TABLE_HEADER, rows)]
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


# ----------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backends_option(parser)
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    add_workers_option(parser)
    add_postgres_url_option(parser)
    add_wait_idle_option(parser, "each measurement")
    add_write_doc_option(parser)
    args = parse_bench_args(parser, argv)
    if not 1 <= args.duration <= 600 or not 1 <= args.connections <= 1000:
        parser.error("duration must be 1-600 s and connections 1-1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_signals()
    if not wrk_installed():
        return 2
    runs, versions = run_each_backend(args, bench_backend, BackendRun, subdir="work")
    facts = machine_facts(wrk=wrk_version(), **versions)
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
    save_results(RESULTS_FILE, report)
    if args.write_doc:
        write_doc_section(doc_section(runs, facts, args), DOC_START, DOC_END, DOC_INTRO)
    return exit_status(runs)


if __name__ == "__main__":
    sys.exit(main())
