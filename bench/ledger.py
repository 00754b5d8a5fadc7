"""Ledger benchmark: posting throughput, contention on a system account, balance reads at scale.

For each database backend (SQLite in a fresh WAL file, PostgreSQL in a fresh database
that the script creates and drops) this script migrates an empty database, creates a
district with a few communities and volunteers through the services, and measures,
each figure next to a baseline taken in the same run on the same database:

1. **Posting throughput**: debits through the service layer (``donate_to_pool`` of one
   minute, then ``db.session.commit()``: one database transaction per posting) against
   a bare single-row ``INSERT`` + commit into a throwaway table, on the app's own engine
   (so SQLite gets the same WAL and ``BEGIN IMMEDIATE`` set-up). Measured in
   alternating blocks, so that a load spike from other processes hits both.
2. **Contention on the hot system account**: P processes (spawned) each credit service
   minutes to their own volunteer, (a) all from one community's issuance account and
   (b) each from a different community's. A ratio (a)/(b) near 1 shows the issuance
   account (an aggregated account: no balance on its row, no row lock) does not
   serialize postings.
3. **Balance reads at scale**: one person's balance (``hours_account`` lookup +
   ``balance_of``) read with ~10 thousand entries in the ledger, then again after the
   ledger is grown to ~1 million entries with bulk-inserted, valid service credits
   (hashes, per-account chains and cached balances all correct). The aggregated
   issuance account's balance (a SUM over its entries) is read at both sizes too.
   Finally ``flask ledger verify`` (``timebank.ledger.verify.verify``) runs over the
   large ledger in a fresh process: entries per second and peak RSS.

Run it with ``.venv/bin/python bench/ledger.py`` (``--quick`` for a smoke run);
``--write-doc`` also updates its section of docs/PERFORMANCE.md and ``--profile``
prints where a posting's time goes. Results are written as JSON to
bench/results/ledger.json. The exit status is non-zero when a measurement failed.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import resource
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from common import (
    OTHER_CPU_WARN_PCT,
    RESULTS_DIR,
    ActivitySampler,
    CpuMeter,
    StatementCounter,
    add_backends_option,
    add_postgres_url_option,
    add_write_doc_option,
    bullet,
    close_app_database,
    disturbance_warnings,
    exit_cleanly_on_signals,
    exit_status,
    fmt,
    machine_facts,
    machine_lines,
    make_app,
    markdown_table,
    migrate,
    parse_bench_args,
    print_aligned,
    print_problems,
    proc_status_kib,
    profile_calls,
    reset_peak_rss,
    run_each_backend,
    run_in_fresh_process,
    save_results,
    wrap,
    write_doc_section,
)

RESULTS_FILE = RESULTS_DIR / "ledger.json"
DOC_START = "<!-- ledger:start -->"
DOC_END = "<!-- ledger:end -->"

WORKER_TIMEOUT_S = 600
COMMUNITIES = 8  # the bulk credits come from these communities' issuance accounts
BULK_CHUNK = 25_000  # transactions per bulk-insert database transaction
PROFILE_POSTINGS = 300
READ_PASSES = 5  # back to back: a pause lets the (virtual) CPU slow down


@dataclass(frozen=True)
class Sizes:
    postings: int
    blocks: int
    warmup: int
    processes: int
    credits_each: int
    rounds: int
    reads: int
    reads_per_session: int
    system_reads: int
    small_entries: int
    large_entries: int
    bulk_volunteers: int


def sizes_for(backend: str, args: argparse.Namespace) -> Sizes:
    quick = args.quick
    large = args.large_entries or (20_000 if quick else 1_000_000)
    if backend == "sqlite" and args.sqlite_large_entries:
        large = args.sqlite_large_entries
    default_processes = 4 if backend == "postgresql" else 2
    return Sizes(
        postings=args.postings or (200 if quick else 2000),
        blocks=10,
        warmup=20,
        processes=args.processes or default_processes,
        credits_each=args.credits_each or (30 if quick else 250),
        rounds=1 if quick else 3,
        reads=args.reads or (300 if quick else 2000),
        reads_per_session=100,
        system_reads=10 if quick else 30,
        small_entries=2_000 if quick else 10_000,
        large_entries=large,
        bulk_volunteers=200 if quick else 5000,
    )


@dataclass
class BackendRun:
    backend: str
    server: str = ""
    sizes: dict = field(default_factory=dict)
    load_avg_before: list[float] = field(default_factory=list)
    posting: dict = field(default_factory=dict)
    contention: dict = field(default_factory=dict)
    reads: dict = field(default_factory=dict)
    growth: list[dict] = field(default_factory=list)
    verify: dict = field(default_factory=dict)
    profile: str | None = None
    posting_statements: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ------------------------------------------------------------------------ app


def setup_ledger(app, processes: int) -> dict:
    """Migrate; a district, a street, COMMUNITIES communities with their issuance and pool
    accounts, a donor and one volunteer per contention process, all with banked minutes."""
    from timebank.auth.services import create_user
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.ledger.models import AccountKind
    from timebank.regions.services import create_region

    migrate(app)
    with app.test_request_context():
        district = create_region(SYSTEM, name="基准区", parent=None, level="district")
        street = create_region(SYSTEM, name="基准街道", parent=district)
        communities = [
            create_region(SYSTEM, name=f"基准社区{n}", parent=street)
            for n in range(max(COMMUNITIES, processes))
        ]
        people = []
        for n in range(processes + 1):
            person = create_user(
                SYSTEM, name=f"基准志愿者{n}", username=f"bench{n}", password="Bench-Volunteer-1"
            )
            person.region_id = communities[0].id
            people.append(person)
        db.session.flush()
        for community in communities:
            ledger.region_account(community, AccountKind.ISSUANCE)
            ledger.region_account(community, AccountKind.POOL)
        for person in people:
            ledger.hours_account(person)
        for n, person in enumerate(people):  # minutes to donate
            ledger.credit_service(person, 10**7, communities[0], key=f"bench:setup:fund:{n}")
        db.session.commit()
        return {
            "donor": people[0].id,
            "volunteers": [p.id for p in people[1:]],
            "communities": [c.id for c in communities],
        }


def entry_count() -> int:
    from timebank.extensions import db
    from timebank.ledger.verify import count_entries

    count = count_entries()
    db.session.rollback()
    return count


# --------------------------------------------------------------- 1. postings


def bench_postings(app, ids: dict, sizes: Sizes, run: BackendRun, marker, profile: bool):
    from sqlalchemy import Column, Integer, MetaData, Table

    from timebank.auth.models import User
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.regions.models import Region

    bench_row = Table(
        "bench_row",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("n", Integer, nullable=False),
    )
    insert = bench_row.insert()
    serial = iter(range(10**9))

    def post_block(count: int) -> None:
        for _ in range(count):
            ledger.donate_to_pool(person, community, 1, key=f"bench:debit:{next(serial)}")
            db.session.commit()

    def insert_block(count: int) -> None:
        for _ in range(count):
            with db.engine.begin() as conn:
                conn.execute(insert, {"n": next(serial)})

    with app.test_request_context():
        bench_row.create(db.engine)
        # The volunteer and the community, loaded once and detached, so that the loop times
        # the service call and its commit only (a request has loaded its user already).
        person = db.session.get(User, ids["donor"])
        community = db.session.get(Region, ids["communities"][0])
        db.session.expunge_all()
        db.session.rollback()
        # Warm up both paths (statement caches, pool); count what one of each executes.
        with StatementCounter(db.engine, keep=40) as posting_sql:
            post_block(1)
        with StatementCounter(db.engine) as counter:
            post_block(sizes.warmup)
        per_posting = counter.count / sizes.warmup
        with StatementCounter(db.engine) as counter:
            insert_block(sizes.warmup)
        per_insert = counter.count / sizes.warmup
        run.posting_statements = posting_sql.kept

        block = max(1, sizes.postings // sizes.blocks)
        post_times, insert_times = [], []
        meter = CpuMeter(title_marker=marker)
        for _ in range(sizes.blocks):
            t = time.perf_counter()
            insert_block(block)
            insert_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            post_block(block)
            post_times.append(time.perf_counter() - t)
        other = meter.other_pct()
        n = block * sizes.blocks
        post_s, insert_s = sum(post_times), sum(insert_times)
        block_ratios = sorted(i / p for i, p in zip(insert_times, post_times, strict=True))
        run.posting = {
            "postings": n,
            "operation": "donate_to_pool(1 minute) + commit",
            "postings_per_s": round(n / post_s, 1),
            "inserts_per_s": round(n / insert_s, 1),
            "ratio": round(insert_s / post_s, 3),
            "block_ratio_min": round(block_ratios[0], 3),
            "block_ratio_max": round(block_ratios[-1], 3),
            "statements_per_posting": round(per_posting, 1),
            "statements_per_insert": round(per_insert, 1),
            "other_cpu_pct": other,
        }
        if profile:
            stats = profile_calls(lambda: post_block(PROFILE_POSTINGS), cumulative=15)
            run.profile = f"{PROFILE_POSTINGS} postings\n" + stats
        db.session.remove()


# ------------------------------------------------------------- 2. contention


def _posting_worker(
    url, instance, operation, volunteer_id, region_id, count, tag, ready, start, results
):
    """One process: a warm-up posting, then `count` postings after the start signal; each
    a service credit from the region's issuance account to the volunteer, or (operation
    "donate") a donation from the volunteer to the region's public pool."""
    from timebank.auth.models import User
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.regions.models import Region

    app = make_app(url, instance)
    errors, done, began, ended = [], 0, 0.0, 0.0
    try:
        with app.test_request_context():
            volunteer = db.session.get(User, volunteer_id)
            region = db.session.get(Region, region_id)
            db.session.expunge_all()  # loaded once, as in the throughput measurement
            db.session.rollback()
            post = _DONATE if operation == "donate" else ledger.credit_service
            post(volunteer, 1, region, key=f"{tag}:warm")
            db.session.commit()
            ready.put(os.getpid())
            if not start.wait(timeout=WORKER_TIMEOUT_S):
                raise TimeoutError("no start signal")
            began = time.monotonic()
            for i in range(count):
                try:
                    post(volunteer, 1, region, key=f"{tag}:{i}")
                    db.session.commit()
                    done += 1
                except Exception as exc:  # reported to the parent, which records a failure
                    db.session.rollback()
                    errors.append(repr(exc))
            ended = time.monotonic()
            db.session.remove()
            db.engine.dispose()
    except Exception as exc:  # reported to the parent
        errors.append(repr(exc))
        ready.put(os.getpid())
    results.put((began, ended, done, errors[:5], len(errors)))


