"""Founding a team: a person applies, an administrator over the region decides."""

from tests.conftest import bearer, token_for
from tests.organizations.conftest import sign_in
from timebank.audit.models import AuditEvent
from timebank.auth.models import Role, RoleGrant
from timebank.extensions import db
from timebank.organizations.models import MemberRole, Membership, Organization, TeamApplication

EN = {"Accept-Language": "en"}


def _apply(client, places, name="东街助老队", region=None):
    return client.post(
        "/teams/apply",
        data={
            "region_id": (region or places.east_c).id,
            "name": name,
            "description": "陪伴独居老人",
        },
        headers=EN,
    )


def _application(name="东街助老队") -> TeamApplication:
    db.session.expire_all()  # requests ran in their own sessions
    return db.session.scalar(db.select(TeamApplication).filter_by(name=name))


def test_approved_application_founds_the_team_led_by_the_applicant(
    client, people, places, volunteers
):
    sign_in(client, "13700000011")
    response = _apply(client, places)
    assert response.status_code == 302
    application = _application()
    assert application.state == "pending"
    assert "东街助老队" in client.get("/teams/mine", headers=EN).data.decode()

    sign_in(client, "eastadmin")
    listing = client.get("/admin/organizations/applications").data.decode()
    assert "东街助老队" in listing and "王小明" in listing
    response = client.post(f"/admin/organizations/applications/{application.id}/approve")
    assert response.status_code == 302

    application = _application()
    assert application.state == "approved"
    assert application.decided_by_id == people.east_admin.id
    team = db.session.get(Organization, application.organization_id)
    assert (team.name, team.region_id, team.description) == (
        "东街助老队",
        application.region_id,
        "陪伴独居老人",
    )
    [membership] = db.session.scalars(db.select(Membership).filter_by(organization_id=team.id))
    assert (membership.user_id, membership.role) == (volunteers.wang.user_id, MemberRole.LEADER)
    assert db.session.scalar(
        db.select(RoleGrant).filter_by(
            user_id=volunteers.wang.user_id, role=Role.TEAM_LEADER, scope_id=team.id
        )
    )
    actions = set(db.session.scalars(db.select(AuditEvent.action)))
    assert {
        "team_application.create",
        "team_application.approve",
        "organization.create",
        "membership.create",
        "grant.create",
    } <= actions

    # The new leader manages the team at once: the page shows the leader tools.
    sign_in(client, "13700000011")
    page = client.get(f"/teams/{team.id}", headers=EN).data.decode()
    assert "Requests to join" in page


def test_rejection_reason_reaches_the_applicant(client, people, places, volunteers):
    sign_in(client, "13700000012")
    _apply(client, places)
    application = _application()
    sign_in(client, "eastadmin")
    # A rejection needs a reason.
    client.post(f"/admin/organizations/applications/{application.id}/reject", data={})
    assert _application().state == "pending"
    client.post(
        f"/admin/organizations/applications/{application.id}/reject",
        data={"reject-reason": "本社区已有同类队伍"},
    )
    assert _application().state == "rejected"

    sign_in(client, "13700000012")
    assert "本社区已有同类队伍" in client.get("/teams/mine").data.decode()
    token = token_for(client, "13700000012")
    [item] = client.get("/api/v1/team-applications", headers=bearer(token)).json["items"]
    assert (item["state"], item["reason"]) == ("rejected", "本社区已有同类队伍")


def test_duplicate_names_are_refused(client, people, places, volunteers):
    sign_in(client, "13700000011")
    page = _apply(client, places, name="东街服务队", region=places.east).data.decode()
    assert "A team with this name already exists in 东街街道." in page
    assert _application("东街服务队") is None

    assert _apply(client, places).status_code == 302
    sign_in(client, "13700000012")
    page = _apply(client, places).data.decode()
    assert "Someone has already applied to found a team with this name" in page
    # The same name in another community is fine.
    assert _apply(client, places, region=places.west_c).status_code == 302


def test_applicant_withdraws_a_pending_application(client, people, places, volunteers):
    sign_in(client, "13700000011")
    _apply(client, places)
    application = _application()
    client.post(f"/teams/applications/{application.id}/withdraw")
    assert _application().state == "withdrawn"
    token = token_for(client, "13700000011")
    response = client.post(
        f"/api/v1/team-applications/{application.id}/withdraw", headers=bearer(token)
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "already_decided"
    # Withdrawn, the name is free to apply for again.
    assert _apply(client, places).status_code == 302


def test_api_application_flow_and_scope(client, people, places, volunteers):
    applicant = bearer(token_for(client, "13700000011"))
    response = client.post(
        "/api/v1/team-applications",
        json={"region_id": places.east.id, "name": "东街环保队"},
        headers=applicant,
    )
    assert response.status_code == 201, response.json
    application_id = response.json["id"]

    # The applicant cannot decide; another street's administrator does not even see it.
    url = f"/api/v1/team-applications/{application_id}"
    assert client.post(f"{url}/approve", headers=applicant).status_code == 403
    west = bearer(token_for(client, "westadmin"))
    assert client.get(url, headers=west).status_code == 404
    assert client.post(f"{url}/approve", headers=west).status_code == 404
    assert client.get("/api/v1/team-applications", headers=west).json["total"] == 0

    district = bearer(token_for(client, "district"))
    listed = client.get("/api/v1/team-applications?state=pending", headers=district).json
    assert [a["id"] for a in listed["items"]] == [application_id]
    response = client.post(f"{url}/approve", headers=district)
    assert response.status_code == 200, response.json
    assert response.json["state"] == "approved"
    organization_id = response.json["organization_id"]
    members = client.get(f"/api/v1/organizations/{organization_id}/members", headers=district)
    assert [(m["name"], m["role"]) for m in members.json["items"]] == [("王小明", "leader")]
    assert (
        client.post(f"{url}/reject", json={"reason": "晚了"}, headers=district).status_code == 409
    )


def test_west_admin_cannot_decide_east_applications_on_the_page(client, people, places, volunteers):
    sign_in(client, "13700000011")
    _apply(client, places)
    application = _application()
    sign_in(client, "westadmin")
    assert "东街助老队" not in client.get("/admin/organizations/applications").data.decode()
    response = client.post(f"/admin/organizations/applications/{application.id}/approve")
    assert response.status_code == 404
    assert _application().state == "pending"


def test_a_team_is_founded_in_a_street_or_community(client, people, places, volunteers):
    token = bearer(token_for(client, "13700000011"))
    response = client.post(
        "/api/v1/team-applications",
        json={"region_id": places.district.id, "name": "全区队"},
        headers=token,
    )
    assert response.status_code == 422
    assert "region_id" in response.json["error"]["fields"]
