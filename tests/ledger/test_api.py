"""Ledger API: accounts, statements, conversions, transfers, allocations; idempotency and errors."""

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from tests.conftest import bearer, login, populate, token_for
from timebank.auth.models import User
from timebank.core.api import ErrorSchema
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import Account, AccountKind, ConversionRate, Transaction
from timebank.ledger.verify import verify
from timebank.regions.models import Region

VOLUNTEER = "13900000001"


def in_request(app, work):
    """Run services as a request would: in a context of their own, committed once."""
    with app.test_request_context():
        result = work()
        db.session.commit()
        return result


def user(user_id) -> User:
    return db.session.get(User, user_id)


def region(region_id) -> Region:
    return db.session.get(Region, region_id)


@pytest.fixture
def bank(app, places, people):
    """Alice (the volunteer) has 300 minutes and declared Lei (a team leader) her son;
    Lei has 60 minutes. Alice, Lei and the station staff live in the east community,
    the west administrator in the west one; the district converts 10 points an hour."""

    def seed():
        for person in (people.volunteer, people.east_leader, people.east_staff):
            user(person.id).region_id = places.east_c.id
        user(people.west_admin.id).region_id = places.west_c.id
        db.session.add(
            ConversionRate(
                region_id=places.district.id, points_per_hour=10, effective_from=date(2020, 1, 1)
            )
        )
        db.session.flush()
        community = region(places.east_c.id)
        alice, lei = user(people.volunteer.id), user(people.east_leader.id)
        ledger.credit_service(alice, 300, community, key="seed:alice")
        ledger.credit_service(lei, 60, community, key="seed:lei")
        ledger.declare_family(alice, lei, "儿子")
        return ledger.hours_account(alice).id, ledger.hours_account(lei).id

    alice_hours, lei_hours = in_request(app, seed)
    return SimpleNamespace(
        alice=people.volunteer.id,
        lei=people.east_leader.id,
        alice_hours=alice_hours,
        lei_hours=lei_hours,
    )


def balances(app, user_id) -> dict:
    """The person's balances by account kind, read from the database."""
    with app.test_request_context():
        accounts = db.session.scalars(db.select(Account).filter_by(user_id=user_id)).all()
        return {account.kind: ledger.balance_of(account) for account in accounts}


def transaction_count(app) -> int:
    with app.test_request_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Transaction))


def assert_error(response, status, code=None, fields=None):
    """The one error shape (as in tests/core/test_web.py), and optionally which fields."""
    assert response.status_code == status, response.json
    assert response.is_json, response.data[:200]
    assert ErrorSchema().validate(response.json) == {}, response.json
    assert set(response.json) == {"error"}
    error = response.json["error"]
    assert error["status"] == status
    assert error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    if code:
        assert error["code"] == code, error
    if fields is not None:
        assert set(error.get("fields", {})) == set(fields), error
    return error


def key(value):
    return {"Idempotency-Key": value}


# -- reading ----------------------------------------------------------------------------------


def test_the_caller_sees_their_accounts_and_balances(client, bank, people):
    token = token_for(client, VOLUNTEER)
    mine = client.get("/api/v1/me/accounts", headers=bearer(token)).json
    assert mine["hours"]["id"] == bank.alice_hours
    assert mine["hours"]["balance"] == 300
    assert mine["hours"]["lifetime_service_minutes"] == 300
    assert mine["hours"]["owner"] == {"type": "user", "id": bank.alice}
    # No points yet: the account is described, not opened by a GET.
    assert mine["points"] == {
        "id": None,
        "kind": "points",
        "kind_label": mine["points"]["kind_label"],
        "currency": "points",
        "owner": {"type": "user", "id": bank.alice},
        "balance": 0,
        "lifetime_service_minutes": None,
    }
    account = client.get(f"/api/v1/accounts/{bank.alice_hours}", headers=bearer(token)).json
    assert account == mine["hours"]
    assert account["kind"] == "hours" and account["currency"] == "minutes"


