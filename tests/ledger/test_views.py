"""The ledger's pages: my account, exports, money-moving forms, batch allocation, reversals."""

import csv
import io
import re
import uuid
from datetime import date, timedelta
from types import SimpleNamespace

import openpyxl
import pytest

from tests.conftest import login
from timebank.auth.models import User
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import (
    Account,
    AccountKind,
    ConversionRate,
    Entry,
    Transaction,
    TransactionKind,
)
from timebank.regions.models import Region

EN = {"Accept-Language": "en"}


@pytest.fixture
def bank(app, db_session, places, people):
    """The volunteer (张三) and two staff live in 东一社区; 3 h 30 min banked, a rate of 10/h."""
    with app.test_request_context():
        get = db.session.get
        community = get(Region, places.east_c.id)
        for person in (people.volunteer, people.east_staff, people.east_leader):
            get(User, person.id).region_id = community.id
        db.session.add(
            ConversionRate(
                region_id=places.district.id, points_per_hour=10, effective_from=date(2020, 1, 1)
            )
        )
        db.session.flush()
        volunteer = get(User, people.volunteer.id)
        ledger.credit_service(volunteer, 120, community, key="test:credit:1", memo="敬老院探访")
        ledger.credit_service(volunteer, 90, community, key="test:credit:2", memo="社区清扫")
        hours = ledger.hours_account(volunteer)
        db.session.commit()
        return SimpleNamespace(hours_id=hours.id, community_id=community.id)


def _balance(account_id: int) -> int:
    account = db.session.get(Account, account_id)
    db.session.refresh(account)
    return ledger.balance_of(account)


def _person_balance(user_id: int, kind: AccountKind) -> int:
    account = db.session.scalar(db.select(Account).filter_by(user_id=user_id, kind=kind))
    return 0 if account is None else _balance(account.id)


def _key(page: str, prefix: str) -> str:
    found = re.search(rf'name="{prefix}key"[^>]*value="([0-9a-f]{{32}})"', page) or re.search(
        rf'value="([0-9a-f]{{32}})"[^>]*name="{prefix}key"', page
    )
    assert found, f"no {prefix}key in the page"
    return found.group(1)


def _sign_in(client, name: str) -> None:
    client.post("/logout")
    login(client, name)


# -- my account ---------------------------------------------------------------------------


def test_account_page_shows_balances_and_running_balances(client, bank):
    _sign_in(client, "13900000001")
    page = client.get("/account/bank", headers=EN).data.decode()
    assert "3 h 30 min" in page  # 210 minutes banked
    assert "敬老院探访" in page and "社区清扫" in page
    # Newest first, each line with the balance after it.
    assert page.index("社区清扫") < page.index("敬老院探访")
    assert "Balance 3 h 30 min" in page and "Balance 2 h" in page
    assert "1 hour = 10 points." in page
    points = client.get("/account/bank?book=points", headers=EN).data.decode()
    assert "No transactions yet." in points


def test_period_filter_and_its_errors(client, bank):
    _sign_in(client, "13900000001")
    today = date.today()
    future = (today + timedelta(days=3)).isoformat()
    page = client.get(f"/account/bank?start={future}", headers=EN).data.decode()
    assert "No transactions in this period." in page and "社区清扫" not in page
    yesterday = (today - timedelta(days=1)).isoformat()
    tomorrow = (today + timedelta(days=1)).isoformat()
    page = client.get(f"/account/bank?start={yesterday}&end={tomorrow}", headers=EN).data.decode()
    assert "社区清扫" in page
    wrong = client.get(f"/account/bank?start={tomorrow}&end={yesterday}", headers=EN)
    assert wrong.status_code == 200
    assert "The end date is before the start date." in wrong.data.decode()
    assert client.get("/account/bank?start=soon", headers=EN).status_code == 200


def test_statement_exports_as_csv_and_xlsx(client, bank):
    _sign_in(client, "13900000001")
    response = client.get("/account/bank/statement.csv?book=hours", headers=EN)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Time", "No.", "Type"]
    assert [row[4] for row in rows[1:]] == ["90", "120"]
    assert [row[5] for row in rows[1:]] == ["210", "120"]
    assert "社区清扫" in rows[1][3]

    response = client.get("/account/bank/statement.xlsx?book=hours")  # Chinese by default
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 3
    assert values[1][4] == 90 and values[1][5] == 210 and "社区清扫" in values[1][3]
    assert values[0][0] == "时间"  # the header follows the page's language


