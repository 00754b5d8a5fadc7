"""Posting rules: balanced, never negative, idempotent, append-only, reversible, verifiable."""

from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from timebank.core.db import utcnow
from timebank.core.errors import Conflict, ValidationFailed
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import AccountKind, Entry, Transaction, TransactionKind
from timebank.ledger.services import IdempotencyConflict, InsufficientBalance, Leg
from timebank.ledger.verify import verify


def balance(account):
    db.session.refresh(account)
    return ledger.balance_of(account)


def test_service_credit_deposits_minutes_and_issuance_balances_it(world):
    posted = ledger.credit_service(world.alice, 90, world.community, key="att:1:credit")
    assert not posted.replayed
    hours = ledger.hours_account(world.alice)
    issuance = ledger.region_account(world.community, AccountKind.ISSUANCE)
    assert balance(hours) == 90
    assert balance(issuance) == -90
    assert sorted(e.amount for e in posted.transaction.entries) == [-90, 90]
    assert verify().ok


def test_same_key_same_request_returns_the_first_and_moves_nothing(world):
    first = ledger.credit_service(world.alice, 60, world.community, key="att:2:credit")
    again = ledger.credit_service(world.alice, 60, world.community, key="att:2:credit")
    assert again.replayed and again.transaction.id == first.transaction.id
    assert balance(ledger.hours_account(world.alice)) == 60


def test_same_key_different_request_is_refused(world):
    ledger.credit_service(world.alice, 60, world.community, key="att:3:credit")
    with pytest.raises(IdempotencyConflict) as refused:
        ledger.credit_service(world.alice, 61, world.community, key="att:3:credit")
    assert refused.value.status == 409
    assert balance(ledger.hours_account(world.alice)) == 60


def test_a_debit_beyond_the_balance_moves_nothing(world):
    ledger.credit_service(world.alice, 30, world.community, key="c")
    ledger.declare_family(world.alice, world.bob, "儿子")
    with pytest.raises(InsufficientBalance):
        ledger.gift(world.alice, world.bob, 31, key="g")
    assert balance(ledger.hours_account(world.alice)) == 30
    assert balance(ledger.hours_account(world.bob)) == 0
    assert db.session.scalar(db.select(Transaction).filter_by(idempotency_key="g")) is None


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "10"])
def test_amounts_must_be_positive_whole_numbers(world, amount):
    with pytest.raises(ValidationFailed):
        ledger.credit_service(world.alice, amount, world.community, key=f"bad:{amount!r}")


def test_unbalanced_or_degenerate_transactions_are_refused(world):
    hours = ledger.hours_account(world.alice)
    issuance = ledger.region_account(world.community, AccountKind.ISSUANCE)
    points = ledger.points_account(world.alice)
    with pytest.raises(ValidationFailed):
        ledger.post(TransactionKind.ADJUSTMENT, [Leg(hours, 5), Leg(issuance, -4)], key="u1")
    with pytest.raises(ValidationFailed):  # balanced in number, not per currency
        ledger.post(TransactionKind.ADJUSTMENT, [Leg(hours, 5), Leg(points, -5)], key="u2")
    with pytest.raises(ValidationFailed):
        ledger.post(TransactionKind.ADJUSTMENT, [Leg(hours, 5)], key="u3")
    with pytest.raises(ValidationFailed):
        ledger.post(TransactionKind.ADJUSTMENT, [Leg(hours, 5), Leg(issuance, -5)], key="")


def test_conversion_uses_the_rate_and_leaves_odd_minutes_banked(world):
    ledger.credit_service(world.alice, 125, world.community, key="c")
    posted = ledger.convert(world.alice, 125, key="conv")
    # 10 points an hour: 6 minutes a point; 125 minutes = 20 points + 5 minutes left.
    assert balance(ledger.hours_account(world.alice)) == 5
    assert balance(ledger.points_account(world.alice)) == 20
    assert "10" in posted.transaction.memo
    assert ledger.lifetime_service_minutes(world.alice) == 125  # stars never drop
    assert verify().ok


