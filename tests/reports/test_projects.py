"""Projects and their evaluation reports: figures against hand counts, XLSX and PDF that
agree with them, links and lists with their refusals, and scopes."""

import io
import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from tests import factories
from timebank.auth.models import User
from timebank.core.db import utcnow
from timebank.core.security import SYSTEM
from timebank.events import attendance, records
from timebank.events import services as events
from timebank.events.models import ServiceRecord
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import Transaction
from timebank.organizations.models import Organization
from timebank.regions.models import Region
from timebank.reports import projects
from timebank.reports.models import Beneficiary, Project
from timebank.stations.models import Station
from timebank.stores import redemptions
from timebank.stores import services as stores
from timebank.stores.models import Redemption
from timebank.volunteers.services import today as local_today

API = "/api/v1/projects"
NAME = "幸福邻里助老服务项目"


def _user(person) -> User:
    return db.session.get(User, person.id)


def _attend(event, volunteer, minutes: int, staff) -> ServiceRecord:
    """Checked in at the start and out `minutes` later by staff: a pending record."""
    attendance.check_in(event, volunteer, via="staff", actor=staff, at=event.starts_at)
    attendance.check_out(
        event, volunteer, via="staff", actor=staff, at=event.starts_at + timedelta(minutes=minutes)
    )
    return db.session.scalar(
        db.select(ServiceRecord).filter_by(event_id=event.id, user_id=volunteer.id)
    )


def _event(station, title: str, starts_in: int, **details):
    made = factories.event(
        station, title=title, starts_in=starts_in, lasts=60, rounding="minute", **details
    )
    return db.session.get(type(made), made.id)