def test_export_respects_the_period(client, bank):
    _sign_in(client, "13900000001")
    future = (date.today() + timedelta(days=2)).isoformat()
    response = client.get(f"/account/bank/statement.csv?book=hours&start={future}")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert len(rows) == 1  # the header only
    wrong = client.get(f"/account/bank/statement.xlsx?book=hours&start={future}&end=2020-01-01")
    assert wrong.status_code == 302 and "book=hours" in wrong.headers["Location"]
    assert client.get("/account/bank/statement.pdf").status_code == 404


def test_convert_form_previews_then_converts_leaving_odd_minutes(client, bank, people):
    _sign_in(client, "13900000001")
    key = _key(client.get("/account/bank").data.decode(), "convert-")
    data = {"convert-key": key, "convert-hours": "1", "convert-minutes": "5"}
    preview = client.post(
        "/account/bank/convert", data={**data, "convert-preview": "1"}, headers=EN
    )
    assert preview.status_code == 200
    assert "Converting 1 h 5 min gives 10 points; 5 min of it stays banked." in (
        preview.data.decode()
    )
    assert _person_balance(people.volunteer.id, AccountKind.POINTS) == 0
    done = client.post("/account/bank/convert", data=data, headers=EN)
    assert done.status_code == 302
    assert _person_balance(people.volunteer.id, AccountKind.POINTS) == 10
    assert _balance(bank.hours_id) == 210 - 60
    page = client.get("/account/bank", headers=EN).data.decode()
    assert "Converted 1 h into 10 points." in page


def test_bad_amounts_are_shown_beside_the_field(client, bank, people):
    _sign_in(client, "13900000001")
    key = _key(client.get("/account/bank").data.decode(), "convert-")
    nothing = client.post("/account/bank/convert", data={"convert-key": key}, headers=EN)
    assert "Enter an amount above zero." in nothing.data.decode()
    too_much = client.post(
        "/account/bank/convert",
        data={"convert-key": key, "convert-hours": "9"},
        headers=EN,
    )
    assert "The balance is too low" in too_much.data.decode()
    forged = client.post(
        "/account/bank/convert",
        data={"convert-key": "web:other:key", "convert-hours": "1"},
        headers=EN,
    )
    assert "The form has expired" in forged.data.decode()
    assert _person_balance(people.volunteer.id, AccountKind.POINTS) == 0


def test_family_then_a_double_submitted_gift_moves_once(client, bank, people):
    _sign_in(client, "13900000001")
    unknown = client.post(
        "/account/bank/family",
        data={"family-relative": "13999999999", "family-relation": "son"},
        headers=EN,
    )
    assert "No one is registered with this mobile number or username." in unknown.data.decode()
    declared = client.post(
        "/account/bank/family", data={"family-relative": "eaststaff", "family-relation": "son"}
    )
    assert declared.status_code == 302
    page = client.get("/account/bank", headers=EN).data.decode()
    assert "eaststaff" in page and "Son" in page
    key = _key(page, "gift-")
    data = {
        "gift-key": key,
        "gift-to_user_id": str(people.east_staff.id),
        "gift-hours": "1",
        "gift-minutes": "15",
    }
    first = client.post("/account/bank/gift", data=data)
    second = client.post("/account/bank/gift", data=data)  # a double click, a browser retry
    assert first.status_code == second.status_code == 302
    assert _balance(bank.hours_id) == 210 - 75
    assert _person_balance(people.east_staff.id, AccountKind.HOURS) == 75
    gifts = db.session.scalars(db.select(Transaction).filter_by(kind=TransactionKind.GIFT)).all()
    assert len(gifts) == 1
    assert gifts[0].idempotency_key == f"web:{people.volunteer.id}:{key}"
    # The same form sent back with another amount moves nothing and says so.
    changed = client.post("/account/bank/gift", data={**data, "gift-minutes": "20"}, headers=EN)
    assert "already been sent with other values" in changed.data.decode()
    assert _balance(bank.hours_id) == 210 - 75
    # The receiver's statement names the giver.
    _sign_in(client, "eaststaff")
    assert "From 张三" in client.get("/account/bank", headers=EN).data.decode()


