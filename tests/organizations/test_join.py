"""Joining a team (asked by a volunteer, decided by its leaders), leaving it, member roles."""

from tests.conftest import bearer, token_for
from tests.organizations.conftest import sign_in
from timebank.audit.models import AuditEvent
from timebank.auth.models import Role, RoleGrant
from timebank.extensions import db
from timebank.organizations.models import JoinRequest, Membership

EN = {"Accept-Language": "en"}


def _fresh(query):
    db.session.expire_all()  # requests ran in their own sessions
    return db.session.scalar(query)


def _request(team, volunteer) -> JoinRequest | None:
    return _fresh(
        db.select(JoinRequest).filter_by(organization_id=team.id, user_id=volunteer.user_id)
    )


def _membership(team, volunteer) -> Membership | None:
    return _fresh(
        db.select(Membership).filter_by(organization_id=team.id, user_id=volunteer.user_id)
    )


def _leader_grant(team, volunteer) -> RoleGrant | None:
    return _fresh(
        db.select(RoleGrant).filter_by(
            user_id=volunteer.user_id, role=Role.TEAM_LEADER, scope_id=team.id
        )
    )


def _ask(client, team, message=""):
    return client.post(
        f"/teams/{team.id}/join",
        data={"join-message": message},
        headers=EN,
        follow_redirects=True,
    )


def test_person_without_volunteer_profile_is_sent_to_register(client, people, places):
    sign_in(client, "13900000001")  # 张三 has an account but no volunteer profile
    page = client.get(f"/teams/{places.east_team.id}", headers=EN).data.decode()
    assert "Register as a volunteer before joining a team." in page
    assert 'href="/volunteers/register"' in page
    assert (
        "Register as a volunteer before joining a team."
        in _ask(client, places.east_team).data.decode()
    )
    assert db.session.scalar(db.select(JoinRequest.id)) is None
    response = client.post(
        f"/api/v1/organizations/{places.east_team.id}/join-requests",
        json={},
        headers=bearer(token_for(client, "13900000001")),
    )
    assert response.status_code == 403
    assert response.json["error"]["code"] == "volunteer_profile_required"


def test_leader_approves_a_request(client, people, places, volunteers):
    team = places.east_team
    sign_in(client, "13700000011")
    assert "Your request has been sent" in _ask(client, team, "周末有空").data.decode()
    assert _request(team, volunteers.wang).state == "pending"

    sign_in(client, "eastleader")
    page = client.get(f"/teams/{team.id}", headers=EN).data.decode()
    assert "王小明" in page and "周末有空" in page
    join_request = _request(team, volunteers.wang)
    client.post(f"/teams/join-requests/{join_request.id}/approve")
    assert _request(team, volunteers.wang).state == "approved"
    assert _membership(team, volunteers.wang).role == "member"
    actions = db.session.scalars(
        db.select(AuditEvent.action).where(AuditEvent.object_type == "join_request")
    ).all()
    assert actions == ["join_request.create", "join_request.approve"]

    # Already in: asking again says so.
    sign_in(client, "13700000011")
    assert "You are already a member of this team." in _ask(client, team).data.decode()
    mine = client.get("/teams/mine").data.decode()
    assert "东街服务队" in mine


def test_rejected_person_reads_the_reason_and_may_ask_again(client, people, places, volunteers):
    team = places.east_team
    sign_in(client, "13700000012")
    _ask(client, team)
    first = _request(team, volunteers.li)
    sign_in(client, "eastleader")
    client.post(f"/teams/join-requests/{first.id}/reject", data={"reject-reason": ""})
    assert _request(team, volunteers.li).state == "pending"  # a reason is required
    client.post(f"/teams/join-requests/{first.id}/reject", data={"reject-reason": "名额已满"})
    assert _request(team, volunteers.li).state == "rejected"

    sign_in(client, "13700000012")
    assert "名额已满" in client.get("/teams/mine").data.decode()
    assert "名额已满" in client.get(f"/teams/{team.id}").data.decode()
    _ask(client, team, "再试一次")
    again = _request(team, volunteers.li)
    assert (again.id, again.state, again.message, again.reason) == (
        first.id,
        "pending",
        "再试一次",
        "",
    )
    # Asking twice while pending is refused.
    assert "You have already asked to join this team" in _ask(client, team).data.decode()


def test_person_withdraws_and_asks_again_through_the_api(client, people, places, volunteers):
    token = bearer(token_for(client, "13700000013"))
    url = f"/api/v1/organizations/{places.east_team.id}/join-requests"
    created = client.post(url, json={"message": "你好"}, headers=token)
    assert created.status_code == 201, created.json
    request_id = created.json["id"]
    withdrawn = client.post(f"/api/v1/join-requests/{request_id}/withdraw", headers=token)
    assert withdrawn.json["state"] == "withdrawn"
    again = client.post(url, json={}, headers=token)
    assert (again.status_code, again.json["id"], again.json["state"]) == (
        201,
        request_id,
        "pending",
    )


