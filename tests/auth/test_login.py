"""Signing in and out: generic errors, session renewal, timeouts, CSRF, throttling, passwords."""

import os
import time

import pytest
from flask import session

from tests import factories
from tests.conftest import login, populate
from timebank import create_app
from timebank.auth.models import User
from timebank.auth.services import change_password, create_user
from timebank.core.errors import ValidationFailed
from timebank.core.security import SYSTEM


def test_sign_in_by_username_or_phone(client, people):
    assert login(client, "district").status_code == 302
    client.post("/logout")
    response = login(client, "139 0000 0001")
    assert response.status_code == 302
    assert "张三".encode() in client.get("/").data


@pytest.mark.parametrize("who, password", [("district", "wrong-password"), ("nobody", "x" * 10)])
def test_wrong_login_and_unknown_user_get_the_same_message(client, people, who, password):
    response = client.post(
        "/login", data={"login": who, "password": password}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200
    assert b"Wrong login or password." in response.data
    assert b"unknown" not in response.data.lower()


def test_inactive_account_cannot_sign_in(client, people, db_session):
    db_session.get(User, people.east_staff.id).active = False
    db_session.commit()
    response = client.post(
        "/login",
        data={"login": "eaststaff", "password": factories.PASSWORD},
        headers={"Accept-Language": "en"},
    )
    assert b"Wrong login or password." in response.data


def test_session_is_renewed_at_sign_in(client, people):
    with client.session_transaction() as planted:
        planted["planted"] = "by-attacker"
    login(client, "district")
    with client.session_transaction() as current:
        assert "planted" not in current
        assert current["_user_id"].startswith(f"{people.district_admin.id}:")


def test_sign_out_ends_the_session(client, people):
    login(client, "district")
    assert client.get("/admin/stations/").status_code == 200
    client.post("/logout")
    response = client.get("/admin/stations/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_idle_session_expires(client, people, app):
    login(client, "district")
    with client.session_transaction() as s:
        s["seen_at"] = int(time.time()) - app.config["SESSION_IDLE_TIMEOUT"].total_seconds() - 5
    response = client.get("/admin/stations/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_session_has_an_absolute_lifetime(client, people, app):
    login(client, "district")
    too_old = int(time.time()) - app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds() - 5
    with client.session_transaction() as s:
        s["login_at"] = too_old
        s["seen_at"] = int(time.time())
    response = client.get("/admin/stations/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_password_change_signs_out_other_sessions(app, people, db_session):
    first, second = app.test_client(), app.test_client()
    login(first, "district")
    login(second, "district")
    response = first.post(
        "/account",
        data={
            "current_password": factories.PASSWORD,
            "new_password": "Another-Strong-77",
            "confirm": "Another-Strong-77",
        },
    )
    assert response.status_code == 302
    assert first.get("/admin/stations/").status_code == 200
    assert second.get("/admin/stations/").status_code == 302


def test_remember_me_is_off_by_default(client, people):
    client.post(
        "/login", data={"login": "district", "password": factories.PASSWORD, "remember": "y"}
    )
    assert client.get_cookie("remember_token") is None


@pytest.mark.parametrize("password", ["short7!", "password123", "12345678", "woaini1314"])
def test_weak_passwords_are_refused(ctx, password):
    with pytest.raises(ValidationFailed) as refused:
        create_user(SYSTEM, name="弱密码", username="weakling", password=password)
    assert refused.value.field == "password"


def test_change_password_checks_the_current_one(ctx, people):
    with pytest.raises(ValidationFailed) as refused:
        change_password(people.district_admin, "not-it", "Another-Strong-77")
    assert refused.value.field == "current_password"


def test_form_without_csrf_token_is_refused(other_app):
    with other_app(WTF_CSRF_ENABLED=True) as app:
        populate(app)
        client = app.test_client()
        response = client.post(
            "/login",
            data={"login": "district", "password": factories.PASSWORD},
            headers={"Accept-Language": "en"},
        )
        assert response.status_code == 400
        assert b"security token" in response.data
        page = client.get("/login")
        token = page.data.split(b'name="csrf_token" type="hidden" value="')[1].split(b'"')[0]
        response = client.post(
            "/login",
            data={
                "login": "district",
                "csrf_token": token.decode(),
                "password": factories.PASSWORD,
            },
        )
        assert response.status_code == 302


def test_api_call_with_session_cookie_needs_csrf_but_bearer_does_not(other_app):
    with other_app(WTF_CSRF_ENABLED=True) as app:
        places, _people = populate(app)
        client = app.test_client()
        page = client.get("/login")
        token = page.data.split(b'name="csrf_token" type="hidden" value="')[1].split(b'"')[0]
        client.post(
            "/login",
            data={
                "login": "eastadmin",
                "csrf_token": token.decode(),
                "password": factories.PASSWORD,
            },
        )
        body = {"region_id": places.east_c.id, "name": "新站"}
        response = client.post("/api/v1/stations", json=body)
        assert response.status_code == 400
        assert response.json["error"]["code"] == "csrf_failed"
        # The session was renewed at sign-in: pages carry the new token for scripts.
        home = client.get("/").data
        fresh = home.split(b'<meta name="csrf-token" content="')[1].split(b'"')[0]
        response = client.post(
            "/api/v1/stations", json=body, headers={"X-CSRFToken": fresh.decode()}
        )
        assert response.status_code == 201
        api = app.test_client()
        issued = api.post(
            "/api/v1/auth/tokens", json={"login": "eastadmin", "password": factories.PASSWORD}
        )
        assert issued.status_code == 201
        response = api.post(
            "/api/v1/stations",
            json={**body, "name": "另一站"},
            headers={"Authorization": f"Bearer {issued.json['token']}"},
        )
        assert response.status_code == 201


def _throttled_app(other_app, **limits):
    settings = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}
    return other_app(**settings, **limits)


def test_login_throttled_per_account(other_app):
    with _throttled_app(other_app, LOGIN_LIMIT_PER_ACCOUNT="3 per minute") as app:
        populate(app)
        client = app.test_client()
        for _ in range(3):
            assert login(client, "district", password="wrong-pass").status_code == 200
        # Even the right password is refused now, and the page says why.
        response = client.post(
            "/login",
            data={"login": "district", "password": factories.PASSWORD},
            headers={"Accept-Language": "en"},
        )
        assert response.status_code == 429
        assert b"Too many attempts" in response.data
        # Another account from the same address is not affected by this account's limit.
        assert login(client, "eastadmin").status_code == 302


def test_login_throttled_per_address_across_accounts(other_app):
    with _throttled_app(other_app, LOGIN_LIMIT_PER_IP="4 per minute") as app:
        populate(app)
        client = app.test_client()
        for name in ("a1", "a2", "a3", "a4"):
            assert login(client, name, password="wrong-pass").status_code == 200
        assert login(client, "district").status_code == 429


def test_api_token_endpoint_is_throttled_too(other_app):
    with _throttled_app(other_app, LOGIN_LIMIT_PER_ACCOUNT="2 per minute") as app:
        populate(app)
        client = app.test_client()
        for _ in range(2):
            bad = client.post("/api/v1/auth/tokens", json={"login": "district", "password": "x"})
            assert bad.status_code == 401
        response = client.post(
            "/api/v1/auth/tokens", json={"login": "district", "password": factories.PASSWORD}
        )
        assert response.status_code == 429
        assert response.json["error"]["code"] == "rate_limited"


def test_successful_sign_ins_do_not_use_up_the_allowance(other_app):
    with _throttled_app(other_app, LOGIN_LIMIT_PER_ACCOUNT="2 per minute") as app:
        populate(app)
        client = app.test_client()
        for _ in range(4):
            assert login(client, "district").status_code == 302
            client.post("/logout")


def test_session_cookie_keeps_the_language_across_sign_in(client, people):
    client.post("/language", data={"lang": "en", "next": "/login"})
    login(client, "district")
    with client.session_transaction() as s:
        assert s["lang"] == "en"
    assert session is not None


@pytest.mark.skipif(
    not os.environ.get("TIMEBANK_TEST_REDIS_URL"),
    reason="set TIMEBANK_TEST_REDIS_URL to test limits shared through Redis",
)
def test_login_limits_hold_across_workers_through_redis(other_app):
    """Two app instances (two gunicorn workers) count attempts in one Redis store."""
    import redis

    url = os.environ["TIMEBANK_TEST_REDIS_URL"]
    redis.Redis.from_url(url).flushdb()
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": url,
        "LOGIN_LIMIT_PER_ACCOUNT": "3 per minute",
    }
    with other_app(**settings) as worker_a:
        populate(worker_a)
        worker_b = create_app(
            "testing",
            {**settings, "SQLALCHEMY_DATABASE_URI": worker_a.config["SQLALCHEMY_DATABASE_URI"]},
        )
        a, b = worker_a.test_client(), worker_b.test_client()
        assert login(a, "district", password="wrong-pass").status_code == 200
        assert login(b, "district", password="wrong-pass").status_code == 200
        assert login(a, "district", password="wrong-pass").status_code == 200
        assert login(b, "district").status_code == 429
    redis.Redis.from_url(url).flushdb()
