"""The plain ID number appears nowhere but in the audited reveal: not in the database, pages,
API answers, exports or log lines."""

import logging

import sqlalchemy as sa

from tests import factories
from tests.conftest import bearer, login, token_for
from timebank.extensions import db

NUMBER = factories.resident_id("19880808", 77)
# Enough of the number to identify a person: the region and birth date part.
FRAGMENT = NUMBER[:14]


def leaks(text: str) -> bool:
    text = text or ""
    return NUMBER in text or NUMBER.lower() in text or FRAGMENT in text


def test_the_id_number_leaks_nowhere(app, client, places, people, caplog):
    caplog.set_level(logging.DEBUG)
    seen: dict[str, str] = {}

    registered = client.post(
        "/api/v1/volunteers",
        json={
            "name": "隐私测试",
            "document_number": NUMBER.lower(),
            "phone": "13700000077",
            "password": factories.PASSWORD,
            "region_id": places.east_c.id,
            "consent": True,
        },
    )
    assert registered.status_code == 201
    seen["POST /api/v1/volunteers"] = registered.text
    volunteer_id = registered.json["id"]
    tail = NUMBER[-4:]

    # The volunteer's own pages and API.
    web = app.test_client()
    login(web, "13700000077")
    for path in ("/me/volunteer", "/me/code", "/me/code.json", "/me/card", "/me/volunteer/edit"):
        seen[path] = web.get(path).text
    token = token_for(client, "13700000077")
    for path in ("/api/v1/me", "/api/v1/me/volunteer", f"/api/v1/volunteers/{volunteer_id}"):
        seen[path] = client.get(path, headers=bearer(token)).text
    code = client.get("/api/v1/me/code", headers=bearer(token)).json["token"]
    for export in ("csv", "xlsx"):
        response = web.get(f"/account/bank/statement.{export}")
        if response.status_code == 200:
            seen[f"statement.{export}"] = response.data.decode("utf-8", "replace")

    # Staff and administrators, including search by the last digits and the audit log.
    admin = app.test_client()
    login(admin, "eastadmin")
    for path in (
        "/staff/volunteers",
        f"/staff/volunteers?q={tail}",
        f"/staff/volunteers/{volunteer_id}",
        f"/staff/volunteers/{volunteer_id}/card",
        "/admin/audit/",
        "/exports/volunteers.csv",
        f"/exports/volunteers.csv?q={tail}",
    ):
        seen[path] = admin.get(path).text
    staff_token = token_for(client, "eaststaff")
    seen["identify"] = client.post(
        "/api/v1/volunteers/identify", json={"token": code}, headers=bearer(staff_token)
    ).text
    seen["search"] = client.get(
        "/api/v1/volunteers", query_string={"q": tail}, headers=bearer(staff_token)
    ).text
    seen["verify"] = client.post(
        f"/api/v1/volunteers/{volunteer_id}/verify", json={}, headers=bearer(staff_token)
    ).text

    # The one place it may appear: an administrator's audited reveal.
    revealed = admin.post(f"/staff/volunteers/{volunteer_id}/reveal", data={"reason": "核对身份"})
    assert NUMBER in revealed.text

    assert all(len(text) > 0 for text in seen.values())
    assert [where for where, text in seen.items() if leaks(text)] == []
    assert [r.getMessage() for r in caplog.records if leaks(r.getMessage())] == []

    # Every text column of every table, read raw.
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(sa.select(table)).all()
        for row in rows:
            assert not leaks(" ".join(str(value) for value in row)), table.name
