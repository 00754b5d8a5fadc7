"""List exports as CSV and XLSX: rows, filters, scope, masked IDs, formulas, streaming."""

import csv
import io
from datetime import date, datetime
from types import SimpleNamespace

import openpyxl
import pytest
import sqlalchemy as sa

from tests import factories
from tests.conftest import login
from tests.volunteers.test_privacy import NUMBER, leaks
from timebank.auth.models import Role, User
from timebank.core import exports
from timebank.core.security import SYSTEM
from timebank.events import records
from timebank.events.models import RecordState, ServiceRecord, StaffEntry
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.regions.models import Region
from timebank.stations.models import Station
from timebank.stores import redemptions
from timebank.stores import services as stores

EN = {"Accept-Language": "en"}
FORMULA_NAME = '=HYPERLINK("http://example.com","x")'
SERVED = date(2025, 3, 1)


@pytest.fixture
def world(app, places, people):
    """Two east volunteers (one verified with 1 h 30 min credited, one pending whose name
    is a formula), one west volunteer, hand-logged hours at both stations, and a store at
    the east station with its cashier, two donations and one redemption."""
    with app.test_request_context():
        get = db.session.get
        wang = factories.volunteer(
            places.east_c, verified=True, name="王芳", document_number=NUMBER, phone="13700000011"
        )
        formula = factories.volunteer(
            places.east_c,
            name=FORMULA_NAME,
            document_number=factories.resident_id("19950505", 12),
            phone="13700000012",
        )
        west = factories.volunteer(
            places.west_c,
            verified=True,
            name="西边人",
            document_number=factories.resident_id("19700101", 13),
            phone="13700000013",
        )
        east_station = get(Station, places.east_station.id)
        west_station = get(Station, places.west_station.id)
        records.create_entry(
            SYSTEM,
            east_station,
            [get(User, wang.user_id), get(User, formula.user_id)],
            served_on=SERVED,
            minutes=90,
            description="敬老院探访",
            reason="忘记签到",
        )
        records.create_entry(
            SYSTEM,
            west_station,
            [get(User, west.user_id)],
            served_on=date(2025, 3, 5),
            minutes=60,
            description="河道清理",
            reason="补录",
        )
        db.session.commit()

        store = stores.create_store(
            SYSTEM, stores.StoreDetails(name="东一爱心超市", station_id=east_station.id)
        )
        db.session.flush()
        factories.user("eastcashier", Role.CASHIER, store.id, name="王收银")
        other = stores.create_store(
            SYSTEM, stores.StoreDetails(name="西一爱心超市", station_id=west_station.id)
        )
        db.session.flush()
        factories.user("westcashier", Role.CASHIER, other.id)
        rice = stores.add_goods(
            SYSTEM, store, stores.GoodsDetails(name="大米", points_price=20, unit="袋")
        )
        oil = stores.add_goods(
            SYSTEM, store, stores.GoodsDetails(name="食用油", points_price=30, unit="桶")
        )
        stores.receive_donation(
            SYSTEM,
            store,
            donor_kind="business",
            donor_name="=SUM(A1:A9)",
            donated_on=date(2025, 3, 2),
            items=[
                stores.DonationItem(quantity=10, goods_id=rice.id, value_fen=50_000),
                stores.DonationItem(quantity=5, goods_id=oil.id, value_fen=25_050),
            ],
        )
        stores.receive_donation(
            SYSTEM,
            store,
            donor_kind="anonymous",
            donor_name="",
            donated_on=date(2025, 3, 3),
            items=[stores.DonationItem(quantity=2, goods_id=rice.id)],
        )
        resident = get(User, wang.user_id)
        ledger.allocate(
            SYSTEM, get(Region, places.east_c.id), resident, 100, key="test:fund:1", memo="测试"
        )
        cashier = db.session.scalar(db.select(User).filter_by(username="eastcashier"))
        redemptions.redeem(
            cashier, store, resident, [(rice.id, 2), (oil.id, 1)], key="test-redeem-0001"
        )
        db.session.commit()
        return SimpleNamespace(
            wang=wang.id,
            formula=formula.id,
            west=west.id,
            store=store.id,
            other_store=other.id,
            east_station=east_station.id,
            west_station=west_station.id,
        )


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.data
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM, so that Excel reads UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _xlsx(response) -> list[tuple]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == exports.XLSX_MIMETYPE
    assert response.headers["Content-Disposition"].startswith("attachment")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    return list(sheet.iter_rows(values_only=True))


