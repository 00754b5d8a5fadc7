"""Bearer tokens: stored hashed, expiring, revocable, listed by their owner."""

from datetime import timedelta

from tests.conftest import bearer, token_for
from timebank.auth.models import ApiToken, User, hash_token
from timebank.core.db import utcnow
from timebank.extensions import db


def test_token_gives_access_to_me(client, people, places):
    token = token_for(client, "eastadmin")
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json["username"] == "eastadmin"
    assert [(r["role"], r["scope_kind"], r["scope_id"]) for r in me.json["roles"]] == [
        ("admin", "region", places.east.id)
    ]


def test_token_is_stored_only_as_a_hash(client, people, db_session):
    token = token_for(client, "eastadmin")
    stored = db_session.scalars(db.select(ApiToken)).all()
    assert [t.token_hash for t in stored] == [hash_token(token)]
    assert all(token not in (t.token_hash, t.prefix) for t in stored)


def test_expired_token_is_refused(client, people, db_session):
    token = token_for(client, "eastadmin")
    row = db_session.scalars(db.select(ApiToken).filter_by(token_hash=hash_token(token))).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db_session.commit()
    response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401


def test_revoked_token_is_refused(client, people):
    token = token_for(client, "eastadmin")
    listed = client.get("/api/v1/auth/tokens", headers=bearer(token)).json
    assert len(listed) == 1 and listed[0]["revoked_at"] is None
    assert (
        client.delete(f"/api/v1/auth/tokens/{listed[0]['id']}", headers=bearer(token)).status_code
        == 204
    )
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_nobody_revokes_another_persons_token(client, people):
    mine = token_for(client, "eastadmin")
    theirs = token_for(client, "westadmin")
    their_id = client.get("/api/v1/auth/tokens", headers=bearer(theirs)).json[0]["id"]
    response = client.delete(f"/api/v1/auth/tokens/{their_id}", headers=bearer(mine))
    assert response.status_code == 404
    assert client.get("/api/v1/me", headers=bearer(theirs)).status_code == 200


def test_token_of_a_deactivated_user_stops_working(client, people, db_session):
    token = token_for(client, "eaststaff")
    db_session.get(User, people.east_staff.id).active = False
    db_session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_tokens_page_shows_a_new_token_once_and_revokes(client, people):
    client.post("/login", data={"login": "eastadmin", "password": "Correct-Horse-42"})
    page = client.post("/account/tokens", data={"name": "扫码枪"})
    assert b"tb_" in page.data
    again = client.get("/account/tokens")
    assert "扫码枪".encode() in again.data
    assert b'id="new-token"' not in again.data
