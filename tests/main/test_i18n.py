"""Chinese by default, English on request; the choice sticks to the session and the user."""

from tests.conftest import login
from timebank.auth.models import User
from timebank.extensions import db


def test_pages_are_chinese_by_default(client):
    page = client.get("/login").data.decode()
    assert '<html lang="zh-CN">' in page
    assert "登录" in page and "Sign in" not in page


def test_browser_asking_for_english_gets_english(client):
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.8"}).data.decode()
    assert '<html lang="en">' in page
    assert "Sign in" in page and "登录" not in page


def test_language_switch_is_remembered_and_can_go_back(client):
    response = client.post("/language", data={"lang": "en", "next": "/login"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Mobile number or username" in client.get("/login").data.decode()
    client.post("/language", data={"lang": "zh", "next": "/login"})
    assert "手机号或用户名" in client.get("/login").data.decode()


def test_language_switch_ignores_unknown_languages_and_off_site_next(client):
    response = client.post("/language", data={"lang": "fr", "next": "https://evil.example"})
    assert response.headers["Location"] == "/"
    assert '<html lang="zh-CN">' in client.get("/login").data.decode()


def test_signed_in_users_language_is_saved_on_their_account(client, people):
    login(client, "district")
    client.post("/language", data={"lang": "en", "next": "/"})
    assert db.session.get(User, people.district_admin.id).locale == "en"
    page = client.get("/admin/stations/").data.decode()
    assert "Stations" in page and "New station" in page


def test_admin_pages_render_in_both_languages(client, people):
    login(client, "district")
    for lang, words in (("zh", ["站点", "审计日志"]), ("en", ["Stations", "Audit log"])):
        client.post("/language", data={"lang": lang, "next": "/"})
        for url in (
            "/admin/stations/",
            "/admin/regions/",
            "/admin/organizations/",
            "/admin/users",
            "/admin/audit/",
            "/account",
            "/account/tokens",
        ):
            response = client.get(url)
            assert response.status_code == 200, url
            page = response.data.decode()
            for word in words:
                assert word in page, (lang, url, word)
