"""Health check, security headers, safe redirects and the one error shape."""

import pytest

from tests.conftest import bearer, login, token_for
from timebank.core.api import ErrorSchema
from timebank.core.web import is_safe_next


def test_healthz_reports_database_state(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["database"]["ok"] is True
    assert response.json["database"]["revision"]


def test_healthz_answers_503_when_the_database_is_dead(make_app, tmp_path):
    dead = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    response = dead.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["database"]["ok"] is False


def test_pages_carry_security_headers_and_a_request_id(client):
    response = client.get("/login", headers={"X-Request-ID": "abc12345-from-proxy"})
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Request-ID"] == "abc12345-from-proxy"
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert "SameSite=Lax" in response.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "target, safe",
    [
        ("/admin/stations/", True),
        ("/admin/stations/?page=2", True),
        ("https://evil.example/", False),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("javascript:alert(1)", False),
        ("", False),
        (None, False),
    ],
)
def test_is_safe_next(target, safe):
    assert is_safe_next(target) is safe


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example", "/\\evil.example"])
def test_login_ignores_an_off_site_next(client, people, target):
    response = login(client, "district", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_follows_an_on_site_next(client, people):
    response = login(client, "district", next="/admin/stations/")
    assert response.headers["Location"] == "/admin/stations/"


def _assert_error_shape(response, status, code=None):
    assert response.status_code == status
    assert response.is_json, response.data[:200]
    assert ErrorSchema().validate(response.json) == {}, response.json
    assert set(response.json) == {"error"}
    error = response.json["error"]
    assert error["status"] == status
    assert error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    if code:
        assert error["code"] == code


def test_every_api_error_has_the_one_shape(client, people, places):
    token = token_for(client, "eastadmin")
    _assert_error_shape(client.get("/api/v1/me"), 401, "unauthorized")
    _assert_error_shape(client.get("/api/v1/me", headers=bearer("tb_forged")), 401)
    _assert_error_shape(client.get("/api/v1/nowhere"), 404, "not_found")
    _assert_error_shape(client.get("/api/v1/stations/999999", headers=bearer(token)), 404)
    _assert_error_shape(client.delete("/api/v1/me", headers=bearer(token)), 405)
    response = client.post("/api/v1/stations", headers=bearer(token), json={"name": ""})
    _assert_error_shape(response, 422, "validation_error")
    assert set(response.json["error"]["fields"]) == {"name", "region_id"}
    response = client.post(
        "/api/v1/stations",
        headers=bearer(token),
        json={"region_id": places.west_c.id, "name": "越界站"},
    )
    _assert_error_shape(response, 403, "forbidden")
    response = client.post(
        "/api/v1/stations",
        headers=bearer(token),
        json={"region_id": places.east_c.id, "name": "东一站"},
    )
    _assert_error_shape(response, 409, "conflict")
    assert response.json["error"]["fields"] == {"name": [response.json["error"]["message"]]}
    response = client.post(
        "/api/v1/auth/tokens", data="not json", headers={"Content-Type": "application/json"}
    )
    _assert_error_shape(response, 400)
    response = client.post("/api/v1/auth/tokens", json={"login": "eastadmin", "password": "no"})
    _assert_error_shape(response, 401, "invalid_credentials")


def test_error_messages_follow_the_callers_language(client):
    zh = client.get("/api/v1/me", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    en = client.get("/api/v1/me", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert zh.json["error"]["code"] == en.json["error"]["code"] == "unauthorized"
    assert en.json["error"]["message"] == "Please sign in first."
    assert zh.json["error"]["message"] == "请先登录。"


def test_error_pages_are_html_for_people(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert b"<html" in response.data and b"Not found." in response.data


def test_openapi_document_describes_the_api(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["info"]["title"] == "Timebank API"
    for path in (
        "/api/v1/auth/tokens",
        "/api/v1/me",
        "/api/v1/regions",
        "/api/v1/stations",
        "/api/v1/organizations",
    ):
        assert path in spec["paths"], path
    assert "Error" in spec["components"]["schemas"]


def test_api_docs_page_loads_its_assets_locally(client):
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    assert b"https://" not in page.data
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000
    assert client.get("/api/v1/docs/assets/../../config.py").status_code == 404


def test_validation_messages_name_the_field_in_the_callers_language(client, people):
    token = token_for(client, "eastadmin")
    body = {"name": "x" * 101, "region_id": "abc", "colour": "red"}
    en = client.post(
        "/api/v1/stations", json=body, headers={**bearer(token), "Accept-Language": "en"}
    ).json["error"]
    zh = client.post(
        "/api/v1/stations", json=body, headers={**bearer(token), "Accept-Language": "zh-CN"}
    ).json["error"]
    assert set(en["fields"]) == set(zh["fields"]) == {"name", "region_id", "colour"}
    assert en["fields"]["name"] == ["Use between 1 and 100 characters."]
    assert en["fields"]["region_id"] == ["Enter a whole number."]
    assert en["fields"]["colour"] == ["Unknown field."]
    assert zh["fields"]["name"] != en["fields"]["name"] and "100" in zh["fields"]["name"][0]
    paged = client.get(
        "/api/v1/regions?per_page=1000", headers={**bearer(token), "Accept-Language": "en"}
    ).json["error"]
    assert paged["fields"] == {"per_page": ["Enter a number from 1 to 100."]}
