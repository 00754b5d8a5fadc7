"""List export memory benchmark: peak RSS of a streamed service-record export vs. a whole one.

For each database backend (SQLite in a fresh WAL file, PostgreSQL in a fresh database the
script creates and drops), N generated service records (default 200,000) are bulk-inserted
once, then each way of exporting them runs in a fresh process (so that its peak RSS, the
kernel's high-water mark reset just before the download, is its own, on top of the loaded
app and a signed-in test client):

- **csv**, **xlsx**: ``GET /exports/service-records.<fmt>`` through the app, the body read
  chunk by chunk and thrown away, as a WSGI server would send it.
- **baseline: whole xlsx**: the same rows fetched with ``.all()`` into a list, written to
  an ordinary (not write-only) openpyxl workbook, saved to memory: what an export that
  holds everything costs.
- **baseline: write-only xlsx in memory**: the streamed rows into a write-only workbook
  saved to a BytesIO (what statements did before the spooled file).

Run it with ``.venv/bin/python bench/export_memory.py`` (``--rows 20000`` for a smoke run,
``--backends sqlite``). Results are written as JSON to bench/results/export_memory.json.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import traceback
from datetime import date, timedelta
from pathlib import Path

from common import (
    DEFAULT_POSTGRES_URL,
    RESULTS_DIR,
    backend_database,
    close_app_database,
    make_app,
    migrate,
    print_aligned,
    proc_status_kib,
    reset_peak_rss,
    run_in_fresh_process,
    save_results,
)

LOGIN = "exportroot"
PASSWORD = "Export-Bench-Horse-42"
PEOPLE = 50
INSERT_BATCH = 10_000
MODES = ("csv", "xlsx", "whole-xlsx", "write-only-bytesio")
LABELS = {
    "csv": "CSV, streamed",
    "xlsx": "XLSX, write-only + spooled file",
    "whole-xlsx": "baseline: .all() + ordinary workbook",
    "write-only-bytesio": "baseline: write-only into BytesIO",
}


def setup(url: str, instance: Path, rows: int) -> None:
    """Migrate, then one community, station, superadmin and PEOPLE volunteers; rows records."""
    import sqlalchemy as sa

    from timebank.auth.models import Role
    from timebank.auth.services import create_user, grant_role
    from timebank.core.security import SYSTEM
    from timebank.events.models import ServiceRecord, StaffEntry
    from timebank.extensions import db
    from timebank.regions.services import create_region
    from timebank.stations.services import create_station

    app = make_app(url, instance)
    migrate(app)
    with app.test_request_context():
        district = create_region(SYSTEM, name="导出基准区", parent=None, level="district")
        street = create_region(SYSTEM, name="导出街道", parent=district)
        community = create_region(SYSTEM, name="导出社区", parent=street)
        station = create_station(SYSTEM, region=community, name="导出服务站")
        root = create_user(SYSTEM, name="导出管理员", username=LOGIN, password=PASSWORD)
        grant_role(SYSTEM, root, Role.SUPERADMIN, 0)
        people = [
            create_user(SYSTEM, name=f"志愿者{n:03d}", phone=f"1390000{n:04d}", password=PASSWORD)
            for n in range(PEOPLE)
        ]
        entry = StaffEntry(
            station_id=station.id,
            region_id=community.id,
            served_on=date(2025, 1, 1),
            minutes=60,
            description="基准补录",
            reason="基准",
            needs_second_approval=False,
        )
        db.session.add(entry)
        db.session.flush()
        ids = [person.id for person in people]
        first = date(2024, 1, 1)
        for start in range(0, rows, INSERT_BATCH):
            db.session.execute(
                sa.insert(ServiceRecord),
                [
                    dict(
                        user_id=ids[n % PEOPLE],
                        staff_entry_id=entry.id,
                        station_id=station.id,
                        region_id=community.id,
                        served_on=first + timedelta(days=n % 365),
                        minutes=30 + n % 150,
                        description=f"社区服务记录 {n}",
                        state="approved" if n % 3 else "pending",
                        flagged=n % 17 == 0,
                    )
                    for n in range(start, min(rows, start + INSERT_BATCH))
                ],
            )
        db.session.commit()
    close_app_database(app)


def measure(url: str, instance: str, mode: str, results) -> None:
    """One export in this (fresh) process; puts peak RSS above the starting RSS, in KiB."""
    try:
        from timebank.core.security import SYSTEM

        app = make_app(url, instance)
        client = app.test_client()
        answer = client.post("/login", data={"login": LOGIN, "password": PASSWORD})
        assert answer.status_code == 302, answer.status_code
        # Warm up: templates, translations and the query compile once, outside the figure.
        client.get("/exports/service-records.csv?start=2100-01-01").close()
        base = proc_status_kib("VmRSS")
        reset_peak_rss()
        started = time.perf_counter()
        size = rows = 0
        if mode in ("csv", "xlsx"):
            response = client.get(f"/exports/service-records.{mode}", buffered=False)
            assert response.status_code == 200, response.status_code
            for chunk in response.response:
                size += len(chunk)
            response.close()
        else:
            size, rows = _baseline(app, mode, SYSTEM)
        seconds = time.perf_counter() - started
        peak = proc_status_kib("VmHWM")
        results.put(
            dict(mode=mode, base_kib=base, peak_kib=peak, bytes=size, rows=rows, seconds=seconds)
        )
    except BaseException:
        results.put(dict(mode=mode, error=traceback.format_exc()))


def _baseline(app, mode: str, actor) -> tuple[int, int]:
    from openpyxl import Workbook

    from timebank.core import exports
    from timebank.reports import lists

    with app.test_request_context(headers={"Accept-Language": "zh"}):
        listing = lists.service_records(actor)
        data = io.BytesIO()
        if mode == "whole-xlsx":
            rows = list(listing.rows)
            workbook = Workbook()
            sheet = workbook.active
            sheet.append(listing.headers)
            for row in rows:
                sheet.append([exports.safe(value) for value in row])
            workbook.save(data)
            return data.tell(), len(rows)
        count = exports.write_workbook(data, listing.headers, listing.rows, "records")
        return data.tell(), count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    report = {"rows": args.rows, "backends": {}}
    failed = False
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="timebank-bench-export-") as work:
            workdir = Path(work)
            with backend_database(backend, args.postgres_url, workdir) as database:
                print(f"{database.server_version()}: inserting {args.rows:,} service records…")
                setup(database.url, workdir, args.rows)
                table = []
                for mode in MODES:
                    outcome = run_in_fresh_process(
                        measure, (database.url, str(workdir), mode), None, timeout_s=3600
                    )
                    report["backends"].setdefault(backend, {})[mode] = outcome
                    if "error" in outcome:
                        failed = True
                        print(outcome["error"], file=sys.stderr)
                        continue
                    grown = (outcome["peak_kib"] - outcome["base_kib"]) / 1024
                    table.append(
                        (
                            LABELS[mode],
                            f"{grown:,.1f}",
                            f"{outcome['peak_kib'] / 1024:,.1f}",
                            f"{outcome['bytes'] / 1024 / 1024:,.1f}",
                            f"{outcome['seconds']:,.1f}",
                        )
                    )
                print_aligned(
                    ("export", "peak − start MiB", "peak RSS MiB", "size MiB", "seconds"), table
                )
    save_results(RESULTS_DIR / "export_memory.json", report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