def _DONATE(volunteer, minutes: int, region, *, key: str):  # noqa: N802 - credit_service's order
    from timebank.ledger import services as ledger

    return ledger.donate_to_pool(volunteer, region, minutes, key=key)


class LockWaitSampler(ActivitySampler):
    """On PostgreSQL, samples pg_stat_activity every 20 ms while the workers run: how
    often one of the database's active backends was waiting for a lock (row or other
    heavyweight lock). A posting path that serialized on one row would wait most of the
    time; this count does not depend on how busy the machine is."""

    INTERVAL_S = 0.02
    QUERY = (
        "SELECT state = 'active', wait_event_type, wait_event FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )

    def __init__(self, url: str):
        super().__init__(url)
        self.events: collections.Counter[str] = collections.Counter()  # what active ones wait on

    def count(self, rows) -> None:
        for active, wait_type, wait_event in rows:
            if not active:
                continue
            self.active += 1
            if wait_type:
                self.events[f"{wait_type}:{wait_event}"] += 1
            if wait_type == "Lock":
                self.waiting += 1

    def top_events(self, n: int = 5) -> dict[str, float]:
        """The most frequent wait events, as a share (%) of active-backend samples."""
        return self.shares(self.events, n)


def contention_round(
    url, instance, ids, sizes: Sizes, shared: bool, tag: str, marker, operation: str = "credit"
) -> dict:
    spawn = multiprocessing.get_context("spawn")
    ready, start, results = spawn.Queue(), spawn.Event(), spawn.Queue()
    communities = ids["communities"]
    workers = [
        spawn.Process(
            target=_posting_worker,
            args=(
                url,
                instance,
                operation,
                ids["volunteers"][n],
                communities[0] if shared else communities[n],
                sizes.credits_each,
                f"{tag}:{n}",
                ready,
                start,
                results,
            ),
        )
        for n in range(sizes.processes)
    ]
    try:
        for worker in workers:
            worker.start()
        for _ in workers:
            ready.get(timeout=WORKER_TIMEOUT_S)
        meter = CpuMeter(title_marker=marker)
        with LockWaitSampler(url) as locks:
            start.set()
            outcomes = [results.get(timeout=WORKER_TIMEOUT_S) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        other = meter.other_pct()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=10)
    began = min(o[0] for o in outcomes if o[0]) if any(o[0] for o in outcomes) else 0.0
    ended = max(o[1] for o in outcomes)
    done = sum(o[2] for o in outcomes)
    errors = [e for o in outcomes for e in o[3]]
    elapsed = ended - began if ended > began else None
    return {
        "operation": operation,
        "shared_account": shared,
        "credits": done,
        "seconds": round(elapsed, 3) if elapsed else None,
        "credits_per_s": round(done / elapsed, 1) if elapsed else 0.0,
        "errors": sum(o[4] for o in outcomes),
        "lock_wait_pct": locks.waiting_pct(),
        "lock_samples": locks.samples,
        "wait_events_pct": locks.top_events(),
        "first_errors": errors[:5],
        "other_cpu_pct": other,
    }


def bench_contention(url, instance, ids, sizes: Sizes, run: BackendRun, marker) -> None:
    rounds = []
    for r in range(sizes.rounds):
        order = (True, False) if r % 2 == 0 else (False, True)
        for shared in order:
            label = "one account" if shared else "separate accounts"
            print(f"[{run.backend}] contention round {r + 1}: {label}", flush=True)
            rounds.append(
                contention_round(
                    url, instance, ids, sizes, shared, f"bench:contend:{r}:{int(shared)}", marker
                )
            )
    control = None
    if url.startswith("postgresql"):
        # Control: the same processes donating to one community's public pool, a chained
        # account every donation locks, against each to its own community's pool. It shows
        # what serialization looks like to the throughput ratio and to the lock sampler.
        pair = []
        for shared in (True, False):
            label = "one pool" if shared else "separate pools"
            print(f"[{run.backend}] control (donations): {label}", flush=True)
            pair.append(
                contention_round(
                    url, instance, ids, sizes, shared, f"bench:pool:{int(shared)}", marker, "donate"
                )
            )
        rounds += pair
        one, separate = pair
        control = {
            "one_pool_per_s": one["credits_per_s"],
            "separate_pools_per_s": separate["credits_per_s"],
            "ratio": round(one["credits_per_s"] / separate["credits_per_s"], 3)
            if separate["credits_per_s"]
            else None,
            "lock_wait_pct_one_pool": one["lock_wait_pct"],
            "lock_wait_pct_separate": separate["lock_wait_pct"],
            "other_cpu_pct": max(one["other_cpu_pct"] or 0, separate["other_cpu_pct"] or 0),
        }
    for measured in rounds:
        if measured["errors"]:
            run.failures.append(
                f"contention: {measured['errors']} postings failed, e.g. {measured['first_errors']}"
            )
    credit_rounds = [m for m in rounds if m["operation"] == "credit"]
    best_shared = max(m["credits_per_s"] for m in credit_rounds if m["shared_account"])
    best_separate = max(m["credits_per_s"] for m in credit_rounds if not m["shared_account"])
    run.contention = {
        "processes": sizes.processes,
        "credits_each": sizes.credits_each,
        "one_account_per_s": best_shared,
        "separate_accounts_per_s": best_separate,
        "ratio": round(best_shared / best_separate, 3) if best_separate else None,
        "other_cpu_pct": max((m["other_cpu_pct"] or 0) for m in credit_rounds),
        "lock_wait_pct_one_account": _max_or_none(
            m["lock_wait_pct"] for m in credit_rounds if m["shared_account"]
        ),
        "lock_wait_pct_separate": _max_or_none(
            m["lock_wait_pct"] for m in credit_rounds if not m["shared_account"]
        ),
        "pool_control": control,
        "rounds": rounds,
    }


def _max_or_none(values) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


# ---------------------------------------------------------------- 3. growth


def grow_ledger(app, ids: dict, target: int, bulk_volunteers: int, run: BackendRun) -> None:
    """Bulk-insert service credits until the ledger holds `target` entries.

    Every row is what post() would have written: a transaction with its fingerprint and
    hash, an entry on a community's issuance account (aggregated, no chain) and one on a
    bulk volunteer's hours account, chained (seq, balance_after, prev_hash, hash), and
    the account rows' cached balance, seq and last hash advanced in the same database
    transaction. Explicit transaction ids; PostgreSQL's sequence is moved past them.
    """
    from sqlalchemy import bindparam, func, select, text, update

    from timebank.auth.models import User
    from timebank.core.db import utcnow
    from timebank.extensions import db
    from timebank.ledger.models import GENESIS_HASH, Account, AccountKind, Currency
    from timebank.ledger.models import Entry as EntryModel
    from timebank.ledger.models import Transaction as TransactionModel
    from timebank.ledger.services import entry_hash, fingerprint, transaction_hash

    users, accounts = User.__table__, Account.__table__
    transactions, entries = TransactionModel.__table__, EntryModel.__table__
    chain_columns = (
        accounts.c.id,
        accounts.c.user_id,
        accounts.c.last_seq,
        accounts.c.balance,
        accounts.c.last_hash,
    )
    with app.app_context():
        have = entry_count()
        if have >= target:
            return
        began = time.perf_counter()
        with db.engine.begin() as conn:
            bulk = conn.execute(
                select(*chain_columns)
                .where(accounts.c.owner_key.like("user:%"), accounts.c.kind == "hours")
                .join(users, users.c.id == accounts.c.user_id)
                .where(users.c.username.like("bulk%"))
                .order_by(accounts.c.id)
            ).all()
            if not bulk:  # first growth: the bulk volunteers and their hours accounts
                conn.execute(
                    users.insert(),
                    [
                        {
                            "username": f"bulk{n:06d}",
                            "name": f"批量志愿者{n}",
                            "password_hash": "!",  # no password: cannot sign in
                            "region_id": ids["communities"][n % COMMUNITIES],
                        }
                        for n in range(bulk_volunteers)
                    ],
                )
                made = conn.execute(
                    select(users.c.id, users.c.region_id)
                    .where(users.c.username.like("bulk%"))
                    .order_by(users.c.id)
                ).all()
                conn.execute(
                    accounts.insert(),
                    [
                        {
                            "kind": AccountKind.HOURS.value,
                            "currency": Currency.MINUTES.value,
                            "owner_key": f"user:{user_id}",
                            "user_id": user_id,
                            "region_id": region_id,
                            "aggregated": False,
                            "balance": 0,
                            "last_seq": 0,
                            "last_hash": GENESIS_HASH,
                        }
                        for user_id, region_id in made
                    ],
                )
                bulk = conn.execute(
                    select(*chain_columns)
                    .where(accounts.c.user_id.in_([u for u, _ in made]))
                    .order_by(accounts.c.id)
                ).all()
            issuance = [  # (account id, community id)
                (
                    conn.execute(
                        select(accounts.c.id).where(
                            accounts.c.owner_key == f"region:{region_id}",
                            accounts.c.kind == "issuance",
                        )
                    ).scalar_one(),
                    region_id,
                )
                for region_id in ids["communities"][:COMMUNITIES]
            ]
            next_tx = (conn.execute(select(func.max(transactions.c.id))).scalar() or 0) + 1
        state = {row.id: (row.last_seq, row.balance, row.last_hash) for row in bulk}
        volunteers = [(row.id, row.user_id) for row in bulk]  # (account id, user id)
        advance = (
            update(accounts)
            .where(accounts.c.id == bindparam("account"))
            .values(
                balance=bindparam("new_balance"),
                last_seq=bindparam("new_seq"),
                last_hash=bindparam("new_hash"),
            )
        )
        kind = "service_credit"
        base_time = utcnow().replace(microsecond=0) - timedelta(days=400)
        remaining = (target - have + 1) // 2
        added = 0
        while remaining > 0:
            count = min(BULK_CHUNK, remaining)
            tx_rows, entry_rows, touched = [], [], set()
            for tx_id in range(next_tx, next_tx + count):
                volunteer, user_id = volunteers[(tx_id * 7919) % len(volunteers)]
                source, region_id = issuance[tx_id % len(issuance)]
                minutes = 30 * (1 + tx_id % 8)
                key = f"bulk:credit:{tx_id}"
                legs = [(source, -minutes), (volunteer, minutes)]
                # What credit_service(volunteer, minutes, region) would have fingerprinted.
                asked = {"volunteer": user_id, "region": region_id, "minutes": minutes, "memo": ""}
                tx = SimpleNamespace(
                    kind=kind,
                    idempotency_key=key,
                    fingerprint=fingerprint(kind, asked),
                    actor_id=None,
                    memo="",
                    created_at=base_time + timedelta(seconds=60 * tx_id),
                    reverses_id=None,
                )
                tx.hash = transaction_hash(tx, legs)
                tx_rows.append({"id": tx_id, **vars(tx)})
                seq, balance, last = state[volunteer]
                seq, balance = seq + 1, balance + minutes
                chained = entry_hash(last, tx.hash, volunteer, minutes, seq, balance)
                state[volunteer] = (seq, balance, chained)
                touched.add(volunteer)
                leg_rows = [
                    {
                        "transaction_id": tx_id,
                        "account_id": source,
                        "amount": -minutes,
                        "seq": None,
                        "balance_after": None,
                        "prev_hash": None,
                        "hash": None,
                    },
                    {
                        "transaction_id": tx_id,
                        "account_id": volunteer,
                        "amount": minutes,
                        "seq": seq,
                        "balance_after": balance,
                        "prev_hash": last,
                        "hash": chained,
                    },
                ]
                entry_rows += sorted(leg_rows, key=lambda e: e["account_id"])  # as post() does
            with db.engine.begin() as conn:
                conn.execute(transactions.insert(), tx_rows)
                conn.execute(entries.insert(), entry_rows)
                conn.execute(
                    advance,
                    [
                        {
                            "account": a,
                            "new_seq": state[a][0],
                            "new_balance": state[a][1],
                            "new_hash": state[a][2],
                        }
                        for a in sorted(touched)
                    ],
                )
            next_tx += count
            remaining -= count
            added += 2 * count
            print(
                f"[{run.backend}] grew the ledger by {added:,} entries "
                f"({time.perf_counter() - began:.0f}s)",
                flush=True,
            )
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('ledger_transaction', 'id'), "
                        "(SELECT max(id) FROM ledger_transaction))"
                    )
                )
                conn.execute(text("ANALYZE"))
            else:
                conn.execute(text("ANALYZE"))
        seconds = time.perf_counter() - began
        run.growth.append(
            {
                "from_entries": have,
                "to_entries": have + added,
                "seconds": round(seconds, 1),
                "entries_per_s": round(added / seconds),
            }
        )


