"""The dashboard: figures per scope match hand-computed counts; exports and the API agree."""

import csv
import io
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from tests import factories
from tests.conftest import bearer, login, token_for
from timebank.auth.models import Role
from timebank.core.security import SYSTEM
from timebank.events import records
from timebank.events.models import EventState, ServiceRecord, StaffEntry
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import Transaction
from timebank.organizations.services import add_member
from timebank.reports import figures
from timebank.stores import redemptions
from timebank.stores import services as stores
from timebank.volunteers.services import today


def _approved(volunteer, event, minutes, served_on):
    entry = StaffEntry(
        station_id=event.station_id,
        event_id=event.id,
        region_id=event.region_id,
        served_on=served_on,
        minutes=minutes,
        description="服务",
        reason="补录",
    )
    db.session.add(entry)
    db.session.flush()
    service_record = ServiceRecord(
        user_id=volunteer.id,
        event_id=event.id,
        staff_entry_id=entry.id,
        station_id=event.station_id,
        region_id=event.region_id,
        served_on=served_on,
        minutes=minutes,
        description="服务",
    )
    db.session.add(service_record)
    db.session.flush()
    return records.approve(SYSTEM, service_record)


@pytest.fixture
def city(app, places, people):
    """East: three volunteers (one pending), a station event and a team event with four
    approved services (one reversed), a conversion, an allocation, a store with a donation
    and a redemption. West: two volunteers, one service. Hand-counted below."""
    with app.test_request_context():
        # Loaded again: page and API tests push no context, so the fixtures' objects are
        # detached here.
        places = SimpleNamespace(
            **{name: db.session.merge(value) for name, value in vars(places).items()}
        )
        root = db.session.merge(people.root)

        def person(n, region, verified=True):
            return factories.volunteer(
                region,
                verified=verified,
                phone=f"135{n:08d}",
                document_number=factories.resident_id(serial=n),
                name=f"居民{n}",
            ).user

        a, b = person(1, places.east_c), person(2, places.east_c)
        person(3, places.east_c, verified=False)
        w = person(4, places.west_c)
        person(5, places.west_c)
        team = places.east_team
        add_member(SYSTEM, team, a)
        station_event = factories.event(places.east_station, starts_in=-3000)
        team_event = factories.event(team, starts_in=-2000)
        west_event = factories.event(places.west_station, starts_in=-2500)
        for event in (station_event, team_event, west_event):
            db.session.get(type(event), event.id).state = EventState.FINISHED
        day = today() - timedelta(days=2)
        _approved(a, station_event, 120, day)
        _approved(b, station_event, 90, day)
        _approved(a, team_event, 60, day)
        undone = _approved(b, team_event, 30, day)
        _approved(w, west_event, 45, day)
        db.session.commit()
        ledger.reverse(root, db.session.get(Transaction, undone.transaction_id), "错录")
        ledger.set_rate(SYSTEM, places.district, 100, today())
        ledger.convert(a, 120, key="convert-a")  # 120 minutes → 200 points
        ledger.allocate(root, places.east_c, b, 50, key="allocate-b", memo="困难补助")
        store = stores.create_store(
            SYSTEM, stores.StoreDetails(name="东一爱心超市", station_id=places.east_station.id)
        )
        rice = stores.add_goods(SYSTEM, store, stores.GoodsDetails(name="大米", points_price=30))
        stores.receive_donation(
            SYSTEM,
            store,
            donor_kind="business",
            donor_name="东街超市",
            donated_on=today(),
            items=[stores.DonationItem(quantity=10, goods_id=rice.id, value_fen=50_00)],
        )
        redemptions.redeem(SYSTEM, store, a, [(rice.id, 2)], key="redeem-a-1")  # 60 points
        db.session.commit()
        return {"store": store.id, "team": team.id}


