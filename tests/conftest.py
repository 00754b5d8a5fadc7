"""Fixtures: a migrated database (SQLite or PostgreSQL), per-test rollback, clients, people."""

import contextlib
import os
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import orm

from tests import factories
from timebank import ROOT, create_app
from timebank.extensions import db

TEST_DATABASE_URL = os.environ.get("TIMEBANK_TEST_DATABASE_URL", "")


def pytest_report_header(config):
    backend = "postgresql" if TEST_DATABASE_URL.startswith("postgres") else "sqlite"
    return f"timebank test database: {backend}"


def _compile_catalogues() -> None:
    """Compile .po to .mo when stale, so a bare `pytest` sees both languages."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (ROOT / "timebank" / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as src:
                catalog = read_po(src)
            with mo.open("wb") as dst:
                write_mo(dst, catalog, use_fuzzy=True)


@contextlib.contextmanager
def fresh_database(folder: Path, prefix: str = "timebank_test"):
    """The URL of a new empty database on the test backend, dropped afterwards."""
    if TEST_DATABASE_URL.startswith("postgres"):
        base = sa.engine.make_url(TEST_DATABASE_URL).set(drivername="postgresql+psycopg")
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    else:
        yield f"sqlite:///{folder / f'{prefix}.sqlite'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def make_app(database_url, tmp_path_factory):
    """Apps on the shared test database; each test's changes are rolled back."""
    _compile_catalogues()
    instance = tmp_path_factory.mktemp("instance")

    def make(**overrides):
        settings = {"SQLALCHEMY_DATABASE_URI": database_url, **overrides}
        os.environ["TIMEBANK_INSTANCE_PATH"] = str(instance)
        return create_app("testing", settings)

    return make


@pytest.fixture(scope="session")
def app(make_app):
    app = make_app()
    with app.app_context():
        upgrade()  # the schema comes from the migrations, as in production
    yield app
    with app.app_context():
        db.engine.dispose()


def _scope():
    """One session per app context, as Flask-SQLAlchemy does; the test body gets its own."""
    from flask import has_app_context
    from flask_sqlalchemy.session import _app_ctx_id

    return _app_ctx_id() if has_app_context() else "test-body"


@contextlib.contextmanager
def rollback_session(app):
    """Bind db.session to one outer transaction; commits become savepoints, undone at the end."""
    # No app context stays pushed: each request must get its own, with its own `g`
    # and its own session, as in production. Every session shares the one connection.
    with app.app_context():
        connection = db.engine.connect()
    outer = connection.begin()
    # Objects made by fixtures keep their loaded values after their context has gone.
    factory = orm.sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    previous = db.session
    db.session = orm.scoped_session(factory, scopefunc=_scope)
    try:
        yield db.session
    finally:
        db.session.remove()
        db.session = previous
        outer.rollback()
        connection.close()


@pytest.fixture
def db_session(app):
    with rollback_session(app) as session:
        yield session


@pytest.fixture
def ctx(app, db_session):
    """An app context for calling services directly."""
    with app.test_request_context():
        yield


@pytest.fixture
def client(app, db_session):
    return app.test_client()


@pytest.fixture
def other_app(app, make_app):
    """A second app with its own settings (CSRF on, limits on...) on the same database.

    Not to be combined with db_session, places or people: on SQLite the two outer
    transactions would wait on each other. Use populate(app) inside instead.
    """
    made = []

    @contextlib.contextmanager
    def build(**overrides):
        other = make_app(**overrides)
        with rollback_session(other):
            made.append(other)
            yield other

    yield build
    for other in made:
        with other.app_context():
            db.engine.dispose()


def populate(app):
    """Places and people on this app's database (for apps made with other_app)."""
    with app.test_request_context():
        places = factories.places()
        return places, factories.people(places)


@pytest.fixture
def places(db_session, app):
    """A district with two streets, communities, stations and teams."""
    with app.test_request_context():
        return factories.places()


@pytest.fixture
def people(places, app):
    with app.test_request_context():
        return factories.people(places)


def login(client, login, password=factories.PASSWORD, next=None):
    data = {"login": login, "password": password}
    if next is not None:
        data["next"] = next
    return client.post("/login", data=data)


def token_for(client, login_name, password=factories.PASSWORD) -> str:
    response = client.post("/api/v1/auth/tokens", json={"login": login_name, "password": password})
    assert response.status_code == 201, response.json
    return response.json["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(client, people):
    """auth(login, **headers) → request headers with that person's bearer token."""
    issued = {}

    def headers(login, **extra):
        if login not in issued:
            issued[login] = token_for(client, login)
        return {**bearer(issued[login]), **extra}

    return headers


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