def read_balances(app, ids: dict, sizes: Sizes, marker) -> dict:
    """Latency of hours_account(user) + balance_of, in read-only sessions of
    reads_per_session reads; and of the aggregated issuance account's balance."""
    from timebank.auth.models import User
    from timebank.core.db import sqlite_begin_mode
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.ledger.models import AccountKind
    from timebank.regions.models import Region

    with app.test_request_context():
        entries = entry_count()
        token = sqlite_begin_mode.set("DEFERRED")  # as read-only requests do
        try:
            person = db.session.get(User, ids["donor"])
            expected = ledger.balance_of(ledger.hours_account(person))
            db.session.remove()
            meter = CpuMeter(title_marker=marker)
            passes = []  # the least disturbed pass counts
            for _ in range(READ_PASSES):
                latencies = []
                for i in range(sizes.reads):
                    if i % sizes.reads_per_session == 0:
                        db.session.remove()
                        person = db.session.get(User, ids["donor"])
                    t = time.perf_counter()
                    balance = ledger.balance_of(ledger.hours_account(person))
                    latencies.append(time.perf_counter() - t)
                    if balance != expected:
                        raise AssertionError(f"balance read {balance}, expected {expected}")
                passes.append(sorted(latencies))
            other = meter.other_pct()
            db.session.remove()
            community = db.session.get(Region, ids["communities"][0])
            issuance = ledger.region_account(community, AccountKind.ISSUANCE)
            issuance_entries = db.session.scalar(_count_account_entries(issuance.id))
            ledger.balance_of(issuance)  # warm the cache
            system = []
            for _ in range(sizes.system_reads):
                t = time.perf_counter()
                ledger.balance_of(issuance)
                system.append(time.perf_counter() - t)
            db.session.remove()
        finally:
            sqlite_begin_mode.reset(token)
    latencies = min(passes, key=statistics.median)
    return {
        "entries": entries,
        "reads": sizes.reads,
        "passes": READ_PASSES,
        "pass_p50s_us": [round(statistics.median(p) * 1e6, 1) for p in passes],
        "p50_us": round(statistics.median(latencies) * 1e6, 1),
        "mean_us": round(statistics.fmean(latencies) * 1e6, 1),
        "p99_us": round(latencies[int(len(latencies) * 0.99) - 1] * 1e6, 1),
        "other_cpu_pct": other,
        "system_account_entries": issuance_entries,
        "system_p50_ms": round(statistics.median(system) * 1e3, 3),
    }