def test_gift_only_to_declared_family(client, bank, people):
    _sign_in(client, "13900000001")
    page = client.get("/account/bank", headers=EN).data.decode()
    assert "Declare a family member first" in page
    response = client.post(
        "/account/bank/gift",
        data={
            "gift-key": uuid.uuid4().hex,
            "gift-to_user_id": str(people.east_leader.id),
            "gift-hours": "1",
        },
        headers=EN,
    )
    assert "declared family member" in response.data.decode()
    assert _balance(bank.hours_id) == 210


def test_donate_to_the_community_pool(client, bank, people, places):
    _sign_in(client, "13900000001")
    key = _key(client.get("/account/bank").data.decode(), "donate-")
    response = client.post("/account/bank/donate", data={"donate-key": key, "donate-minutes": "30"})
    assert response.status_code == 302
    pool = db.session.scalar(
        db.select(Account).filter_by(region_id=places.east_c.id, kind=AccountKind.POOL)
    )
    assert _balance(pool.id) == 30 and _balance(bank.hours_id) == 180


# -- staff: batch allocation --------------------------------------------------------------


def _batch(client, lines: str, key: str, region_id: int, memo="十一月困难补助", **extra):
    return client.post(
        "/staff/allocations",
        data={"region_id": str(region_id), "lines": lines, "memo": memo, "batch_key": key, **extra},
        headers=EN,
    )


def test_batch_allocation_is_all_or_nothing_and_lists_every_bad_line(client, bank, people, places):
    # Someone living in the other street.
    with client.application.test_request_context():
        db.session.get(User, people.west_admin.id).region_id = places.west_c.id
        db.session.commit()
    _sign_in(client, "eaststaff")
    page = client.get("/staff/allocations", headers=EN).data.decode()
    key = _key(page, "batch_")
    lines = "\n".join(
        [
            "13900000001, 100",  # fine
            "13999999999, 50",  # nobody
            "eastleader, lots",  # bad points
            "",
            "westadmin, 20",  # lives in another street
            "eastleader，-5",  # Chinese comma, still bad points
        ]
    )
    refused = _batch(client, lines, key, places.east_c.id)
    text = refused.data.decode()
    assert refused.status_code == 200
    assert "Nothing was allocated." in text
    assert "Line 2: no one is registered as 13999999999." in text
    assert "Line 3: the points must be a whole number above zero." in text
    assert "Line 5: westadmin does not live in 东一社区." in text
    assert "Line 6:" in text and "Line 1:" not in text
    assert _person_balance(people.volunteer.id, AccountKind.POINTS) == 0
    assert db.session.scalar(db.select(Transaction).filter_by(kind="allocation")) is None


def test_batch_allocation_checks_allocates_and_a_resubmission_allocates_once(
    client, bank, people, places
):
    _sign_in(client, "eaststaff")
    key = _key(client.get("/staff/allocations").data.decode(), "batch_")
    lines = "13900000001, 100\neastleader 40\n"
    checked = _batch(client, lines, key, places.east_c.id, preview="1")
    assert "2 households, 140 points in all." in checked.data.decode()
    assert _person_balance(people.volunteer.id, AccountKind.POINTS) == 0
    done = _batch(client, lines, key, places.east_c.id)
    assert done.status_code == 302
    summary = client.get(done.headers["Location"], headers=EN).data.decode()
    assert "2 households, 140 points in all." in summary and "张三" in summary
    again = _batch(client, lines, key, places.east_c.id)  # resubmitted: same batch key
    assert again.status_code == 302
    assert _person_balance(people.volunteer.id, AccountKind.POINTS) == 100
    assert _person_balance(people.east_leader.id, AccountKind.POINTS) == 40
    keys = db.session.scalars(
        db.select(Transaction.idempotency_key).filter_by(kind=TransactionKind.ALLOCATION)
    ).all()
    assert sorted(keys) == sorted(
        f"allocation:{key}:{person.id}" for person in (people.volunteer, people.east_leader)
    )
    # Another user cannot read this batch's summary.
    _sign_in(client, "eastadmin")
    assert client.get(done.headers["Location"]).status_code == 404