def test_the_rate_in_force_is_the_latest_started_nearest_one(world):
    today = utcnow().date()
    ledger.set_rate(world.admin, world.street, 12, today)
    ledger.set_rate(world.admin, world.street, 20, today + timedelta(days=30))
    assert ledger.rate_for(world.community).points_per_hour == 12  # street beats district
    assert ledger.rate_for(world.community, today + timedelta(days=31)).points_per_hour == 20
    assert ledger.rate_for(world.district).points_per_hour == 10
    with pytest.raises(ValidationFailed):
        ledger.set_rate(world.admin, world.street, 15, date(2020, 1, 2))
    with pytest.raises(Conflict):
        ledger.set_rate(world.admin, world.street, 15, today)


def test_conversion_without_a_rate_or_below_one_block_is_refused(world):
    ledger.credit_service(world.alice, 60, world.community, key="c")
    with pytest.raises(ValidationFailed):
        ledger.convert(world.alice, 5, key="small")
    world.alice.region_id = None  # moved away: no community, so no rate
    db.session.flush()
    with pytest.raises(ValidationFailed) as refused:
        ledger.convert(world.alice, 60, key="norate")
    assert refused.value.code == "no_conversion_rate"


def test_gifts_go_only_to_declared_family(world):
    ledger.credit_service(world.alice, 60, world.community, key="c")
    with pytest.raises(ValidationFailed):
        ledger.gift(world.alice, world.bob, 10, key="g1")
    ledger.declare_family(world.alice, world.bob, "父亲")
    ledger.gift(world.alice, world.bob, 10, key="g2")
    assert balance(ledger.hours_account(world.bob)) == 10
    with pytest.raises(ValidationFailed):
        ledger.declare_family(world.alice, world.alice, "本人")


def test_public_pool_takes_donations_and_never_grants_more_than_it_holds(world):
    ledger.credit_service(world.alice, 60, world.community, key="c")
    ledger.donate_to_pool(world.alice, world.community, 40, key="d")
    pool = ledger.region_account(world.community, AccountKind.POOL)
    assert balance(pool) == 40
    ledger.grant_from_pool(world.admin, world.community, world.carol, 30, key="p1", memo="独居老人")
    with pytest.raises(InsufficientBalance):
        ledger.grant_from_pool(world.admin, world.community, world.carol, 11, key="p2", memo="x")
    assert balance(pool) == 10 and balance(ledger.hours_account(world.carol)) == 30


def test_allocation_draws_on_the_budget(world):
    ledger.allocate(world.admin, world.street, world.carol, 200, key="a1", memo="十一月困难补助")
    assert balance(ledger.points_account(world.carol)) == 200
    assert balance(ledger.region_account(world.street, AccountKind.ALLOCATION)) == -200


def test_reversal_mirrors_the_original_once_and_keeps_it(world):
    original = ledger.credit_service(world.alice, 45, world.community, key="c").transaction
    reversal = ledger.reverse(world.admin, original, "重复登记").transaction
    assert reversal.reverses_id == original.id
    assert balance(ledger.hours_account(world.alice)) == 0
    assert len(original.entries) == 2  # untouched
    with pytest.raises(Conflict):
        ledger.reverse(world.admin, original, "again")
    with pytest.raises(ValidationFailed):
        ledger.reverse(world.admin, reversal, "undo the undo")
    with pytest.raises(ValidationFailed):
        ledger.reverse(world.admin, original, "  ")
    assert ledger.lifetime_service_minutes(world.alice) == 0
    assert verify().ok


def test_reversing_a_credit_already_spent_is_refused(world):
    original = ledger.credit_service(world.alice, 60, world.community, key="c").transaction
    ledger.convert(world.alice, 60, key="spent")
    with pytest.raises(InsufficientBalance):
        ledger.reverse(world.admin, original, "误登")


