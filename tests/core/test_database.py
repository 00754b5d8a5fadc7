"""The schema comes from migrations that match the models; SQLite copes with several writers."""

import multiprocessing
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import text

from timebank.extensions import db


def test_models_and_migrations_agree(app):
    # The session database was built by `flask db upgrade`; autogenerate must find nothing.
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(app):
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            pytest.skip("SQLite pragmas apply to the SQLite backend")
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


WRITES_PER_PROCESS = 40


def _writer(url: str, instance: str, worker: int, queue) -> None:
    """Read then write in each transaction: the pattern that deadlocks with DEFERRED begins."""
    os.environ["TIMEBANK_INSTANCE_PATH"] = instance
    from timebank import create_app
    from timebank.audit.models import AuditEvent

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    errors = []
    with app.app_context():
        for i in range(WRITES_PER_PROCESS):
            try:
                db.session.scalar(db.select(db.func.count(AuditEvent.id)))
                db.session.add(
                    AuditEvent(
                        action="test.write", object_type="t", object_id=i, detail={"worker": worker}
                    )
                )
                db.session.commit()
            except Exception as exc:  # report every failure to the parent
                db.session.rollback()
                errors.append(repr(exc))
    queue.put(errors)


@pytest.mark.slow
def test_four_processes_writing_one_sqlite_file_never_see_database_is_locked(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    os.environ["TIMEBANK_INSTANCE_PATH"] = str(tmp_path)
    from timebank import create_app

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    workers = [spawn.Process(target=_writer, args=(url, str(tmp_path), n, queue)) for n in range(4)]
    for worker in workers:
        worker.start()
    errors = [e for _ in workers for e in queue.get(timeout=120)]
    for worker in workers:
        worker.join(timeout=30)
    assert errors == []
    with app.app_context():
        count = db.session.execute(
            text("SELECT count(*) FROM audit_event WHERE action = 'test.write'")
        ).scalar()
    assert count == 4 * WRITES_PER_PROCESS


def test_upgrading_a_database_with_data_keeps_it(make_app, tmp_path, database_url):
    """Later migrations rebuild tables on SQLite: people and their roles must survive."""
    from flask_migrate import downgrade

    if database_url.startswith("postgresql"):
        pytest.skip("table rebuilds happen on SQLite; PostgreSQL alters in place")
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'upgrade.sqlite'}")
    with app.app_context():
        upgrade(revision="0001")
        db.session.execute(
            text(
                "INSERT INTO region (id, level, name, path, created_at) "
                "VALUES (1, 'district', '旧区', '/1/', '2026-01-01 00:00:00')"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO user_account (id, username, name, password_hash, active,"
                " session_version, created_at) VALUES (7, 'old', '老用户', 'x', 1, 1,"
                " '2026-01-01 00:00:00')"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO role_grant (user_id, role, scope_kind, scope_id, created_at)"
                " VALUES (7, 'admin', 'region', 1, '2026-01-01 00:00:00')"
            )
        )
        db.session.commit()
        db.session.remove()
        upgrade()
        assert db.session.execute(text("SELECT name FROM user_account")).scalars().all() == [
            "老用户"
        ]
        assert db.session.execute(text("SELECT count(*) FROM role_grant")).scalar() == 1
        db.session.remove()
        downgrade(revision="0001")
        upgrade()
        assert db.session.execute(text("SELECT count(*) FROM role_grant")).scalar() == 1
        db.engine.dispose()
