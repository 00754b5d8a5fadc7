"""Check-in burst benchmark: thousands of volunteers scanning one event's kiosk code at once.

The start of a big event: N (default 3,000) distinct verified volunteers, each with their
own API bearer token, all signed up for one published event that has started (walk-ins
allowed, no capacity limit), present the event's current kiosk check-in code through
``POST /api/v1/checkins`` over C (default 50) concurrent connections. Every answer must
be 200 with outcome ``checked_in``; afterwards the database must hold exactly N
attendances for the event, one per volunteer. Then every volunteer scans a second time
(the common retry): every answer must be 200 with outcome ``already_checked_in`` and
nothing more may be recorded.

For each database backend (SQLite and PostgreSQL) the script prepares a fresh database
(migrated; places, a station, the events; the volunteers imported with
``timebank.volunteers.imports.import_volunteers`` and marked verified; their sign-ups
and API tokens bulk-inserted; none of this is measured), starts gunicorn with
production settings on a free 127.0.0.1 port (as ``bench/http_baseline.py`` does:
``TIMEBANK_ENV=production``, ``gunicorn.conf.py``, 4 sync workers unless told
otherwise), and drives it with wrk from a separate process. wrk sends each request
exactly once: a Lua script hands every connection the next volunteer's request and
idles it when none is left, and the run stops when the last answer is in. Each burst is
preceded, on the same server with the same connections, by as many requests to the
bare endpoint ``/_bench/bare``; ratio = check-ins/s ÷ bare requests/s.

The kiosk code would rotate every 30 s; the server runs with EVENT_CODE_SECONDS=3600 and
EVENT_CODE_GRACE_SECONDS=600, and the code is taken just before each burst, so no code
expires during a run.

Run it with ``.venv/bin/python bench/checkin_burst.py`` (``--volunteers 500
--backends sqlite`` for a smoke run, ``--profile`` to see where a check-in's time
goes); ``--write-doc`` updates its section of docs/PERFORMANCE.md. Results are written as
JSON to bench/results/checkin_burst.json, gunicorn's log next to it. The exit status is
non-zero when any answer was not the expected one or the database disagrees.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from common import (
    HOST,
    OTHER_CPU_WARN_PCT,
    RESULTS_DIR,
    WRK_LUA_PRELUDE,
    BenchError,
    CpuMeter,
    StatementCounter,
    add_backends_option,
    add_postgres_url_option,
    add_wait_idle_option,
    add_workers_option,
    add_write_doc_option,
    close_app_database,
    create_district,
    exit_cleanly_on_signals,
    exit_status,
    fmt,
    http,
    idle_pct,
    import_verified,
    issue_tokens,
    machine_facts,
    machine_lines,
    make_app,
    markdown_table,
    may_measure_again,
    measure_on_gunicorn,
    migrate,
    other_cpu_cell,
    parse_bench_args,
    print_aligned,
    print_problems,
    profile_calls,
    read_bench_output,
    run_each_backend,
    run_wrk_script,
    save_results,
    server_app_config,
    server_env,
    wait_for_idle,
    wrap,
    write_csv,
    write_doc_section,
    wrk_installed,
    wrk_latency,
    wrk_version,
    wrk_warnings,
)
from volunteer_import import GIVEN, HEADER, SURNAMES, resident_id

RESULTS_FILE = RESULTS_DIR / "checkin_burst.json"
DOC_START = "<!-- checkin_burst:start -->"
DOC_END = "<!-- checkin_burst:end -->"

# One wrk thread: a thread that has sent all its requests idles its connections, and
# a sync worker that accepts an idle connection waits on it; with one thread every idle
# connection queues behind the last real request.
WRK_THREADS = 1
# With --wait-idle, a pair of bursts disturbed by other processes is taken again this
# often, the first-scan burst on a fresh event (one per attempt is prepared).
MAX_RETRIES = 2
EVENT_CODE_SECONDS = 3600
EVENT_CODE_GRACE_SECONDS = 600
COMMUNITIES = 4
BARE_WARMUP = 500
PROFILE_CHECKINS = 300
WRK_TIMEOUT_S = 30  # per request; a burst itself is bounded by burst_limit_s()
CHECKIN_PATH = "/api/v1/checkins"
BARE_PATH = "/_bench/bare"

# One wrk Lua state per thread. Thread t sends lines t, t+T, t+2T... of the request file,
# each exactly once; a connection with nothing left to send writes an empty request and
# idles. When a thread has all its answers it writes a marker file and stops; the parent
# then interrupts wrk, which prints its totals and calls done().
LUA_SCRIPT = (
    WRK_LUA_PRELUDE
    + r"""