def _count_account_entries(account_id: int):
    from timebank.extensions import db
    from timebank.ledger.models import Entry

    return db.select(db.func.count(Entry.id)).where(Entry.account_id == account_id)


# ---------------------------------------------------------------- 4. verify


def _verify_worker(url, instance, results):
    """`flask ledger verify`'s work, in a fresh process so its peak RSS is its own."""
    try:
        app = make_app(url, instance)
        with app.app_context():
            from timebank.extensions import db
            from timebank.ledger.verify import verify

            before = proc_status_kib("VmRSS")
            reset = reset_peak_rss()  # so that the peak read afterwards is verify's own
            t = time.perf_counter()
            report = verify()
            seconds = time.perf_counter() - t
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
            verify_peak = proc_status_kib("VmHWM") if reset else None
            db.session.remove()
            db.engine.dispose()
        results.put(
            {
                "seconds": round(seconds, 2),
                "accounts": report.accounts,
                "transactions": report.transactions,
                "entries": report.entries,
                "entries_per_s": round(report.entries / seconds) if seconds else None,
                "rss_before_mib": round(before / 1024, 1) if before else None,
                "peak_rss_mib": round(peak / 1024, 1),
                "verify_peak_rss_mib": round(verify_peak / 1024, 1) if verify_peak else None,
                "ok": report.ok,
                "problems": report.problems[:5],
            }
        )
    except Exception as exc:  # reported to the parent
        results.put({"ok": False, "problems": [repr(exc)]})


