"""Redemption benchmark: many cashiers at once redeeming points for hot items at the counter.

A busy opening hour at a few love supermarkets: C (default 50) cashiers, each with their
own API bearer token and the cashier role on one of S (default 2) stores, send
``POST /api/v1/redemptions`` over C concurrent connections for D seconds (default 30),
each request with its own Idempotency-Key. A cart has 1 to 3 lines of 1 or 2 units; 85%
of carts hold one of the store's 3 hot items (rice, oil, eggs: large stock, a per-month
limit far above what anyone takes, so the limit query runs but never refuses) and the
other lines come from 7 other goods. The resident is one of R (default 3,000) people with
plenty of points, drawn at random, except that 10% of carts go to 10 "busy" residents, so
that several counters sometimes serve the same resident at once and queue on that
resident's points row. Each request carries the counter's ticket for the resident (what
``GET /stores/{id}/residents`` hands out when the cashier scans or searches; made in
setup with the server's key, the lookup itself is not measured). Every answer must be
201: ``out_of_stock``, ``over_limit``, ``insufficient_points`` or anything else is
counted by status and code and fails the run.

The baseline, measured in the same run against the same server with the same connections,
residents and carts: ``POST /_bench/debit`` (``timebank/main/bench.py``, registered only
with BENCH_ENDPOINTS on), which authenticates the same way, looks up the store and the
resident and checks the cashier's role and the ticket as the redemption does, then does
nothing but ``ledger.post`` the cart's points from the resident's points account to the
store's sales account under the Idempotency-Key. ratio = redemptions/s ÷ bare debits/s:
what a redemption's own work (limits, eligibility, stock UPDATEs, lines, movements, the
audit line, the larger answer) costs on top of the debit it contains.

For each database backend (SQLite and PostgreSQL) the script prepares a fresh database
(migrated; a district, a street, 4 communities, one station and store per community up to
S; the residents imported with ``timebank.volunteers.imports.import_volunteers`` and given
points with ``ledger.allocate`` from their community's allocation budget; the cashiers
created with ``create_user`` and ``grant_role``, their tokens bulk-inserted; the goods
added with ``add_goods`` and stocked with ``receive_donation``; none of this is measured),
starts gunicorn with production settings on a free 127.0.0.1 port as
``bench/http_baseline.py`` does (``TIMEBANK_ENV=production``, ``gunicorn.conf.py``, 4
sync workers unless told otherwise, rate limits off), and drives it with wrk from a
separate process: a Lua script builds every request (cashier round-robin, resident and
cart at random from a fixed seed), stops sending when the duration is over and waits
for every answer, so each request is answered exactly once and the database can be
checked against the answers. Throughput counts the 201s received within the duration;
latency percentiles are wrk's, over every answer. A 3-second warm-up of each kind comes
first.

Afterwards: no stock below zero; each goods' stock equals the sum of its movements and its
last movement's stock_after, and every movement's stock_after follows from the one
before; units redeemed per goods equal the redemption movements; each redemption's lines
add up to its points and its ledger transaction debits exactly that; one redemption row
and one ``redemption.create`` audit line per 201, one ledger transaction per bare-debit
201; and ``flask ledger verify`` passes. In-process (Flask's test client, same database),
the SQL statements of one redemption and one bare debit are counted, with those sent
after the commit (reading the answer back) apart.

Run it with ``.venv/bin/python bench/redemption_burst.py`` (``--duration 10 --residents
500 --backends sqlite`` for a smoke run, ``--profile`` to see where a redemption's time
goes); ``--write-doc`` updates its section of docs/PERFORMANCE.md. Results are written as
JSON to bench/results/redemption_burst.json, gunicorn's log next to it. The exit status is
non-zero when any answer was not 201, a request went unanswered, or an invariant fails.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
import secrets
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import (
    HOST,
    OTHER_CPU_WARN_PCT,
    RESULTS_DIR,
    ROOT,
    WRK_LUA_PRELUDE,
    ActivitySampler,
    BenchError,
    CpuMeter,
    StatementCounter,
    add_backends_option,
    add_postgres_url_option,
    add_wait_idle_option,
    add_workers_option,
    add_write_doc_option,
    close_app_database,
    create_district,
    exit_cleanly_on_signals,
    exit_status,
    fmt,
    http,
    idle_pct,
    import_verified,
    issue_tokens,
    machine_facts,
    machine_lines,
    make_app,
    markdown_table,
    may_measure_again,
    measure_on_gunicorn,
    migrate,
    other_cpu_cell,
    parse_bench_args,
    print_aligned,
    profile_calls,
    read_bench_output,
    run_each_backend,
    run_wrk_script,
    save_results,
    server_app_config,
    server_env,
    venv_tool,
    wait_for_idle,
    wrap,
    write_csv,
    write_doc_section,
    wrk_installed,
    wrk_latency,
    wrk_version,
    wrk_warnings,
)
from volunteer_import import GIVEN, HEADER, SURNAMES, resident_id

RESULTS_FILE = RESULTS_DIR / "redemption_burst.json"
DOC_START = "<!-- redemption_burst:start -->"
DOC_END = "<!-- redemption_burst:end -->"

REDEEM_PATH = "/api/v1/redemptions"
DEBIT_PATH = "/_bench/debit"
PATHS = {"redeem": REDEEM_PATH, "debit": DEBIT_PATH}

# One wrk thread: the deadline and the drain are per thread, and one thread keeps 50
# connections busy at these rates with CPU to spare.
WRK_THREADS = 1
WRK_TIMEOUT_S = 30  # per request
DRAIN_LIMIT_S = 60  # after the duration, at most this long for the last answers
WARMUP_S = 3
COMMUNITIES = 4
POINTS_EACH = 1_000_000  # far more than anyone spends in a run
BUSY_RESIDENTS = 10
BUSY_SHARE = 0.10  # of carts go to the busy residents
HOT_SHARE = 0.85  # of carts hold one hot item
LINE_COUNTS = [1, 1, 2, 2, 3]  # lines per cart, drawn uniformly from this list
QUANTITIES = [1, 1, 1, 2]  # units per line, likewise
HOT_PICK = [1, 1, 1, 1, 1, 2, 2, 2, 3, 3]  # which hot item: 50%, 30%, 20%
# Stock for every goods: enough for this many redemptions a second, every one taking the
# item twice, for the whole run; far beyond what this machine reaches.
STOCK_RATE_CEILING = 1000
MAX_DONATION_LINE = 10_000  # services.MAX_QUANTITY
HOT_GOODS = [  # name, category, unit, points
    ("爱心大米 5kg", "grain_oil", "袋", 30),
    ("花生油 1.8L", "grain_oil", "桶", 40),
    ("鲜鸡蛋 10枚", "food", "盒", 15),
]
OTHER_GOODS = [
    ("挂面 1kg", "food", "包", 8),
    ("酱油 500ml", "food", "瓶", 6),
    ("洗衣液 2kg", "daily", "瓶", 20),
    ("牙膏", "health", "支", 5),
    ("毛巾", "daily", "条", 10),
    ("香皂", "health", "块", 4),
    ("笔记本", "stationery", "本", 3),
]
HOT_LIMIT = 10_000  # per month: the limit query runs, and never refuses
# What check_invariants() counts, each of which must be zero.
STOCK_CHECKS = (
    "goods with negative stock",
    "goods whose stock is not the sum of its movements",
    "goods whose stock is not its last movement's stock_after",
    "movements whose stock_after does not follow from the one before",
    "goods whose redeemed units differ from their redemption movements",
    "redemptions whose lines do not add up to their points",
    "redemptions whose ledger debit differs from their points",
)
# With --wait-idle, a pair of measurements disturbed by other processes is taken again
# this often; the least disturbed pair is reported.
MAX_RETRIES = 2
STATEMENT_SAMPLE = 20
PROFILE_REDEMPTIONS = 200


# A Lua state per wrk thread. init() loads the data file (cashiers with their token and
# store, the stores' goods, the residents) and request() builds each request: the next
# cashier, a resident and a cart at random, a fresh Idempotency-Key. At the deadline the
# thread stops sending (an empty request idles the connection), waits for every answer,
# writes a marker file and stops; the parent then interrupts wrk, which calls done().
LUA_SCRIPT = (
    WRK_LUA_PRELUDE
    + r"""
