"""Declarative base with a naming convention, time helpers and SQLite tuning."""

import contextvars
from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; use timebank.core.db.utcnow()")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None:
            # Naive from SQLite; in the session's TimeZone from PostgreSQL. Always UTC out.
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


class Model(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


def known_values(column: str, values) -> CheckConstraint:
    """CHECK (column IN (...)) for a column holding one of an enum's values."""
    listed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_known")


def insert_unique(session, obj, error: Exception):
    """Insert obj, letting the database's unique constraints decide races.

    Give obj foreign-key ids rather than related objects, so that nothing cascades
    it into the session before the savepoint starts.

    The check made before calling this gives a friendly answer in the common case;
    when two requests race past it, the loser's INSERT fails inside a savepoint and
    becomes the same domain error instead of a 500.
    """
    from sqlalchemy.exc import IntegrityError

    try:
        with session.begin_nested():
            session.add(obj)
    except IntegrityError:
        raise error from None
    return obj


def flush_unique(session, error: Exception) -> None:
    """Flush pending changes inside a savepoint; a unique constraint broken by a race
    becomes the domain error instead of a failed transaction (see insert_unique)."""
    from sqlalchemy.exc import IntegrityError

    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise error from None


# SQLite begins every transaction IMMEDIATE so that a writer takes the write lock up
# front and waits on the busy timeout, instead of failing with "database is locked"
# when it upgrades a read lock. Read-only requests set this to DEFERRED so that many
# readers proceed in parallel under WAL.
sqlite_begin_mode: contextvars.ContextVar[str] = contextvars.ContextVar(
    "sqlite_begin_mode", default="IMMEDIATE"
)


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Install WAL, foreign keys, busy timeout and explicit BEGIN on a SQLite engine."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control away from pysqlite so our BEGIN is the one used.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(f"BEGIN {sqlite_begin_mode.get()}")