@pytest.fixture
def world(app, places, people):
    """A station's project with two linked finished events, a third linked event not yet
    held, an unlinked event, a linked store with donations and redemptions in and out of
    the period, and a list of beneficiaries; `expected` holds the hand-counted figures."""
    with app.test_request_context():
        staff, admin = _user(people.east_staff), _user(people.district_admin)
        root = _user(people.root)
        station = db.session.get(Station, places.east_station.id)
        today = local_today()
        volunteers = [
            factories.volunteer(
                places.east_c,
                verified=True,
                name=f"志愿者{n}",
                phone=f"1370000000{n}",
                document_number=factories.resident_id(serial=n),
            ).user
            for n in range(1, 5)
        ]
        v1, v2, v3, v4 = (db.session.get(User, v.id) for v in volunteers)

        haircut = _event(station, "助老理发", -300)
        meals = _event(station, "爱心送餐", -200)
        other = _event(station, "不属于项目的活动", -100)
        upcoming = _event(station, "重阳节探访", 24 * 60)

        # 助老理发: v1 50 min and v2 40 min approved, v3 rejected.
        records.approve(staff, _attend(haircut, v1, 50, staff))
        records.approve(staff, _attend(haircut, v2, 40, staff))
        records.reject(staff, _attend(haircut, v3, 30, staff), "未实际参加")
        # 爱心送餐: v1 45 min approved then corrected up to 60 (a 15-minute supplement);
        # v4 55 min approved but its credit reversed.
        meal_record = records.approve(staff, _attend(meals, v1, 45, staff))
        reversed_record = records.approve(staff, _attend(meals, v4, 55, staff))
        ledger.reverse(root, db.session.get(Transaction, reversed_record.transaction_id), "误录")
        dispute = records.dispute(v1, meal_record, "送餐后还帮忙收拾", 60)
        records.resolve(staff, dispute, corrected_minutes=60, resolution="核实属实")
        supplement = db.session.scalar(
            db.select(ServiceRecord).filter_by(corrects_id=meal_record.id)
        )
        records.approve(admin, supplement)
        # The unlinked event: v2 20 min approved, never counted.
        records.approve(staff, _attend(other, v2, 20, staff))
        for event in (haircut, meals, other):
            events.finish(SYSTEM, event)
        db.session.commit()

        store = stores.create_store(
            SYSTEM, stores.StoreDetails(name="东一爱心超市", station_id=station.id)
        )
        rice = stores.add_goods(
            SYSTEM, store, stores.GoodsDetails(name="大米", points_price=10, barcode=None)
        )
        oil = stores.add_goods(
            SYSTEM, store, stores.GoodsDetails(name="食用油", points_price=15, barcode=None)
        )

        def donate(goods, quantity, fen, on):
            stores.receive_donation(
                SYSTEM,
                store,
                donor_kind="anonymous",
                donor_name="",
                donated_on=on,
                items=[stores.DonationItem(quantity=quantity, goods_id=goods.id, value_fen=fen)],
            )

        donate(rice, 10, 50_000, today)
        donate(oil, 5, 12_000, today - timedelta(days=3))
        donate(rice, 4, 99_900, today - timedelta(days=60))  # before the period

        def resident(n, phone):
            person = factories.volunteer(
                places.east_c,
                verified=True,
                name=f"居民{n}",
                phone=phone,
                document_number=factories.resident_id(serial=100 + n),
            ).user
            person = db.session.get(User, person.id)
            region = db.session.get(Region, places.east_c.id)
            ledger.allocate(SYSTEM, region, person, 100, key=f"test:{person.id}", memo="测试")
            return person

        def redeem(person, lines):
            done = redemptions.redeem(
                SYSTEM, store, person, lines, key=f"test-redeem:{person.id}:{len(lines)}:{lines}"
            )
            return done.redemption

        r1 = resident(1, "13800000002")  # also on the list below: one person
        r2 = resident(2, "13600000099")
        r3 = resident(3, "13600000098")
        r4 = resident(4, "13600000097")
        redeem(r1, [(rice.id, 2)])
        redeem(r2, [(rice.id, 1)])
        redeem(r2, [(oil.id, 1)])
        early = redeem(r3, [(oil.id, 1)])
        redemptions.cancel(SYSTEM, redeem(r4, [(rice.id, 1)]), "拿错了")
        db.session.flush()
        # Made before the period began (moved back in time: nothing else depends on it).
        db.session.execute(
            db.update(Redemption)
            .where(Redemption.id == early.id)
            .values(created_at=utcnow() - timedelta(days=60))
        )
        db.session.commit()

        project = projects.create_project(
            staff,
            projects.ProjectDetails(
                name=NAME,
                starts_on=today - timedelta(days=30),
                ends_on=today + timedelta(days=30),
                funding_source="福彩公益金",
                funding_fen=20_000_000,
                station_id=station.id,
            ),
        )
        for event in (haircut, meals, upcoming):
            projects.link_event(staff, project, event.id)
        projects.link_store(staff, project, store.id)
        projects.add_beneficiary(staff, project, name="王奶奶", phone="13800000001")
        projects.add_beneficiary(staff, project, name="李爷爷", phone="13800000002")
        projects.add_media_report(
            staff,
            project,
            title="社区志愿者为老人义务理发",
            outlet="区融媒体中心",
            url="https://news.example.cn/a/1",
            published_on=today,
        )
        db.session.commit()
        return SimpleNamespace(
            project_id=project.id,
            store_id=store.id,
            haircut=haircut.id,
            meals=meals.id,
            other=other.id,
            upcoming=upcoming.id,
            expected={
                "services_held": 2,  # 理发 and 送餐 (探访 not held yet)
                "people_times": 3,  # v1 and v2 at 理发, v1 at 送餐
                "volunteer_minutes": 50 + 40 + 45 + 15,
                "volunteer_hours": "2.50",
                "volunteers": 2,  # v1, v2
                "beneficiaries": 3,  # ...01, ...02 (listed and redeemed), 13600000099
                "listed_beneficiaries": 2,
                "redeeming_residents": 2,
                "donations": 2,
                "donation_value_fen": 62_000,
                "donation_value_yuan": "620.00",
                "redemptions": 3,
                "redemption_points": 20 + 10 + 15,
                "redeemed_goods": 4,
                "media_report_count": 1,
                "funding_fen": 20_000_000,
                "funding_yuan": "200000.00",
            },
        )


