"""Rollup tables equal a full recomputation from the base tables after random operations."""

import random
from datetime import timedelta

import pytest

from tests import factories
from timebank.core.errors import DomainError
from timebank.core.security import SYSTEM
from timebank.events import records
from timebank.events.models import RecordState, ServiceRecord, StaffEntry
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import Transaction, TransactionKind
from timebank.reports import rollups
from timebank.reports.models import LedgerDay, ServiceDay, StoreDay
from timebank.stores import redemptions
from timebank.stores import services as stores
from timebank.stores.models import Redemption, RedemptionState
from timebank.volunteers.services import today


def assert_rollups_agree():
    for model in rollups.ROLLUPS:
        assert rollups.current(model) == rollups.recompute(model), model.__tablename__


@pytest.fixture
def world(ctx, places, people):
    """Volunteers in two communities, an event by a station and one by a team, a store."""
    volunteers = [
        factories.volunteer(
            places.east_c if n % 2 else places.west_c,
            verified=True,
            phone=f"136{n:08d}",
            document_number=factories.resident_id(serial=n),
            name=f"志愿者{n}",
        ).user
        for n in range(1, 7)
    ]
    station_event = factories.event(places.east_station, starts_in=-600)
    team_event = factories.event(places.east_team, starts_in=-900)
    ledger.set_rate(SYSTEM, places.district, 10, today())
    store = stores.create_store(
        SYSTEM, stores.StoreDetails(name="东一爱心超市", station_id=places.east_station.id)
    )
    goods = stores.add_goods(
        SYSTEM, store, stores.GoodsDetails(name="大米", points_price=5, unit="袋")
    )
    stores.move_stock(goods, 500, "adjustment", actor=SYSTEM, reason="found")
    db.session.commit()
    return volunteers, [station_event, team_event], store, goods


def _record(rng, volunteers, events, places, corrects=None):
    event = rng.choice(events)
    base = corrects
    entry = None
    if base is None:
        # Hours logged by staff (补录): a record needs a source, and this is the lightest.
        entry = StaffEntry(
            station_id=places.east_station.id,
            event_id=event.id,
            region_id=places.east_c.id,
            served_on=today(),
            minutes=60,
            description="服务",
            reason="补录",
        )
        db.session.add(entry)
        db.session.flush()
    service_record = ServiceRecord(
        staff_entry_id=entry.id if entry else None,
        user_id=base.user_id if base else rng.choice(volunteers).id,
        event_id=base.event_id if base else event.id,
        corrects_id=base.id if base else None,
        station_id=base.station_id if base else places.east_station.id,
        region_id=base.region_id if base else rng.choice([places.east_c, places.west_c]).id,
        served_on=base.served_on if base else today() - timedelta(days=rng.randrange(0, 40)),
        minutes=rng.choice([0, 30, 60, 90, 120, 180]),
        description="服务",
    )
    db.session.add(service_record)
    db.session.flush()
    return service_record


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_recomputation_after_random_operations(ctx, places, people, world, seed):
    volunteers, events, store, goods = world
    rng = random.Random(seed)
    for step in range(60):
        operation = rng.choice(
            ["approve", "approve", "approve", "reject", "supplement", "reverse", "convert"]
            + ["allocate", "redeem", "redeem", "cancel", "reverse_conversion"]
        )
        try:
            if operation == "approve":
                records.approve(SYSTEM, _record(rng, volunteers, events, places))
            elif operation == "reject":
                records.reject(SYSTEM, _record(rng, volunteers, events, places), "不在现场")
            elif operation == "supplement":
                approved = db.session.scalars(
                    db.select(ServiceRecord).filter_by(state=RecordState.APPROVED)
                ).all()
                if approved:
                    base = rng.choice(approved)
                    records.approve(SYSTEM, _record(rng, volunteers, events, places, base))
            elif operation in ("reverse", "reverse_conversion"):
                kind = (
                    TransactionKind.SERVICE_CREDIT
                    if operation == "reverse"
                    else TransactionKind.CONVERSION
                )
                done = db.select(Transaction.reverses_id).where(
                    Transaction.reverses_id.is_not(None)
                )
                candidates = db.session.scalars(
                    db.select(Transaction).filter_by(kind=kind).where(Transaction.id.not_in(done))
                ).all()
                if candidates:
                    ledger.reverse(people.root, rng.choice(candidates), "录入错误")
            elif operation == "convert":
                ledger.convert(rng.choice(volunteers), 60, key=f"convert:{seed}:{step}")
            elif operation == "allocate":
                ledger.allocate(
                    people.root,
                    places.east_c,
                    rng.choice(volunteers[0::2]),  # they live in the east community
                    rng.randrange(5, 50),
                    key=f"allocate:{seed}:{step}",
                    memo="困难家庭",
                )
            elif operation == "redeem":
                redemptions.redeem(
                    SYSTEM,
                    store,
                    rng.choice(volunteers),
                    [(goods.id, rng.randrange(1, 3))],
                    key=f"redeem:{seed}:{step}",
                )
            elif operation == "cancel":
                made = db.session.scalars(
                    db.select(Redemption).filter_by(state=RedemptionState.COMPLETED)
                ).all()
                if made:
                    redemptions.cancel(SYSTEM, rng.choice(made), "顾客退回")
            db.session.commit()
        except DomainError:
            # Refusals (too few points, nothing to convert) change nothing, rollups included.
            db.session.rollback()
        if step % 15 == 14:
            assert_rollups_agree()
    assert_rollups_agree()
    # The operations did happen: every rollup has rows, so the comparison above meant something.
    assert rollups.current(ServiceDay) and rollups.current(LedgerDay)
    assert rollups.current(StoreDay)


def test_rebuild_writes_what_recompute_computes(ctx, places, people, world):
    volunteers, events, store, goods = world
    rng = random.Random(7)
    for _ in range(5):
        records.approve(SYSTEM, _record(rng, volunteers, [events[1]], places))
    db.session.commit()
    ledger.convert(volunteers[0], 60, key="convert:rebuild")
    db.session.commit()
    before = {model: rollups.current(model) for model in rollups.ROLLUPS}
    db.session.execute(db.delete(ServiceDay))
    assert rollups.current(ServiceDay) == {}
    rollups.rebuild()
    db.session.commit()
    assert {model: rollups.current(model) for model in rollups.ROLLUPS} == before
    people_times = sum(v[0] for v in before[ServiceDay].values())
    # Five approvals of the team's event: its organization carries them all.
    by_team = [v for k, v in before[ServiceDay].items() if k[3] == places.east_team.id]
    assert sum(v[0] for v in by_team) == people_times == 5