def bench_verify(url, instance, run: BackendRun, marker) -> None:
    outcome = run_in_fresh_process(_verify_worker, (url, instance), marker, WORKER_TIMEOUT_S)
    run.verify = outcome
    if not outcome.get("ok"):
        run.failures.append(f"ledger verify failed: {outcome.get('problems')}")


# ------------------------------------------------------------------- backend


def bench_backend(database, args: argparse.Namespace, workdir: Path) -> BackendRun:
    sizes = sizes_for(database.name, args)
    run = BackendRun(
        database.name,
        server=database.server_version(),
        sizes=asdict(sizes),
        load_avg_before=list(os.getloadavg()),
    )
    marker = database.process_title_marker
    instance = str(workdir / f"instance-{database.name}")
    Path(instance).mkdir(exist_ok=True)
    began = time.perf_counter()
    app = make_app(database.url, instance)
    try:
        print(f"\n[{database.name}] migrating and setting up", flush=True)
        ids = setup_ledger(app, sizes.processes)
        print(f"[{database.name}] posting throughput ({sizes.postings} postings)", flush=True)
        bench_postings(app, ids, sizes, run, marker, args.profile)
        print(f"[{database.name}] growing to {sizes.small_entries:,} entries", flush=True)
        grow_ledger(app, ids, sizes.small_entries, sizes.bulk_volunteers, run)
        small = read_balances(app, ids, sizes, marker)
        bench_contention(database.url, instance, ids, sizes, run, marker)
        print(f"[{database.name}] growing to {sizes.large_entries:,} entries", flush=True)
        grow_ledger(app, ids, sizes.large_entries, sizes.bulk_volunteers, run)
        large = read_balances(app, ids, sizes, marker)
        run.reads = {
            "small": small,
            "large": large,
            "ratio_p50": round(large["p50_us"] / small["p50_us"], 3),
            "ratio_mean": round(large["mean_us"] / small["mean_us"], 3),
            "system_ratio_p50": round(large["system_p50_ms"] / small["system_p50_ms"], 2),
        }
        print(f"[{database.name}] ledger verify over {large['entries']:,} entries", flush=True)
        bench_verify(database.url, instance, run, marker)
    except Exception as exc:  # recorded; what was measured before it is kept
        traceback.print_exc()
        first_line = (str(exc).splitlines() or [""])[0]
        run.failures.append(f"{type(exc).__name__}: {first_line}")
    finally:
        close_app_database(app)
        run.seconds = round(time.perf_counter() - began, 1)
    for label, other in (
        ("posting throughput", run.posting.get("other_cpu_pct")),
        ("contention", run.contention.get("other_cpu_pct")),
        ("balance reads (large)", run.reads.get("large", {}).get("other_cpu_pct")),
        ("verify", run.verify.get("other_cpu_pct")),
    ):
        run.warnings += disturbance_warnings(label, other)
    return run


