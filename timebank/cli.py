"""Thin click commands that call services and commit once."""

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


def register(app) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(ledger)
