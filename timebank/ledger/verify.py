"""Proof that the ledger is whole: balances, chains, sums and hashes, streamed from the database."""

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func

from timebank.extensions import db
from timebank.ledger.models import GENESIS_HASH, Account, Entry, Transaction
from timebank.ledger.services import entry_hash, transaction_hash

BATCH = 5000


@dataclass
class Report:
    accounts: int = 0
    transactions: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str) -> None:
        self.problems.append(message)


def verify(limit_problems: int = 20) -> Report:
    """Check every transaction and every account; stops collecting after a few problems."""
    report = Report()
    _check_transactions(report, limit_problems)
    _check_accounts(report, limit_problems)
    return report


def _stream(select):
    return db.session.execute(select.execution_options(yield_per=BATCH))


def _check_transactions(report: Report, limit: int) -> None:
    """Each transaction sums to zero per currency and matches its hash."""
    currency_of = dict(db.session.execute(db.select(Account.id, Account.currency)).all())
    rows = _stream(
        db.select(
            Transaction.id,
            Transaction.kind,
            Transaction.idempotency_key,
            Transaction.fingerprint,
            Transaction.actor_id,
            Transaction.memo,
            Transaction.created_at,
            Transaction.reverses_id,
            Transaction.hash,
            Entry.account_id,
            Entry.amount,
        )
        .join(Entry, Entry.transaction_id == Transaction.id, isouter=True)
        .order_by(Transaction.id, Entry.id)
    )
    current, legs = None, []

    def close(tx, legs):
        report.transactions += 1
        report.entries += len(legs)
        sums = defaultdict(int)
        for account_id, amount in legs:
            sums[currency_of.get(account_id)] += amount
        if len(legs) < 2 or any(sums.values()):
            report.fail(f"transaction {tx.id}: entries do not sum to zero ({dict(sums)})")
        elif transaction_hash(tx, legs) != tx.hash:
            report.fail(f"transaction {tx.id}: hash does not match its contents")

    for row in rows:
        if current is not None and row.id != current.id:
            close(current, legs)
            legs = []
            if len(report.problems) >= limit:
                return
        current = row
        if row.account_id is not None:
            legs.append((row.account_id, row.amount))
    if current is not None:
        close(current, legs)


def _check_accounts(report: Report, limit: int) -> None:
    """Chained accounts: each entry follows the last; the row's balance is the entries' sum."""
    accounts = {a.id: a for a in db.session.scalars(db.select(Account))}
    report.accounts = len(accounts)
    state = {}  # account id -> (seq, balance, hash)
    rows = _stream(
        db.select(
            Entry.id,
            Entry.transaction_id,
            Entry.account_id,
            Entry.amount,
            Entry.seq,
            Entry.balance_after,
            Entry.prev_hash,
            Entry.hash,
            Transaction.hash.label("tx"),
        )
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .join(Account, Account.id == Entry.account_id)
        .where(Account.aggregated.is_(False))
        .order_by(Entry.account_id, Entry.seq)
    )
    for row in rows:
        seq, balance, last = state.get(row.account_id, (0, 0, GENESIS_HASH))
        balance += row.amount
        expected = entry_hash(last, row.tx, row.account_id, row.amount, seq + 1, balance)
        if (row.seq, row.balance_after, row.prev_hash, row.hash) != (
            seq + 1,
            balance,
            last,
            expected,
        ):
            report.fail(
                f"transaction {row.transaction_id}: entry {row.id} breaks the chain of "
                f"account {row.account_id}"
            )
            if len(report.problems) >= limit:
                return
        state[row.account_id] = (seq + 1, balance, row.hash)
    for account in accounts.values():
        if account.aggregated:
            continue
        seq, balance, last = state.get(account.id, (0, 0, GENESIS_HASH))
        if (account.last_seq, account.balance, account.last_hash) != (seq, balance, last):
            report.fail(
                f"account {account.id}: cached balance {account.balance} (entry {account.last_seq})"
                f" but entries give {balance} (entry {seq})"
            )
        if account.balance < 0:
            report.fail(f"account {account.id}: negative balance {account.balance}")


def count_entries() -> int:
    return db.session.scalar(db.select(func.count(Entry.id)))