# ------------------------------------------------------------------- reports


TABLE_HEADER = ("measurement", "result", "baseline", "ratio", "other CPU %")


def _entries(n: int) -> str:
    return f"{n:,}"


def table_rows(run: BackendRun) -> list[tuple[str, ...]]:
    rows = []
    p = run.posting
    if p:
        rows.append(
            (
                "debit (donate_to_pool + commit)",
                f"{p['postings_per_s']:,.0f} postings/s",
                f"{p['inserts_per_s']:,.0f} bare inserts/s",
                f"{p['ratio']:.2f}",
                fmt(p["other_cpu_pct"], ".0f"),
            )
        )
    c = run.contention
    if c:
        rows.append(
            (
                f"{c['processes']} processes crediting from one issuance account",
                f"{c['one_account_per_s']:,.0f} credits/s",
                f"{c['separate_accounts_per_s']:,.0f} credits/s from {c['processes']} accounts",
                f"{c['ratio']:.2f}" if c["ratio"] else "-",
                fmt(c["other_cpu_pct"], ".0f"),
            )
        )
        control = c.get("pool_control")
        if control:
            rows.append(
                (
                    f"control: {c['processes']} processes donating to one pool (row-locked)",
                    f"{control['one_pool_per_s']:,.0f} donations/s",
                    f"{control['separate_pools_per_s']:,.0f} donations/s to {c['processes']} pools",
                    f"{control['ratio']:.2f}" if control["ratio"] else "-",
                    fmt(control["other_cpu_pct"], ".0f"),
                )
            )
    r = run.reads
    if r:
        small, large = r["small"], r["large"]
        rows.append(
            (
                f"person's balance read, {_entries(large['entries'])} entries",
                f"{large['p50_us']:,.0f} µs p50 ({large['mean_us']:,.0f} mean)",
                f"{small['p50_us']:,.0f} µs p50 ({small['mean_us']:,.0f} mean) "
                f"at {_entries(small['entries'])}",
                f"{r['ratio_p50']:.2f}",
                fmt(large["other_cpu_pct"], ".0f"),
            )
        )
        rows.append(
            (
                f"issuance balance (SUM of {_entries(large['system_account_entries'])} entries)",
                f"{large['system_p50_ms']:,.2f} ms p50",
                f"{small['system_p50_ms']:,.2f} ms p50 "
                f"(SUM of {_entries(small['system_account_entries'])})",
                f"{r['system_ratio_p50']:.1f}",
                "-",
            )
        )
    v = run.verify
    if v.get("entries"):
        rows.append(
            (
                f"ledger verify, {_entries(v['entries'])} entries",
                f"{v['seconds']:,.1f} s, {v['entries_per_s']:,} entries/s",
                _verify_memory(v),
                "-",
                fmt(v.get("other_cpu_pct"), ".0f"),
            )
        )
    return rows