def test_the_statement_is_paged_newest_first_with_running_balances(app, client, bank):
    def credit():
        alice = user(bank.alice)
        community = db.session.get(Region, alice.region_id)
        for n, minutes in enumerate((60, 30, 45)):
            ledger.credit_service(alice, minutes, community, key=f"more:{n}", memo=f"服务{n}")

    in_request(app, credit)
    token = token_for(client, VOLUNTEER)
    url = f"/api/v1/accounts/{bank.alice_hours}/entries"
    first = client.get(f"{url}?per_page=3", headers=bearer(token)).json
    assert (first["page"], first["per_page"], first["total"]) == (1, 3, 4)
    assert [(e["amount"], e["balance_after"]) for e in first["items"]] == [
        (45, 435),
        (30, 390),
        (60, 360),
    ]
    line = first["items"][0]
    assert line["kind"] == "service_credit" and line["memo"] == "服务2"
    assert line["transaction_id"] and line["created_at"] and line["kind_label"]
    second = client.get(f"{url}?per_page=3&page=2", headers=bearer(token)).json
    assert [(e["amount"], e["balance_after"]) for e in second["items"]] == [(300, 300)]
    assert client.get(f"{url}?page=3&per_page=3", headers=bearer(token)).json["items"] == []
    assert_error(
        client.get(f"{url}?per_page=0", headers=bearer(token)),
        422,
        "validation_error",
        {"per_page"},
    )


def test_the_statement_filters_by_day_in_shanghai(app, client, bank, monkeypatch):
    # 17:30 UTC on 1 March is 01:30 on 2 March in Shanghai.
    monkeypatch.setattr(ledger, "utcnow", lambda: datetime(2024, 3, 1, 17, 30, tzinfo=UTC))

    def credit():
        alice = user(bank.alice)
        ledger.credit_service(alice, 15, db.session.get(Region, alice.region_id), key="late")

    in_request(app, credit)
    monkeypatch.undo()
    token = token_for(client, VOLUNTEER)
    url = f"/api/v1/accounts/{bank.alice_hours}/entries"

    def amounts(query):
        response = client.get(f"{url}?{query}", headers=bearer(token))
        assert response.status_code == 200, response.json
        return [e["amount"] for e in response.json["items"]]

    assert amounts("start=2024-03-02&end=2024-03-02") == [15]
    assert amounts("start=2024-03-01&end=2024-03-01") == []
    assert amounts("end=2024-03-02") == [15]
    assert amounts("start=2024-03-03") == [300]  # the seed, made today
    today = datetime.now(UTC).date()
    assert amounts(f"start={today - timedelta(days=1)}&end={today + timedelta(days=1)}") == [300]


def test_a_period_ending_before_it_starts_is_refused(client, bank):
    token = token_for(client, VOLUNTEER)
    url = f"/api/v1/accounts/{bank.alice_hours}/entries"
    response = client.get(f"{url}?start=2024-03-02&end=2024-03-01", headers=bearer(token))
    assert_error(response, 422, "validation_error", {"end"})
    response = client.get(f"{url}?start=2024-02-30", headers=bearer(token))
    assert_error(response, 422, "validation_error", {"start"})


def test_outsiders_cannot_read_an_account_nor_learn_that_it_exists(client, bank):
    missing = client.get("/api/v1/accounts/999999", headers=bearer(token_for(client, "eastleader")))
    assert_error(missing, 404, "not_found", {"account_id"})
    for outsider in ("eastleader", "eaststaff", "westadmin"):
        token = token_for(client, outsider)
        for path in (
            f"/api/v1/accounts/{bank.alice_hours}",
            f"/api/v1/accounts/{bank.alice_hours}/entries",
        ):
            error = assert_error(client.get(path, headers=bearer(token)), 404, "not_found")
            assert error["message"] == missing.json["error"]["message"]
    for administrator in ("eastadmin", "district", "root"):
        token = token_for(client, administrator)
        response = client.get(f"/api/v1/accounts/{bank.alice_hours}/entries", headers=bearer(token))
        assert response.status_code == 200 and response.json["total"] == 1
    assert_error(client.get(f"/api/v1/accounts/{bank.alice_hours}"), 401, "unauthorized")