def test_report_figures_match_hand_counts(client, auth, world):
    response = client.get(f"{API}/{world.project_id}/report", headers=auth("eaststaff"))
    assert response.status_code == 200, response.json
    report = response.json
    for key, value in world.expected.items():
        assert report[key] == value, key
    assert report["name"] == NAME and report["funding_source"] == "福彩公益金"
    by_event = {row["event_id"]: row for row in report["events"]}
    assert set(by_event) == {world.haircut, world.meals, world.upcoming}  # 其他活动 left out
    assert (by_event[world.haircut]["people_times"], by_event[world.haircut]["minutes"]) == (2, 90)
    assert (by_event[world.meals]["people_times"], by_event[world.meals]["minutes"]) == (1, 60)
    assert by_event[world.meals]["hours"] == "1.00"
    assert by_event[world.upcoming]["people_times"] == 0
    assert by_event[world.upcoming]["state"] == "published"
    assert report["stores"] == ["东一爱心超市"]
    assert report["media_reports"][0]["outlet"] == "区融媒体中心"


def test_the_workbook_agrees_with_the_json_report(app, client, auth, world):
    headers = auth("eaststaff")
    figures = client.get(f"{API}/{world.project_id}/report", headers=headers).json
    response = client.get(f"{API}/{world.project_id}/report.xlsx", headers=headers)
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert ".xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    summary = {row[0]: row[1] for row in book.worksheets[0].iter_rows(values_only=True)}
    with app.test_request_context():
        report = projects.evaluate(db.session.get(Project, world.project_id))
        rows = projects.summary_rows(report)
    assert len(rows) == 12
    for key, label, _value in rows:
        assert Decimal(str(summary[label])) == Decimal(str(figures[key])), key
    events = list(book.worksheets[1].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[3], r[5]) for r in events] == [
        (e["title"], e["people_times"], e["minutes"]) for e in figures["events"]
    ]
    media = list(book.worksheets[2].iter_rows(min_row=2, values_only=True))
    assert media[0][0] == "社区志愿者为老人义务理发"


def test_a_spreadsheet_cell_never_runs_as_a_formula(app, client, auth, world):
    headers = auth("eaststaff")
    client.post(
        f"{API}/{world.project_id}/media-reports",
        json={"title": '=HYPERLINK("http://x")', "published_on": "2026-01-01"},
        headers=headers,
    )
    book = load_workbook(
        io.BytesIO(client.get(f"{API}/{world.project_id}/report.xlsx", headers=headers).data)
    )
    titles = [row[0] for row in book.worksheets[2].iter_rows(min_row=2, values_only=True)]
    assert '\'=HYPERLINK("http://x")' in titles


def test_the_pdf_carries_the_chinese_name_and_the_people_times(app, client, auth, world):
    response = client.get(f"{API}/{world.project_id}/report.pdf", headers=auth("eaststaff"))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert NAME in text
    assert "助老理发" in text and "区融媒体中心" in text
    with app.test_request_context():  # the same language as the request: the default
        report = projects.evaluate(db.session.get(Project, world.project_id))
        label = {key: label for key, label, _value in projects.summary_rows(report)}
    assert re.search(re.escape(label["people_times"]) + r"\s*3\b", text), text
    assert re.search(re.escape(label["volunteer_hours"]) + r"\s*2\.50\b", text), text


