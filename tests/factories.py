"""Small builders for places and people, through the same services the app uses."""

from types import SimpleNamespace

from timebank.auth.models import Role
from timebank.auth.services import create_user, grant_role
from timebank.core.security import SYSTEM
from timebank.extensions import db
from timebank.organizations.services import create_organization
from timebank.regions.services import create_region
from timebank.stations.services import create_station

PASSWORD = "Correct-Horse-42"


def places() -> SimpleNamespace:
    district = create_region(SYSTEM, name="测试区", parent=None, level="district")
    east = create_region(SYSTEM, name="东街街道", parent=district)
    west = create_region(SYSTEM, name="西街街道", parent=district)
    east_c = create_region(SYSTEM, name="东一社区", parent=east)
    west_c = create_region(SYSTEM, name="西一社区", parent=west)
    east_station = create_station(SYSTEM, region=east_c, name="东一站")
    west_station = create_station(SYSTEM, region=west_c, name="西一站")
    east_team = create_organization(SYSTEM, region=east, name="东街服务队")
    west_team = create_organization(SYSTEM, region=west, name="西街服务队")
    db.session.commit()
    return SimpleNamespace(
        district=district,
        east=east,
        west=west,
        east_c=east_c,
        west_c=west_c,
        east_station=east_station,
        west_station=west_station,
        east_team=east_team,
        west_team=west_team,
    )


def user(login: str, role: Role | None = None, scope_id: int = 0, name: str | None = None):
    kwargs = {"phone": login} if login.isdigit() else {"username": login}
    person = create_user(SYSTEM, name=name or login, password=PASSWORD, **kwargs)
    if role is not None:
        grant_role(SYSTEM, person, role, scope_id)
    db.session.commit()
    return person


def people(p: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(
        root=user("root", Role.SUPERADMIN),
        district_admin=user("district", Role.ADMIN, p.district.id),
        east_admin=user("eastadmin", Role.ADMIN, p.east.id),
        west_admin=user("westadmin", Role.ADMIN, p.west.id),
        east_staff=user("eaststaff", Role.STATION_STAFF, p.east_station.id),
        east_leader=user("eastleader", Role.TEAM_LEADER, p.east_team.id),
        volunteer=user("13900000001", Role.VOLUNTEER, p.east_c.id, name="张三"),
    )


def resident_id(born: str = "19900101", serial: int = 1, area: str = "110105") -> str:
    """A valid mainland resident ID number: real area code, birth date, serial, check digit."""
    from stdnum.cn import ric

    body = f"{area}{born}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")


def registration(region, **overrides):
    """A complete, valid registration for an adult; override any field."""
    from timebank.volunteers.services import Registration

    fields = dict(
        name="李四",
        document_type="resident_id",
        document_number=resident_id(),
        phone="13700000001",
        region_id=region.id,
        consent=True,
        password=PASSWORD,
        skills="急救, 陪伴老人",
        availability="周末",
    )
    fields.update(overrides)
    return Registration(**fields)


def volunteer(region, verified: bool = False, **overrides):
    """A registered volunteer (pending unless verified), committed."""
    from timebank.volunteers import services

    profile = services.register(None, registration(region, **overrides))
    if verified:
        profile.status = "verified"
        from timebank.core.db import utcnow

        profile.verified_at = utcnow()
    db.session.commit()
    # Loaded now, so that tests can read them after this context has gone.
    profile.user, profile.region  # noqa: B018
    return profile


def event(organizer, *, starts_in: int = 10, lasts: int = 120, publish: bool = True, **details):
    """An event by a station or team starting `starts_in` minutes from now, committed."""
    from datetime import timedelta

    from timebank.core.db import utcnow
    from timebank.events import services

    start = utcnow().replace(microsecond=0) + timedelta(minutes=starts_in)
    fields = dict(title="社区助老活动", starts_at=start, ends_at=start + timedelta(minutes=lasts))
    fields.update(details)
    made = services.create_event(SYSTEM, organizer, services.EventDetails(**fields))
    if publish:
        made.state = "published"
    db.session.commit()
    made.region, made.station, made.organization  # noqa: B018
    return made