def test_only_leaders_see_and_decide_requests(client, people, places, volunteers):
    url = f"/api/v1/organizations/{places.east_team.id}/join-requests"
    asker = bearer(token_for(client, "13700000011"))
    request_id = client.post(url, json={}, headers=asker).json["id"]

    # The asker sees their own request but cannot list others' or decide.
    assert client.get(url, headers=asker).status_code == 403
    assert client.get(f"/api/v1/join-requests/{request_id}", headers=asker).status_code == 200
    assert (
        client.post(f"/api/v1/join-requests/{request_id}/approve", headers=asker).status_code == 403
    )
    # Another volunteer, and the west street's administrator, do not see it at all.
    other = bearer(token_for(client, "13700000012"))
    assert (
        client.post(f"/api/v1/join-requests/{request_id}/approve", headers=other).status_code == 404
    )
    west = bearer(token_for(client, "westadmin"))
    assert (
        client.post(f"/api/v1/join-requests/{request_id}/approve", headers=west).status_code == 404
    )
    assert client.get(url, headers=west).status_code == 403
    # Nor does a page for the leader of another team.
    sign_in(client, "13700000012")
    assert client.post(f"/teams/join-requests/{request_id}/approve").status_code == 404

    leader = bearer(token_for(client, "eastleader"))
    listed = client.get(url, headers=leader).json
    assert [r["user_name"] for r in listed["items"]] == ["王小明"]
    rejected = client.post(
        f"/api/v1/join-requests/{request_id}/reject", json={"reason": "不在本街道"}, headers=leader
    )
    assert (rejected.json["state"], rejected.json["reason"]) == ("rejected", "不在本街道")
    assert client.get(url, headers=leader).json["total"] == 0


def _join(client, team, volunteer, login_name):
    """volunteer asks, eastleader approves; leaves eastleader signed in."""
    sign_in(client, login_name)
    _ask(client, team)
    sign_in(client, "eastleader")
    client.post(f"/teams/join-requests/{_request(team, volunteer).id}/approve")
    assert _membership(team, volunteer) is not None


def test_roles_follow_grants_and_the_last_leader_hands_over(client, people, places, volunteers):
    team = places.east_team
    _join(client, team, volunteers.wang, "13700000011")
    _join(client, team, volunteers.li, "13700000012")

    wang = _membership(team, volunteers.wang)
    client.post(f"/teams/{team.id}/members/{wang.id}/role", data={"role-role": "leader"})
    assert _membership(team, volunteers.wang).role == "leader"
    assert _leader_grant(team, volunteers.wang) is not None

    # 王小明 is the only leader among the members: he cannot leave or step down yet.
    sign_in(client, "13700000011")
    page = client.post(f"/teams/{team.id}/leave", headers=EN, follow_redirects=True)
    assert "only leader. Make another member a leader" in page.data.decode()
    assert _membership(team, volunteers.wang) is not None
    client.post(f"/teams/{team.id}/members/{wang.id}/role", data={"role-role": "member"})
    assert _membership(team, volunteers.wang).role == "leader"

    # He promotes 李大华, then steps down (losing the grant) and leaves.
    li = _membership(team, volunteers.li)
    client.post(f"/teams/{team.id}/members/{li.id}/role", data={"role-role": "leader"})
    assert _leader_grant(team, volunteers.li) is not None
    client.post(f"/teams/{team.id}/members/{wang.id}/role", data={"role-role": "member"})
    assert _membership(team, volunteers.wang).role == "member"
    assert _leader_grant(team, volunteers.wang) is None
    # Without the grant he no longer manages the team.
    assert (
        client.post(
            f"/teams/{team.id}/members/{li.id}/role", data={"role-role": "member"}
        ).status_code
        == 404
    )
    client.post(f"/teams/{team.id}/leave")
    assert _membership(team, volunteers.wang) is None
    actions = db.session.scalars(
        db.select(AuditEvent.action).where(
            AuditEvent.action.in_(["membership.update", "membership.leave", "grant.revoke"])
        )
    ).all()
    assert actions.count("membership.leave") == 1 and actions.count("grant.revoke") == 1

    # The last member may leave even as the only leader: nobody is left to hand over to.
    sign_in(client, "13700000012")
    client.post(f"/teams/{team.id}/leave")
    assert _membership(team, volunteers.li) is None
    assert _leader_grant(team, volunteers.li) is None


def test_leave_through_the_api(client, people, places, volunteers):
    _join(client, places.east_team, volunteers.zhao, "13700000013")
    token = bearer(token_for(client, "13700000013"))
    url = f"/api/v1/organizations/{places.east_team.id}/leave"
    assert client.post(url, headers=token).status_code == 204
    response = client.post(url, headers=token)
    assert (response.status_code, response.json["error"]["code"]) == (409, "not_member")


def test_member_roles_through_the_api(client, people, places, volunteers):
    team = places.east_team
    _join(client, team, volunteers.wang, "13700000011")
    membership = _membership(team, volunteers.wang)
    url = f"/api/v1/organizations/{team.id}/members/{membership.id}"
    member = bearer(token_for(client, "13700000011"))
    assert client.patch(url, json={"role": "leader"}, headers=member).status_code == 403
    leader = bearer(token_for(client, "eastleader"))
    response = client.patch(url, json={"role": "leader"}, headers=leader)
    assert (response.status_code, response.json["role"]) == (200, "leader")
    assert _leader_grant(team, volunteers.wang) is not None
    response = client.patch(url, json={"role": "member"}, headers=leader)
    assert (response.status_code, response.json["error"]["code"]) == (409, "last_leader")
    other_team = f"/api/v1/organizations/{places.west_team.id}/members/{membership.id}"
    assert client.patch(other_team, json={"role": "member"}, headers=leader).status_code == 404
