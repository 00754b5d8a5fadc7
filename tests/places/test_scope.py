"""Administrators manage regions, stations, organizations and grants in their subtree only."""

import pytest

from tests.conftest import bearer, login, token_for
from timebank.auth.models import Role, RoleGrant, User
from timebank.auth.services import grant_role
from timebank.core.errors import PermissionDenied, ValidationFailed
from timebank.extensions import db
from timebank.regions.models import Region
from timebank.regions.services import create_region
from timebank.stations.models import Station
from timebank.stations.services import create_station


def _load(model, obj):
    return db.session.get(model, obj.id)


def test_street_admin_cannot_open_a_station_in_another_street(ctx, places, people):
    east_admin = _load(User, people.east_admin)
    west_c = _load(Region, places.west_c)
    with pytest.raises(PermissionDenied):
        create_station(east_admin, region=west_c, name="越界站")
    station = create_station(east_admin, region=_load(Region, places.east_c), name="东二站")
    assert station.region.name == "东一社区"


def test_district_admin_manages_every_street_below(ctx, places, people):
    admin = _load(User, people.district_admin)
    for community in (places.east_c, places.west_c):
        create_station(admin, region=_load(Region, community), name="区级新站")


def test_street_admin_sees_only_their_streets_stations(client, people, places):
    login(client, "eastadmin")
    page = client.get("/admin/stations/").data.decode()
    assert "东一站" in page and "西一站" not in page
    # Another street's station is not even acknowledged.
    assert client.get(f"/admin/stations/{places.west_station.id}/edit").status_code == 404
    response = client.post(
        f"/admin/stations/{places.west_station.id}/edit",
        data={"name": "改名", "region_id": places.west_c.id},
    )
    assert response.status_code == 404


def test_street_admin_cannot_choose_another_streets_community(client, people, places):
    login(client, "eastadmin")
    form = client.get("/admin/stations/new").data.decode()
    assert "东一社区" in form and "西一社区" not in form
    response = client.post(
        "/admin/stations/new",
        data={
            "name": "偷建站",
            "region_id": places.west_c.id,
        },
    )
    assert response.status_code == 403
    assert db.session.scalar(db.select(Station).filter_by(name="偷建站")) is None


def test_api_scope_for_regions_stations_and_organizations(client, people, places):
    token = token_for(client, "eastadmin")
    assert (
        client.post(
            "/api/v1/regions",
            headers=bearer(token),
            json={"parent_id": places.west.id, "name": "西二社区"},
        ).status_code
        == 403
    )
    made = client.post(
        "/api/v1/regions",
        headers=bearer(token),
        json={"parent_id": places.east.id, "name": "东二社区"},
    )
    assert made.status_code == 201 and made.json["level"] == "community"
    assert (
        client.patch(
            f"/api/v1/stations/{places.west_station.id}",
            headers=bearer(token),
            json={"name": "改名"},
        ).status_code
        == 403
    )
    assert (
        client.patch(
            f"/api/v1/organizations/{places.west_team.id}",
            headers=bearer(token),
            json={"name": "改名"},
        ).status_code
        == 403
    )
    ok = client.patch(
        f"/api/v1/organizations/{places.east_team.id}",
        headers=bearer(token),
        json={"description": "新介绍"},
    )
    assert ok.status_code == 200 and ok.json["description"] == "新介绍"


def test_team_leader_edits_own_team_but_cannot_close_it(client, people, places):
    token = token_for(client, "eastleader")
    url = f"/api/v1/organizations/{places.east_team.id}"
    assert client.patch(url, headers=bearer(token), json={"name": "东街青年队"}).status_code == 200
    assert client.patch(url, headers=bearer(token), json={"active": False}).status_code == 403
    other = f"/api/v1/organizations/{places.west_team.id}"
    assert client.patch(other, headers=bearer(token), json={"name": "x"}).status_code == 403


def test_region_levels_follow_the_tree(ctx, places):
    from timebank.core.security import SYSTEM

    with pytest.raises(ValidationFailed):
        create_region(SYSTEM, name="社区下面", parent=_load(Region, places.east_c))
    with pytest.raises(ValidationFailed):
        create_station(SYSTEM, region=_load(Region, places.east), name="街道不能建站")


def test_street_admin_grants_staff_roles_only_in_their_street(ctx, places, people):
    east_admin = _load(User, people.east_admin)
    volunteer = _load(User, people.volunteer)
    with pytest.raises(PermissionDenied):
        grant_role(east_admin, volunteer, Role.STATION_STAFF, places.west_station.id)
    with pytest.raises(PermissionDenied):
        grant_role(east_admin, volunteer, Role.ADMIN, places.district.id)
    with pytest.raises(PermissionDenied):
        grant_role(east_admin, volunteer, Role.SUPERADMIN)
    grant = grant_role(east_admin, volunteer, Role.STATION_STAFF, places.east_station.id)
    assert grant.scope_id == places.east_station.id
    # Granting the same role again is harmless and creates nothing new.
    assert grant_role(east_admin, volunteer, Role.STATION_STAFF, places.east_station.id) is grant


def test_grant_and_revoke_through_the_pages(client, people, places):
    login(client, "eastadmin")
    url = f"/admin/users/{people.volunteer.id}"
    response = client.post(
        url, data={"role": "station_staff", "scope": f"station:{places.east_station.id}"}
    )
    assert response.status_code == 302
    grant = db.session.scalar(
        db.select(RoleGrant).filter_by(user_id=people.volunteer.id, role="station_staff")
    )
    assert grant is not None
    # A role given on the wrong kind of place is refused beside the field.
    page = client.post(
        url,
        data={"role": "station_staff", "scope": f"region:{places.east.id}"},
        headers={"Accept-Language": "en"},
    )
    assert page.status_code == 200 and b"is granted on a station" in page.data
    assert client.post(f"/admin/grants/{grant.id}/revoke").status_code == 302
    assert db.session.scalar(db.select(RoleGrant.id).filter_by(id=grant.id)) is None


def test_admin_cannot_open_people_outside_their_scope(client, people, places):
    login(client, "westadmin")
    assert client.get(f"/admin/users/{people.east_staff.id}").status_code == 404
    listing = client.get("/admin/users").data.decode()
    assert "eaststaff" not in listing and "westadmin" in listing


def test_admin_creates_a_staff_account_with_a_role(client, people, places):
    login(client, "eastadmin")
    response = client.post(
        "/admin/users/new",
        data={
            "name": "新员工",
            "phone": "13912345678",
            "password": "Station-Staff-2026",
            "role": "station_staff",
            "scope": f"station:{places.east_station.id}",
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(db.select(User).filter_by(phone="13912345678"))
    assert [g.role for g in user.grants] == ["station_staff"]


def test_bad_account_form_names_the_field_and_stores_nothing(client, people, places):
    login(client, "eastadmin")
    response = client.post(
        "/admin/users/new",
        data={
            "name": "新员工",
            "phone": "12345",
            "password": "Station-Staff-2026",
            "role": "station_staff",
            "scope": f"station:{places.east_station.id}",
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200
    assert b"11-digit mainland mobile number" in response.data
    assert db.session.scalar(db.select(User).filter_by(name="新员工")) is None


def test_volunteer_cannot_reach_admin_pages(client, people):
    login(client, "13900000001")
    assert client.get("/admin/stations/").status_code == 403
    assert client.get("/admin/audit/").status_code == 403