# -- conversions ------------------------------------------------------------------------------


def test_a_conversion_moves_minutes_to_points_once_per_key(app, client, bank):
    token = token_for(client, VOLUNTEER)
    response = client.post(
        "/api/v1/conversions", json={"minutes": 125}, headers={**bearer(token), **key("c-1")}
    )
    assert response.status_code == 201, response.json
    assert response.headers["Idempotent-Replayed"] == "false"
    tx = response.json
    assert tx["kind"] == "conversion" and tx["id"]
    # 10 points an hour is 6 minutes a point: 120 minutes become 20 points, 5 stay banked.
    mine = {e["account_kind"]: e for e in tx["entries"]}
    assert (mine["hours"]["amount"], mine["hours"]["balance_after"]) == (-120, 180)
    assert (mine["points"]["amount"], mine["points"]["balance_after"]) == (20, 20)
    assert mine["conversion"]["balance_after"] is None
    assert sum(e["amount"] for e in tx["entries"] if e["currency"] == "minutes") == 0
    assert balances(app, bank.alice) == {"hours": 180, "points": 20}
    moved = transaction_count(app)

    again = client.post(
        "/api/v1/conversions", json={"minutes": 125}, headers={**bearer(token), **key("c-1")}
    )
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == tx
    assert balances(app, bank.alice) == {"hours": 180, "points": 20}
    assert transaction_count(app) == moved

    other = client.post(
        "/api/v1/conversions", json={"minutes": 60}, headers={**bearer(token), **key("c-1")}
    )
    assert_error(other, 409, "idempotency_conflict", {"Idempotency-Key"})
    donation = client.post(
        "/api/v1/transfers",
        json={"kind": "donation", "minutes": 10},
        headers={**bearer(token), **key("c-1")},
    )
    assert_error(donation, 409, "idempotency_conflict", {"Idempotency-Key"})
    assert balances(app, bank.alice) == {"hours": 180, "points": 20}
    assert transaction_count(app) == moved
    with app.test_request_context():
        assert verify().ok
    mine = client.get("/api/v1/me/accounts", headers=bearer(token)).json
    assert mine["hours"]["lifetime_service_minutes"] == 300  # converting costs no stars
    assert mine["points"]["balance"] == 20


def test_a_retry_in_another_language_is_still_a_retry(app, client, bank):
    headers = {**bearer(token_for(client, VOLUNTEER)), **key("lang")}
    zh = client.post(
        "/api/v1/conversions", json={"minutes": 60}, headers={**headers, "Accept-Language": "zh"}
    )
    en = client.post(
        "/api/v1/conversions", json={"minutes": 60}, headers={**headers, "Accept-Language": "en"}
    )
    assert (zh.status_code, en.status_code) == (201, 200), en.json
    assert en.json["id"] == zh.json["id"] and en.json["memo"] == zh.json["memo"]
    assert en.json["kind_label"] == "Hours converted to points" != zh.json["kind_label"]
    assert balances(app, bank.alice)["points"] == 10


def test_keys_are_each_callers_own(app, client, bank):
    for login_name, user_id in ((VOLUNTEER, bank.alice), ("eastleader", bank.lei)):
        response = client.post(
            "/api/v1/conversions",
            json={"minutes": 60},
            headers={**bearer(token_for(client, login_name)), **key("same-key")},
        )
        assert response.status_code == 201, response.json
        assert balances(app, user_id)["points"] == 10


