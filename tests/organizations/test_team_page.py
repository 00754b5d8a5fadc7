"""The team page and list: masked members for ordinary viewers, full details for leaders, totals."""

import pytest

from tests.conftest import bearer, token_for
from tests.organizations.conftest import sign_in
from timebank.auth.models import User
from timebank.core.security import SYSTEM
from timebank.extensions import db
from timebank.ledger.services import credit_service
from timebank.organizations.models import Organization
from timebank.organizations.services import add_member, update_organization
from timebank.regions.models import Region
from timebank.volunteers.models import Volunteer
from timebank.volunteers.services import verify

EN = {"Accept-Language": "en"}


@pytest.fixture
def team(app, places, volunteers):
    """东街服务队 with 王小明 (verified, leader) and 李大华; 赵六 stays outside."""
    with app.test_request_context():
        organization = db.session.get(Organization, places.east_team.id)
        for volunteer, role in ((volunteers.wang, "leader"), (volunteers.li, "member")):
            add_member(SYSTEM, organization, db.session.get(User, volunteer.user_id), role)
        db.session.commit()
    return places.east_team


def _credit(app, places, volunteer, minutes, key):
    with app.test_request_context():
        user = db.session.get(User, volunteer.user_id)
        credit_service(user, minutes, db.session.get(Region, places.east_c.id), key=key)
        db.session.commit()


def test_ordinary_viewer_sees_masked_names_and_no_phones(client, team, volunteers):
    sign_in(client, "13700000013")  # 赵六, not a member
    page = client.get(f"/teams/{team.id}", headers=EN).data.decode()
    assert "王*" in page and "李**" in page
    for secret in ("王小明", "李大华", "13700000011", "137****0011"):
        assert secret not in page
    assert "Requests to join" not in page

    members = client.get(
        f"/api/v1/organizations/{team.id}/members", headers=bearer(token_for(client, "13700000013"))
    ).json
    assert [(m["name"], m["role"], m["phone"], m["user_id"]) for m in members["items"]] == [
        ("王**", "leader", None, None),
        ("李**", "member", None, None),
    ]


def test_leaders_see_names_and_masked_phones(client, team, volunteers):
    sign_in(client, "13700000011")  # 王小明 leads the team
    page = client.get(f"/teams/{team.id}", headers=EN).data.decode()
    assert "王小明" in page and "李大华" in page
    assert "137****0012" in page and "13700000012" not in page
    members = client.get(
        f"/api/v1/organizations/{team.id}/members", headers=bearer(token_for(client, "eastadmin"))
    ).json["items"]
    assert [(m["name"], m["phone"]) for m in members] == [
        ("王小明", "137****0011"),
        ("李大华", "137****0012"),
    ]


def test_totals_count_current_members_service(app, client, places, team, volunteers):
    _credit(app, places, volunteers.wang, 120, "test:wang:1")
    _credit(app, places, volunteers.wang, 30, "test:wang:2")
    with app.test_request_context():  # 赵六 is verified, but not a member
        verify(SYSTEM, db.session.get(Volunteer, volunteers.zhao.id))
        db.session.commit()
    _credit(app, places, volunteers.zhao, 600, "test:zhao:1")
    token = bearer(token_for(client, "13700000013"))
    totals = client.get(f"/api/v1/organizations/{team.id}/totals", headers=token).json
    assert totals == {"members": 2, "verified_members": 1, "lifetime_service_minutes": 150}
    sign_in(client, "13700000013")
    page = client.get(f"/teams/{team.id}", headers=EN).data.decode()
    assert "2 h 30 min" in page


def test_team_list_filters_and_hides_closed_teams(app, client, people, places):
    sign_in(client, "13900000001")
    page = client.get("/teams/", headers=EN).data.decode()
    assert "东街服务队" in page and "西街服务队" in page
    page = client.get(f"/teams/?region_id={places.west.id}").data.decode()
    assert "东街服务队" not in page and "西街服务队" in page
    page = client.get("/teams/?q=东街").data.decode()
    assert "东街服务队" in page and "西街服务队" not in page

    with app.test_request_context():
        update_organization(SYSTEM, db.session.get(Organization, places.west_team.id), active=False)
        db.session.commit()
    assert "西街服务队" not in client.get("/teams/").data.decode()
    assert client.get(f"/teams/{places.west_team.id}").status_code == 404


def test_pages_answer_for_a_team_leader(client, people, places, team):
    sign_in(client, "eastleader")
    for url in ("/teams/", "/teams/mine", "/teams/apply", f"/teams/{team.id}"):
        assert client.get(url).status_code == 200, url
    sign_in(client, "eastadmin")
    assert client.get("/admin/organizations/").status_code == 200
    assert client.get("/admin/organizations/applications").status_code == 200