function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  expected = args[3]
  marker = args[4] .. "." .. tid
  pattern = '"outcome":%s*"' .. expected .. '"'
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid then
      local method, p, bearer, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = { Host = wrk.headers["Host"], Accept = "application/json" }
      if bearer ~= "" then headers["Authorization"] = "Bearer " .. bearer end
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      reqs[#reqs + 1] = wrk.format(method, p, headers, body)
    end
    i = i + 1
  end
  total, sent, received, ok, bad = #reqs, 0, 0, 0, 0
  samples = {}
  -- wrk asks thread 0 for one request up front to check it parses; that one is not sent.
  verifying = (tid == 0)
end

function request()
  if verifying then
    verifying = false
    return reqs[1]
  end
  if sent >= total then
    return ""
  end
  sent = sent + 1
  if sent == 1 then first_sent = now() end
  return reqs[sent]
end

function response(status, headers, body)
  received = received + 1
  if status == 200 and (expected == "" or body:find(pattern)) then
    ok = ok + 1
  else
    bad = bad + 1
    if #samples < 5 then samples[#samples + 1] = status .. " " .. body:sub(1, 300) end
  end
  if received >= total then
    last_received = now()
    finish_thread()
  end
end

function done(summary, latency, requests)
  local first, last, oks, bads, got = nil, nil, 0, 0, 0
  for _, t in ipairs(threads) do
    local f, l = t:get("first_sent"), t:get("last_received")
    if f and (first == nil or f < first) then first = f end
    if l and (last == nil or l > last) then last = l end
    oks = oks + t:get("ok")
    bads = bads + t:get("bad")
    got = got + t:get("received")
    for _, s in ipairs(t:get("samples")) do
      io.write("BENCH sample ", (s:gsub("[\r\n]", " ")), "\n")
    end
  end
  io.write(string.format("BENCH ok %d\nBENCH bad %d\nBENCH received %d\n", oks, bads, got))
  if first and last then io.write(string.format("BENCH seconds %.6f\n", last - first)) end
  report_latency(summary, latency)
end
"""
)


@dataclass
class Burst:
    name: str
    requests: int
    ok: int = 0
    bad: int = 0
    received: int = 0
    seconds: float | None = None
    per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    socket_errors: dict[str, int] = field(default_factory=dict)
    bad_samples: list[str] = field(default_factory=list)
    other_cpu_pct: float | None = None


@dataclass
class Pair:
    """A check-in burst and the bare baseline measured just before it."""

    outcome: str
    bare: Burst
    checkins: Burst
    ratio: float | None = None


@dataclass
class BackendRun:
    backend: str
    volunteers: int = 0
    setup_s: float = 0.0
    idle_before_pct: float | None = None
    pairs: list[Pair] = field(default_factory=list)
    attendances: int | None = None
    statements_per_checkin: dict[str, float] = field(default_factory=dict)
    profile: str | None = None
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    server_log_problems: list[str] = field(default_factory=list)
    worker_restarts: int = 0


# ------------------------------------------------------------------------ setup


def volunteers_csv(path: Path, count: int) -> None:
    """count valid volunteers with real-looking names, ID numbers and mobile numbers."""
    rows = (
        [
            SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)],
            resident_id(i),
            f"13{i:09d}",
            f"签到社区{i % COMMUNITIES + 1}",
        ]
        for i in range(count)
    )
    write_csv(path, HEADER[:4], rows)  # name, ID number, mobile, community


def setup_database(app, workdir: Path, count: int, warmup: int, walk_ins: bool) -> dict:
    """Migrate; places and a station; the volunteers (imported, then verified), a token
    each; the burst event, a warm-up event and a profiling event, all started."""
    from sqlalchemy import insert

    from timebank.core.db import utcnow
    from timebank.core.security import SYSTEM
    from timebank.events import services as events
    from timebank.events.models import Signup, SignupState
    from timebank.extensions import db
    from timebank.stations.services import create_station

    migrate(app)
    csv_path = workdir / "volunteers.csv"
    volunteers_csv(csv_path, count)
    with app.test_request_context():
        communities = create_district("签到", COMMUNITIES)
        station = create_station(SYSTEM, region=communities[0], name="签到服务站")
        db.session.commit()
        user_ids = import_verified(csv_path, count, "volunteers")
        now = utcnow()

        def started_event(title: str):
            details = events.EventDetails(
                title=title,
                starts_at=now - timedelta(minutes=10),
                ends_at=now + timedelta(hours=4),
                walk_ins=True,
                capacity=None,
            )
            event = events.create_event(SYSTEM, station, details)
            events.publish(SYSTEM, event)
            return event

        burst_events = [started_event(f"大型活动签到{k + 1}") for k in range(1 + MAX_RETRIES)]
        warmup_event = started_event("预热活动")
        profile_event = started_event("剖析活动")
        db.session.flush()
        signups = [(warmup_event, user_ids[:warmup]), (profile_event, user_ids[:PROFILE_CHECKINS])]
        if not walk_ins:
            signups += [(event, user_ids) for event in burst_events]
        for event, ids in signups:
            db.session.execute(
                insert(Signup),
                [
                    {
                        "event_id": event.id,
                        "user_id": uid,
                        "state": SignupState.CONFIRMED.value,
                        "walk_in": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for uid in ids
                ],
            )
        plain = issue_tokens(user_ids, "checkin-burst", now)
        ids = {
            "bursts": [event.id for event in burst_events],
            "warmup": warmup_event.id,
            "profile": profile_event.id,
            "user_ids": user_ids,
            "tokens": plain,
        }
        db.session.commit()
        db.session.remove()
    return ids


def kiosk_checkin_token(app, event_id: int) -> str:
    from timebank.events import tokens
    from timebank.events.models import Event
    from timebank.extensions import db

    with app.app_context():
        event = db.session.get(Event, event_id)
        # Accepted until EVENT_CODE_GRACE_SECONDS after its window ends: past any burst.
        token, _expires = tokens.kiosk_token(event, tokens.CHECK_IN)
        db.session.remove()
    return token


def attendance_check(app, event_id: int, user_ids: list[int]) -> tuple[int, list[str]]:
    """The event's attendances; problems unless there is exactly one per volunteer."""
    from sqlalchemy import func, select

    from timebank.events.models import Attendance
    from timebank.extensions import db

    problems = []
    with app.app_context():
        rows = db.session.execute(
            select(Attendance.user_id, func.count())
            .where(Attendance.event_id == event_id)
            .group_by(Attendance.user_id)
        ).all()
        total = db.session.scalar(
            select(func.count()).select_from(Attendance).where(Attendance.event_id == event_id)
        )
        db.session.remove()
    per_user = dict(rows)
    if total != len(user_ids):
        problems.append(f"{total} attendances for {len(user_ids)} volunteers")
    twice = sum(1 for n in per_user.values() if n > 1)
    missing = len(set(user_ids) - set(per_user))
    strangers = len(set(per_user) - set(user_ids))
    if twice or missing or strangers:
        problems.append(
            f"attendances: {twice} volunteers twice, {missing} missing, {strangers} others"
        )
    return total, problems


# -------------------------------------------------------------------------- wrk


def request_file(path: Path, lines: list[tuple[str, str, str, str]]) -> Path:
    with path.open("w") as out:
        for line in lines:
            assert not any("\t" in part or "\n" in part for part in line)
            out.write("\t".join(line) + "\n")
    return path


def checkin_lines(tokens: list[str], code: str) -> list[tuple[str, str, str, str]]:
    body = json.dumps({"token": code}, separators=(",", ":"))
    return [("POST", CHECKIN_PATH, bearer, body) for bearer in tokens]


def bare_lines(count: int) -> list[tuple[str, str, str, str]]:
    return [("GET", BARE_PATH, "", "")] * count


def burst_limit_s(requests: int) -> int:
    """wrk's own deadline: far beyond any plausible burst (20 requests/s at least)."""
    return max(30, requests // 20)


def run_burst(
    name: str,
    port: int,
    req_file: Path,
    requests: int,
    connections: int,
    expected: str,
    workdir: Path,
    meter_args: tuple[int, str | None],
) -> Burst:
    """Send the file's requests once each over `connections` connections; wait for every
    answer, then stop wrk."""
    threads = min(WRK_THREADS, connections)
    marker = workdir / f"done-{secrets.token_hex(4)}"
    meter = CpuMeter(*meter_args)
    stdout, stderr = run_wrk_script(
        workdir / "burst.lua",
        LUA_SCRIPT,
        f"http://{HOST}:{port}{CHECKIN_PATH if expected else BARE_PATH}",
        threads,
        connections,
        burst_limit_s(requests),
        WRK_TIMEOUT_S,
        marker,
        [str(req_file), str(threads), expected, str(marker)],
    )
    other = meter.other_pct()
    burst = parse_burst(name, requests, stdout, stderr)
    burst.other_cpu_pct = other
    return burst


def parse_burst(name: str, requests: int, stdout: str, stderr: str) -> Burst:
    values, samples = read_bench_output(stdout)
    if "ok" not in values:
        raise BenchError(f"wrk gave no results:\n{stdout}\n{stderr}")
    burst = Burst(name, requests, bad_samples=samples)
    burst.ok, burst.bad = int(values["ok"]), int(values["bad"])
    burst.received = int(values["received"])
    burst.p50_ms, burst.p99_ms, burst.socket_errors = wrk_latency(values)
    if "seconds" in values and burst.received == requests:
        burst.seconds = round(float(values["seconds"]), 3)
        burst.per_s = round(requests / burst.seconds, 1) if burst.seconds > 0 else None
    return burst


def check_burst(run: BackendRun, burst: Burst, measured: bool = True) -> None:
    if burst.ok != burst.requests or burst.bad or burst.received != burst.requests:
        run.failures.append(
            f"{burst.name}: {burst.ok} of {burst.requests} answers as expected, {burst.bad} "
            f"not, {burst.requests - burst.received} unanswered"
            + (f"; first: {burst.bad_samples[0][:160]!r}" if burst.bad_samples else "")
        )
    other = burst.other_cpu_pct if measured else None
    run.warnings += wrk_warnings(burst.name, burst.socket_errors, other, "during the burst")


# -------------------------------------------------------------------- profiling


def profile_checkins(app, ids: dict, run: BackendRun, profile: bool) -> None:
    """In this process, through Flask's test client: SQL statements per check-in and per
    repeated check-in, and (with --profile) where a check-in request's time goes."""
    from timebank.extensions import db

    code = kiosk_checkin_token(app, ids["profile"])
    tokens = ids["tokens"][:PROFILE_CHECKINS]
    client = app.test_client()

    def checkin(bearer: str, expected: str) -> None:
        response = client.post(
            CHECKIN_PATH, json={"token": code}, headers={"Authorization": f"Bearer {bearer}"}
        )
        outcome = (response.get_json(silent=True) or {}).get("outcome")
        if response.status_code != 200 or outcome != expected:
            raise BenchError(f"profiling check-in answered {response.status_code} {outcome}")

    with app.app_context():
        engine = db.engine
    checkin(tokens[0], "checked_in")  # warm
    for label, expected, sample in (
        ("checked_in", "checked_in", tokens[1:21]),
        ("already_checked_in", "already_checked_in", tokens[1:21]),
    ):
        with StatementCounter(engine) as counter:
            for bearer in sample:
                checkin(bearer, expected)
        run.statements_per_checkin[label] = round(counter.count / len(sample), 1)
    if profile:
        rest = tokens[21:]

        def checkins() -> None:
            for bearer in rest:
                checkin(bearer, "checked_in")

        stats = profile_calls(checkins, cumulative=40, tottime=25)
        run.profile = f"{len(rest)} check-ins through the test client\n" + stats


# -------------------------------------------------------------------- benchmark


def bench_backend(database, args: argparse.Namespace, workdir: Path) -> BackendRun:
    run = BackendRun(database.name, volunteers=args.volunteers)
    instance, port, env = server_env(database, workdir, args.workers)
    env["TIMEBANK_EVENT_CODE_SECONDS"] = str(EVENT_CODE_SECONDS)
    env["TIMEBANK_EVENT_CODE_GRACE_SECONDS"] = str(EVENT_CODE_GRACE_SECONDS)
    print(f"\n[{database.name}] preparing {args.volunteers:,} volunteers", flush=True)
    started = time.monotonic()
    app = make_app(
        database.url,
        instance,
        **server_app_config(env),
        EVENT_CODE_SECONDS=EVENT_CODE_SECONDS,
        EVENT_CODE_GRACE_SECONDS=EVENT_CODE_GRACE_SECONDS,
    )
    ids = setup_database(app, workdir, args.volunteers, args.warmup, args.walk_ins)
    close_app_database(app)
    run.setup_s = round(time.monotonic() - started, 1)
    print(f"[{database.name}] setup took {run.setup_s:.0f}s", flush=True)

    files = workdir / f"requests-{database.name}"
    files.mkdir()
    n = args.volunteers

    def measure(server) -> None:
        meter_args = (server.proc.pid, database.process_title_marker)
        status, body = http(port, BARE_PATH)
        if status != 200:
            raise BenchError(f"{BARE_PATH} answered {status}: {body[:200]!r}")

        def burst(name, lines, expected):
            path = request_file(files / f"{name}.tsv", lines)
            print(f"[{database.name}] {name}: {len(lines):,} requests", flush=True)
            return run_burst(
                name, port, path, len(lines), args.connections, expected, workdir, meter_args
            )

        # Warm-up: every worker imports, compiles and connects before anything is timed.
        warm = burst("warm-up bare", bare_lines(BARE_WARMUP), "")
        check_burst(run, warm, measured=False)
        code = kiosk_checkin_token(app, ids["warmup"])
        warm = burst(
            "warm-up check-ins", checkin_lines(ids["tokens"][: args.warmup], code), "checked_in"
        )
        check_burst(run, warm, measured=False)
        run.idle_before_pct = idle_pct(1.0)

        event_ids = iter(ids["bursts"])
        event_id = next(event_ids)
        for outcome in ("checked_in", "already_checked_in"):
            for attempt in range(1 + MAX_RETRIES):
                if args.wait_until > time.monotonic():
                    wait_for_idle(args.wait_until)
                bare = burst(f"bare before {outcome}", bare_lines(n), "")
                code = kiosk_checkin_token(app, event_id)
                checkins = burst(
                    f"check-ins ({outcome})", checkin_lines(ids["tokens"], code), outcome
                )
                retry = (
                    may_measure_again(
                        (bare.other_cpu_pct, checkins.other_cpu_pct),
                        attempt,
                        MAX_RETRIES,
                        args.wait_until,
                    )
                    and not bare.bad
                    and not checkins.bad
                )
                if outcome == "checked_in":
                    total, problems = attendance_check(app, event_id, ids["user_ids"])
                    if retry and not problems:  # again on a fresh event
                        event_id = next(event_ids)
                if not retry:
                    break
                print(f"[{database.name}] disturbed by other processes; measuring again")
            check_burst(run, bare)
            check_burst(run, checkins)
            if outcome == "already_checked_in":
                total, problems = attendance_check(app, event_id, ids["user_ids"])
            run.attendances = total
            run.failures += [f"after the {outcome} burst: {p}" for p in problems]
            ratio = round(checkins.per_s / bare.per_s, 3) if checkins.per_s and bare.per_s else None
            run.pairs.append(Pair(outcome, bare, checkins, ratio))
            print(
                f"[{database.name}] {outcome}: {checkins.per_s or 0:,.0f}/s against bare "
                f"{bare.per_s or 0:,.0f}/s (ratio {ratio}); {total:,} attendances",
                flush=True,
            )

    measure_on_gunicorn(run, env, port, workdir, "checkin_burst", measure)
    try:
        profile_checkins(app, ids, run, args.profile)
    except BenchError as exc:
        run.failures.append(str(exc))
    finally:
        close_app_database(app)
    return run


# ---------------------------------------------------------------------- reports


TABLE_HEADER = (
    "burst",
    "check-ins/s",
    "p50 ms",
    "p99 ms",
    "bare req/s",
    "bare p50 ms",
    "bare p99 ms",
    "ratio",
    "other CPU %",
)


def table_rows(run: BackendRun) -> list[tuple[str, ...]]:
    labels = {
        "checked_in": "first scan → checked_in",
        "already_checked_in": "second scan → already_checked_in",
    }
    return [
        (
            labels[p.outcome],
            fmt(p.checkins.per_s, ",.0f"),
            fmt(p.checkins.p50_ms, ".1f"),
            fmt(p.checkins.p99_ms, ".1f"),
            fmt(p.bare.per_s, ",.0f"),
            fmt(p.bare.p50_ms, ".1f"),
            fmt(p.bare.p99_ms, ".1f"),
            fmt(p.ratio, ".2f"),
            other_cpu_cell(p.bare.other_cpu_pct, p.checkins.other_cpu_pct),
        )
        for p in run.pairs
    ]


def print_table(run: BackendRun) -> None:
    print(f"\n== {run.backend} ({run.volunteers:,} volunteers) ==")
    print_aligned(TABLE_HEADER, table_rows(run))
    if run.statements_per_checkin:
        print(f"SQL statements per request: {run.statements_per_checkin}")
    print_problems(run)
    if run.profile:
        print(f"\nprofile ({run.backend}):\n{run.profile}")


def doc_section(runs: list[BackendRun], facts: dict[str, str], args) -> str:
    threads = min(WRK_THREADS, args.connections)
    method = (
        f"Measured {facts['date']} with `bench/checkin_burst.py`. The start of a big event: "
        f"{args.volunteers:,} distinct verified volunteers, each with their own API bearer "
        "token, all signed up for one published event that has started (walk-ins allowed, "
        "no capacity limit), each send `POST /api/v1/checkins` with the event's current "
        "kiosk check-in code, exactly once, over "
        f"{args.connections} concurrent connections (wrk `-t{threads} -c{args.connections}` "
        "with a Lua script that gives every request its own volunteer and stops when the "
        "last answer is in). Every answer must be 200 with outcome `checked_in`, and the "
        "database must then hold exactly one attendance per volunteer. The second burst is "
        "the common retry: every volunteer scans again and must hear `already_checked_in`, "
        "with nothing more recorded. Before each burst, as many requests (same connections, "
        "same gunicorn) go to the no-work `/_bench/bare`; **ratio** = check-ins/s ÷ bare "
        "req/s (issue #5 aims at 0.5 or more). gunicorn runs with the production "
        f"configuration, {args.workers} sync workers as in the HTTP baseline; setup "
        "(volunteers imported with the real importer and marked verified, sign-ups and "
        f"tokens bulk-inserted) is not measured, and {args.warmup} other volunteers check "
        "into a warm-up event first. The kiosk code rotates every 30 s in production; the "
        f"server here runs with `EVENT_CODE_SECONDS={EVENT_CODE_SECONDS}` and "
        f"`EVENT_CODE_GRACE_SECONDS={EVENT_CODE_GRACE_SECONDS}` so that no code expires "
        "mid-run (checking a code costs the same either way). Latency percentiles are "
        "wrk's. *other CPU %* (bare/check-ins) is the share of the machine's CPU that "
        "processes other than gunicorn, the database server and wrk used meanwhile; above "
        f"{OTHER_CPU_WARN_PCT:.0f}% a figure is disturbed."
    )
    lines = [
        DOC_START,
        "## Check-in burst",
        "",
        wrap(method),
        "",
        "Run it with `.venv/bin/python bench/checkin_burst.py --write-doc` (or `make",
        "bench-checkin`; `--profile` shows where a check-in's time goes); raw results land",
        "in `bench/results/checkin_burst.json`. Findings follow the tables.",
        "",
        *machine_lines(facts),
    ]
    for run in runs:
        lines += ["", f"### {run.backend}", "", *markdown_table(TABLE_HEADER, table_rows(run))]
        notes = []
        if run.attendances is not None:
            notes.append(
                f"{run.attendances:,} attendances recorded for {run.volunteers:,} volunteers"
            )
        if run.statements_per_checkin:
            notes.append(
                "SQL statements per request: "
                + ", ".join(f"{v:g} ({k})" for k, v in run.statements_per_checkin.items())
            )
        notes += [f"**Failure:** {f}" for f in run.failures]
        notes += [f"Note: {w}" for w in run.warnings]
        lines += ["", *(f"- {note}" for note in notes)]
    lines += ["", DOC_END]
    return "\n".join(lines)


# ------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backends_option(parser)
    parser.add_argument("--volunteers", type=int, default=3000, help="volunteers (= check-ins)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections")
    add_workers_option(parser)
    parser.add_argument(
        "--warmup", type=int, default=200, help="volunteers checking into a warm-up event"
    )
    parser.add_argument(
        "--walk-ins",
        action="store_true",
        help="nobody signed up beforehand: every check-in signs its volunteer up on the spot",
    )
    add_postgres_url_option(parser)
    add_wait_idle_option(parser, "each pair of bursts")
    parser.add_argument(
        "--profile", action="store_true", help="print where a check-in request's time goes"
    )
    add_write_doc_option(parser)
    args = parse_bench_args(parser, argv)
    if not 1 <= args.connections <= 1000 or args.volunteers < args.connections:
        parser.error("connections must be 1-1000 and volunteers at least that many")
    if not PROFILE_CHECKINS <= args.volunteers <= 1_000_000:
        parser.error(f"volunteers must be {PROFILE_CHECKINS}-1,000,000")
    if not args.connections <= args.warmup <= args.volunteers:
        parser.error("warm-up volunteers must be at least the connections, at most all")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_signals()
    if not wrk_installed():
        return 2
    runs, versions = run_each_backend(args, bench_backend, BackendRun)
    facts = machine_facts(wrk=wrk_version(), **versions)
    for run in runs:
        print_table(run)
    report = {
        "machine": facts,
        "settings": {
            "volunteers": args.volunteers,
            "connections": args.connections,
            "workers": args.workers,
            "warmup_volunteers": args.warmup,
            "walk_ins": args.walk_ins,
            "wrk_threads": min(WRK_THREADS, args.connections),
            "event_code_seconds": EVENT_CODE_SECONDS,
            "event_code_grace_seconds": EVENT_CODE_GRACE_SECONDS,
        },
        "backends": {run.backend: asdict(run) for run in runs},
    }
    save_results(RESULTS_FILE, report)
    if args.write_doc:
        write_doc_section(doc_section(runs, facts, args), DOC_START, DOC_END, "# Performance\n")
    return exit_status(runs)


if __name__ == "__main__":
    sys.exit(main())
