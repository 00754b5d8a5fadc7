"""Volunteer import benchmark: the real import path against a plain bulk insert of the same rows.

For each database backend (SQLite in a fresh WAL file, PostgreSQL in a fresh database
that the script creates and drops), with N generated volunteers (default 400,000, all
valid, streamed to a CSV file once and shared by every measurement):

1. **Import**: ``timebank.volunteers.imports.import_volunteers`` as the console operator
   (what ``flask volunteers import FILE`` runs): the first pass over the file, every row
   checked as in self-registration, the ID number encrypted (Fernet) and hashed (HMAC),
   duplicates looked up per batch, users, profiles, role grants and team memberships
   inserted with executemany, a commit per batch of 1,000.
2. **Bulk insert baseline**: the same rows read from the same CSV file and inserted into
   the same four tables with the same executemany statements, batch size and commits,
   but with no validation, no encryption and no duplicate lookups (a placeholder cipher
   text of the real length; a plain SHA-256 and a random handle in the unique columns,
   so that index inserts land as scattered as the real ones). Ratio = import rows/s ÷
   bulk insert rows/s.
3. **Memory**: the import again with a quarter of the rows (default 100,000). Its peak
   RSS against the full import's shows whether memory grows with the file.

Each measurement runs in a fresh process on a fresh database (migrated, with a district
of 20 communities and 4 teams), so its peak RSS (the kernel's high-water mark, reset just
before the measurement) is its own, on top of the loaded app.

Run it with ``.venv/bin/python bench/volunteer_import.py`` (``--rows 20000`` for a smoke
run, ``--profile`` to see where an imported row's time goes); ``--write-doc`` updates its
section of docs/PERFORMANCE.md. Results are written as JSON to
bench/results/volunteer_import.json. The exit status is non-zero when a measurement failed.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import hashlib
import secrets
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from common import (
    OTHER_CPU_WARN_PCT,
    RESULTS_DIR,
    add_backends_option,
    add_postgres_url_option,
    add_wait_idle_option,
    add_write_doc_option,
    backend_database,
    bullet,
    disturbance_warnings,
    exit_cleanly_on_signals,
    exit_status,
    machine_facts,
    machine_lines,
    make_app,
    markdown_table,
    migrate,
    parse_bench_args,
    print_aligned,
    print_problems,
    proc_status_kib,
    profile_stats,
    reset_peak_rss,
    run_in_fresh_process,
    save_results,
    wait_for_idle,
    wrap,
    write_csv,
    write_doc_section,
)

RESULTS_FILE = RESULTS_DIR / "volunteer_import.json"
DOC_START = "<!-- volunteer_import:start -->"
DOC_END = "<!-- volunteer_import:end -->"

WORKER_TIMEOUT_S = 3600
STREETS, COMMUNITIES_PER_STREET = 4, 5
AREAS = ("110105", "310104", "440106", "510107")  # real area codes
HEADER = ["姓名", "证件号码", "手机号", "社区", "队伍", "技能", "服务时间"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
PROFILE_ROWS = 20_000
RSS_SAMPLES = 20


# ------------------------------------------------------------------------ data


def community_name(street: int, n: int) -> str:
    return f"基准{street + 1}街道第{n + 1}社区"


def team_name(street: int) -> str:
    return f"基准{street + 1}街道服务队"


def resident_id(i: int) -> str:
    """The i-th of a sequence of distinct valid ID numbers: area, birth date, serial."""
    from stdnum.cn import ric

    j = i // len(AREAS)
    born = date(1950, 1, 1) + timedelta(days=j // 1000)
    body = f"{AREAS[i % len(AREAS)]}{born:%Y%m%d}{j % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def generate_csv(path: Path, rows: int) -> None:
    """rows valid volunteers, written as they are made (the file is never in memory)."""
    communities = STREETS * COMMUNITIES_PER_STREET

    def row(i: int) -> list[str]:
        street, n = divmod(i % communities, COMMUNITIES_PER_STREET)
        return [
            SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)],
            resident_id(i),
            f"13{i:09d}",
            community_name(street, n),
            team_name(street) if i % 4 == 0 else "",
            "急救,陪伴老人" if i % 3 == 0 else "",
            "周末" if i % 2 == 0 else "",
        ]

    write_csv(path, HEADER, (row(i) for i in range(rows)))


# ------------------------------------------------------------------------- app


def setup_places(app) -> None:
    """Migrate; a district with STREETS streets of COMMUNITIES_PER_STREET communities, and
    a team per street."""
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.organizations.services import create_organization
    from timebank.regions.services import create_region

    migrate(app)
    with app.test_request_context():
        district = create_region(SYSTEM, name="基准区", parent=None, level="district")
        for s in range(STREETS):
            street = create_region(SYSTEM, name=f"基准{s + 1}街道", parent=district)
            for n in range(COMMUNITIES_PER_STREET):
                create_region(SYSTEM, name=community_name(s, n), parent=street)
            create_organization(SYSTEM, region=street, name=team_name(s))
        db.session.commit()


def _mib(kib: int | None) -> float | None:
    return round(kib / 1024, 1) if kib else None


# ---------------------------------------------------------------- measurements


def import_rows(app, csv_path: Path, samples: list) -> dict:
    """The real import path, as `flask volunteers import` runs it."""
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.volunteers.imports import import_volunteers

    every = 0

    def progress(done, total):
        nonlocal every
        every = every or max(1, total // RSS_SAMPLES)
        if done >= len(samples) * every or done == total:
            samples.append((done, _mib(proc_status_kib("VmRSS"))))

    with app.app_context(), csv_path.open("rb") as stream:
        result = import_volunteers(
            SYSTEM, stream, filename=csv_path.name, commit=db.session.commit, progress=progress
        )
    return {"added": result.added, "rejected": result.rejected, "skipped": result.skipped}


def bulk_insert_rows(app, csv_path: Path, samples: list, batch_size: int) -> dict:
    """The same rows into the same tables, with the same statements and commits, and none
    of the checks: what the database's inserts alone cost."""
    from sqlalchemy import insert, select

    from timebank.auth.models import RoleGrant, User
    from timebank.core.db import utcnow
    from timebank.extensions import db
    from timebank.organizations.models import Membership, Organization
    from timebank.regions.models import Region
    from timebank.volunteers.models import Volunteer

    # Same length as a real Fernet token of an 18-character number. The unique columns
    # get values as scattered as the real ones (a keyed hash, a random handle): index
    # inserts at random places cost more than appends, and that is the database's cost.
    cipher = "g" * 120
    added = 0
    with app.app_context(), csv_path.open(encoding="utf-8-sig", newline="") as text:
        communities = dict(db.session.execute(select(Region.name, Region.id)).all())
        teams = dict(db.session.execute(select(Organization.name, Organization.id)).all())
        users = User.__table__
        reader = csv.reader(text)
        next(reader)
        batch = []

        def flush():
            nonlocal added
            now = utcnow()
            ids = dict(
                db.session.execute(
                    insert(users).returning(users.c.phone, users.c.id),
                    [
                        {
                            "username": None,
                            "phone": row[2],
                            "name": row[0],
                            "password_hash": "!unusable",
                            "active": True,
                            "locale": None,
                            "region_id": communities[row[3]],
                            "session_version": 1,
                            "created_at": now,
                            "last_login_at": None,
                        }
                        for row in batch
                    ],
                ).all()
            )
            profiles, grants, memberships = [], [], []
            for row in batch:
                user_id = ids[row[2]]
                number = row[1]
                profiles.append(
                    {
                        "user_id": user_id,
                        "region_id": communities[row[3]],
                        "document_type": "resident_id",
                        "document_cipher": cipher,
                        "document_hash": hashlib.sha256(number.encode()).hexdigest(),
                        "document_tail": number[-4:],
                        "birth_date": date(
                            int(number[6:10]), int(number[10:12]), int(number[12:14])
                        ),
                        "gender": "male" if int(number[16]) % 2 else "female",
                        "skills": row[5],
                        "availability": row[6],
                        "status": "pending",
                        "status_reason": "",
                        "status_changed_at": None,
                        "verified_at": None,
                        "verified_by_id": None,
                        "consent_version": "import:1",
                        "consent_at": now,
                        "guardian_consent_at": None,
                        "guardian_name": None,
                        "guardian_phone": None,
                        "star_level": 0,
                        "qr_handle": secrets.token_hex(8).upper(),
                        "card_version": 1,
                        "card_issued_at": now,
                        "source": "import",
                        "created_at": now,
                    }
                )
                grants.append(
                    {
                        "user_id": user_id,
                        "role": "volunteer",
                        "scope_kind": "region",
                        "scope_id": communities[row[3]],
                        "granted_by_id": None,
                        "created_at": now,
                    }
                )
                if row[4]:
                    memberships.append(
                        {
                            "organization_id": teams[row[4]],
                            "user_id": user_id,
                            "role": "member",
                            "joined_at": now,
                        }
                    )
            db.session.execute(insert(Volunteer.__table__), profiles)
            db.session.execute(insert(RoleGrant.__table__), grants)
            if memberships:
                db.session.execute(insert(Membership.__table__), memberships)
            db.session.commit()
            added += len(batch)
            batch.clear()
            samples.append((added, _mib(proc_status_kib("VmRSS"))))

        for row in reader:
            batch.append(row)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    return {"added": added, "rejected": 0, "skipped": 0}