def test_a_long_key_is_accepted_and_still_idempotent(app, client, bank):
    headers = {**bearer(token_for(client, VOLUNTEER)), **key("k" * 200)}
    first = client.post("/api/v1/conversions", json={"minutes": 60}, headers=headers)
    again = client.post("/api/v1/conversions", json={"minutes": 60}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["id"] == again.json["id"]
    assert balances(app, bank.alice)["points"] == 10


def test_more_than_the_balance_is_a_conflict_and_moves_nothing(app, client, bank):
    moved = transaction_count(app)
    response = client.post(
        "/api/v1/conversions",
        json={"minutes": 600},
        headers={**bearer(token_for(client, VOLUNTEER)), **key("too-much")},
    )
    assert_error(response, 409, "insufficient_balance", {"minutes"})
    assert balances(app, bank.alice) == {"hours": 300}
    assert transaction_count(app) == moved


@pytest.mark.parametrize("minutes", [0, -5, 1.5, "60", True, None, 10**13])
def test_bad_amounts_are_refused_naming_the_field(app, client, bank, minutes):
    token = token_for(client, VOLUNTEER)
    for path, body in (
        ("/api/v1/conversions", {"minutes": minutes}),
        ("/api/v1/transfers", {"kind": "donation", "minutes": minutes}),
        ("/api/v1/transfers", {"kind": "gift", "to_user_id": bank.lei, "minutes": minutes}),
    ):
        response = client.post(path, json=body, headers={**bearer(token), **key(f"bad-{path}")})
        assert_error(response, 422, "validation_error", {"minutes"})
    assert balances(app, bank.alice) == {"hours": 300}


def test_a_conversion_below_one_block_is_refused(client, bank):
    response = client.post(
        "/api/v1/conversions",
        json={"minutes": 5},
        headers={**bearer(token_for(client, VOLUNTEER)), **key("small")},
    )
    assert_error(response, 422, "validation_error", {"minutes"})


# -- idempotency keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/conversions", {"minutes": 60}),
        ("/api/v1/transfers", {"kind": "donation", "minutes": 10}),
        ("/api/v1/allocations", {"region_id": 1, "memo": "m", "lines": []}),
    ],
)
def test_money_moving_calls_require_an_idempotency_key(app, client, bank, path, body):
    token = token_for(client, "eastadmin" if "allocations" in path else VOLUNTEER)
    moved = transaction_count(app)
    for headers in (bearer(token), {**bearer(token), **key("  ")}):
        error = assert_error(
            client.post(path, json=body, headers=headers), 428, "idempotency_key_required"
        )
        assert error["fields"] == {"Idempotency-Key": [error["message"]]}
    too_long = client.post(path, json=body, headers={**bearer(token), **key("k" * 201)})
    assert_error(too_long, 422, "validation_error", {"Idempotency-Key"})
    assert transaction_count(app) == moved


# -- transfers --------------------------------------------------------------------------------


def test_hours_are_gifted_only_to_declared_family(app, client, bank, people):
    token = token_for(client, VOLUNTEER)
    headers = {**bearer(token), **key("gift-1")}
    body = {"kind": "gift", "to_user_id": bank.lei, "minutes": 40, "memo": "给儿子"}
    response = client.post("/api/v1/transfers", json=body, headers=headers)
    assert response.status_code == 201, response.json
    assert response.json["kind"] == "gift" and response.json["memo"] == "给儿子"
    by_account = {e["account_id"]: e for e in response.json["entries"]}
    assert by_account[bank.alice_hours]["balance_after"] == 260
    assert by_account[bank.lei_hours]["amount"] == 40
    assert by_account[bank.lei_hours]["balance_after"] is None  # the son's balance is his
    assert client.post("/api/v1/transfers", json=body, headers=headers).status_code == 200
    assert balances(app, bank.lei)["hours"] == 100

    undeclared = client.post(
        "/api/v1/transfers",
        json={**body, "to_user_id": people.east_staff.id},
        headers={**bearer(token), **key("gift-2")},
    )
    error = assert_error(undeclared, 422, "validation_error", {"to_user_id"})
    nobody = client.post(
        "/api/v1/transfers",
        json={**body, "to_user_id": 999999},
        headers={**bearer(token), **key("gift-3")},
    )
    assert assert_error(nobody, 422, "validation_error", {"to_user_id"}) == {
        **error,
        "request_id": nobody.json["error"]["request_id"],
    }
    no_one = client.post(
        "/api/v1/transfers",
        json={"kind": "gift", "minutes": 5},
        headers={**bearer(token), **key("gift-4")},
    )
    assert_error(no_one, 422, "validation_error", {"to_user_id"})
    assert balances(app, bank.alice)["hours"] == 260