def _get(client, who: str, path: str, **kwargs):
    client.post("/logout")
    login(client, who)
    return client.get(path, headers=EN, **kwargs)


# -- volunteers ---------------------------------------------------------------------------


def test_volunteers_export_agrees_with_the_page(client, world):
    rows = _csv(_get(client, "eastadmin", "/exports/volunteers.csv"))
    header, *body = rows
    assert header == [
        "Full name",
        "Mobile",
        "Document",
        "Gender",
        "Birth year",
        "Community",
        "Status",
        "Star level",
        "Verified on",
        "Lifetime service hours",
    ]
    # The page's order (newest first), the page's scope (the west volunteer is not here).
    assert [row[0] for row in body] == ["'" + FORMULA_NAME, "王芳"]
    wang = body[1]
    assert wang[1] == "137****0011"
    assert wang[2] == "*" * 14 + NUMBER[-4:]
    assert wang[3] == "Male" and wang[4] == "1988" and wang[5] == "东一社区"
    assert wang[6] == "Verified" and wang[7] == "0" and wang[8]
    assert wang[9] == "1.50"  # 90 minutes credited
    assert body[0][6] == "Awaiting verification" and body[0][9] == "0.00"
    page = client.get("/staff/volunteers", headers=EN).data.decode()
    assert "王芳" in page and "西边人" not in page
    assert 'href="/exports/volunteers.xlsx"' in page

    values = _xlsx(client.get("/exports/volunteers.xlsx", headers=EN))
    assert values[0][0] == "Full name" and len(values) == 3
    assert values[2][:3] == ("王芳", "137****0011", "*" * 14 + NUMBER[-4:])
    assert values[2][4] == 1988 and values[2][9] == 1.5


def test_volunteers_export_keeps_the_page_filters(client, world):
    verified = _csv(_get(client, "eastadmin", "/exports/volunteers.csv?status=verified"))
    assert [row[0] for row in verified[1:]] == ["王芳"]
    page = client.get("/staff/volunteers?status=verified").data.decode()
    assert "/exports/volunteers.csv?status=verified" in page
    by_tail = _csv(client.get(f"/exports/volunteers.csv?q={NUMBER[-4:]}"))
    assert [row[0] for row in by_tail[1:]] == ["王芳"]
    # A whole ID number in a link is dropped, as on the page, never searched or echoed.
    whole = client.get(f"/exports/volunteers.csv?q={NUMBER}&status=verified")
    assert whole.status_code == 302 and NUMBER not in whole.headers["Location"]
    # The district administrator sees both streets.
    everyone = _csv(_get(client, "district", "/exports/volunteers.csv"))
    assert {row[0] for row in everyone[1:]} == {"'" + FORMULA_NAME, "王芳", "西边人"}


def test_volunteers_outside_the_scope_are_404(client, world, places):
    west = _csv(_get(client, "westadmin", "/exports/volunteers.csv"))
    assert [row[0] for row in west[1:]] == ["西边人"]
    assert client.get(f"/exports/volunteers.csv?region_id={places.east_c.id}").status_code == 404
    assert client.get("/exports/volunteers.xlsx?region_id=999999").status_code == 404
    staff = _csv(_get(client, "eaststaff", "/exports/volunteers.csv"))
    assert len(staff) == 3
    assert _get(client, "eastcashier", "/exports/volunteers.csv").status_code == 403
    assert _get(client, "13900000001", "/exports/volunteers.xlsx").status_code == 403


# -- service records ----------------------------------------------------------------------


def test_service_records_export_agrees_with_the_database(client, world, places):
    header, *body = _csv(_get(client, "eastadmin", "/exports/service-records.csv"))
    assert header[:3] == ["Date", "Volunteer", "Event or entry"] and len(header) == 11
    expected = db.session.scalar(
        db.select(sa.func.count(ServiceRecord.id))
        .join(Region, Region.id == ServiceRecord.region_id)
        .where(Region.path.startswith(db.session.get(Region, places.east.id).path))
    )
    assert len(body) == expected == 2
    by_name = {row[1]: row for row in body}
    wang = by_name["王芳"]
    assert wang[0] == "2025-03-01" and wang[2] == "Logged by hand: 敬老院探访"
    assert wang[3] == "东一站" and wang[4] == "东一社区"
    assert wang[5:9] == ["90", "1.50", "Approved", "No"]
    assert wang[10]  # decided at
    assert by_name["'" + FORMULA_NAME][7] == "Pending approval"

    values = _xlsx(client.get("/exports/service-records.xlsx?state=pending", headers=EN))
    assert len(values) == 2
    # Excel has no date type: a date comes back as midnight, shown without a time.
    assert values[1][0] == datetime(2025, 3, 1) and values[1][5] == 90 and values[1][6] == 1.5
    assert values[1][1] == "'" + FORMULA_NAME


