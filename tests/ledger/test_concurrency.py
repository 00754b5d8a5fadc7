"""Real processes and threads against one database: never overdrawn, once per key, all or nothing.

These tests commit for real, so each gets a fresh database (the ledger's rows cannot be
deleted afterwards: the database refuses).
"""

import multiprocessing
import os
import signal
import threading
from datetime import date

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_DATABASE_URL, fresh_database

POSTGRES = TEST_DATABASE_URL.startswith("postgres")
# PostgreSQL takes the 8 writers; SQLite, one writer at a time by design, takes 4.
PROCESSES = 8 if POSTGRES else 4
DEBITS_EACH = 200
AFFORDABLE = 500

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_url(tmp_path):
    with fresh_database(tmp_path, "timebank_ledger") as url:
        yield url


def _app(url: str, instance: str):
    os.environ["TIMEBANK_INSTANCE_PATH"] = instance
    from timebank import create_app

    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})


def _setup(url: str, instance: str, minutes: int = 0) -> dict:
    """Migrate, then a district, a community, a rate, one volunteer with `minutes` banked."""
    from flask_migrate import upgrade

    from timebank.auth.services import create_user
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.ledger.models import ConversionRate
    from timebank.regions.services import create_region

    app = _app(url, instance)
    with app.app_context():
        upgrade()
    with app.test_request_context():
        district = create_region(SYSTEM, name="并发区", parent=None, level="district")
        street = create_region(SYSTEM, name="并发街道", parent=district)
        community = create_region(SYSTEM, name="并发社区", parent=street)
        person = create_user(
            SYSTEM, name="并发志愿者", username="racer", password="Racing-Volunteer-1"
        )
        person.region_id = community.id
        db.session.add(
            ConversionRate(
                region_id=district.id, points_per_hour=10, effective_from=date(2020, 1, 1)
            )
        )
        if minutes:
            ledger.credit_service(person, minutes, community, key="setup:credit")
        db.session.commit()
        ids = {"person": person.id, "community": community.id, "street": street.id}
        db.engine.dispose()
    return ids


def _debit_worker(url, instance, ids, worker, start, results):
    from timebank.auth.models import User
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.regions.models import Region

    app = _app(url, instance)
    ok = refused = 0
    errors = []
    with app.test_request_context():
        start.wait(timeout=120)
        for i in range(DEBITS_EACH):
            person = db.session.get(User, ids["person"])
            community = db.session.get(Region, ids["community"])
            try:
                ledger.donate_to_pool(person, community, 1, key=f"debit:{worker}:{i}")
                db.session.commit()
                ok += 1
            except ledger.InsufficientBalance:
                db.session.rollback()
                refused += 1
            except Exception as exc:  # reported to the parent, which fails the test
                db.session.rollback()
                errors.append(repr(exc))
    results.put((ok, refused, errors))


def _verify(url: str, instance: str):
    app = _app(url, instance)
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    with app.app_context():
        from timebank.extensions import db

        db.engine.dispose()
    return result


def _balances(url: str, instance: str, ids: dict):
    from timebank.auth.models import User
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.ledger.models import AccountKind
    from timebank.regions.models import Region

    app = _app(url, instance)
    with app.test_request_context():
        person = db.session.get(User, ids["person"])
        pool = ledger.region_account(db.session.get(Region, ids["community"]), AccountKind.POOL)
        found = (
            ledger.balance_of(ledger.hours_account(person)),
            ledger.balance_of(pool),
            ledger.balance_of(ledger.points_account(person)),
        )
        db.session.rollback()
        db.engine.dispose()
    return found


def test_parallel_debits_never_overdraw(fresh_url, tmp_path):
    ids = _setup(fresh_url, str(tmp_path), minutes=AFFORDABLE)
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Event(), spawn.Queue()
    workers = [
        spawn.Process(target=_debit_worker, args=(fresh_url, str(tmp_path), ids, n, start, results))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [e for _, _, errors in outcomes for e in errors] == []
    assert sum(ok for ok, _, _ in outcomes) == AFFORDABLE
    assert sum(refused for _, refused, _ in outcomes) == PROCESSES * DEBITS_EACH - AFFORDABLE
    hours, pool, _points = _balances(fresh_url, str(tmp_path), ids)
    assert (hours, pool) == (0, AFFORDABLE)
    verified = _verify(fresh_url, str(tmp_path))
    assert verified.exit_code == 0, verified.output


def test_twenty_parallel_requests_with_one_key_execute_once(fresh_url, tmp_path):
    ids = _setup(fresh_url, str(tmp_path), minutes=600)
    app = _app(fresh_url, str(tmp_path))
    barrier = threading.Barrier(20)
    outcomes, errors = [], []

    def convert_once():
        from timebank.auth.models import User
        from timebank.extensions import db
        from timebank.ledger import services as ledger

        with app.test_request_context():
            # Wait first: on SQLite even a read opens the write transaction (IMMEDIATE).
            barrier.wait(timeout=60)
            try:
                person = db.session.get(User, ids["person"])
                posted = ledger.convert(person, 60, key="api:1:same-key")
                db.session.commit()
                outcomes.append((posted.transaction.id, posted.replayed))
            except Exception as exc:  # collected and asserted empty below
                db.session.rollback()
                errors.append(repr(exc))

    threads = [threading.Thread(target=convert_once) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    with app.app_context():
        from timebank.extensions import db

        db.engine.dispose()
    assert errors == []
    assert len(outcomes) == 20
    assert len({tx_id for tx_id, _ in outcomes}) == 1
    assert sorted(replayed for _, replayed in outcomes) == [False] + [True] * 19
    hours, _pool, points = _balances(fresh_url, str(tmp_path), ids)
    assert (hours, points) == (540, 10)
    assert _verify(fresh_url, str(tmp_path)).exit_code == 0


def _batch_then_hang(url, instance, ids, ready):
    """Allocate half a batch inside one transaction, then wait to be killed."""
    import time

    from timebank.auth.models import User
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.regions.models import Region

    app = _app(url, instance)
    with app.test_request_context():
        person = db.session.get(User, ids["person"])
        street = db.session.get(Region, ids["street"])
        admin = SYSTEM
        for line in range(25):
            ledger.allocate(admin, street, person, 10, key=f"batch:7:{line}", memo="十一月")
        db.session.flush()
        ready.set()
        time.sleep(120)  # never commits: the parent kills this process first


def test_a_batch_killed_midway_leaves_no_partial_transaction(fresh_url, tmp_path):
    ids = _setup(fresh_url, str(tmp_path))
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Event()
    child = spawn.Process(target=_batch_then_hang, args=(fresh_url, str(tmp_path), ids, ready))
    child.start()
    while not ready.wait(timeout=1):
        assert child.is_alive(), "the batch process died before it was killed"
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL
    _hours, _pool, points = _balances(fresh_url, str(tmp_path), ids)
    assert points == 0
    engine = sa.create_engine(fresh_url)
    with engine.connect() as conn:
        partial = conn.execute(
            sa.text("SELECT count(*) FROM ledger_transaction WHERE idempotency_key LIKE 'batch:%'")
        ).scalar()
    engine.dispose()
    assert partial == 0
    assert _verify(fresh_url, str(tmp_path)).exit_code == 0