def _worker(kind, url, instance, csv_path, rows, profile, results):
    """One measurement in a fresh process, so that its peak RSS is its own."""
    try:
        from timebank.volunteers.imports import BATCH_SIZE

        app = make_app(url, instance)
        setup_places(app)
        samples: list = []
        before = proc_status_kib("VmRSS")
        reset = reset_peak_rss()
        profiler = cProfile.Profile() if profile else None
        t = time.perf_counter()
        if profiler:
            profiler.enable()
        if kind == "bulk":
            outcome = bulk_insert_rows(app, Path(csv_path), samples, BATCH_SIZE)
        else:
            outcome = import_rows(app, Path(csv_path), samples)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - t
        peak = proc_status_kib("VmHWM") if reset else None
        from sqlalchemy import func, select

        from timebank.extensions import db
        from timebank.volunteers.models import Volunteer

        with app.app_context():
            stored = db.session.scalar(select(func.count()).select_from(Volunteer))
            db.session.remove()
            db.engine.dispose()
        result = {
            "kind": kind,
            "rows": rows,
            "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds) if seconds else None,
            "rss_before_mib": _mib(before),
            "peak_rss_mib": _mib(peak),
            "rss_samples_mib": samples,
            "stored": stored,
            **outcome,
        }
        if profiler:
            result["profile"] = profile_stats(profiler, tottime=25)
        results.put(result)
    except Exception as exc:  # reported to the parent
        traceback.print_exc()
        results.put({"kind": kind, "rows": rows, "error": f"{type(exc).__name__}: {exc}"})


