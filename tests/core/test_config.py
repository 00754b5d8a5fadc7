"""Production refuses to start without strong secrets; the environment overrides settings."""

import pytest
from cryptography.fernet import Fernet

from config import ConfigError, ProductionConfig
from timebank import create_app

GOOD_SECRET = "k3J9v!Qz7pL2mX8rT5wY1nB4cD6eF0gH-long-random"


@pytest.fixture
def prod_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TIMEBANK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.sqlite'}")
    monkeypatch.setenv("TIMEBANK_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("TIMEBANK_DATA_KEY", Fernet.generate_key().decode())
    return monkeypatch


@pytest.mark.parametrize("missing", ["DATABASE_URL", "TIMEBANK_SECRET_KEY", "TIMEBANK_DATA_KEY"])
def test_production_refuses_missing_setting(prod_env, missing):
    prod_env.delenv(missing)
    with pytest.raises(ConfigError, match=missing):
        create_app("production")


@pytest.mark.parametrize("weak", ["changeme", "secret", "short-key", "a" * 40])
def test_production_refuses_weak_secret_key(prod_env, weak):
    prod_env.setenv("TIMEBANK_SECRET_KEY", weak)
    with pytest.raises(ConfigError, match="TIMEBANK_SECRET_KEY is too weak"):
        create_app("production")


def test_production_refuses_data_key_that_is_not_a_fernet_key(prod_env):
    prod_env.setenv("TIMEBANK_DATA_KEY", GOOD_SECRET)
    with pytest.raises(ConfigError, match="not a Fernet key"):
        create_app("production")


def test_production_starts_with_strong_settings_and_secure_cookies(prod_env):
    app = create_app("production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["DEMO_ALLOWED"] is False


def test_environment_overrides_any_setting_with_its_type(monkeypatch):
    monkeypatch.setenv("TIMEBANK_PASSWORD_MIN_LENGTH", "12")
    monkeypatch.setenv("TIMEBANK_RATELIMIT_ENABLED", "false")
    monkeypatch.setenv("TIMEBANK_SESSION_IDLE_TIMEOUT", "600")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    monkeypatch.setenv("TIMEBANK_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("TIMEBANK_DATA_KEY", Fernet.generate_key().decode())
    settings = ProductionConfig.load()
    assert settings["PASSWORD_MIN_LENGTH"] == 12
    assert settings["RATELIMIT_ENABLED"] is False
    assert settings["SESSION_IDLE_TIMEOUT"].total_seconds() == 600
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_client_address_comes_from_the_trusted_proxy_only(make_app):
    app = make_app(PROXY_COUNT=1)
    seen = {}

    @app.get("/_test/addr")
    def addr():
        from flask import request

        seen["addr"] = request.remote_addr
        return ""

    app.test_client().get(
        "/_test/addr",
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert seen["addr"] == "203.0.113.9"
    plain = make_app()
    plain.add_url_rule("/_test/addr", view_func=addr)
    plain.test_client().get(
        "/_test/addr",
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert seen["addr"] == "127.0.0.1"


def test_seed_demo_and_create_admin_commands(make_app, tmp_path):
    """The CLI runs outside any request: messages and services must work there too."""
    from flask_migrate import upgrade

    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'cli.sqlite'}")
    with app.app_context():
        upgrade()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "district" in result.output and "Timebank-demo-2026" in result.output
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "not loaded again" in again.output
    refused = runner.invoke(args=["seed-demo"])
    assert refused.exit_code != 0
    made = runner.invoke(
        args=[
            "create-admin",
            "--name",
            "运维",
            "--username",
            "ops",
            "--password",
            "Strong-Admin-Pass-1",
        ]
    )
    assert made.exit_code == 0, made.output
    weak = runner.invoke(
        args=["create-admin", "--name", "x", "--username", "ops2", "--password", "password"]
    )
    # The console speaks the default language, Chinese.
    assert weak.exit_code != 0 and "过于常见" in weak.output
    duplicate = runner.invoke(
        args=[
            "create-admin",
            "--name",
            "y",
            "--username",
            "ops",
            "--password",
            "Strong-Admin-Pass-1",
        ]
    )
    assert duplicate.exit_code != 0 and "已被占用" in duplicate.output