def test_donations_go_to_the_home_communitys_pool(app, client, bank, places):
    token = token_for(client, VOLUNTEER)
    response = client.post(
        "/api/v1/transfers",
        json={"kind": "donation", "minutes": 90},
        headers={**bearer(token), **key("donate")},
    )
    assert response.status_code == 201, response.json
    assert {e["account_kind"]: e["amount"] for e in response.json["entries"]} == {
        "hours": -90,
        "pool": 90,
    }
    with app.test_request_context():
        pool = ledger.region_account(region(places.east_c.id), AccountKind.POOL)
        assert ledger.balance_of(pool) == 90
    to_someone = client.post(
        "/api/v1/transfers",
        json={"kind": "donation", "minutes": 5, "to_user_id": bank.lei},
        headers={**bearer(token), **key("donate-2")},
    )
    assert_error(to_someone, 422, "validation_error", {"to_user_id"})
    homeless = client.post(
        "/api/v1/transfers",
        json={"kind": "donation", "minutes": 5},
        headers={**bearer(token_for(client, "eastadmin")), **key("donate")},
    )
    assert_error(homeless, 422, "no_home_community")
    odd = client.post(
        "/api/v1/transfers",
        json={"kind": "loan", "minutes": 5, "colour": "red"},
        headers={**bearer(token), **key("donate-3")},
    )
    assert_error(odd, 422, "validation_error", {"kind", "colour"})
    assert balances(app, bank.alice)["hours"] == 210


def test_a_session_caller_can_move_hours_too(app, client, bank):
    login(client, VOLUNTEER)
    response = client.post(
        "/api/v1/conversions", json={"minutes": 60}, headers=key("from-the-page")
    )
    assert response.status_code == 201, response.json
    assert balances(app, bank.alice)["points"] == 10


def test_a_session_caller_needs_the_csrf_token(other_app):
    with other_app(WTF_CSRF_ENABLED=True) as app:
        populate(app)
        client = app.test_client()
        login_page = client.get("/login")
        csrf = login_page.data.split(b'name="csrf_token" type="hidden" value="')[1].split(b'"')[0]
        client.post(
            "/login", data={"login": VOLUNTEER, "password": "Correct-Horse-42", "csrf_token": csrf}
        )
        response = client.post("/api/v1/conversions", json={"minutes": 60}, headers=key("x"))
        assert_error(response, 400, "csrf_failed")


# -- allocations ------------------------------------------------------------------------------


def _allocate(client, token, body, idempotency_key):
    return client.post(
        "/api/v1/allocations", json=body, headers={**bearer(token), **key(idempotency_key)}
    )