def test_service_records_filters_and_scope(client, world, places):
    path = "/exports/service-records.csv"
    _get(client, "district", path)
    assert len(_csv(client.get(path))) == 4
    assert len(_csv(client.get(f"{path}?start=2025-03-02"))) == 2  # the west record only
    assert len(_csv(client.get(f"{path}?end=2025-03-01"))) == 3
    assert len(_csv(client.get(f"{path}?station_id={world.west_station}"))) == 2
    assert len(_csv(client.get(f"{path}?state=rejected"))) == 1
    assert client.get(f"{path}?state=lost").status_code == 400
    assert client.get(f"{path}?start=2025-03-05&end=2025-03-01").status_code == 302

    staff = _csv(_get(client, "eaststaff", path))
    assert {row[1] for row in staff[1:]} == {"王芳", "'" + FORMULA_NAME}
    assert client.get(f"{path}?station_id={world.west_station}").status_code == 404
    west = _csv(_get(client, "westadmin", path))
    assert [row[1] for row in west[1:]] == ["西边人"]
    assert client.get(f"{path}?station_id={world.east_station}").status_code == 404
    assert _get(client, "eastleader", path).status_code == 403


def test_approvals_page_links_its_pending_export(client, world):
    page = _get(client, "eastadmin", "/staff/service-records").data.decode()
    assert "/exports/service-records.csv?state=pending" in page
    assert "/exports/service-records.xlsx?state=pending" in page


# -- stores -------------------------------------------------------------------------------


def test_donations_export(client, world):
    path = f"/exports/stores/{world.store}/donations"
    header, *body = _csv(_get(client, "eastcashier", f"{path}.csv"))
    assert header == ["No.", "Date", "Donor type", "Donor", "Goods", "Value (yuan)"]
    assert len(body) == 2
    named, anonymous = body
    assert named[1] == "2025-03-02" and named[2] == "Business"
    assert named[3] == "'=SUM(A1:A9)"  # run by no spreadsheet
    assert named[4] == "大米 ×10袋; 食用油 ×5桶" and named[5] == "750.50"
    assert anonymous[2] == "Anonymous" and anonymous[3] == "Anonymous"
    assert anonymous[5] == "0.00"
    assert len(_csv(client.get(f"{path}.csv?start=2025-03-03"))) == 2
    values = _xlsx(client.get(f"{path}.xlsx?end=2025-03-02", headers=EN))
    assert len(values) == 2 and values[1][5] == 750.5 and values[1][1] == datetime(2025, 3, 2)
    page = client.get(f"/stores/{world.store}/donations").data.decode()
    assert f"{path}.xlsx" in page

    assert len(_csv(_get(client, "eastadmin", f"{path}.csv"))) == 3  # administrator above
    assert len(_csv(_get(client, "eaststaff", f"{path}.csv"))) == 3  # the station's staff
    for outsider in ("westcashier", "westadmin", "13900000001"):
        assert _get(client, outsider, f"{path}.csv").status_code == 404, outsider
    assert _get(client, "eastcashier", "/exports/stores/999999/donations.csv").status_code == 404


def test_redemptions_export(client, world):
    path = f"/exports/stores/{world.store}/redemptions"
    header, *body = _csv(_get(client, "eastcashier", f"{path}.csv"))
    assert header == [
        "No.",
        "Time",
        "Resident",
        "Mobile",
        "Goods",
        "Points",
        "State",
        "Cashier",
    ]
    assert len(body) == 1
    row = body[0]
    assert row[2] == "王*" and row[3] == "137****0011"  # masked as the store's pages show
    assert row[4] == "大米 ×2袋; 食用油 ×1桶" and row[5] == "70"
    assert row[6] == "Completed" and row[7] == "王收银"
    assert len(_csv(client.get(f"{path}.csv?state=cancelled"))) == 1
    assert client.get(f"{path}.csv?state=gone").status_code == 400
    values = _xlsx(client.get(f"{path}.xlsx", headers=EN))
    assert values[1][5] == 70 and values[1][1].year >= 2025
    page = client.get(f"/stores/{world.store}/redemptions").data.decode()
    assert f"{path}.csv" in page
    assert _get(client, "westcashier", f"{path}.xlsx").status_code == 404
    other = f"/exports/stores/{world.other_store}/redemptions.csv"
    assert _get(client, "eastcashier", other).status_code == 404


