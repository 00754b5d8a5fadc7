"""Timebank: volunteer time bank and love supermarket. This module holds create_app() only."""

import os
import secrets
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_name: str | None = None, overrides: dict | None = None) -> Flask:
    from config import CONFIGS

    config_name = config_name or os.environ.get("TIMEBANK_ENV", "development")
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=os.environ.get("TIMEBANK_INSTANCE_PATH") or str(ROOT / "instance"),
    )
    app.config.from_mapping(CONFIGS[config_name].load())
    if overrides:
        app.config.update(overrides)
    _development_defaults(app)
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address is needed for login throttling and the audit log.
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    register_extensions(app)
    _import_models()
    _connect_receivers()
    register_blueprints(app)
    register_errorhandlers(app)
    register_request_hooks(app)
    register_commands(app)
    return app


def _development_defaults(app: Flask) -> None:
    """A local SQLite file and per-instance random keys, so `make run` needs no setup."""
    if all(app.config.get(k) for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "DATA_KEY")):
        return
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            f"sqlite:///{Path(app.instance_path) / 'timebank.sqlite'}"
        )
    for key, make in (
        ("SECRET_KEY", lambda: secrets.token_urlsafe(48)),
        ("DATA_KEY", _new_fernet_key),
    ):
        if not app.config.get(key):
            path = Path(app.instance_path) / key.lower()
            if not path.exists():
                path.write_text(make())
                path.chmod(0o600)
            app.config[key] = path.read_text().strip()


def _new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def register_extensions(app: Flask) -> None:
    from timebank.auth.login import configure_login
    from timebank.core.db import configure_sqlite
    from timebank.extensions import api, babel, csrf, db, limiter, migrate
    from timebank.main.i18n import select_locale, select_timezone

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                configure_sqlite(engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    limiter.init_app(app)
    configure_login(app)
    api.init_app(app)


def _import_models() -> None:
    """Every model module, so that metadata (and Alembic) knows every table."""
    import timebank.audit.models  # noqa: F401
    import timebank.auth.models  # noqa: F401
    import timebank.events.models  # noqa: F401
    import timebank.ledger.models  # noqa: F401
    import timebank.organizations.models  # noqa: F401
    import timebank.regions.models  # noqa: F401
    import timebank.reports.models  # noqa: F401
    import timebank.stations.models  # noqa: F401
    import timebank.stores.models  # noqa: F401
    import timebank.volunteers.models  # noqa: F401


def _connect_receivers() -> None:
    """Signal receivers: the reports' rollups follow every change in its transaction."""
    from timebank.reports.rollups import connect

    connect()


def register_blueprints(app: Flask) -> None:
    from timebank.audit.views import bp as audit_views
    from timebank.auth.api import blp as auth_api
    from timebank.auth.views import bp as auth_views
    from timebank.events.api import blp as events_api
    from timebank.events.screens import bp as event_screens
    from timebank.events.views import bp as events_views
    from timebank.extensions import api, csrf
    from timebank.ledger.api import blp as ledger_api
    from timebank.ledger.views import bp as ledger_views
    from timebank.main.api_docs import bp as api_docs
    from timebank.main.views import bp as main_views
    from timebank.organizations.api import applications_blp as team_applications_api
    from timebank.organizations.api import blp as organizations_api
    from timebank.organizations.api import join_requests_blp as join_requests_api
    from timebank.organizations.views import bp as organizations_views
    from timebank.organizations.views import teams as teams_views
    from timebank.regions.api import blp as regions_api
    from timebank.regions.views import bp as regions_views
    from timebank.reports.api import blp as reports_api
    from timebank.reports.certificate_views import bp as certificates_views
    from timebank.reports.certificates_api import blp as certificates_api
    from timebank.reports.export_views import bp as exports_views
    from timebank.reports.project_views import bp as projects_views
    from timebank.reports.projects_api import blp as projects_api
    from timebank.reports.views import bp as reports_views
    from timebank.stations.api import blp as stations_api
    from timebank.stations.views import bp as stations_views
    from timebank.stores.api import blp as stores_api
    from timebank.stores.counter import bp as store_counter
    from timebank.stores.views import bp as stores_views
    from timebank.volunteers.api import blp as volunteers_api
    from timebank.volunteers.import_views import bp as volunteer_imports_views
    from timebank.volunteers.views import bp as volunteers_views

    for blueprint in (
        main_views,
        auth_views,
        regions_views,
        stations_views,
        organizations_views,
        teams_views,
        audit_views,
        ledger_views,
        volunteers_views,
        volunteer_imports_views,
        events_views,
        event_screens,
        stores_views,
        store_counter,
        reports_views,
        certificates_views,
        projects_views,
        exports_views,
        api_docs,
    ):
        app.register_blueprint(blueprint)
    for blp in (
        auth_api,
        regions_api,
        stations_api,
        organizations_api,
        join_requests_api,
        team_applications_api,
        ledger_api,
        volunteers_api,
        events_api,
        stores_api,
        reports_api,
        certificates_api,
        projects_api,
    ):
        api.register_blueprint(blp, url_prefix=f"/api/v1{blp.url_prefix or ''}")
        # API CSRF is checked in auth.login: bearer calls are exempt, cookie calls are not.
        csrf.exempt(blp)
        app.extensions["timebank.api_blueprints"].add(blp.name)
    if app.config["BENCH_ENDPOINTS"]:
        from timebank.main.bench import bp as bench_views

        app.register_blueprint(bench_views)


def register_errorhandlers(app: Flask) -> None:
    from timebank.core.errors import register_errorhandlers as register

    register(app)


def register_request_hooks(app: Flask) -> None:
    from timebank.core.web import register_request_hooks as register
    from timebank.main.i18n import register_template_helpers

    register(app)
    register_template_helpers(app)


def register_commands(app: Flask) -> None:
    from timebank.cli import register

    register(app)