local D, path, host

function init(args)
  D = dofile(args[1])
  mode = args[2]
  duration = tonumber(args[3])
  marker = args[4] .. "." .. tid
  prefix = args[5] .. "." .. tid .. "."
  math.randomseed(tonumber(args[6]) + 7919 * tid)
  path = D.paths[mode]
  host = wrk.headers["Host"]
  n, sent, received, ok, ok_in_window, in_window, busy = 0, 0, 0, 0, 0, 0, 0
  lines_sent, units_sent = 0, 0
  statuses, samples = {}, {}
  finished = false
  -- wrk asks thread 0 for one request up front to check it parses; that one is not sent.
  verifying = (tid == 0)
end

local function pick(list)
  return list[math.random(#list)]
end

local function cart(store, counted)
  local lines, seen, total, units = {}, {}, 0, 0
  local count = pick(D.line_counts)
  local function add(item)
    seen[item[1]] = true
    local q = pick(D.quantities)
    lines[#lines + 1] = string.format('{"goods_id":%d,"quantity":%d}', item[1], q)
    total = total + item[2] * q
    units = units + q
  end
  if math.random() < D.hot_share then
    add(store.hot[pick(D.hot_pick)])
  end
  while #lines < count do
    local item = pick(store.others)
    if not seen[item[1]] then add(item) end
  end
  if counted then
    lines_sent = lines_sent + #lines
    units_sent = units_sent + units
  end
  return table.concat(lines, ","), total
end

local function build(counted)
  n = n + 1
  local cashier = D.cashiers[(n - 1) % #D.cashiers + 1]
  local store = D.stores[cashier[2]]
  local i
  if math.random() < D.busy_share then
    i = pick(D.busy)
    if counted then busy = busy + 1 end
  else
    i = math.random(#D.residents)
  end
  local lines, total = cart(store, counted)
  local body
  if mode == "debit" then
    body = string.format('{"store_id":%d,"user_id":%d,"ticket":"%s","points":%d}',
      store.id, D.residents[i], store.tickets[i], total)
  else
    body = string.format('{"store_id":%d,"user_id":%d,"ticket":"%s","lines":[%s]}',
      store.id, D.residents[i], store.tickets[i], lines)
  end
  local headers = {
    Host = host,
    Accept = "application/json",
    ["Content-Type"] = "application/json",
    Authorization = "Bearer " .. cashier[1],
    ["Idempotency-Key"] = prefix .. n,
  }
  return wrk.format("POST", path, headers, body)
end

local function maybe_finish(t)
  if finished or deadline == nil or t < deadline or received < sent then return end
  finished = true
  last_received = t
  finish_thread()
end

function request()
  if verifying then
    verifying = false
    return build(false)
  end
  local t = now()
  if deadline == nil then
    first_sent = t
    deadline = t + duration
  end
  if t >= deadline then
    maybe_finish(t)
    return ""
  end
  sent = sent + 1
  return build(true)
end

function response(status, headers, body)
  received = received + 1
  local t = now()
  if t <= deadline then in_window = in_window + 1 end
  local key = tostring(status)
  if status == 201 then
    ok = ok + 1
    if t <= deadline then ok_in_window = ok_in_window + 1 end
  else
    local code = body and body:match('"code"%s*:%s*"([^"]*)"') or ""
    key = key .. " " .. code
    if #samples < 5 then samples[#samples + 1] = status .. " " .. (body or ""):sub(1, 300) end
  end
  statuses[key] = (statuses[key] or 0) + 1
  maybe_finish(t)
end

function done(summary, latency, requests)
  local totals = {sent = 0, received = 0, ok = 0, ok_in_window = 0, in_window = 0,
                  busy = 0, lines_sent = 0, units_sent = 0}
  local merged, first, last, span = {}, nil, nil, nil
  for _, t in ipairs(threads) do
    for k, _ in pairs(totals) do totals[k] = totals[k] + (t:get(k) or 0) end
    for k, v in pairs(t:get("statuses") or {}) do merged[k] = (merged[k] or 0) + v end
    local f, l = t:get("first_sent"), t:get("last_received")
    if f and (first == nil or f < first) then first = f end
    if l and (last == nil or l > last) then last = l end
    local d = t:get("duration")
    if d and (span == nil or d > span) then span = d end
    for _, s in ipairs(t:get("samples") or {}) do
      io.write("BENCH sample ", (s:gsub("[\r\n\t]", " ")), "\n")
    end
  end
  for k, v in pairs(totals) do io.write(string.format("BENCH %s %d\n", k, v)) end
  for k, v in pairs(merged) do io.write("BENCH status\t", k, "\t", v, "\n") end
  if first and last then io.write(string.format("BENCH drained_s %.6f\n", last - first)) end
  if span then io.write(string.format("BENCH window_s %.6f\n", span)) end
  report_latency(summary, latency)
end
"""
)


@dataclass
class Load:
    """One wrk run of redemptions or bare debits."""

    name: str
    mode: str
    window_s: float | None = None
    sent: int = 0
    received: int = 0
    ok: int = 0  # 201s, all of them
    ok_in_window: int = 0
    per_s: float | None = None  # 201s received within the window, per second
    p50_ms: float | None = None
    p99_ms: float | None = None
    drained_s: float | None = None
    busy_share: float | None = None
    lines_per_cart: float | None = None
    units_per_cart: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    bad_samples: list[str] = field(default_factory=list)
    other_cpu_pct: float | None = None
    # CPU of gunicorn and the database's backends per answer, and how busy the machine was.
    server_cpu_ms: float | None = None
    machine_busy_pct: float | None = None
    # PostgreSQL: the share of active-backend samples waiting for a lock, and on what.
    lock_wait_pct: float | None = None
    lock_waits: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> dict[str, int]:
        return {k: v for k, v in self.statuses.items() if k != "201"}


@dataclass
class BackendRun:
    backend: str
    residents: int = 0
    cashiers: int = 0
    stores: int = 0
    goods: int = 0
    stock_each: int = 0
    setup_s: float = 0.0
    idle_before_pct: float | None = None
    warmups: list[Load] = field(default_factory=list)
    discarded: list[Load] = field(default_factory=list)  # disturbed pairs taken again
    debit: Load | None = None
    redeem: Load | None = None
    ratio: float | None = None
    statements: dict[str, float] = field(default_factory=dict)
    checks: dict[str, int | str] = field(default_factory=dict)
    profile: str | None = None
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    server_log_problems: list[str] = field(default_factory=list)
    worker_restarts: int = 0


# ------------------------------------------------------------------------ setup


def residents_csv(path: Path, count: int) -> None:
    """count valid residents with real-looking names, ID numbers and mobile numbers."""
    rows = (
        [
            SURNAMES[(i // 3) % len(SURNAMES)] + GIVEN[i % len(GIVEN)],
            resident_id(i),
            f"15{i:09d}",
            f"兑换社区{i % COMMUNITIES + 1}",
        ]
        for i in range(count)
    )
    write_csv(path, HEADER[:4], rows)  # name, ID number, mobile, community


def stock_per_goods(duration: int) -> int:
    """Units of every goods: whole donation lines, enough for the ceiling rate."""
    seconds = (1 + MAX_RETRIES) * 2 * duration + 2 * WARMUP_S + 10
    need = seconds * STOCK_RATE_CEILING * max(QUANTITIES)
    return max(50_000, math.ceil(need / MAX_DONATION_LINE) * MAX_DONATION_LINE)


def setup_database(app, workdir: Path, args, run: BackendRun) -> dict:
    """Migrate; places, stations and stores; residents with points; cashiers with tokens;
    goods with stock. Returns what the load generator needs."""
    from sqlalchemy import select

    from timebank.auth.models import Role, User
    from timebank.auth.services import create_user, grant_role
    from timebank.core.db import utcnow
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.regions.models import Region
    from timebank.stations.services import create_station
    from timebank.stores import services as stores
    from timebank.stores.redemptions import ticket_for

    migrate(app)
    csv_path = workdir / f"residents-{run.backend}.csv"
    residents_csv(csv_path, args.residents)
    with app.test_request_context():
        communities = create_district("兑换", COMMUNITIES)
        store_rows = []
        for s in range(args.stores):
            station = create_station(
                SYSTEM, region=communities[s % COMMUNITIES], name=f"兑换服务站{s + 1}"
            )
            store_rows.append(
                stores.create_store(
                    SYSTEM,
                    stores.StoreDetails(
                        name=f"爱心超市{s + 1}号店",
                        station_id=station.id,
                        opening_hours="周二、周五 9:00-11:30",
                    ),
                )
            )
        db.session.commit()

        # Residents: imported as volunteers would be, verified, then given points from
        # their community's allocation budget (one allocation each, as staff would).
        resident_ids = import_verified(csv_path, args.residents, "residents")
        now = utcnow()
        db.session.commit()
        regions = {r.id: r for r in db.session.scalars(select(Region))}
        started = time.monotonic()
        for n, user_id in enumerate(resident_ids, 1):
            person = db.session.get(User, user_id)
            ledger.allocate(
                SYSTEM,
                regions[person.region_id],
                person,
                POINTS_EACH,
                key=f"bench-fund:{user_id}",
                memo="兑换基准积分",
            )
            if n % 500 == 0:
                db.session.commit()
                print(
                    f"[{run.backend}] points for {n:,} residents "
                    f"({time.monotonic() - started:.0f}s)",
                    flush=True,
                )
        db.session.commit()

        # Cashiers: round-robin over the stores, each with its own token.
        password = "Bench-" + secrets.token_urlsafe(18)
        cashiers = []
        for n in range(args.clients):
            store = store_rows[n % len(store_rows)]
            person = create_user(
                SYSTEM, name=f"收银员{n + 1}", password=password, username=f"cashier{n + 1:03d}"
            )
            grant_role(SYSTEM, person, Role.CASHIER, store.id)
            cashiers.append((person.id, n % len(store_rows)))
        db.session.commit()
        plain = issue_tokens([user_id for user_id, _store in cashiers], "redemption-burst", now)

        # Goods: 3 hot, 7 others per store, every one stocked by one donation.
        units = stock_per_goods(args.duration)
        run.stock_each = units
        store_data = []
        for store in store_rows:
            hot, others = [], []
            for rows, into, limit in ((HOT_GOODS, hot, HOT_LIMIT), (OTHER_GOODS, others, None)):
                for name, category, unit, price in rows:
                    goods = stores.add_goods(
                        SYSTEM,
                        store,
                        stores.GoodsDetails(
                            name=name,
                            points_price=price,
                            category=category,
                            unit=unit,
                            limit_quantity=limit,
                            limit_period="month" if limit else None,
                        ),
                    )
                    into.append((goods.id, price))
            stores.receive_donation(
                SYSTEM,
                store,
                donor_kind="business",
                donor_name="基准粮油批发",
                donated_on=stores.local_today(),
                items=[
                    stores.DonationItem(quantity=MAX_DONATION_LINE, goods_id=goods_id)
                    for goods_id, _price in hot + others
                    for _ in range(units // MAX_DONATION_LINE)
                ],
            )
            store_data.append({"id": store.id, "hot": hot, "others": others})
        db.session.commit()
        # What the counter holds after looking the resident up (GET /stores/{id}/residents
        # hands it out): a ticket per store and resident, signed with the server's key.
        people = [db.session.get(User, user_id) for user_id in resident_ids]
        for store, data in zip(store_rows, store_data, strict=True):
            data["tickets"] = [ticket_for(store, person) for person in people]
        run.goods = sum(len(s["hot"]) + len(s["others"]) for s in store_data)
        db.session.remove()
    # Lua indexes from 1: the busy residents as positions in the residents' list.
    busy = list(range(1, len(resident_ids) + 1, max(1, len(resident_ids) // BUSY_RESIDENTS)))
    busy = busy[:BUSY_RESIDENTS]
    return {
        "stores": store_data,
        "cashiers": [
            [token, store_index + 1]
            for (_u, store_index), token in zip(cashiers, plain, strict=True)
        ],
        "residents": resident_ids,
        "busy": busy,
    }


def lua_literal(value) -> str:
    """A Lua literal for nested lists, dicts, numbers and strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # ASCII only here: tokens and paths
    if isinstance(value, list | tuple):
        return "{" + ",".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def write_data_file(path: Path, ids: dict) -> Path:
    data = {
        "paths": PATHS,
        "stores": ids["stores"],
        "cashiers": ids["cashiers"],
        "residents": ids["residents"],
        "busy": ids["busy"],
        "busy_share": BUSY_SHARE,
        "hot_share": HOT_SHARE,
        "hot_pick": HOT_PICK,
        "line_counts": LINE_COUNTS,
        "quantities": QUANTITIES,
    }
    path.write_text("return " + lua_literal(data) + "\n")
    return path


# -------------------------------------------------------------------------- wrk


class LockWaits(ActivitySampler):
    """On PostgreSQL, samples pg_stat_activity every 100 ms during a load: how often an
    active backend of the benchmark's database was waiting for a lock, and in which
    statement (the table it reads or writes)."""

    INTERVAL_S = 0.1
    QUERY = (
        "SELECT wait_event_type, left(query, 1000) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend' AND state = 'active'"
    )

    def __init__(self, url: str | None):
        super().__init__(url)
        self.statements: collections.Counter[str] = collections.Counter()

    @staticmethod
    def label(query: str | None) -> str:
        """The statement's verb and table: "UPDATE goods", "SELECT ledger_account FOR UPDATE"."""
        words = (query or "").split()
        verb = words[0].upper() if words else "?"
        if verb == "UPDATE" and len(words) > 1:
            return f"UPDATE {words[1]}"
        if verb == "INSERT" and len(words) > 2:
            return f"INSERT INTO {words[2]}"
        if verb == "SELECT":
            text = " ".join(words)
            found = re.search(r"\bFROM\s+(\w+)", text, re.IGNORECASE)
            locking = " FOR UPDATE" if "FOR UPDATE" in text.upper() else ""
            return f"SELECT {found.group(1) if found else '?'}{locking}"
        return verb

    def count(self, rows) -> None:
        for wait_type, statement in rows:
            self.active += 1
            if wait_type == "Lock":
                self.waiting += 1
                self.statements[self.label(statement)] += 1

    def top(self, n: int = 4) -> dict[str, float]:
        """The statements found waiting, as a share (%) of active-backend samples."""
        return self.shares(self.statements, n)


def run_load(
    name: str,
    mode: str,
    port: int,
    duration: int,
    clients: int,
    data_file: Path,
    workdir: Path,
    meter_args: tuple[int, str | None],
    seed: int,
    lock_url: str | None = None,
) -> Load:
    """Send requests of one mode over `clients` connections for `duration` seconds, then
    wait for every answer and stop wrk."""
    threads = min(WRK_THREADS, clients)
    marker = workdir / f"done-{secrets.token_hex(4)}"
    key_prefix = f"{mode}-{secrets.token_hex(6)}"
    meter = CpuMeter(*meter_args)
    with LockWaits(lock_url) as locks:
        stdout, stderr = run_wrk_script(
            workdir / "redemption_burst.lua",
            LUA_SCRIPT,
            f"http://{HOST}:{port}{PATHS[mode]}",
            threads,
            clients,
            duration + DRAIN_LIMIT_S,
            WRK_TIMEOUT_S,
            marker,
            [str(data_file), mode, str(duration), str(marker), key_prefix, str(seed)],
        )
    other = meter.other_pct()
    served, busy = meter.served_cpu_s(), meter.machine_busy_pct()
    load = parse_load(name, mode, stdout, stderr)
    load.other_cpu_pct = other
    if load.received:
        load.server_cpu_ms = round(served / load.received * 1000, 2)
    load.machine_busy_pct = busy
    load.lock_wait_pct, load.lock_waits = locks.waiting_pct(), locks.top()
    return load


def parse_load(name: str, mode: str, stdout: str, stderr: str) -> Load:
    values, samples = read_bench_output(stdout)
    load = Load(name, mode, bad_samples=samples)
    for line in stdout.splitlines():
        if line.startswith("BENCH status\t"):  # done()'s answers by status and code
            _tag, key, count = line.split("\t")
            load.statuses[key.strip()] = int(count)
    if "sent" not in values:
        raise BenchError(f"wrk gave no results:\n{stdout}\n{stderr}")
    load.sent, load.received = int(values["sent"]), int(values["received"])
    load.ok, load.ok_in_window = int(values["ok"]), int(values["ok_in_window"])
    load.p50_ms, load.p99_ms, load.socket_errors = wrk_latency(values)
    if "window_s" in values:
        load.window_s = round(float(values["window_s"]), 3)
        load.per_s = round(load.ok_in_window / load.window_s, 1) if load.window_s else None
    if "drained_s" in values:
        load.drained_s = round(float(values["drained_s"]), 3)
    if load.sent:
        load.busy_share = round(int(values["busy"]) / load.sent, 3)
        load.lines_per_cart = round(int(values["lines_sent"]) / load.sent, 2)
        load.units_per_cart = round(int(values["units_sent"]) / load.sent, 2)
    return load


def check_load(run: BackendRun, load: Load, measured: bool = True) -> None:
    if load.errors or load.received != load.sent or load.ok != load.sent:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(load.errors.items()))
        run.failures.append(
            f"{load.name}: {load.ok:,} of {load.sent:,} answered 201"
            + (f"; others {codes}" if codes else "")
            + (f"; {load.sent - load.received} unanswered" if load.received != load.sent else "")
            + (f"; first: {load.bad_samples[0][:160]!r}" if load.bad_samples else "")
        )
    other = load.other_cpu_pct if measured else None
    run.warnings += wrk_warnings(load.name, load.socket_errors, other)


# ---------------------------------------------------------------- invariants


def check_invariants(app, env: dict[str, str], run: BackendRun, redeemed: int, debited: int):
    """The database against the answers: stock, movements, lines, ledger, audit."""
    from sqlalchemy import text

    from timebank.extensions import db

    def scalar(sql: str, **params):
        return db.session.execute(text(sql), params).scalar()

    with app.app_context():
        negative = scalar("SELECT count(*) FROM goods WHERE stock < 0")
        off_sum = scalar(
            "SELECT count(*) FROM goods g WHERE g.stock <> "
            "(SELECT coalesce(sum(m.change), 0) FROM stock_movement m WHERE m.goods_id = g.id)"
        )
        off_last = scalar(
            "SELECT count(*) FROM goods g JOIN stock_movement m ON m.id = "
            "(SELECT max(id) FROM stock_movement WHERE goods_id = g.id) "
            "WHERE m.stock_after <> g.stock"
        )
        broken_chain = scalar(
            "SELECT count(*) FROM (SELECT stock_after, change, lag(stock_after) OVER "
            "(PARTITION BY goods_id ORDER BY id) AS prev FROM stock_movement) AS chain "
            "WHERE prev IS NOT NULL AND stock_after <> prev + change"
        )
        off_units = scalar(
            "SELECT count(*) FROM goods g WHERE (SELECT coalesce(sum(l.quantity), 0) "
            "FROM redemption_line l WHERE l.goods_id = g.id) <> (SELECT "
            "coalesce(-sum(m.change), 0) FROM stock_movement m "
            "WHERE m.goods_id = g.id AND m.kind = 'redemption')"
        )
        redemptions = scalar("SELECT count(*) FROM redemption")
        lines = scalar("SELECT count(*) FROM redemption_line")
        units = scalar("SELECT coalesce(sum(quantity), 0) FROM redemption_line")
        off_points = scalar(
            "SELECT count(*) FROM redemption r WHERE r.points <> (SELECT "
            "coalesce(sum(quantity * points_price), 0) FROM redemption_line "
            "WHERE redemption_id = r.id)"
        )
        off_debit = scalar(
            "SELECT count(*) FROM redemption r WHERE r.transaction_id IS NULL OR r.points <> "
            "(SELECT coalesce(-sum(e.amount), 0) FROM ledger_entry e "
            "WHERE e.transaction_id = r.transaction_id AND e.amount < 0)"
        )
        audited = scalar("SELECT count(*) FROM audit_event WHERE action = 'redemption.create'")
        debits = scalar("SELECT count(*) FROM ledger_transaction WHERE memo = 'bench debit'")
        movements = scalar("SELECT count(*) FROM stock_movement WHERE kind = 'redemption'")
        db.session.remove()

    stock_checks = {
        "goods with negative stock": negative,
        "goods whose stock is not the sum of its movements": off_sum,
        "goods whose stock is not its last movement's stock_after": off_last,
        "movements whose stock_after does not follow from the one before": broken_chain,
        "goods whose redeemed units differ from their redemption movements": off_units,
        "redemptions whose lines do not add up to their points": off_points,
        "redemptions whose ledger debit differs from their points": off_debit,
    }
    run.checks.update(stock_checks)
    run.checks.update(
        {
            "redemption rows": redemptions,
            "redemptions answered 201": redeemed,
            "redemption.create audit lines": audited,
            "bare-debit transactions": debits,
            "bare debits answered 201": debited,
            "redemption lines": lines,
            "units redeemed": units,
            "redemption stock movements": movements,
        }
    )
    assert tuple(stock_checks) == STOCK_CHECKS
    problems = [f"{name}: {value}" for name, value in stock_checks.items() if value]
    if redemptions != redeemed:
        problems.append(f"{redemptions:,} redemption rows for {redeemed:,} answers 201")
    if audited != redemptions:
        problems.append(f"{audited:,} redemption.create audit lines for {redemptions:,} rows")
    if debits != debited:
        problems.append(f"{debits:,} bare-debit transactions for {debited:,} answers 201")
    if movements != lines:
        problems.append(f"{movements:,} redemption movements for {lines:,} lines")

    proc = subprocess.run(
        [venv_tool("flask"), "ledger", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = (proc.stdout + proc.stderr).strip().splitlines()
    run.checks["flask ledger verify"] = (
        f"passed ({out[0].rstrip('.') if out else ''})" if proc.returncode == 0 else "failed"
    )
    if proc.returncode != 0:
        problems.append(f"flask ledger verify failed: {' / '.join(out[-3:])}")
    run.failures += [f"invariant: {p}" for p in problems]


# -------------------------------------------------------------------- in-process


def in_process(app, ids: dict, run: BackendRun, profile: bool) -> tuple[int, int]:
    """Through Flask's test client on the same database: SQL statements per redemption and
    per bare debit, and (with --profile) where a redemption's time goes. Returns the
    (redemptions, debits) answered 201, which the invariants count too."""
    from timebank.extensions import db

    client = app.test_client()
    token, store_index = ids["cashiers"][0]
    store = ids["stores"][store_index - 1]
    hot, others = store["hot"], store["others"]
    residents = ids["residents"]
    made = {"redeem": 0, "debit": 0}

    def send(mode: str, n: int) -> None:
        i = (n * 7919) % len(residents)
        lines = [hot[n % len(hot)], others[n % len(others)]]
        body = {"store_id": store["id"], "user_id": residents[i], "ticket": store["tickets"][i]}
        if mode == "redeem":
            body["lines"] = [{"goods_id": g, "quantity": 1} for g, _price in lines]
        else:
            body["points"] = sum(price for _g, price in lines)
        response = client.post(
            PATHS[mode],
            json=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": f"in-process-{uuid.uuid4()}",
                "Accept": "application/json",
            },
        )
        if response.status_code != 201:
            raise BenchError(f"in-process {mode} answered {response.status_code}: {response.text}")
        made[mode] += 1

    with app.app_context():
        engine = db.engine
    send("redeem", 0)  # warm
    send("debit", 0)
    for mode, label in (("redeem", "redemption"), ("debit", "bare debit")):
        total = after = 0
        with StatementCounter(engine) as counter:
            for n in range(1, STATEMENT_SAMPLE + 1):
                counter.committed = False
                before = counter.after_commit
                send(mode, n)
                after += counter.after_commit - before
            total = counter.count
        run.statements[label] = round(total / STATEMENT_SAMPLE, 1)
        run.statements[f"{label}, after its commit"] = round(after / STATEMENT_SAMPLE, 1)
    if profile:

        def redemptions() -> None:
            for n in range(PROFILE_REDEMPTIONS):
                send("redeem", 100 + n)

        stats = profile_calls(redemptions, cumulative=45, tottime=25)
        run.profile = f"{PROFILE_REDEMPTIONS} redemptions through the test client\n" + stats
    return made["redeem"], made["debit"]


# -------------------------------------------------------------------- benchmark


def bench_backend(database, args: argparse.Namespace, workdir: Path) -> BackendRun:
    run = BackendRun(
        database.name, residents=args.residents, cashiers=args.clients, stores=args.stores
    )
    instance, port, env = server_env(database, workdir, args.workers)
    print(
        f"\n[{database.name}] preparing {args.residents:,} residents, {args.clients} cashiers, "
        f"{args.stores} stores",
        flush=True,
    )
    started = time.monotonic()
    app = make_app(database.url, instance, **server_app_config(env), BENCH_ENDPOINTS=True)
    ids = setup_database(app, workdir, args, run)
    close_app_database(app)
    run.setup_s = round(time.monotonic() - started, 1)
    print(f"[{database.name}] setup took {run.setup_s:.0f}s", flush=True)
    data_file = write_data_file(workdir / f"data-{database.name}.lua", ids)
    redeemed = debited = 0

    def measure(server) -> None:
        meter_args = (server.proc.pid, database.process_title_marker)
        status, body = http(port, "/_bench/bare")
        if status != 200:
            raise BenchError(f"/_bench/bare answered {status}: {body[:200]!r}")

        lock_url = database.url if database.name == "postgresql" else None

        def load(name: str, mode: str, duration: int, seed: int) -> Load:
            print(f"[{database.name}] {name}: {duration}s over {args.clients} connections")
            result = run_load(
                name,
                mode,
                port,
                duration,
                args.clients,
                data_file,
                workdir,
                meter_args,
                seed,
                lock_url,
            )
            print(
                f"[{database.name}]   {result.ok:,} of {result.sent:,} answered 201, "
                f"{result.per_s or 0:,.0f}/s, p50 {result.p50_ms} ms, p99 {result.p99_ms} ms"
                + (f", others {result.errors}" if result.errors else ""),
                flush=True,
            )
            return result

        # Warm-up: every worker imports, compiles and connects before anything is timed.
        for mode in ("debit", "redeem"):
            warm = load(f"warm-up {mode}", mode, WARMUP_S, args.seed + 1)
            check_load(run, warm, measured=False)
            run.warmups.append(warm)
        run.idle_before_pct = idle_pct(1.0)
        pairs = []
        for attempt in range(1 + MAX_RETRIES):
            if args.wait_until > time.monotonic():
                wait_for_idle(args.wait_until)
            debit = load("bare debits", "debit", args.duration, args.seed + 10 * attempt)
            redeem = load("redemptions", "redeem", args.duration, args.seed + 10 * attempt)
            pairs.append((debit, redeem))
            others = (debit.other_cpu_pct, redeem.other_cpu_pct)
            if (
                not may_measure_again(others, attempt, MAX_RETRIES, args.wait_until)
                or debit.errors
                or redeem.errors
            ):
                break
            print(f"[{database.name}] disturbed by other processes; measuring again")
        run.debit, run.redeem = min(
            pairs, key=lambda p: max(p[0].other_cpu_pct or 0, p[1].other_cpu_pct or 0)
        )
        run.discarded = [x for pair in pairs for x in pair if x not in (run.debit, run.redeem)]
        for measured in (run.debit, run.redeem):
            check_load(run, measured)
        for other in run.discarded:
            check_load(run, other, measured=False)
        if run.redeem.per_s and run.debit.per_s:
            run.ratio = round(run.redeem.per_s / run.debit.per_s, 3)
        print(
            f"[{database.name}] redemptions {run.redeem.per_s or 0:,.0f}/s against bare "
            f"debits {run.debit.per_s or 0:,.0f}/s: ratio {run.ratio}",
            flush=True,
        )

    measure_on_gunicorn(run, env, port, workdir, "redemption_burst", measure)
    for result in [*run.warmups, *run.discarded, run.debit, run.redeem]:
        if result is not None:
            redeemed += result.ok if result.mode == "redeem" else 0
            debited += result.ok if result.mode == "debit" else 0
    try:
        more_redeemed, more_debited = in_process(app, ids, run, args.profile)
        redeemed += more_redeemed
        debited += more_debited
        print(f"[{database.name}] checking the database against the answers", flush=True)
        check_invariants(app, env, run, redeemed, debited)
    except BenchError as exc:
        run.failures.append(str(exc))
    finally:
        close_app_database(app)
    return run


# ---------------------------------------------------------------------- reports


TABLE_HEADER = (
    "backend",
    "redemptions/s",
    "p50 ms",
    "p99 ms",
    "bare debits/s",
    "bare p50 ms",
    "bare p99 ms",
    "ratio",
    "server CPU ms",
    "other CPU %",
)


def table_row(run: BackendRun) -> tuple[str, ...]:
    r, d = run.redeem or Load("", ""), run.debit or Load("", "")
    return (
        run.backend,
        fmt(r.per_s, ",.0f"),
        fmt(r.p50_ms, ".1f"),
        fmt(r.p99_ms, ".1f"),
        fmt(d.per_s, ",.0f"),
        fmt(d.p50_ms, ".1f"),
        fmt(d.p99_ms, ".1f"),
        fmt(run.ratio, ".2f"),
        f"{fmt(r.server_cpu_ms, '.1f')}/{fmt(d.server_cpu_ms, '.1f')}",
        other_cpu_cell(*(x.other_cpu_pct for x in (run.debit, run.redeem) if x is not None)),
    )


def notes(run: BackendRun) -> list[str]:
    out = []
    for load in (run.redeem, run.debit):
        if load is None:
            continue
        answers = ", ".join(f"{v:,} × {k}" for k, v in sorted(load.statuses.items()))
        out.append(
            f"{load.name}: {load.sent:,} sent in {load.window_s or 0:.0f}s, answers {answers}"
            + (
                f" (last answer {load.drained_s:.1f}s after the first send)"
                if load.drained_s
                else ""
            )
            + (
                f"; {load.lines_per_cart} lines and {load.units_per_cart} units per cart, "
                f"{load.busy_share:.0%} to the {BUSY_RESIDENTS} busy residents"
                if load.mode == "redeem" and load.busy_share is not None
                else ""
            )
            + (
                f"; server CPU {load.server_cpu_ms:g} ms per answer, machine "
                f"{load.machine_busy_pct:g}% busy"
                if load.server_cpu_ms is not None and load.machine_busy_pct is not None
                else ""
            )
            + (
                f"; active backends waiting for a lock {load.lock_wait_pct:g}% of samples"
                + (
                    " (" + ", ".join(f"`{k}` {v:g}%" for k, v in load.lock_waits.items()) + ")"
                    if load.lock_waits
                    else ""
                )
                if load.lock_wait_pct is not None
                else ""
            )
        )
    if run.statements:
        out.append(
            "SQL statements per request (in-process): "
            + ", ".join(f"{v:g} ({k})" for k, v in run.statements.items())
        )
    for load in run.discarded:
        if load.mode == "redeem":
            continue
        out.append(
            "measured again: a pair disturbed by other processes was discarded "
            f"({load.per_s or 0:,.0f} bare debits/s, other CPU {load.other_cpu_pct or 0:.0f}%)"
        )
    if run.checks:
        c = run.checks
        zero = sum(1 for k in STOCK_CHECKS if c.get(k) == 0)
        out.append(
            f"database afterwards: {zero} of {len(STOCK_CHECKS)} stock and points checks "
            "without a problem; "
            f"{c.get('redemption rows', 0):,} redemption rows and "
            f"{c.get('redemption.create audit lines', 0):,} audit lines for "
            f"{c.get('redemptions answered 201', 0):,} answers 201 (warm-up, re-measured "
            f"and in-process ones included); {c.get('bare-debit transactions', 0):,} "
            f"bare-debit transactions for {c.get('bare debits answered 201', 0):,}; "
            f"{c.get('redemption lines', 0):,} lines ({c.get('units redeemed', 0):,} units), "
            f"{c.get('redemption stock movements', 0):,} redemption movements; "
            f"`flask ledger verify` {c.get('flask ledger verify', 'not run')}"
        )
    out += [f"**Failure:** {f}" for f in run.failures]
    out += [f"Note: {w}" for w in run.warnings]
    return out


def print_report(run: BackendRun) -> None:
    print(f"\n== {run.backend} ({run.residents:,} residents, {run.cashiers} cashiers) ==")
    print_aligned(TABLE_HEADER, [table_row(run)], left=())
    for note in notes(run):
        print(f"- {note}")
    if run.profile:
        print(f"\nprofile ({run.backend}):\n{run.profile}")


def doc_section(runs: list[BackendRun], facts: dict[str, str], args) -> str:
    method = (
        f"Measured {facts['date']} with `bench/redemption_burst.py`. A busy opening hour: "
        f"{args.clients} cashiers, each with their own API bearer token and the cashier role "
        f"on one of {args.stores} stores, send `POST /api/v1/redemptions` over "
        f"{args.clients} concurrent connections for {args.duration} s (wrk "
        f"`-t{WRK_THREADS} -c{args.clients}` with a Lua script that builds every request "
        "and, at the end, stops sending and waits for every answer), each with its own "
        "`Idempotency-Key`. A cart has 1-3 lines of 1-2 units; "
        f"{HOT_SHARE:.0%} of carts hold one of the store's 3 hot items (rice, oil, eggs: "
        f"{facts['stock_each']} units each, a per-month limit that runs its query but never "
        "refuses), the other lines come from 7 other goods. The resident is one of "
        f"{args.residents:,} people with plenty of points, at random, but {BUSY_SHARE:.0%} "
        f"of carts go to {BUSY_RESIDENTS} busy residents, so that counters sometimes queue "
        "on one resident's points row. Each request carries the counter's ticket for the "
        "resident (what the lookup `GET /stores/{id}/residents` hands out; made in setup, "
        "the lookup is not measured). Every answer must be 201. **Baseline**, same run, "
        "same server, same connections, residents and carts: `POST /_bench/debit`, which "
        "authenticates the same way, looks up the store and the resident and checks the "
        "cashier's role and the ticket, then only `ledger.post`s the cart's points from "
        "the resident to the store's sales account under the key. **ratio** = redemptions/s ÷ bare "
        "debits/s: the cost of the redemption's own work (limits, stock UPDATEs, lines, "
        "movements, audit, the larger answer). Throughput counts the 201s within the "
        "duration; p50/p99 are wrk's, and since every connection always has a request "
        "waiting they are mostly queueing: about connections ÷ throughput. *server CPU "
        "ms* (redemption/debit) is the CPU that gunicorn's workers and the database's "
        "backends used per answer. gunicorn runs with the production configuration, "
        f"{args.workers} sync workers, rate limits off; a {WARMUP_S}-second warm-up of each "
        "kind comes first; setup (residents imported and given points with "
        "`ledger.allocate`, cashiers, goods stocked by donation) is not measured. "
        "Afterwards the database is checked against the answers: stock never negative and "
        "equal to the sum of its movements, each movement's stock_after following from the "
        "one before, redeemed units equal to redemption movements, lines adding up to the "
        "points debited, one redemption row and audit line per 201, and `flask ledger "
        "verify`. *other CPU %* (debits/redemptions) is the share of the machine's CPU "
        "that processes other than gunicorn, the database server and wrk used meanwhile; "
        f"above {OTHER_CPU_WARN_PCT:.0f}% a figure is disturbed."
    )
    lines = [
        DOC_START,
        "## Redemption at the counter",
        "",
        wrap(method),
        "",
        "Run it with `.venv/bin/python bench/redemption_burst.py --write-doc` (or `make",
        "bench-redemption`; `--profile` shows where a redemption's time goes); raw results",
        "land in `bench/results/redemption_burst.json`. Findings follow the table.",
        "",
        *machine_lines(facts),
        "",
        *markdown_table(TABLE_HEADER, [table_row(run) for run in runs]),
    ]
    for run in runs:
        lines += ["", f"### {run.backend}", ""]
        for note in notes(run):
            lines += textwrap.wrap(
                note, width=88, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
            )
    lines += ["", DOC_END]
    return "\n".join(lines)


# ------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backends_option(parser)
    parser.add_argument(
        "--duration", type=int, default=30, help="seconds of each measurement (default 30)"
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=50,
        help="cashiers = concurrent connections (default 50)",
    )
    parser.add_argument("--stores", type=int, default=2, help="stores (default 2)")
    parser.add_argument(
        "--residents", type=int, default=3000, help="residents with points (default 3,000)"
    )
    add_workers_option(parser)
    parser.add_argument("--seed", type=int, default=20261201, help="the carts' random seed")
    add_wait_idle_option(parser, "the measurements")
    add_postgres_url_option(parser)
    parser.add_argument(
        "--profile", action="store_true", help="print where a redemption request's time goes"
    )
    add_write_doc_option(parser)
    args = parse_bench_args(parser, argv)
    if not 1 <= args.clients <= 1000:
        parser.error("clients must be 1-1000")
    if not 5 <= args.duration <= 600:
        parser.error("duration must be 5-600 seconds")
    if not 1 <= args.stores <= COMMUNITIES * 4:
        parser.error(f"stores must be 1-{COMMUNITIES * 4}")
    if args.clients < args.stores:
        parser.error("at least one cashier per store")
    if not max(BUSY_RESIDENTS * 10, COMMUNITIES) <= args.residents <= 200_000:
        parser.error(f"residents must be {BUSY_RESIDENTS * 10}-200,000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_signals()
    if not wrk_installed():
        return 2
    runs, versions = run_each_backend(args, bench_backend, BackendRun)
    stock = next((run.stock_each for run in runs if run.stock_each), stock_per_goods(args.duration))
    facts = machine_facts(wrk=wrk_version(), stock_each=f"{stock:,}", **versions)
    for run in runs:
        print_report(run)
    report = {
        "machine": facts,
        "settings": {
            "duration_s": args.duration,
            "clients": args.clients,
            "stores": args.stores,
            "residents": args.residents,
            "workers": args.workers,
            "seed": args.seed,
            "warmup_s": WARMUP_S,
            "busy_residents": BUSY_RESIDENTS,
            "busy_share": BUSY_SHARE,
            "hot_share": HOT_SHARE,
            "line_counts": LINE_COUNTS,
            "quantities": QUANTITIES,
            "wrk_threads": WRK_THREADS,
            "wait_idle_s": args.wait_idle,
        },
        "backends": {run.backend: asdict(run) for run in runs},
    }
    save_results(RESULTS_FILE, report)
    if args.write_doc:
        write_doc_section(doc_section(runs, facts, args), DOC_START, DOC_END, "# Performance\n")
    return exit_status(runs)


if __name__ == "__main__":
    sys.exit(main())