# -- privacy, formulas, streaming ---------------------------------------------------------


def _text(response) -> str:
    if response.mimetype == "text/csv":
        return response.data.decode("utf-8")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    return " ".join(
        str(value)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    )


def test_the_id_number_appears_in_no_export(client, world):
    seen = {}
    exported = (
        "/exports/volunteers",
        "/exports/service-records",
        f"/exports/stores/{world.store}/donations",
        f"/exports/stores/{world.store}/redemptions",
    )
    for who in ("root", "eastadmin", "eaststaff"):
        client.post("/logout")
        login(client, who)
        for path in exported:
            for fmt in exports.FORMATS:
                response = client.get(f"{path}.{fmt}")
                assert response.status_code == 200, (who, path, fmt)
                seen[f"{who} {path}.{fmt}"] = _text(response)
    assert all("王芳" in seen[f"{who} /exports/volunteers.{fmt}"] for fmt in exports.FORMATS)
    assert [where for where, text in seen.items() if leaks(text)] == []
    assert NUMBER[-4:] in seen["root /exports/volunteers.csv"]  # the tail, as on the page


def test_formulas_are_neutralised_in_xlsx(client, world):
    response = _get(client, "eastadmin", "/exports/volunteers.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    cell = sheet["A2"]
    assert cell.value == "'" + FORMULA_NAME and cell.data_type == "s"
    assert sheet["I3"].number_format == exports.DATE_FORMAT  # verified on: a date
    assert not any(
        c.data_type == "f" for row in sheet.iter_rows() for c in row if c.value is not None
    )


def test_export_response_is_lazy_and_streamed(app, monkeypatch):
    consumed = []

    def rows():
        for n in range(3):
            consumed.append(n)
            yield [n, f"=n{n}", date(2025, 1, n + 1)]

    with app.test_request_context():
        response = exports.export_response("csv", "test", ["n", "text", "day"], rows())
        assert response.is_streamed and consumed == []  # nothing read before sending
        text = response.get_data(as_text=True).lstrip("\ufeff")
        assert text.splitlines() == ["n,text,day", "0,'=n0,2025-01-01", "1,'=n1,2025-01-02"] + [
            "2,'=n2,2025-01-03"
        ]
        monkeypatch.setattr(exports, "XLSX_SPOOL", 1)  # spill to disk at once
        response = exports.export_response("xlsx", "test", ["n"], ([n] for n in range(50)), "t")
        assert response.direct_passthrough and response.is_streamed
        assert response.content_length > 0
        chunks = list(response.response)
        response.close()
        assert sum(len(c) for c in chunks) == response.content_length
        with pytest.raises(ValueError):
            exports.export_response("pdf", "test", ["n"], [])


def test_a_long_list_streams_as_xlsx(client, world, app):
    """A few thousand records, inserted in bulk, come out whole through the spooled file."""
    many = 3000
    with app.test_request_context():
        station = db.session.get(Station, world.east_station)
        user_id = db.session.scalar(db.select(User.id).filter_by(username="eastadmin"))
        entry = StaffEntry(
            station_id=station.id,
            region_id=station.region_id,
            served_on=SERVED,
            minutes=30,
            description="批量",
            reason="测试",
            needs_second_approval=False,
        )
        db.session.add(entry)
        db.session.flush()
        db.session.execute(
            sa.insert(ServiceRecord),
            [
                dict(
                    user_id=user_id,
                    staff_entry_id=entry.id,
                    station_id=station.id,
                    region_id=station.region_id,
                    served_on=SERVED,
                    minutes=30 + n % 60,
                    description=f"批量 {n}",
                    state=RecordState.PENDING,
                )
                for n in range(many)
            ],
        )
        db.session.commit()
    response = _get(client, "eastadmin", "/exports/service-records.xlsx?state=pending")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(response.data))
    values = _xlsx(response)
    assert len(values) == 1 + many + 1  # the header, the bulk, the pending fixture record
    assert sum(row[5] for row in values[1:]) == sum(30 + n % 60 for n in range(many)) + 90
    csv_rows = _csv(client.get("/exports/service-records.csv?state=pending"))
    assert len(csv_rows) == len(values)
