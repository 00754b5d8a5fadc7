"""Administrators keep an organization's member list; leaders take members by join request."""

from tests.conftest import login
from timebank.audit.models import AuditEvent
from timebank.extensions import db
from timebank.organizations.models import Membership


def _members(organization_id):
    return db.session.scalars(
        db.select(Membership).filter_by(organization_id=organization_id)
    ).all()


def test_administrator_adds_and_removes_a_member(client, people, places):
    login(client, "eastadmin")
    url = f"/admin/organizations/{places.east_team.id}"
    response = client.post(
        f"{url}/members", data={"member-login": "13900000001", "member-role": "member"}
    )
    assert response.status_code == 302
    [membership] = _members(places.east_team.id)
    assert membership.user_id == people.volunteer.id
    assert "张三" in client.get(f"{url}/edit").data.decode()
    # Adding the same person again changes nothing.
    client.post(f"{url}/members", data={"member-login": "13900000001", "member-role": "member"})
    assert len(_members(places.east_team.id)) == 1
    client.post(f"{url}/members/{membership.id}/remove")
    assert _members(places.east_team.id) == []
    actions = db.session.scalars(
        db.select(AuditEvent.action).where(AuditEvent.action.startswith("membership."))
    ).all()
    assert actions == ["membership.create", "membership.delete"]


def test_unknown_login_is_reported_and_adds_nobody(client, people, places):
    login(client, "eastadmin")
    response = client.post(
        f"/admin/organizations/{places.east_team.id}/members",
        data={"member-login": "13999999999", "member-role": "member"},
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert b"Nobody signs in with 13999999999" in response.data
    assert _members(places.east_team.id) == []


def test_leader_of_one_team_cannot_touch_another(client, people, places):
    login(client, "eastleader")
    response = client.post(
        f"/admin/organizations/{places.west_team.id}/members",
        data={"member-login": "13900000001", "member-role": "member"},
    )
    assert response.status_code == 404
    assert _members(places.west_team.id) == []
