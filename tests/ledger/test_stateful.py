"""Random sequences of every ledger operation, checked against a model after each step."""

from collections import defaultdict

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from timebank.core.errors import Conflict, ValidationFailed
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import AccountKind, Transaction
from timebank.ledger.services import IdempotencyConflict, InsufficientBalance
from timebank.ledger.verify import verify

PEOPLE = ("alice", "bob", "carol")
MINUTES_PER_POINT = 6  # the fixture's rate: 10 points an hour
amounts = st.integers(min_value=1, max_value=400)
person = st.sampled_from(PEOPLE)


def test_ledger_matches_a_model_under_random_operations(world):
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            # Every example starts from the same empty ledger and leaves nothing behind.
            self.savepoint = db.session.begin_nested()
            self.people = {name: getattr(world, name) for name in PEOPLE}
            for giver in PEOPLE:
                for taker in PEOPLE:
                    if giver != taker:
                        ledger.declare_family(self.people[giver], self.people[taker], "家人")
            self.minutes = defaultdict(int)
            self.points = defaultdict(int)
            self.pool = 0
            self.requests = []  # (key, call) of every posting that went through
            self.credits = []  # transactions that may be reversed, with their effect
            self.counter = 0

        def teardown(self):
            self.savepoint.rollback()

        def key(self):
            self.counter += 1
            return f"k{self.counter}"

        def attempt(self, key, call, effect):
            """Post; on success apply effect to the model, on refusal check nothing moved."""
            try:
                posted = call(key)
            except InsufficientBalance:
                return None
            assert not posted.replayed
            effect()
            self.requests.append((key, call))
            return posted.transaction

        @rule(name=person, minutes=amounts)
        def credit(self, name, minutes):
            def effect():
                self.minutes[name] += minutes

            tx = self.attempt(
                self.key(),
                lambda k: ledger.credit_service(self.people[name], minutes, world.community, key=k),
                effect,
            )
            self.credits.append([tx, {("m", name): minutes}, False])

        @rule(name=person, minutes=amounts)
        def convert(self, name, minutes):
            spent = minutes // MINUTES_PER_POINT * MINUTES_PER_POINT
            if spent == 0:
                return
            enough = self.minutes[name] >= spent

            def effect():
                self.minutes[name] -= spent
                self.points[name] += spent // MINUTES_PER_POINT

            tx = self.attempt(
                self.key(), lambda k: ledger.convert(self.people[name], minutes, key=k), effect
            )
            assert (tx is not None) == enough

        @rule(giver=person, taker=person, minutes=amounts)
        def gift(self, giver, taker, minutes):
            if giver == taker:
                return
            enough = self.minutes[giver] >= minutes

            def effect():
                self.minutes[giver] -= minutes
                self.minutes[taker] += minutes

            tx = self.attempt(
                self.key(),
                lambda k: ledger.gift(self.people[giver], self.people[taker], minutes, key=k),
                effect,
            )
            assert (tx is not None) == enough
            if tx is not None:
                self.credits.append([tx, {("m", giver): -minutes, ("m", taker): minutes}, False])

        @rule(name=person, minutes=amounts)
        def donate(self, name, minutes):
            enough = self.minutes[name] >= minutes

            def effect():
                self.minutes[name] -= minutes
                self.pool += minutes

            tx = self.attempt(
                self.key(),
                lambda k: ledger.donate_to_pool(self.people[name], world.community, minutes, key=k),
                effect,
            )
            assert (tx is not None) == enough

        @rule(name=person, minutes=amounts)
        def grant(self, name, minutes):
            enough = self.pool >= minutes

            def effect():
                self.pool -= minutes
                self.minutes[name] += minutes

            tx = self.attempt(
                self.key(),
                lambda k: ledger.grant_from_pool(
                    world.admin, world.community, self.people[name], minutes, key=k, memo="助老"
                ),
                effect,
            )
            assert (tx is not None) == enough

        @rule(name=person, points=amounts)
        def allocate(self, name, points):
            def effect():
                self.points[name] += points

            self.attempt(
                self.key(),
                lambda k: ledger.allocate(
                    world.admin, world.street, self.people[name], points, key=k, memo="补助"
                ),
                effect,
            )

        @precondition(lambda self: self.credits)
        @rule(data=st.data())
        def reverse(self, data, reason="更正"):
            index = data.draw(st.integers(0, len(self.credits) - 1))
            tx, effect, reversed_ = self.credits[index]
            enough = all(self.minutes[name] - delta >= 0 for (_, name), delta in effect.items())
            if reversed_:
                # Asked again: the same request answers with the first reversal, another
                # reason is refused; either way nothing moves.
                before = self.snapshot()
                assert ledger.reverse(world.admin, tx, reason).replayed
                with pytest.raises(Conflict):
                    ledger.reverse(world.admin, tx, "另一个理由")
                assert self.snapshot() == before
                return
            try:
                ledger.reverse(world.admin, tx, reason)
            except InsufficientBalance:
                assert not enough
                return
            assert enough
            for (_, name), delta in effect.items():
                self.minutes[name] -= delta
            self.credits[index][2] = True
            with_reversal = db.session.scalar(
                db.select(Transaction.id).filter_by(reverses_id=tx.id)
            )
            assert with_reversal is not None

        @precondition(lambda self: self.requests)
        @rule(data=st.data())
        def retry_same_request(self, data):
            key, call = data.draw(st.sampled_from(self.requests))
            before = self.snapshot()
            posted = call(key)
            assert posted.replayed
            assert self.snapshot() == before

        @precondition(lambda self: self.requests)
        @rule(data=st.data(), name=person)
        def reuse_key_for_another_request(self, data, name):
            key, _call = data.draw(st.sampled_from(self.requests))
            before = self.snapshot()
            try:
                ledger.credit_service(self.people[name], 999, world.community, key=key)
            except IdempotencyConflict:
                pass
            else:
                raise AssertionError("a reused key moved money for a different request")
            assert self.snapshot() == before

        @rule(minutes=st.sampled_from([0, -1]))
        def bad_amount(self, minutes):
            before = self.snapshot()
            with pytest.raises(ValidationFailed):
                ledger.credit_service(world.alice, minutes, world.community, key=self.key())
            assert self.snapshot() == before

        def snapshot(self):
            return {
                (kind, name): ledger.balance_of(account)
                for name in PEOPLE
                for kind, account in (
                    ("m", ledger.hours_account(self.people[name])),
                    ("p", ledger.points_account(self.people[name])),
                )
            }

        @invariant()
        def balances_match_the_model(self):
            db.session.expire_all()
            snapshot = self.snapshot()
            for name in PEOPLE:
                assert snapshot[("m", name)] == self.minutes[name], name
                assert snapshot[("p", name)] == self.points[name], name
                assert snapshot[("m", name)] >= 0 and snapshot[("p", name)] >= 0
            pool = ledger.region_account(world.community, AccountKind.POOL)
            assert ledger.balance_of(pool) == self.pool

        @invariant()
        def ledger_verifies(self):
            report = verify()
            assert report.ok, report.problems

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