def test_statement_shows_running_balances(world):
    ledger.credit_service(world.alice, 60, world.community, key="c1")
    ledger.credit_service(world.alice, 30, world.community, key="c2")
    ledger.convert(world.alice, 60, key="conv")
    entries = db.session.scalars(
        db.select(Entry)
        .where(Entry.account_id == ledger.hours_account(world.alice).id)
        .order_by(Entry.seq)
    ).all()
    assert [(e.amount, e.balance_after) for e in entries] == [(60, 60), (30, 90), (-60, 30)]


def test_the_database_refuses_to_change_or_delete_ledger_rows(world):
    ledger.credit_service(world.alice, 60, world.community, key="c")
    for statement in (
        "UPDATE ledger_entry SET amount = amount + 1",
        "DELETE FROM ledger_entry",
        "UPDATE ledger_transaction SET memo = 'x'",
        "DELETE FROM ledger_transaction",
    ):
        with pytest.raises(DatabaseError, match="append-only"), db.session.begin_nested():
            db.session.execute(text(statement))


def _without_protection(statement: str) -> None:
    """What someone with direct database access might do: disable the trigger, edit."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ALTER TABLE ledger_entry DISABLE TRIGGER USER"))
        db.session.execute(text(statement))
        db.session.execute(text("ALTER TABLE ledger_entry ENABLE TRIGGER USER"))
    else:
        db.session.execute(text("DROP TRIGGER ledger_entry_no_update"))
        db.session.execute(text(statement))


def test_verify_names_the_transaction_edited_behind_the_ledgers_back(world):
    ledger.credit_service(world.alice, 60, world.community, key="c1")
    target = ledger.credit_service(world.alice, 30, world.community, key="c2").transaction
    ledger.credit_service(world.alice, 15, world.community, key="c3")
    assert verify().ok
    _without_protection(
        f"UPDATE ledger_entry SET amount = 300 WHERE transaction_id = {target.id} AND amount = 30"
    )
    report = verify()
    assert not report.ok
    assert report.problems[0].startswith(f"transaction {target.id}:")


def test_verify_catches_an_edit_that_keeps_the_sums_balanced(world):
    target = ledger.credit_service(world.alice, 30, world.community, key="c1").transaction
    _without_protection(
        f"UPDATE ledger_entry SET amount = -amount * 2 WHERE transaction_id = {target.id}"
    )
    report = verify()
    assert not report.ok and f"transaction {target.id}" in report.problems[0]


def test_staff_allocate_only_from_their_budget_to_people_living_there(world, places, people):
    from timebank.auth.models import User
    from timebank.core.errors import PermissionDenied
    from timebank.regions.models import Region

    west_admin = db.session.get(User, people.west_admin.id)
    west = db.session.get(Region, places.west.id)
    with pytest.raises(PermissionDenied):  # carol lives in the east street
        ledger.allocate(west_admin, west, world.carol, 10, key="x1", memo="m")
    with pytest.raises(PermissionDenied):  # not west's budget to spend
        ledger.allocate(west_admin, world.street, world.carol, 10, key="x2", memo="m")
    staff = world.bob  # station staff of the east community's station
    ledger.allocate(staff, world.community, world.carol, 10, key="x3", memo="m")
    with pytest.raises(PermissionDenied):
        ledger.allocate(staff, world.street, world.carol, 10, key="x4", memo="m")


def test_only_an_administrator_over_the_person_reverses(world, places, people):
    from timebank.auth.models import User
    from timebank.core.errors import PermissionDenied

    original = ledger.credit_service(world.alice, 45, world.community, key="c").transaction
    with pytest.raises(PermissionDenied):
        ledger.reverse(db.session.get(User, people.west_admin.id), original, "越权")
    assert balance(ledger.hours_account(world.alice)) == 45


def test_verify_does_not_depend_on_the_sessions_time_zone(world):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("only PostgreSQL returns times in the session's time zone")
    ledger.credit_service(world.alice, 60, world.community, key="c")
    db.session.execute(text("SET LOCAL TIME ZONE 'Asia/Shanghai'"))
    db.session.expire_all()
    assert verify().ok
