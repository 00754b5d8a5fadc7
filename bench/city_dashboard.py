"""City benchmark: `flask demo city` at full scale, then the dashboard's figures with rollups
against the same figures from the base tables.

For each backend (a fresh PostgreSQL database, created and dropped; a fresh SQLite file
under /tmp), in fresh processes:

1. **Generation**: ``timebank.reports.city.generate(scale)`` into the migrated, empty
   database: wall time, CPU time, rows/s and peak RSS (the kernel's high-water mark, reset
   just before, so it is the generator's on top of the loaded app).
2. **Dashboard**: for the whole city and for one street (the busiest), over the last 365
   days: ``timebank.reports.figures.summary()`` as the dashboard calls it; then the flows
   it reads from the rollup tables (people-times and hours per day, top stations and
   teams, points converted, allocated and redeemed, redemptions and goods) against the
   same flows computed straight from service_record, ledger_transaction/ledger_entry and
   redemption tables (the baseline). Both must give the same numbers. Each is run once to
   warm the caches, then --runs times; the median is reported.

Run it with ``make bench-city`` or ``.venv/bin/python bench/city_dashboard.py`` (``--scale
0.05`` for a smoke run); ``--write-doc`` updates its section of docs/PERFORMANCE.md.
Results are written as JSON to bench/results/city_dashboard.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import (
    RESULTS_DIR,
    add_backends_option,
    add_postgres_url_option,
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
    reset_peak_rss,
    run_in_fresh_process,
    save_results,
    wrap,
    write_doc_section,
)

RESULTS_FILE = RESULTS_DIR / "city_dashboard.json"
DOC_START = "<!-- city:start -->"
DOC_END = "<!-- city:end -->"
GENERATE_TIMEOUT_S = 4 * 3600
DASHBOARD_TIMEOUT_S = 3600
PERIOD_DAYS = 365


# ------------------------------------------------------------------ generation


def _generate_worker(url: str, instance: str, scale: float, results) -> None:
    try:
        app = make_app(url, instance)
        migrate(app)
        from timebank.extensions import db
        from timebank.reports.city import generate

        with app.app_context():
            before = proc_status_kib("VmRSS")
            reset_peak_rss()
            outcome = generate(scale=scale, progress=_printer())
            outcome["rss_before_mib"] = round((before or 0) / 1024, 1)
            outcome["peak_rss_mib"] = round((proc_status_kib("VmHWM") or 0) / 1024, 1)
            db.session.remove()
            db.engine.dispose()
        results.put(outcome)
    except Exception as exc:  # reported to the parent
        traceback.print_exc()
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def _printer():
    shown = {}

    def progress(stage, done, total):
        step = max(1, total // 10)
        if done == total or done // step != shown.get(stage, -1):
            shown[stage] = done // step
            print(f"  {stage}: {done:,}/{total:,}", flush=True)

    return progress


# ------------------------------------------------------------------- dashboard


def flows_from_rollups(scope, start, end) -> dict:
    """What summary() reads from the rollup tables, as comparable numbers."""
    from sqlalchemy import func, select

    from timebank.extensions import db
    from timebank.reports.figures import _in_subtree
    from timebank.reports.models import LedgerDay, ServiceDay, StoreDay
    from timebank.stores.models import Store

    regions = _in_subtree(scope.path)
    period = (ServiceDay.day >= start, ServiceDay.day <= end)
    months = {}
    for day, people, minutes in db.session.execute(
        select(ServiceDay.day, func.sum(ServiceDay.people_times), func.sum(ServiceDay.minutes))
        .where(ServiceDay.region_id.in_(regions), *period)
        .group_by(ServiceDay.day)
    ):
        month = months.setdefault(f"{day:%Y-%m}", [0, 0])
        month[0] += int(people)
        month[1] += int(minutes)
    tops = {}
    for column in (ServiceDay.station_id, ServiceDay.organization_id):
        minutes = func.sum(ServiceDay.minutes).label("m")
        tops[column.key] = [
            (i, int(p), int(m))
            for i, p, m in db.session.execute(
                select(column, func.sum(ServiceDay.people_times), minutes)
                .where(ServiceDay.region_id.in_(regions), *period, column != 0)
                .group_by(column)
                .order_by(minutes.desc(), column)
                .limit(10)
            )
        ]
    points = dict(
        db.session.execute(
            select(LedgerDay.kind, func.sum(LedgerDay.amount))
            .where(LedgerDay.region_id.in_(regions), LedgerDay.day >= start, LedgerDay.day <= end)
            .group_by(LedgerDay.kind)
        ).all()
    )
    stores = select(Store.id).where(Store.region_id.in_(regions))
    store = db.session.execute(
        select(func.sum(StoreDay.redemptions), func.sum(StoreDay.goods)).where(
            StoreDay.store_id.in_(stores), StoreDay.day >= start, StoreDay.day <= end
        )
    ).one()
    return _flows(months, tops, points, store)


def flows_from_base(scope, start, end) -> dict:
    """The same numbers straight from service records, ledger entries and redemptions."""
    from sqlalchemy import case, func, select
    from sqlalchemy.orm import aliased

    from timebank.events.models import Event, ServiceRecord
    from timebank.extensions import db
    from timebank.ledger.models import Account, Entry, Transaction
    from timebank.reports.figures import _in_subtree
    from timebank.reports.rollups import day_bounds, local_day_sql
    from timebank.stores.models import Redemption, RedemptionLine, Store

    regions = _in_subtree(scope.path)
    reversal = aliased(Transaction)
    approved = (
        ServiceRecord.state == "approved",
        ServiceRecord.region_id.in_(regions),
        ServiceRecord.served_on >= start,
        ServiceRecord.served_on <= end,
        ~select(reversal.id).where(reversal.reverses_id == ServiceRecord.transaction_id).exists(),
    )
    people = func.sum(case((ServiceRecord.corrects_id.is_(None), 1), else_=0))
    months = {}
    for day, count, minutes in db.session.execute(
        select(ServiceRecord.served_on, people, func.sum(ServiceRecord.minutes))
        .where(*approved)
        .group_by(ServiceRecord.served_on)
    ):
        month = months.setdefault(f"{day:%Y-%m}", [0, 0])
        month[0] += int(count)
        month[1] += int(minutes)
    tops = {}
    for key, column in (
        ("station_id", ServiceRecord.station_id),
        ("organization_id", Event.organization_id),
    ):
        minutes = func.sum(ServiceRecord.minutes).label("m")
        tops[key] = [
            (i, int(p), int(m))
            for i, p, m in db.session.execute(
                select(column, people, minutes)
                .outerjoin(Event, Event.id == ServiceRecord.event_id)
                .where(*approved, column.is_not(None))
                .group_by(column)
                .order_by(minutes.desc(), column)
                .limit(10)
            )
        ]
    low, high = day_bounds(start, end)
    headline = {"service_credit": "hours", "conversion": "points", "allocation": "points"}
    headline["redemption"] = "sales"
    legs = case(
        *((Transaction.kind == k, Account.kind == a) for k, a in headline.items()), else_=False
    )
    points = dict(
        db.session.execute(
            select(Transaction.kind, func.sum(Entry.amount))
            .join(Entry, Entry.transaction_id == Transaction.id)
            .join(Account, Account.id == Entry.account_id)
            .where(
                Transaction.region_id.in_(regions),
                Transaction.created_at >= low,
                Transaction.created_at < high,
                Transaction.kind.in_(list(headline)),
                legs,
            )
            .group_by(Transaction.kind)
        ).all()
    )
    stores = select(Store.id).where(Store.region_id.in_(regions))
    day = local_day_sql(Redemption.created_at)
    store = db.session.execute(
        select(func.count(func.distinct(Redemption.id)), func.sum(RedemptionLine.quantity))
        .join(RedemptionLine, RedemptionLine.redemption_id == Redemption.id)
        .where(
            Redemption.store_id.in_(stores),
            Redemption.state == "completed",
            Redemption.created_at >= low,
            Redemption.created_at < high,
            day >= start,
        )
    ).one()
    return _flows(months, tops, points, store)


def _flows(months, tops, points, store) -> dict:
    return {
        "people_times": sum(m[0] for m in months.values()),
        "minutes": sum(m[1] for m in months.values()),
        "months": dict(sorted(months.items())),
        "top_stations": tops["station_id"],
        "top_teams": tops["organization_id"],
        "points": {k: int(v or 0) for k, v in sorted(points.items()) if v},
        "redemptions": int(store[0] or 0),
        "goods": int(store[1] or 0),
    }


def _timed(call, runs: int) -> dict:
    call()  # warms the database's and the OS's caches, and SQLAlchemy's statement cache
    times = []
    for _run in range(runs):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return {
        "median_ms": round(statistics.median(times), 2),
        "runs_ms": [round(t, 1) for t in times],
    }


def _dashboard_worker(url: str, instance: str, runs: int, results) -> None:
    try:
        from datetime import timedelta

        from sqlalchemy import func, select

        from timebank.core.db import sqlite_begin_mode
        from timebank.extensions import db
        from timebank.regions.models import Region
        from timebank.reports import figures
        from timebank.reports.models import ServiceDay
        from timebank.volunteers.services import today

        app = make_app(url, instance)
        outcome = {"scopes": {}}
        with app.test_request_context():
            sqlite_begin_mode.set("DEFERRED")  # the dashboard only reads
            end = today()
            start = end - timedelta(days=PERIOD_DAYS - 1)
            outcome["period"] = [start.isoformat(), end.isoformat()]
            city = db.session.scalar(select(Region).filter_by(level="city"))
            streets = select(Region.id).where(Region.level == "street").subquery()
            busiest = db.session.execute(
                select(ServiceDay.region_id, func.sum(ServiceDay.minutes))
                .where(ServiceDay.region_id.in_(select(Region.id).where(Region.level != "city")))
                .group_by(ServiceDay.region_id)
            ).all()
            # The street whose subtree served the most hours.
            street_ids = set(db.session.scalars(select(streets.c.id)))
            totals = {}
            for region_id, minutes in busiest:
                region = db.session.get(Region, region_id)
                for ancestor in region.ancestor_ids():
                    if ancestor in street_ids:
                        totals[ancestor] = totals.get(ancestor, 0) + int(minutes)
            street = db.session.get(Region, max(totals, key=totals.get))
            for label, region in (("city", city), ("street", street)):
                scope = figures.Scope.of_region(region)
                rolled = flows_from_rollups(scope, start, end)
                based = flows_from_base(scope, start, end)
                entry = {
                    "name": region.name,
                    "same_numbers": rolled == based,
                    "hours": rolled["minutes"] // 60,
                    "people_times": rolled["people_times"],
                    "summary": _timed(lambda s=scope: figures.summary(s, start, end), runs),
                    "rollups": _timed(lambda s=scope: flows_from_rollups(s, start, end), runs),
                    "base": _timed(lambda s=scope: flows_from_base(s, start, end), runs),
                }
                if not entry["same_numbers"]:
                    entry["rollup_flows"], entry["base_flows"] = rolled, based
                outcome["scopes"][label] = entry
                print(f"  {label} ({region.name}) timed", flush=True)
            db.session.remove()
        with app.app_context():
            db.engine.dispose()
        results.put(outcome)
    except Exception as exc:  # reported to the parent
        traceback.print_exc()
        results.put({"error": f"{type(exc).__name__}: {exc}"})


# --------------------------------------------------------------------- backend


@dataclass
class BackendRun:
    backend: str
    server: str = ""
    scale: float = 1.0
    generation: dict = field(default_factory=dict)
    dashboard: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def bench_backend(backend: str, args, workdir: Path) -> BackendRun:
    run = BackendRun(backend, scale=args.scale)
    folder = workdir / f"sqlite-{backend}"
    folder.mkdir(exist_ok=True)
    instance = workdir / f"instance-{backend}"
    instance.mkdir(exist_ok=True)
    try:
        with backend_database(backend, args.postgres_url, folder) as database:
            run.server = database.server_version()
            marker = getattr(database, "process_title_marker", None)
            print(f"[{backend}] generating the city at scale {args.scale}", flush=True)
            run.generation = run_in_fresh_process(
                _generate_worker,
                (database.url, str(instance), args.scale),
                marker,
                GENERATE_TIMEOUT_S,
            )
            if "error" in run.generation:
                run.failures.append(f"generation: {run.generation['error']}")
                return run
            run.warnings += disturbance_warnings("generation", run.generation.get("other_cpu_pct"))
            if backend == "sqlite":
                size = (folder / "bench.sqlite").stat().st_size
                run.generation["file_mib"] = round(size / (1 << 20))
            print(f"[{backend}] timing the dashboard", flush=True)
            run.dashboard = run_in_fresh_process(
                _dashboard_worker,
                (database.url, str(instance), args.runs),
                marker,
                DASHBOARD_TIMEOUT_S,
            )
            if "error" in run.dashboard:
                run.failures.append(f"dashboard: {run.dashboard['error']}")
                return run
            run.warnings += disturbance_warnings("dashboard", run.dashboard.get("other_cpu_pct"))
            for label, scope in run.dashboard["scopes"].items():
                if not scope["same_numbers"]:
                    run.failures.append(f"{label}: rollups and base tables disagree")
    except Exception as exc:  # recorded; the other backend still runs
        traceback.print_exc()
        run.failures.append(f"{type(exc).__name__}: {exc}")
    return run


# --------------------------------------------------------------------- reports

GEN_HEADER = ("backend", "rows", "wall time", "CPU time", "rows/s", "peak RSS", "other CPU %")
DASH_HEADER = (
    "scope",
    "summary()",
    "rollup flows",
    "base tables",
    "ratio",
    "hours",
    "people-times",
)


def _gen_row(run: BackendRun) -> tuple[str, ...] | None:
    g = run.generation
    if not g or "error" in g:
        return None
    return (
        run.backend,
        f"{g['total_rows']:,}",
        f"{g['seconds'] / 60:,.1f} min ({g['seconds']:,.0f} s)",
        f"{g['cpu_seconds'] / 60:,.1f} min ({g['cpu_seconds']:,.0f} s)",
        f"{g['rows_per_s']:,}",
        f"{g['peak_rss_mib']:,.0f} MiB",
        f"{g['other_cpu_pct']:.0f}" if g.get("other_cpu_pct") is not None else "-",
    )


def _dash_rows(run: BackendRun) -> list[tuple[str, ...]]:
    rows = []
    for label, s in (run.dashboard.get("scopes") or {}).items():
        ratio = s["base"]["median_ms"] / max(s["rollups"]["median_ms"], 0.001)
        rows.append(
            (
                f"{label} ({s['name']})",
                f"{s['summary']['median_ms']:,.1f} ms",
                f"{s['rollups']['median_ms']:,.1f} ms",
                f"{s['base']['median_ms']:,.1f} ms",
                f"{ratio:,.0f}×",
                f"{s['hours']:,}",
                f"{s['people_times']:,}",
            )
        )
    return rows


def _notes(run: BackendRun) -> list[str]:
    g, lines = run.generation, []
    if g and "rows" in g:
        biggest = sorted(g["rows"].items(), key=lambda kv: -kv[1])[:6]
        lines.append(
            "generated: "
            + ", ".join(f"{name} {count:,}" for name, count in biggest)
            + f"; {g['approved_hours']:,} approved hours"
            + (f"; SQLite file {g['file_mib']:,} MiB" if "file_mib" in g else "")
            + f"; RSS {g['rss_before_mib']:,.0f} MiB before generating"
        )
    for label, s in (run.dashboard.get("scopes") or {}).items():
        outside = s["summary"]["median_ms"] - s["rollups"]["median_ms"]
        lines.append(
            f"{label}: summary() spends about {outside:,.0f} ms outside the rollup tables, on "
            "its direct counts (volunteers and stars, distinct active volunteers, events, "
            "donations, points balances)"
        )
        lines.append(
            f"{label}: runs in ms: summary() {s['summary']['runs_ms']}, rollup flows "
            f"{s['rollups']['runs_ms']}, base tables {s['base']['runs_ms']}"
        )
    return lines


def print_run(run: BackendRun) -> None:
    print(f"\n== {run.backend} ({run.server}), scale {run.scale} ==")
    if row := _gen_row(run):
        print_aligned(GEN_HEADER, [row])
    if rows := _dash_rows(run):
        print()
        print_aligned(DASH_HEADER, rows)
    for line in _notes(run):
        print(f"note: {line}")
    print_problems(run)


def doc_section(runs: list[BackendRun], facts: dict[str, str], args) -> str:
    method = [
        "**Generation**: `timebank.reports.city.generate()` (what `flask demo city` runs) "
        "into a freshly migrated, empty database: executemany on SQLite, COPY on "
        "PostgreSQL, in batches of 5,000 rows, with the rollups rebuilt and ANALYZE at the "
        "end. Peak RSS is the kernel's high-water mark, reset just before, so it includes "
        "the loaded app.",
        "**Dashboard**: `timebank.reports.figures.summary()` for the whole city and for its "
        f"busiest street over the last {PERIOD_DAYS} days, as the dashboard calls it "
        "(rollup sums plus direct counts of volunteers, events, active volunteers, "
        "donations and balances). Then the flows summary() reads from the rollup tables "
        "(people-times and hours per day, top stations and teams, points converted, "
        "allocated and redeemed, redemptions and goods) against the same flows computed "
        "from service_record, ledger_transaction/ledger_entry and redemption (the "
        "baseline, checked to give the same numbers). Ratio = base tables ÷ rollups. "
        f"Warm cache: each query ran once before {args.runs} timed runs; medians.",
        "*other CPU %*: the share of the machine's CPU that other processes took meanwhile; "
        "above 10% the figures are disturbed (other sessions share this machine).",
    ]
    lines = [
        DOC_START,
        "## City scale",
        "",
        wrap(
            f"Measured {facts['date']} with `bench/city_dashboard.py` at scale {args.scale} "
            "(1.0 is 383,000 volunteers, 2,780 teams, 26,466 events, 266 stations). Run it "
            "with `make bench-city` (`--scale 0.05` for a smoke run, `--write-doc` to "
            "refresh this section); raw results land in `bench/results/city_dashboard.json`."
        ),
        "",
        *(bullet(m) for m in method),
        "",
        *machine_lines(facts),
        "",
        "### Generation",
        "",
        *markdown_table(GEN_HEADER, [r for r in map(_gen_row, runs) if r]),
    ]
    for run in runs:
        lines += ["", f"### Dashboard, {run.backend}", ""]
        if rows := _dash_rows(run):
            lines += markdown_table(DASH_HEADER, rows)
        extra = [f"**Failure:** {f}" for f in run.failures] + [f"Note: {w}" for w in run.warnings]
        extra += _notes(run)
        if extra:
            lines += ["", *(bullet(line) for line in extra)]
    lines += ["", DOC_END]
    return "\n".join(lines)


# ------------------------------------------------------------------------ main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backends_option(parser)
    parser.add_argument("--scale", type=float, default=1.0, help="city size (default 1.0)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (default 7)")
    add_postgres_url_option(parser)
    add_write_doc_option(parser)
    args = parse_bench_args(parser, argv)
    if not 0 < args.scale <= 4:
        parser.error("--scale must be above 0 and at most 4")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_signals()
    runs, versions = [], {}
    # SQLite's file (several GiB at full scale) lives in a temporary folder under /tmp.
    with tempfile.TemporaryDirectory(prefix="timebank-bench-city-", dir="/tmp") as tmp:
        for backend in args.backends:
            run = bench_backend(backend, args, Path(tmp))
            versions[f"{backend}_server"] = run.server
            runs.append(run)
            print_run(run)
    facts = machine_facts(**{k: v for k, v in versions.items() if v})
    report = {"machine": facts, "backends": {run.backend: asdict(run) for run in runs}}
    save_results(RESULTS_FILE, report)
    if args.write_doc:
        write_doc_section(doc_section(runs, facts, args), DOC_START, DOC_END)
    return exit_status(runs)


if __name__ == "__main__":
    sys.exit(main())