def test_staff_cannot_spend_another_stations_budget(client, bank, people, places):
    _sign_in(client, "eaststaff")
    key = _key(client.get("/staff/allocations").data.decode(), "batch_")
    response = _batch(client, "13900000001, 100", key, places.west_c.id)
    assert "Choose a budget." in response.data.decode()
    _sign_in(client, "13900000001")
    assert client.get("/staff/allocations").status_code == 403


# -- administrators: statements and reversals ---------------------------------------------


def test_admin_of_another_street_cannot_see_the_account(client, bank):
    _sign_in(client, "westadmin")
    assert client.get(f"/admin/accounts/{bank.hours_id}").status_code == 404
    assert client.get(f"/admin/accounts/{bank.hours_id}/statement.csv").status_code == 404
    tx = db.session.scalar(db.select(Transaction).filter_by(idempotency_key="test:credit:1"))
    assert client.get(f"/admin/transactions/{tx.id}/reverse").status_code == 404
    assert client.get("/admin/accounts?q=13900000001").data.decode().count("张三") == 0
    _sign_in(client, "13900000001")
    assert client.get(f"/admin/accounts/{bank.hours_id}").status_code == 403


def test_admin_finds_a_person_reads_and_exports_the_statement(client, bank, people):
    _sign_in(client, "eastadmin")
    found = client.get("/admin/accounts?q=13900000001", headers=EN).data.decode()
    assert f"/admin/accounts/{bank.hours_id}" in found
    page = client.get(f"/admin/accounts/{bank.hours_id}", headers=EN).data.decode()
    assert "张三 · Time bank" in page and "Reverse…" in page
    sheet = openpyxl.load_workbook(
        io.BytesIO(client.get(f"/admin/accounts/{bank.hours_id}/statement.xlsx", headers=EN).data)
    ).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header[-1] == "By" and len(rows) == 2


def test_reversal_needs_a_reason_and_is_audited(client, bank, people):
    from timebank.audit.models import AuditEvent

    tx = db.session.scalar(db.select(Transaction).filter_by(idempotency_key="test:credit:2"))
    url = f"/admin/transactions/{tx.id}/reverse?account={bank.hours_id}"
    _sign_in(client, "eastadmin")
    assert client.get(url).status_code == 200
    refused = client.post(url, data={"reason": "  "}, headers=EN)
    assert refused.status_code == 200 and "This field is required." in refused.data.decode()
    assert _balance(bank.hours_id) == 210
    done = client.post(url, data={"reason": "重复登记"})
    assert done.status_code == 302 and done.headers["Location"].endswith(
        f"/admin/accounts/{bank.hours_id}"
    )
    assert _balance(bank.hours_id) == 120
    reversal = db.session.scalar(db.select(Transaction).filter_by(reverses_id=tx.id))
    assert reversal.memo == "重复登记"
    assert db.session.scalar(
        db.select(AuditEvent.id).filter_by(action="ledger.reverse", object_id=reversal.id)
    )
    again = client.post(url, data={"reason": "再来一次"}, headers=EN)
    assert "Already reversed" in again.data.decode()
    assert _balance(bank.hours_id) == 120
    entries = db.session.scalars(db.select(Entry).filter_by(account_id=bank.hours_id)).all()
    assert len(entries) == 3


def test_pages_render_in_english_and_chinese(client, bank, people):
    _sign_in(client, "eastadmin")
    tx = db.session.scalar(db.select(Transaction).filter_by(idempotency_key="test:credit:1"))
    urls = [
        "/account/bank",
        "/account/bank?book=points",
        "/staff/allocations",
        "/admin/accounts",
        "/admin/accounts?q=张",
        f"/admin/accounts/{bank.hours_id}",
        f"/admin/transactions/{tx.id}/reverse",
    ]
    for lang in ("zh", "en"):
        client.post("/language", data={"lang": lang, "next": "/"})
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (lang, url)
            html = response.data.decode()
            assert "style=" not in html and "<script" not in html
    _sign_in(client, "13900000001")
    for lang in ("zh", "en"):
        client.post("/language", data={"lang": lang, "next": "/"})
        assert client.get("/account/bank").status_code == 200
