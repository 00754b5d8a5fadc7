"""Thin click commands that call services and commit once."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from timebank.extensions import db


@click.command("create-admin")
@click.option("--name", prompt=True, help="the person's name")
@click.option("--username", default=None, help="login name (or give --phone)")
@click.option("--phone", default=None, help="mainland mobile number (or give --username)")
@click.password_option(help="at least 8 characters, not a common one")
@click.option(
    "--region-id",
    type=int,
    default=None,
    help="administer this region; without it, a superadmin for everything",
)
@with_appcontext
def create_admin(name, username, phone, password, region_id):
    """Create an administrator account."""
    from timebank.auth.models import Role
    from timebank.auth.services import create_user, grant_role
    from timebank.core.errors import DomainError
    from timebank.core.security import SYSTEM

    try:
        user = create_user(None, name=name, password=password, phone=phone, username=username)
        # The first grant has no actor above it: the console operator grants it.
        if region_id is None:
            grant_role(SYSTEM, user, Role.SUPERADMIN)
        else:
            grant_role(SYSTEM, user, Role.ADMIN, region_id)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    db.session.commit()
    click.echo(f"Created administrator {user.name} ({user.login}).")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="do nothing when the database has any region")
@with_appcontext
def seed_demo(if_empty):
    """Load a believable demo district and print the demo logins."""
    from timebank.demo import DEMO_LOGINS, has_data, seed

    if not current_app.config["DEMO_ALLOWED"]:
        raise click.ClickException("Demo data is refused in production.")
    if has_data():
        if not if_empty:
            raise click.ClickException("The database already has data; demo not loaded.")
        click.echo("Database already has data; demo not loaded again.")
    else:
        seed()
        db.session.commit()
        click.echo("Demo district loaded.")
    click.echo(f"\nDemo logins (password for all: {DEMO_LOGINS['password']}):")
    for login, who in DEMO_LOGINS["accounts"]:
        click.echo(f"  {login:<14} {who}")


ledger = click.Group("ledger", help="The time bank and points ledger.")


@ledger.command("verify")
@with_appcontext
def ledger_verify():
    """Recompute every balance, sum and hash; exit 1 naming the first problem."""
    from timebank.core.db import sqlite_begin_mode
    from timebank.ledger.verify import verify

    # One consistent snapshot, read-only: on PostgreSQL a REPEATABLE READ transaction (so
    # live postings cannot cause false alarms); on SQLite a DEFERRED one (WAL readers do
    # not block writers, while IMMEDIATE would hold the write lock for the whole run).
    sqlite_begin_mode.set("DEFERRED")
    if db.engine.dialect.name == "postgresql":
        db.session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
    report = verify()
    click.echo(
        f"{report.accounts} accounts, {report.transactions} transactions, "
        f"{report.entries} entries checked."
    )
    if not report.ok:
        for problem in report.problems:
            click.echo(f"PROBLEM {problem}", err=True)
        raise SystemExit(1)
    click.echo("Ledger verified: every transaction balances, every chain and balance holds.")


volunteers = click.Group("volunteers", help="Volunteer profiles.")


@volunteers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check every row and change nothing")
@click.option("--region-id", type=int, default=None, help="only communities inside this region")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV of the rejected rows (masked); default: a new file in the instance folder",
)
@with_appcontext
def volunteers_import(file, dry_run, region_id, report_path):
    """Import volunteers from a CSV or XLSX list, as the console operator.

    People already registered are skipped, so a file can be imported again after its
    rejected rows are corrected. Imported people cannot sign in until staff set a
    password for them. A dry run exits with status 1 when some rows would be rejected.
    """
    from contextlib import ExitStack
    from datetime import datetime

    from flask_babel import gettext as _

    from timebank.core.db import sqlite_begin_mode
    from timebank.core.security import SYSTEM
    from timebank.regions.models import Region
    from timebank.volunteers.imports import import_volunteers
    from timebank.volunteers.sheets import FileRefused

    region = None
    if region_id is not None:
        region = db.session.get(Region, region_id)
        if region is None:
            raise click.ClickException(_("There is no region %(id)d.", id=region_id))
    if dry_run:
        sqlite_begin_mode.set("DEFERRED")  # it only reads: writers carry on meanwhile
    default_report = report_path is None and not dry_run
    if default_report:
        folder = Path(current_app.instance_path) / "imports"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        report_path = folder / f"volunteers-{datetime.now():%Y%m%d-%H%M%S}-rejected.csv"
    click.echo(_("Reading %(file)s…", file=file))
    with ExitStack() as stack:
        stream = stack.enter_context(file.open("rb"))
        report = None
        if report_path is not None:
            report = stack.enter_context(report_path.open("w", encoding="utf-8-sig", newline=""))
        bars = []

        def progress(done, total):
            if not bars:
                label = _("Checking") if dry_run else _("Importing")
                bars.append(stack.enter_context(click.progressbar(length=total, label=label)))
            bars[0].update(done - bars[0].pos)

        try:
            result = import_volunteers(
                SYSTEM,
                stream,
                filename=file.name,
                dry_run=dry_run,
                region=region,
                report=report,
                commit=db.session.commit,
                progress=progress,
                keep_problems=None if dry_run else 20,
            )
        except FileRefused as exc:
            db.session.rollback()
            if default_report:
                report_path.unlink(missing_ok=True)
            raise click.ClickException(str(exc.message)) from None
    counts = dict(read=result.read, added=result.added, skipped=result.skipped)
    if dry_run:
        click.echo(
            _(
                "Checked %(read)d rows: %(added)d would be added, %(skipped)d already "
                "registered, %(rejected)d rejected. Nothing was changed.",
                rejected=result.rejected,
                **counts,
            )
        )
    else:
        click.echo(
            _(
                "Read %(read)d rows: %(added)d added, %(skipped)d already registered "
                "(skipped), %(rejected)d rejected.",
                rejected=result.rejected,
                **counts,
            )
        )
        if result.added:
            click.echo(_("Imported people cannot sign in until staff set a password for them."))
    for problem in result.problems:
        click.echo(
            _(
                "line %(line)d, %(column)s: %(reason)s",
                line=problem.line,
                column=problem.column,
                reason=problem.reason,
            )
        )
    if result.unlisted_problems:
        click.echo(_("…and %(count)d more rows.", count=result.unlisted_problems))
    if report_path is not None and (result.rejected or not default_report):
        click.echo(_("Rejected rows: %(path)s", path=report_path))
    elif default_report:
        report_path.unlink(missing_ok=True)
    if dry_run and result.rejected:
        raise SystemExit(1)


events = click.Group("events", help="Events and attendance.")


@events.command("finish-ended")
@with_appcontext
def events_finish_ended():
    """Finish events whose end plus grace has passed, closing forgotten check-outs.

    Run it from cron every few minutes; closed attendances are flagged for review.
    """
    from timebank.events.attendance import finish_ended

    finished = finish_ended()
    db.session.commit()
    for event in finished:
        click.echo(f"finished event {event.id}: {event.title}")
    click.echo(f"{len(finished)} event(s) finished.")


reports = click.Group("reports", help="Dashboards' rollup tables.")


@reports.command("rebuild-rollups")
@with_appcontext
def reports_rebuild_rollups():
    """Recompute every rollup table from the base tables (after an upgrade or a bulk load)."""
    from timebank.reports.rollups import rebuild

    for table, rows in rebuild().items():
        click.echo(f"{table}: {rows} rows")
    db.session.commit()


demo = click.Group("demo", help="Synthetic data for demonstrations and benchmarks.")


@demo.command("city")
@click.option("--scale", type=float, default=1.0, show_default=True, help="1.0: 383,000 volunteers")
@click.option("--seed", type=int, default=0, show_default=True, help="same seed, same city")
@with_appcontext
def demo_city(scale, seed):
    """Generate a whole city (volunteers, teams, events, hours, ledger, supermarkets) into an
    empty database, for benchmarks and demos; prints the counts and an administrator login."""
    from timebank.demo import DEMO_PASSWORD
    from timebank.reports.city import CityRefused, generate

    if not current_app.config["DEMO_ALLOWED"]:
        raise click.ClickException("Demo data is refused in production.")
    bars = {}

    def progress(stage, done, total):
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.render_finish()
            bar = bars[stage] = click.progressbar(length=total, label=f"{stage:<10}")
            bar.render_progress()
        bar.update(done - bar.pos)

    try:
        result = generate(scale=scale, seed=seed, progress=progress)
    except CityRefused as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    finally:
        for bar in bars.values():
            bar.render_finish()
    click.echo(f"\nCity generated at scale {scale} (seed {seed}):")
    for table, count in result["rows"].items():
        click.echo(f"  {table:<20} {count:>12,}")
    click.echo(f"  approved service hours {result['approved_hours']:>10,}")
    click.echo(
        f"{result['total_rows']:,} rows in {result['seconds']:,.1f} s "
        f"({result['rows_per_s']:,} rows/s, {result['cpu_seconds']:,.1f} s of CPU), "
        f"peak memory {result['peak_rss_mib']:,.0f} MiB"
    )
    click.echo(
        f"\nCity administrator: {result['admin_login']} (password {DEMO_PASSWORD}); "
        "district01…, staff<station id>, cashier<store id> likewise."
    )


def register(app) -> None:
    app.cli.add_command(reports)
    app.cli.add_command(demo)
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(ledger)
    app.cli.add_command(volunteers)
    app.cli.add_command(events)