def test_a_batch_allocates_once_however_often_it_is_sent(app, client, bank, places):
    token = token_for(client, "eastadmin")
    body = {
        "region_id": places.east.id,
        "memo": "十一月困难补助",
        "lines": [{"user_id": bank.alice, "points": 100}, {"user_id": bank.lei, "points": 50}],
    }
    first = _allocate(client, token, body, "nov-batch")
    assert first.status_code == 201, first.json
    assert first.headers["Idempotent-Replayed"] == "false"
    assert [(line["user_id"], line["points"]) for line in first.json["lines"]] == [
        (bank.alice, 100),
        (bank.lei, 50),
    ]
    assert all(line["transaction"]["kind"] == "allocation" for line in first.json["lines"])
    moved = transaction_count(app)

    again = _allocate(client, token, body, "nov-batch")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert balances(app, bank.alice)["points"] == 100
    assert balances(app, bank.lei)["points"] == 50
    assert transaction_count(app) == moved

    changed = {
        **body,
        "lines": [{"user_id": bank.alice, "points": 100}, {"user_id": bank.lei, "points": 60}],
    }
    conflict = _allocate(client, token, changed, "nov-batch")
    assert_error(conflict, 409, "idempotency_conflict", {"Idempotency-Key"})
    widened = {**body, "lines": [*body["lines"], {"user_id": bank.lei + 1000, "points": 5}]}
    conflict = _allocate(client, token, widened, "nov-batch")
    assert_error(conflict, 409, "idempotency_conflict", {"Idempotency-Key"})
    assert transaction_count(app) == moved

    budget = client.get("/api/v1/me/accounts", headers=bearer(token)).json  # an admin's own
    assert budget["points"]["balance"] == 0
    with app.test_request_context():
        account_id = ledger.region_account(region(places.east.id), AccountKind.ALLOCATION).id
    shown = client.get(f"/api/v1/accounts/{account_id}", headers=bearer(token)).json
    assert shown["balance"] == -150 and shown["owner"] == {"type": "region", "id": places.east.id}
    assert shown["lifetime_service_minutes"] is None
    hidden = client.get(
        f"/api/v1/accounts/{account_id}", headers=bearer(token_for(client, VOLUNTEER))
    )
    assert_error(hidden, 404, "not_found")


def test_one_bad_line_allocates_nothing(app, client, bank, places, people):
    token = token_for(client, "eastadmin")
    moved = transaction_count(app)
    good = {"user_id": bank.alice, "points": 100}
    for line, status, field in (
        ({"user_id": people.west_admin.id, "points": 5}, 403, "lines.1.user_id"),  # lives west
        ({"user_id": 999999, "points": 5}, 404, "lines.1.user_id"),
        ({"user_id": bank.lei, "points": 0}, 422, "lines.1.points"),
        ({"user_id": bank.lei}, 422, "lines.1.points"),
        ({"user_id": bank.alice, "points": 5}, 422, "lines"),  # listed twice
    ):
        body = {"region_id": places.east.id, "memo": "补助", "lines": [good, line]}
        response = _allocate(client, token, body, f"batch-{status}-{field}")
        assert_error(response, status, fields={field})
        assert balances(app, bank.alice) == {"hours": 300}
    assert transaction_count(app) == moved
    blank = _allocate(client, token, {"region_id": places.east.id, "memo": " ", "lines": []}, "b")
    assert_error(blank, 422, "validation_error", {"memo", "lines"})


def test_only_staff_holding_the_budget_allocate(app, client, bank, places):
    body = {
        "region_id": places.east.id,
        "memo": "补助",
        "lines": [{"user_id": bank.alice, "points": 5}],
    }
    for outsider in ("westadmin", VOLUNTEER, "eaststaff"):  # staff hold the community's only
        response = _allocate(client, token_for(client, outsider), body, "try")
        assert_error(response, 403, "forbidden", {"region_id"})
    missing = _allocate(client, token_for(client, "eastadmin"), {**body, "region_id": 999999}, "k")
    assert_error(missing, 404, "not_found", {"region_id"})
    staff = _allocate(
        client, token_for(client, "eaststaff"), {**body, "region_id": places.east_c.id}, "try"
    )
    assert staff.status_code == 201, staff.json
    assert balances(app, bank.alice)["points"] == 5


# -- documentation ----------------------------------------------------------------------------


def test_openapi_describes_the_ledger(client):
    spec = client.get("/api/v1/openapi.json").json
    for path in (
        "/api/v1/accounts/{account_id}",
        "/api/v1/accounts/{account_id}/entries",
        "/api/v1/me/accounts",
    ):
        assert "get" in spec["paths"][path], path
    for path in ("/api/v1/conversions", "/api/v1/transfers", "/api/v1/allocations"):
        operation = spec["paths"][path]["post"]
        assert operation["summary"]
        assert {"200", "201", "409", "422", "428"} <= set(operation["responses"])
        header = [p for p in operation["parameters"] if p["in"] == "header"]
        assert header[0]["name"] == "Idempotency-Key" and header[0]["required"] is True