def test_pages_show_the_report_and_mask_phones(client, world):
    from tests.conftest import login

    login(client, "eaststaff")
    page = client.get(f"/projects/{world.project_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert NAME in html and 'data-figure="people_times">3<' in html
    assert "138****0001" in html and "13800000001" not in html
    assert "不属于项目的活动" in html  # offered to link, not counted
    report = client.get(f"/projects/{world.project_id}/report")
    assert report.status_code == 200 and "助老理发" in report.get_data(as_text=True)
    for suffix in ("report.xlsx", "report.pdf"):
        assert client.get(f"/projects/{world.project_id}/{suffix}").status_code == 200
    assert NAME in client.get("/projects/").get_data(as_text=True)


# -- scope --------------------------------------------------------------------------------


def test_others_never_see_the_project(client, auth, world):
    from tests.conftest import login

    pid = world.project_id
    for outsider in ("westadmin", "eastleader", "13900000001"):
        headers = auth(outsider)
        assert client.get(f"{API}/{pid}", headers=headers).status_code == 404
        assert client.get(f"{API}/{pid}/report", headers=headers).status_code == 404
        assert client.get(f"{API}/{pid}/report.xlsx", headers=headers).status_code == 404
        assert client.get(f"{API}/{pid}/beneficiaries", headers=headers).status_code == 404
        listed = client.get(API, headers=headers).json
        assert pid not in [p["id"] for p in listed["items"]]
        writes = [
            client.patch(f"{API}/{pid}", json={"name": "改名"}, headers=headers),
            client.post(
                f"{API}/{pid}/beneficiaries",
                json={"name": "张三", "phone": "13812345678"},
                headers=headers,
            ),
            client.post(f"{API}/{pid}/events", json={"event_id": world.other}, headers=headers),
            client.delete(f"{API}/{pid}/events/{world.haircut}", headers=headers),
            client.delete(f"{API}/{pid}", headers=headers),
        ]
        assert [w.status_code for w in writes] == [403] * len(writes), outsider
    # Administrators above the station see and may change it.
    for insider in ("district", "eastadmin", "root"):
        assert client.get(f"{API}/{pid}/report", headers=auth(insider)).status_code == 200
    login(client, "westadmin")
    assert client.get(f"/projects/{pid}").status_code == 404
    assert client.get(f"/projects/{pid}/report.pdf").status_code == 404
    assert client.post(f"/projects/{pid}/delete").status_code == 404
    client.post("/logout")
    login(client, "13900000001")  # a volunteer
    assert client.get("/projects/").status_code == 403
    assert client.get(f"/projects/{pid}").status_code == 403


# -- bad input ----------------------------------------------------------------------------


def _fields(response, status=422):
    assert response.status_code == status, response.json
    return response.json["error"].get("fields", {})


def test_creating_refuses_bad_periods_and_other_organizers(client, auth, places, people, world):
    headers = auth("eaststaff")
    body = {
        "name": "项目",
        "starts_on": "2026-03-01",
        "ends_on": "2026-02-01",
        "station_id": places.east_station.id,
    }
    assert "ends_on" in _fields(client.post(API, json=body, headers=headers))
    body["ends_on"] = "2026-12-31"
    for wrong in (
        {"station_id": places.west_station.id},
        {"station_id": 999_999},
        {"station_id": None, "organization_id": places.east_team.id},
        {"station_id": None},
    ):
        fields = _fields(client.post(API, json={**body, **wrong}, headers=headers))
        assert "organizer" in fields, wrong
    # Unknown and out-of-scope answer with the same words.
    assert _fields(
        client.post(API, json={**body, "station_id": 999_999}, headers=headers)
    ) == _fields(
        client.post(API, json={**body, "station_id": places.west_station.id}, headers=headers)
    )
    assert "funding_fen" in _fields(
        client.post(API, json={**body, "funding_fen": -1}, headers=headers)
    )
    made = client.post(API, json=body, headers=headers)
    assert made.status_code == 201, made.json
    again = client.post(API, json=body, headers=headers)
    assert _fields(again, 409) == {"name": [again.json["error"]["message"]]}
    assert client.post(API, json=body, headers=auth("13900000001")).status_code == 403
    # A team leader runs projects of the team, and links the team's events only.
    team = client.post(
        API,
        json={**body, "station_id": None, "organization_id": places.east_team.id},
        headers=auth("eastleader"),
    )
    assert team.status_code == 201, team.json
    assert team.json["organizer"] == "东街服务队"
    # ...and no love supermarket: the store in its street is run by others, whose
    # redemptions the leader never sees.
    leader_links = client.post(
        f"{API}/{team.json['id']}/stores",
        json={"store_id": world.store_id},
        headers=auth("eastleader"),
    )
    assert "store_id" in _fields(leader_links)
    offered = client.get(f"{API}/{team.json['id']}/stores", headers=auth("eastleader"))
    assert offered.status_code == 200 and offered.json["candidates"] == []


def test_links_refuse_events_and_stores_outside_the_organizer(app, client, auth, places, world):
    headers = auth("eaststaff")
    pid = world.project_id
    with app.test_request_context():
        west_event = factories.event(db.session.get(Station, places.west_station.id)).id
        team_event = factories.event(db.session.get(Organization, places.east_team.id)).id
        later = factories.event(
            db.session.get(Station, places.east_station.id), starts_in=40 * 24 * 60
        ).id
        west_store = stores.create_store(
            SYSTEM, stores.StoreDetails(name="西一爱心超市", station_id=places.west_station.id)
        ).id
        db.session.commit()
    refusals = [
        client.post(f"{API}/{pid}/events", json={"event_id": event_id}, headers=headers)
        for event_id in (west_event, team_event, 999_999)
    ]
    messages = {r.json["error"]["fields"]["event_id"][0] for r in refusals}
    assert [r.status_code for r in refusals] == [422] * 3 and len(messages) == 1
    outside = client.post(f"{API}/{pid}/events", json={"event_id": later}, headers=headers)
    assert "event_id" in _fields(outside)
    for store_id in (west_store, 999_999):
        response = client.post(f"{API}/{pid}/stores", json={"store_id": store_id}, headers=headers)
        assert "store_id" in _fields(response)
    listed = client.get(f"{API}/{pid}/events", headers=headers).json
    assert [e["id"] for e in listed["candidates"]] == [world.other]
    assert client.get(f"{API}/{pid}/stores", headers=headers).json["candidates"] == []
    # Unlinking takes the event out of the report.
    assert client.delete(f"{API}/{pid}/events/{world.haircut}", headers=headers).status_code == 204
    assert client.delete(f"{API}/{pid}/events/{world.haircut}", headers=headers).status_code == 404
    report = client.get(f"{API}/{pid}/report", headers=headers).json
    assert (report["services_held"], report["people_times"]) == (1, 1)
    # The period cannot shrink past a linked event.
    with app.test_request_context():
        today = local_today()
    shrunk = client.patch(
        f"{API}/{pid}", json={"starts_on": (today + timedelta(days=1)).isoformat()}, headers=headers
    )
    assert "starts_on" in _fields(shrunk)
    backwards = client.patch(
        f"{API}/{pid}", json={"ends_on": (today - timedelta(days=31)).isoformat()}, headers=headers
    )
    assert "ends_on" in _fields(backwards)
    # Removing the project leaves its events and stores as they were.
    assert client.delete(f"{API}/{pid}", headers=headers).status_code == 204
    assert client.get(f"{API}/{pid}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/events/{world.meals}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/stores/{world.store_id}", headers=headers).status_code == 200


def test_media_reports_take_web_addresses_only(client, auth, world):
    headers = auth("eaststaff")
    url = f"{API}/{world.project_id}/media-reports"
    for bad in (
        "javascript:alert(1)",
        "ftp://example.cn/a",
        "www.example.cn",
        "http://",
        "http://a b",
    ):
        response = client.post(
            url, json={"title": "报道", "url": bad, "published_on": "2026-05-01"}, headers=headers
        )
        assert "url" in _fields(response), bad
    assert "published_on" in _fields(client.post(url, json={"title": "报道"}, headers=headers))
    made = client.post(
        url,
        json={
            "title": "报道",
            "url": "HTTP://news.example.cn/x?id=1",
            "published_on": "2026-05-01",
        },
        headers=headers,
    )
    assert made.status_code == 201, made.json
    assert len(client.get(url, headers=headers).json) == 2
    assert client.delete(f"{url}/{made.json['id']}", headers=headers).status_code == 204
    assert client.delete(f"{url}/{made.json['id']}", headers=headers).status_code == 404


def test_beneficiaries_valid_phones_once_each_shown_masked(app, client, auth, world):
    headers = auth("eaststaff")
    url = f"{API}/{world.project_id}/beneficiaries"
    assert "phone" in _fields(
        client.post(url, json={"name": "赵六", "phone": "12345"}, headers=headers)
    )
    assert "name" in _fields(
        client.post(url, json={"name": " ", "phone": "13912345678"}, headers=headers)
    )
    duplicate = client.post(url, json={"name": "王奶奶", "phone": "138 0000 0001"}, headers=headers)
    assert duplicate.status_code == 409
    assert duplicate.json["error"]["code"] == "beneficiary_exists"
    assert "phone" in duplicate.json["error"]["fields"]
    listed = client.get(url, headers=headers).json
    assert [p["phone"] for p in listed] == ["138****0001", "138****0002"]
    assert "13800000001" not in client.get(url, headers=headers).get_data(as_text=True)

    # A paste: a header, a person already listed, one twice, full-width commas.
    text = (
        "姓名,电话\n王奶奶,13800000001\n陈阿姨，13700001111，独居\n"
        "陈阿姨,13700001111\n孙伯伯,+86 13700002222\n"
    )
    result = client.post(f"{url}/import", json={"text": text}, headers=headers)
    assert result.status_code == 201, result.json
    assert result.json == {"added": 2, "already_listed": 2}
    # One bad line: nothing is added, and the line is named.
    bad = client.post(
        f"{url}/import", json={"text": "周一,13700003333\n吴二,1234\n"}, headers=headers
    )
    (problem,) = _fields(bad)["lines"]
    assert "2" in problem and "1234" not in problem
    with app.test_request_context():
        phones = set(
            db.session.scalars(db.select(Beneficiary.phone).filter_by(project_id=world.project_id))
        )
    assert phones == {"13800000001", "13800000002", "13700001111", "13700002222"}
    report = client.get(f"{API}/{world.project_id}/report", headers=headers).json
    assert report["beneficiaries"] == 5 and report["listed_beneficiaries"] == 4


def test_pages_create_link_and_refuse_with_field_errors(app, client, places, world):
    from tests.conftest import login

    login(client, "eaststaff")
    form = client.get("/projects/new")
    assert form.status_code == 200 and "东一站" in form.get_data(as_text=True)
    bad = client.post(
        "/projects/new",
        data={
            "organizer": f"station:{places.east_station.id}",
            "name": "新项目",
            "starts_on": "2026-06-01",
            "ends_on": "2026-05-01",
            "funding_yuan": "1000",
        },
    )
    assert bad.status_code == 200 and 'class="error"' in bad.get_data(as_text=True)
    made = client.post(
        "/projects/new",
        data={
            "organizer": f"station:{places.east_station.id}",
            "name": "新项目",
            "starts_on": "2026-05-01",
            "ends_on": "2026-06-01",
            "funding_yuan": "1234.5",
        },
    )
    assert made.status_code == 302
    with app.test_request_context():
        project = db.session.scalar(db.select(Project).filter_by(name="新项目"))
        assert project.funding_fen == 123_450
    pid = world.project_id
    linked = client.post(f"/projects/{pid}/events", data={"link-event-event_id": str(world.other)})
    assert linked.status_code == 302
    person = client.post(
        f"/projects/{pid}/beneficiaries",
        data={"person-name": "王奶奶", "person-phone": "13800000001"},
    )
    assert person.status_code == 200 and 'class="error"' in person.get_data(as_text=True)
    media = client.post(
        f"/projects/{pid}/media",
        data={
            "media-title": "报道",
            "media-url": "javascript:alert(1)",
            "media-published_on": "2026-05-01",
        },
    )
    assert media.status_code == 200 and 'class="error"' in media.get_data(as_text=True)
    upload = client.post(
        f"/projects/{pid}/beneficiaries/import",
        data={"import-upload": (io.BytesIO("赵大妈,13700004444\n".encode("gb18030")), "名单.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302
    report = client.get(f"{API}/{pid}/report").json
    assert report["services_held"] == 3 and report["listed_beneficiaries"] == 3