def _since() -> date:
    """Sixty local days ago: periods start there, so that the tests hold in January too."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=60)


def _summary(scope, start=None, end=None):
    # The last sixty days by default, not "this year", so that the test holds in January.
    start, end = figures.check_period(start or _since(), end, today())
    return figures.summary(scope, start, end)


def test_figures_per_scope_match_hand_counts(ctx, places, city):
    district = _summary(figures.Scope.of_region(places.district))
    assert district.volunteers == 5 and district.new_volunteers == 5
    assert district.verified_volunteers == 4
    assert district.active_volunteers == 3  # a, b (station event) and w; b's reversal aside
    assert (district.teams, district.stations) == (2, 2)
    assert district.events_held == 3
    assert district.people_times == 4  # five approved, one reversed
    assert district.service_minutes == 120 + 90 + 60 + 45
    assert (district.points_converted, district.points_allocated) == (200, 50)
    assert district.points_issued == 250
    assert district.points_redeemed == 60 and district.points_outstanding == 190
    assert (district.donations, district.donations_value_fen) == (1, 50_00)  # the line's value
    assert (district.redemptions, district.goods_redeemed) == (1, 2)
    assert sum(district.stars.values()) == 5 and set(district.stars) <= {0, 1, 2, 3, 4, 5}
    assert [r.name for r in district.top_stations] == ["东一站", "西一站"]
    assert [(r.name, r.people_times, r.minutes) for r in district.top_teams] == [
        ("东街服务队", 1, 60)
    ]
    served = (today() - timedelta(days=2)).strftime("%Y-%m")
    month = next(m for m in district.months if m.month == served)
    assert (month.minutes, month.people_times) == (315, 4)
    assert sum(m.people_times for m in district.months) == 4

    west = _summary(figures.Scope.of_region(places.west))
    assert (west.volunteers, west.people_times, west.service_minutes) == (2, 1, 45)
    assert west.stars is None  # two people: too few to show who has which level
    assert (west.points_converted, west.points_redeemed, west.donations) == (0, 0, 0)

    station = _summary(figures.Scope.of_station(places.east_station))
    assert (station.people_times, station.service_minutes, station.events_held) == (2, 210, 1)
    assert station.teams is None and station.donations == 1
    # Its stores' redemptions; conversions belong to the community, not to the station.
    assert (station.points_redeemed, station.redemptions) == (60, 1)
    assert station.points_converted is None and station.points_allocated is None
    assert station.points_outstanding == 190  # residents of its community

    team = _summary(figures.Scope.of_team(db.session.get(type(places.east_team), city["team"])))
    assert (team.volunteers, team.people_times, team.service_minutes) == (1, 1, 60)
    assert team.active_volunteers == 1 and team.donations is None
    assert team.points_outstanding is None and team.stars is None  # a member's own figures

    store_scope = figures.Scope.of_store(db.session.get(stores.Store, city["store"]))
    store = _summary(store_scope)
    assert (store.redemptions, store.points_redeemed, store.goods_redeemed) == (1, 60, 2)
    assert store.volunteers is None and store.people_times is None

    # A period before everything: flows are zero, registrations too.
    old = _summary(figures.Scope.of_region(places.district), date(2020, 1, 1), date(2020, 12, 31))
    assert (old.people_times, old.volunteers, old.points_redeemed, old.donations) == (0, 0, 0, 0)


def test_dashboard_page_shows_figures_and_charts(client, places, people, city):
    login(client, "district")
    page = client.get(f"/reports/?start={_since()}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-figure="people_times"' in html and 'id="chart-hours"' in html
    assert "东一站" in html  # the station ranking


def test_exports_agree_with_the_dashboard(client, places, people, city):
    login(client, "eastadmin")
    args = f"scope=region:{places.east.id}&start={_since()}"
    api = client.get(f"/api/v1/reports/summary?{args}").get_json()
    book = load_workbook(io.BytesIO(client.get(f"/reports/summary.xlsx?{args}").data))
    cells = {row[0]: row[1] for row in book.active.iter_rows(values_only=True) if row[0]}
    rows = list(csv.reader(io.StringIO(client.get(f"/reports/summary.csv?{args}").text)))
    from_csv = {row[0].lstrip("\ufeff"): row[1] for row in rows if len(row) > 1}
    assert api["people_times"] == 3 and api["service_minutes"] == 270
    # Labels follow the locale (Chinese by default): the figures are found by position.
    figure_rows = list(book.active.iter_rows(values_only=True))[3:]
    assert [r[1] for r in figure_rows[:4]] == [
        api["volunteers"],
        api["new_volunteers"],
        api["verified_volunteers"],
        api["active_volunteers"],
    ]
    assert api["service_minutes"] / 60 in cells.values()
    assert str(api["people_times"]) in from_csv.values()
    assert api["points_redeemed"] == 60 and api["donations"] == 1


def test_bad_input_and_foreign_scopes(app, client, places, people, city):
    login(client, "eastadmin")
    backwards = client.get("/reports/?start=2026-05-01&end=2026-01-01")
    assert backwards.status_code == 400
    assert 'role="alert"' in backwards.get_data(as_text=True)
    assert client.get(f"/reports/?scope=region:{places.west.id}").status_code == 404
    assert client.get(f"/reports/?scope=station:{places.west_station.id}").status_code == 404
    assert client.get("/reports/?scope=region:999999").status_code == 404
    assert client.get("/reports/?scope=nonsense").status_code == 404
    assert client.get(f"/reports/summary.csv?scope=region:{places.west.id}").status_code == 404

    token = token_for(client, "eaststaff")
    api = client.get(f"/api/v1/reports/summary?region_id={places.east.id}", headers=bearer(token))
    assert api.status_code == 404  # staff see their station, not the street above it
    mine = client.get(
        f"/api/v1/reports/summary?scope=station:{places.east_station.id}&start={_since()}",
        headers=bearer(token),
    )
    assert mine.status_code == 200 and mine.get_json()["people_times"] == 2
    backwards = client.get(
        "/api/v1/reports/summary?start=2026-05-01&end=2026-01-01", headers=bearer(token)
    )
    assert backwards.status_code == 422

    with app.app_context():
        factories.user("plainvolunteer", Role.VOLUNTEER, places.east_c.id)
    client.post("/logout")
    login(client, "plainvolunteer")
    assert client.get("/reports/").status_code == 403