def _verify_memory(v: dict) -> str:
    if v.get("verify_peak_rss_mib") and v.get("rss_before_mib"):
        return (
            f"peak RSS {v['verify_peak_rss_mib']:,.0f} MiB during verify "
            f"(RSS {v['rss_before_mib']:,.0f} MiB before it)"
        )
    return f"peak RSS {v['peak_rss_mib']:,.0f} MiB (whole process)"


def notes(run: BackendRun) -> list[str]:
    lines = []
    p = run.posting
    if p:
        lines.append(
            f"SQL statements per posting: {p['statements_per_posting']:g} "
            f"(bare insert: {p['statements_per_insert']:g}), as SQLAlchemy sends them: "
            "SQLite's BEGIN counted, psycopg's implicit BEGIN and the COMMIT not; "
            f"{p['postings']:,} of each, in {run.sizes.get('blocks')} alternating blocks "
            f"(ratio per block {p['block_ratio_min']:.2f}-{p['block_ratio_max']:.2f})"
        )
    c = run.contention
    if c:
        by_kind = {
            label: ", ".join(
                f"{m['credits_per_s']:,.0f}"
                for m in c["rounds"]
                if m["shared_account"] == shared and m.get("operation", "credit") == "credit"
            )
            for label, shared in (("one account", True), ("separate accounts", False))
        }
        lines.append(
            "contention, credits/s per round: "
            + "; ".join(f"{label} {values}" for label, values in by_kind.items())
        )
        if c.get("lock_wait_pct_one_account") is not None:
            lines.append(
                "contention, share of active PostgreSQL backends found waiting for a lock "
                f"(sampled every {LockWaitSampler.INTERVAL_S * 1000:.0f} ms, worst round): "
                f"one account {c['lock_wait_pct_one_account']:.1f}%, separate accounts "
                f"{c['lock_wait_pct_separate']:.1f}%"
            )
        shared = [
            m
            for m in c["rounds"]
            if m["shared_account"] and m.get("operation") == "credit" and m.get("wait_events_pct")
        ]
        if shared:
            waits = shared[-1]["wait_events_pct"].items()
            events = ", ".join(f"{event} {pct:.0f}%" for event, pct in waits)
            lines.append(
                "contention, what the active backends waited on (one account, last round): "
                + events
            )
        control = c.get("pool_control")
        if control and control.get("lock_wait_pct_one_pool") is not None:
            lines.append(
                "control, donations to one community's public pool (a chained account, "
                f"row-locked by every posting): {control['lock_wait_pct_one_pool']:.1f}% of "
                f"active backends waiting for a lock ({control['lock_wait_pct_separate']:.1f}%"
                " with a pool each)"
            )
    r = run.reads
    if r and r["small"].get("pass_p50s_us"):
        lines.append(
            "balance read p50 per pass, µs: "
            + "; ".join(
                f"{_entries(r[size]['entries'])} entries "
                + ", ".join(f"{v:,.0f}" for v in r[size]["pass_p50s_us"])
                for size in ("small", "large")
            )
        )
    for g in run.growth:
        lines.append(
            f"bulk growth {_entries(g['from_entries'])} → {_entries(g['to_entries'])} entries: "
            f"{g['seconds']:,.0f} s ({g['entries_per_s']:,} entries/s)"
        )
    if run.load_avg_before:
        lines.append(
            "load average before the run: "
            + ", ".join(f"{value:.1f}" for value in run.load_avg_before)
        )
    return lines


# The measurement and its baseline are text; the result and the figures after it align right.
TABLE_LEFT = (0, 2)


def print_table(run: BackendRun) -> None:
    rows = table_rows(run)
    print(f"\n== {run.backend} ({run.server}) ==")
    if rows:
        print_aligned(TABLE_HEADER, rows, left=TABLE_LEFT)
    for line in notes(run):
        print(f"note: {line}")
    print_problems(run)
    if run.profile:
        print(f"\n-- profile of the posting path ({run.backend}) --")
        print("SQL of one posting:")
        for statement in run.posting_statements:
            print(f"  {statement}")
        print(run.profile)