def measure(database, kind: str, csv_path: Path, rows: int, workdir: Path, profile=False) -> dict:
    instance = workdir / f"instance-{database.name}"
    instance.mkdir(exist_ok=True)
    args = (kind, database.url, str(instance), str(csv_path), rows, profile)
    return run_in_fresh_process(_worker, args, database.process_title_marker, WORKER_TIMEOUT_S)


# --------------------------------------------------------------------- backend


@dataclass
class BackendRun:
    backend: str
    server: str = ""
    rows: int = 0
    small_rows: int = 0
    measurements: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ratio(self) -> float | None:
        done = self.measurements
        if "import" in done and "bulk" in done and done["bulk"].get("rows_per_s"):
            return round(done["import"]["rows_per_s"] / done["bulk"]["rows_per_s"], 3)
        return None


def fresh_database(backend: str, args, workdir: Path, label: str):
    """A fresh database for one measurement (SQLite in a folder of its own)."""
    folder = workdir / f"sqlite-{label}"
    if backend == "sqlite":
        folder.mkdir(exist_ok=True)
    return backend_database(backend, args.postgres_url, folder)


def bench_backend(backend: str, args, workdir: Path, files: dict[int, Path]) -> BackendRun:
    run = BackendRun(backend, rows=args.rows, small_rows=args.small_rows)
    began = time.perf_counter()
    plan = [("import", args.rows), ("bulk", args.rows)]
    if args.small_rows:
        plan.append(("import_small", args.small_rows))
    for label, rows in plan:
        kind = "bulk" if label == "bulk" else "import"
        try:
            with fresh_database(backend, args, workdir, label) as database:
                run.server = database.server_version()
                if args.wait_idle:
                    wait_for_idle(args.wait_until)
                print(f"[{backend}] {label}: {rows:,} rows", flush=True)
                outcome = measure(database, kind, files[rows], rows, workdir)
        except Exception as exc:  # recorded; the other measurements still run
            traceback.print_exc()
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
        run.measurements[label] = outcome
        if "error" in outcome:
            run.failures.append(f"{label}: {outcome['error']}")
        elif outcome["stored"] != rows or outcome["added"] != rows:
            run.failures.append(
                f"{label}: {outcome['added']:,} added, {outcome['stored']:,} stored, "
                f"{outcome['rejected']:,} rejected of {rows:,}"
            )
        else:
            run.warnings += disturbance_warnings(label, outcome.get("other_cpu_pct"))
    run.seconds = round(time.perf_counter() - began, 1)
    return run