def doc_section(runs: list[BackendRun], facts: dict[str, str]) -> str:
    summary = (
        f"Measured {facts['date']} with `bench/ledger.py` (in-process, the app's own engine "
        "and services, testing configuration). Each figure has a baseline measured in the "
        "same run on the same database, so compare ratios across machines, not raw numbers."
    )
    method = [
        "**Debit**: one `donate_to_pool` of one minute per database transaction, the "
        "volunteer and the community loaded once beforehand (a request has its user "
        "already), against a bare single-row `INSERT` + commit into a throwaway table; "
        "alternating blocks. Ratio = postings/s ÷ inserts/s (aim: at least 0.5). SQLite "
        "(WAL, `synchronous=NORMAL`) commits without waiting for the disk, so its bare "
        "insert costs almost nothing and its ratio is the posting's CPU cost in Python; "
        "PostgreSQL's commit waits for its WAL flush.",
        "**Contention**: each process credits its own volunteer; all from one community's "
        "issuance account, against each from a different community's. Best of the rounds; "
        "ratio = one account ÷ separate accounts (near 1: the hot system account does not "
        "serialize postings). On PostgreSQL, `pg_stat_activity` is sampled every 20 ms "
        "meanwhile: the share of the database's active backends found waiting for a lock, "
        "which unlike throughput does not depend on how busy the machine is. The control "
        "row repeats the test with donations to a community's public pool, a chained "
        "account that every posting locks, to show what serialization looks like. "
        "(PostgreSQL only: SQLite takes one writer at a time by design, so there the "
        "ratio shows only that the shared account adds nothing to that.)",
        "**Balance read**: `balance_of(hours_account(user))`, sessions of 100 reads, "
        f"read-only (`DEFERRED` on SQLite), best of {READ_PASSES} passes; ratio = p50 with "
        "the large ledger ÷ p50 with the small one (aim: near 1). The large ledger is "
        "grown with bulk-inserted service credits that `flask ledger verify` accepts: a "
        "community's issuance account to one of several thousand volunteers, each "
        "volunteer's chain and cached balance kept.",
        "**Issuance balance**: an aggregated account keeps no balance on its row; reading "
        "it sums its entries, so it grows with the account's history (by design: rule 7 "
        "trades this read for lock-free postings). Ratio = large ÷ small latency.",
        "**Verify**: `timebank.ledger.verify.verify()` (what `flask ledger verify` runs) in "
        "a fresh process over the large ledger; its peak RSS is the kernel's high-water "
        "mark, reset just before verify starts, so it is verify's own on top of the "
        "loaded app.",
        "*other CPU %*: the share of the machine's CPU taken meanwhile by processes other "
        "than the benchmark, its workers and its PostgreSQL backends; above "
        f"{OTHER_CPU_WARN_PCT:.0f}% the figures are disturbed (other sessions share this "
        "machine).",
    ]
    lines = [
        DOC_START,
        "## Ledger",
        "",
        wrap(summary),
        "",
        wrap(
            "Run it with `.venv/bin/python bench/ledger.py --write-doc` (`--quick` for a "
            "smoke run, `--profile` to see where a posting's time goes, `--help` for the "
            "sizes); raw results land in `bench/results/ledger.json`."
        ),
        "",
        *(bullet(m) for m in method),
        "",
        *machine_lines(facts),
    ]
    for run in runs:
        s = run.sizes
        lines += [
            "",
            f"### {run.backend}",
            "",
            f"{s.get('postings', 0):,} debits; {s.get('processes', 0)} processes × "
            f"{s.get('credits_each', 0):,} credits, {s.get('rounds', 0)} round(s); "
            f"{s.get('reads', 0):,} balance reads per ledger size.",
            "",
            *markdown_table(TABLE_HEADER, table_rows(run), left=TABLE_LEFT),
        ]
        extra = (
            [f"**Failure:** {f}" for f in run.failures]
            + [f"Note: {w}" for w in run.warnings]
            + notes(run)
        )
        if extra:
            lines += ["", *(bullet(line) for line in extra)]
    lines += ["", DOC_END]
    return "\n".join(lines)


# ---------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backends_option(parser)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--postings", type=int, help="debits measured (default 2000)")
    parser.add_argument(
        "--processes", type=int, help="contention processes (default 4 on PostgreSQL, 2 SQLite)"
    )
    parser.add_argument("--credits-each", type=int, help="credits per process (default 250)")
    parser.add_argument("--reads", type=int, help="balance reads per ledger size (default 2000)")
    parser.add_argument(
        "--large-entries", type=int, help="entries in the large ledger (default 1,000,000)"
    )
    parser.add_argument(
        "--sqlite-large-entries", type=int, help="entries in SQLite's large ledger, if different"
    )
    add_postgres_url_option(parser)
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the posting path"
    )
    add_write_doc_option(parser)
    args = parse_bench_args(parser, argv)
    limits = {
        "postings": (args.postings, 4, 100_000),
        "processes": (args.processes, 1, 32),
        "credits-each": (args.credits_each, 1, 100_000),
        "reads": (args.reads, 100, 1_000_000),
        "large-entries": (args.large_entries, 1_000, 20_000_000),
        "sqlite-large-entries": (args.sqlite_large_entries, 1_000, 20_000_000),
    }
    for name, (value, low, high) in limits.items():
        if value is not None and not low <= value <= high:
            parser.error(f"--{name} must be {low:,}-{high:,}")
    if args.processes and args.processes > COMMUNITIES:
        parser.error(f"--processes is at most {COMMUNITIES}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_signals()
    runs, versions = run_each_backend(
        args, bench_backend, BackendRun, tmp_prefix="timebank-bench-ledger-"
    )
    facts = machine_facts(**versions)
    for run in runs:
        print_table(run)

    report = {
        "machine": facts,
        "settings": {"quick": args.quick, "profile": args.profile},
        "backends": {run.backend: asdict(run) for run in runs},
    }
    save_results(RESULTS_FILE, report)
    if args.write_doc:
        write_doc_section(doc_section(runs, facts), DOC_START, DOC_END)
    return exit_status(runs)


if __name__ == "__main__":
    sys.exit(main())