# --------------------------------------------------------------------- reports

TABLE_HEADER = ("measurement", "rows", "time", "rows/s", "peak RSS", "ratio", "other CPU %")
LABELS = {
    "import": "import (`import_volunteers`)",
    "bulk": "baseline: plain bulk insert",
    "import_small": "import, smaller file",
}


def table_rows(run: BackendRun) -> list[tuple[str, ...]]:
    rows = []
    for label in ("import", "bulk", "import_small"):
        m = run.measurements.get(label)
        if not m or "error" in m:
            continue
        ratio = "1.00" if label == "bulk" else (f"{run.ratio:.2f}" if label == "import" else "-")
        rows.append(
            (
                LABELS[label],
                f"{m['rows']:,}",
                f"{m['seconds']:,.1f} s",
                f"{m['rows_per_s']:,}",
                f"{m['peak_rss_mib']:,.0f} MiB" if m.get("peak_rss_mib") else "-",
                ratio,
                f"{m['other_cpu_pct']:.0f}" if m.get("other_cpu_pct") is not None else "-",
            )
        )
    return rows


def notes(run: BackendRun) -> list[str]:
    lines = []
    for label in ("import", "bulk", "import_small"):
        m = run.measurements.get(label)
        if not m or "error" in m or not m.get("rss_samples_mib"):
            continue
        samples = m["rss_samples_mib"]
        step = max(1, len(samples) // 5)
        shown = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
        lines.append(
            f"{LABELS[label]}: RSS {m['rss_before_mib']:,.0f} MiB before; by rows done: "
            + ", ".join(f"{done:,} → {rss:,.0f} MiB" for done, rss in shown)
        )
    big, small = run.measurements.get("import"), run.measurements.get("import_small")
    if big and small and big.get("peak_rss_mib") and small.get("peak_rss_mib"):
        lines.append(
            f"memory: peak RSS {small['peak_rss_mib']:,.0f} MiB for {small['rows']:,} rows, "
            f"{big['peak_rss_mib']:,.0f} MiB for {big['rows']:,} rows"
        )
    return lines


def print_run(run: BackendRun) -> None:
    rows = table_rows(run)
    print(f"\n== {run.backend} ({run.server}) ==")
    if rows:
        print_aligned(TABLE_HEADER, rows)
    if run.ratio is not None:
        print(f"ratio import ÷ bulk insert: {run.ratio:.2f}")
    for line in notes(run):
        print(f"note: {line}")
    print_problems(run)
    for m in run.measurements.values():
        if m.get("profile"):
            print(f"\n-- profile: {m['kind']} of {m['rows']:,} rows ({run.backend}) --")
            print(m["profile"])


def doc_section(runs: list[BackendRun], facts: dict[str, str]) -> str:
    method = [
        "**Import**: `timebank.volunteers.imports.import_volunteers` as the console operator, "
        "what `flask volunteers import FILE` runs: a first pass over the file (encoding, row "
        "count), then every row checked as in self-registration (ID number, birth date, "
        "mobile number, community and team looked up), the ID number encrypted (Fernet) and "
        "hashed (HMAC), duplicates looked up with one IN query per batch, and users, "
        "profiles, role grants and team memberships inserted with four executemany per "
        "batch of 1,000, committed per batch.",
        "**Baseline**: the same rows read from the same CSV file into the same tables with "
        "the same statements, batches and commits, without validation, encryption, keyed "
        "hashing or duplicate lookups (a placeholder cipher text of the real length; a plain "
        "SHA-256 and a random handle in the unique columns, so that index inserts land as "
        "scattered as the real ones). Ratio = import rows/s ÷ baseline rows/s.",
        "**Memory**: each measurement runs in a fresh process on a fresh database; peak RSS "
        "is the kernel's high-water mark, reset just before the measurement starts, so it "
        "includes the loaded app. The smaller import shows whether memory grows with the "
        "file.",
        "*other CPU %*: the share of the machine's CPU that other processes took meanwhile; "
        f"above {OTHER_CPU_WARN_PCT:.0f}% the figures are disturbed.",
    ]
    lines = [
        DOC_START,
        "## Volunteer import",
        "",
        wrap(
            f"Measured {facts['date']} with `bench/volunteer_import.py` (in-process, testing "
            "configuration, generated volunteers that are all valid, in 20 communities, a "
            "quarter of them in a team). Compare the ratio across machines, not rows/s."
        ),
        "",
        wrap(
            "Run it with `make bench-import` or `.venv/bin/python bench/volunteer_import.py "
            "--write-doc` (`--rows` for the size, `--profile` to see where a row's time "
            "goes); raw results land in `bench/results/volunteer_import.json`."
        ),
        "",
        *(bullet(m) for m in method),
        "",
        *machine_lines(facts),
    ]
    for run in runs:
        lines += ["", f"### {run.backend}", "", *markdown_table(TABLE_HEADER, table_rows(run))]
        extra = [f"**Failure:** {f}" for f in run.failures] + [f"Note: {w}" for w in run.warnings]
        extra += notes(run)
        if extra:
            lines += ["", *(bullet(line) for line in extra)]
    lines += ["", DOC_END]
    return "\n".join(lines)


# ------------------------------------------------------------------------ main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backends_option(parser)
    parser.add_argument("--rows", type=int, default=400_000, help="volunteers (default 400,000)")
    parser.add_argument(
        "--small-rows",
        type=int,
        default=None,
        help="volunteers in the memory check's smaller import (default rows/4; 0 skips it)",
    )
    add_postgres_url_option(parser)
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"only profile an import of {PROFILE_ROWS:,} rows on the first backend",
    )
    add_wait_idle_option(parser, "each measurement", measure_again=False)
    add_write_doc_option(parser)
    args = parse_bench_args(parser, argv)
    if not 1_000 <= args.rows <= 10_000_000:
        parser.error("--rows must be 1,000-10,000,000")
    if args.small_rows is None:
        args.small_rows = args.rows // 4
    if args.small_rows and not 1_000 <= args.small_rows <= args.rows:
        parser.error("--small-rows must be 1,000 to --rows, or 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_signals()
    runs: list[BackendRun] = []
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="timebank-bench-import-") as tmp:
        workdir = Path(tmp)
        if args.profile:
            path = workdir / "profile.csv"
            generate_csv(path, PROFILE_ROWS)
            backend = args.backends[0]
            with fresh_database(backend, args, workdir, "profile") as database:
                outcome = measure(database, "import", path, PROFILE_ROWS, workdir, profile=True)
            print(outcome.get("profile") or outcome)
            return 0 if "error" not in outcome else 1
        files = {}
        for rows in sorted({args.rows, args.small_rows} - {0}):
            files[rows] = workdir / f"volunteers-{rows}.csv"
            t = time.perf_counter()
            generate_csv(files[rows], rows)
            size = files[rows].stat().st_size / (1 << 20)
            took = time.perf_counter() - t
            print(f"generated {rows:,} volunteers ({size:,.1f} MiB) in {took:.0f} s")
        for backend in args.backends:
            run = bench_backend(backend, args, workdir, files)
            versions[backend] = run.server
            runs.append(run)
    facts = machine_facts(**{f"{name}_server": v for name, v in versions.items() if v})
    for run in runs:
        print_run(run)
    report = {"machine": facts, "backends": {run.backend: asdict(run) for run in runs}}
    save_results(RESULTS_FILE, report)
    if args.write_doc:
        write_doc_section(doc_section(runs, facts), DOC_START, DOC_END)
    return exit_status(runs)


if __name__ == "__main__":
    sys.exit(main())
