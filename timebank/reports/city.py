"""A believable city at full scale (`flask demo city`), bulk-loaded for benchmarks and demos.

At scale 1.0 it holds what a city publishes: 383,000 volunteers, 2,780 teams, 26,466
events over two years, 266 community stations, about two million approved service
records (some 7.8 million hours) with their ledger credits, conversions to points, and a
few love supermarkets with donations, households in difficulty and redemptions.

Rows are made by generators and written with executemany (COPY on PostgreSQL) in batches,
so memory stays flat whatever the scale: volunteers are made one at a time, each with
their whole history (attendance, records, credits, conversions), which is what lets each
ledger chain be computed without holding every account's state. Every ledger row is what
`ledger.services.post()` would have written, so `flask ledger verify` accepts the result;
the rollups are rebuilt from the base tables at the end.
"""

import bisect
import random
import resource
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import Date, DateTime, bindparam, inspect, select, text, update
from werkzeug.security import generate_password_hash

from timebank.auth.models import Role, RoleGrant, ScopeKind, User
from timebank.core.db import UTCDateTime, utcnow
from timebank.events.models import Attendance, Event, ServiceRecord, Signup
from timebank.extensions import db
from timebank.ledger.models import GENESIS_HASH, Account, ConversionRate, Entry, Transaction
from timebank.ledger.services import entry_hash, fingerprint, transaction_hash
from timebank.organizations.models import Membership, Organization
from timebank.regions.models import Region
from timebank.reports import rollups
from timebank.stations.models import Station
from timebank.stores.models import (
    Donation,
    DonationLine,
    Goods,
    Household,
    Redemption,
    RedemptionLine,
    StockMovement,
    Store,
)
from timebank.volunteers import identity
from timebank.volunteers.models import Volunteer
from timebank.volunteers.stars import default_thresholds, level_for

# What the city publishes, at scale 1.0.
FULL = {"volunteers": 383_000, "teams": 2_780, "events": 26_466, "stations": 266}
DISTRICTS = 12
BATCH = 5_000  # rows per executemany
COMMIT_EVERY = 200_000  # rows per database transaction: keeps SQLite's WAL file modest
DAYS = 730  # the city's history
POINTS_PER_HOUR = 10

CITY = "滨江市"
DISTRICT_NAMES = [
    "江南区",
    "江北区",
    "城关区",
    "东湖区",
    "西山区",
    "南港区",
    "北塘区",
    "新城区",
    "高新区",
    "临湖区",
    "凤凰区",
    "青山区",
]
FIRST = "东西南北中新金龙凤桂兰梅松福安康宁和清华文明光荣永兴长乐瑞祥丰盛江湖石桥港"
SECOND = "城湖山河桥园林港湾洲坊巷门塘岭溪泉阳华安平兴隆丰源苑庄"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰文辉海燕春梅林云飞鹏"
    "婷雪琴晨宇浩然欣怡子涵梓轩思雨佳琪嘉俊宏斌晓丹凤荣德福淑珍秀兰桂芬永"
)
MOBILE_PREFIXES = ["139", "138", "137", "136", "135", "150", "151", "152", "158", "159"]
MOBILE_PREFIXES += ["186", "187", "188", "130", "131", "132", "155", "156", "185", "133"]
MOBILE_PREFIXES += ["153", "180", "181", "189", "177", "199", "166", "173", "175", "176"]
# Birth places on the ID numbers: the province's capital districts and a few others.
AREAS = ["350102", "350103", "350104", "350111", "350121", "350181", "350203", "350583"]
AREAS += ["360102", "330106", "440106", "110105", "310104", "510107", "420106", "430102"]
TEAM_THEMES = [
    "青年",
    "巾帼",
    "夕阳红",
    "党员先锋",
    "助老",
    "环保",
    "文明交通",
    "关爱儿童",
    "应急救援",
    "医疗义诊",
    "文化",
    "法律援助",
    "邻里互助",
    "心理关爱",
    "助残",
    "平安巡防",
]
EVENTS = {
    "elderly": ["敬老助餐", "独居老人探访", "长者义务理发", "重阳节敬老慰问", "助老健康讲座"],
    "environment": ["垃圾分类宣传", "河道清洁", "社区环境整治", "植树护绿"],
    "community": ["邻里节服务", "文明交通劝导", "防诈骗宣传", "社区议事协商服务"],
    "children": ["四点半课堂辅导", "关爱留守儿童", "暑期托管服务"],
    "health": ["社区义诊", "无偿献血服务", "健康知识宣传"],
    "culture": ["图书角整理", "文化进社区演出", "书法公益课"],
    "disability": ["助残陪伴", "残疾人康复活动协助"],
    "emergency": ["防汛应急值守", "消防安全宣传"],
}
SKILLS = ["", "", "急救", "陪伴老人", "助餐送餐", "义务理发", "心理疏导", "法律咨询", "摄影"]
AVAILABILITY = ["周末", "工作日晚上", "随时", "工作日白天", ""]
GOODS = [
    # name, category, unit, points, limit per month, for households in difficulty only
    ("大米 5kg", "grain_oil", "袋", 50, 1, False),
    ("花生油 1L", "grain_oil", "瓶", 40, 1, False),
    ("挂面 1kg", "food", "包", 10, None, False),
    ("洗衣液 2kg", "daily", "瓶", 25, 2, False),
    ("牙膏牙刷套装", "health", "套", 8, None, False),
    ("学生文具套装", "stationery", "套", 15, None, False),
    ("抽纸 10包", "daily", "提", 12, None, False),
    ("冬季棉被", "daily", "床", 80, 1, True),
]
# Dashboards' demo login, with the password of the small demo.
ADMIN_LOGIN = "cityadmin"


class CityRefused(RuntimeError):
    """The city cannot be generated here; the message says why."""


@dataclass
class Stats:
    rows: dict = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    minutes_approved: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def check_empty() -> None:
    """Refuse a database that was never migrated or already holds data."""
    names = set(inspect(db.engine).get_table_names())
    needed = {"region", "user_account", "ledger_entry", "rollup_service_day", "store"}
    if not needed <= names:
        raise CityRefused("The database has no tables yet: run `flask db upgrade` first.")
    for table in ("region", "user_account", "ledger_transaction"):
        if db.session.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():  # noqa: S608
            raise CityRefused("The database already has data; the city needs an empty one.")


# -- writing --------------------------------------------------------------------------------


class Writer:
    """Buffers rows per table and writes them in batches, in foreign-key order; commits
    every COMMIT_EVERY rows. On PostgreSQL it uses COPY, elsewhere executemany."""

    ORDER = [
        Region,
        User,
        Station,
        Organization,
        RoleGrant,
        Volunteer,
        Membership,
        ConversionRate,
        Event,
        Account,
        Transaction,
        Entry,
        Attendance,
        ServiceRecord,
        Signup,
        Store,
        Goods,
        Household,
        Donation,
        DonationLine,
        Redemption,
        RedemptionLine,
        StockMovement,
    ]

    def __init__(self, connection, stats: Stats, copy: bool):
        self.conn, self.stats, self.copy = connection, stats, copy
        self.buffers = {model.__table__: [] for model in self.ORDER}
        self.pending = self.since_commit = 0
        self.ids = defaultdict(int)

    def next_id(self, model) -> int:
        self.ids[model] += 1
        return self.ids[model]

    def add(self, model, row: dict) -> None:
        self.buffers[model.__table__].append(row)
        self.pending += 1
        if self.pending >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.conn.in_transaction():
            # The driver is handed rows directly: without this BEGIN, SQLite (whose
            # driver-level transactions the app switches off) would commit every row.
            self.conn.begin()
        for table, rows in self.buffers.items():
            if rows:
                self._write(table, rows)
                self.stats.rows[table.name] += len(rows)
                self.since_commit += len(rows)
                rows.clear()
        self.pending = 0
        if self.since_commit >= COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        self.conn.commit()
        self.since_commit = 0

    def _write(self, table, rows: list[dict]) -> None:
        columns = list(rows[0])
        names = ", ".join(f'"{c}"' for c in columns)
        raw = self.conn.connection.dbapi_connection
        pick = itemgetter(*columns)  # every row of a table has the same keys
        if self.copy:
            statement = f"COPY {table.name} ({names}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement) as out:
                for row in rows:
                    out.write_row(pick(row))
            return
        # The driver's own executemany, with values as SQLAlchemy would store them on
        # SQLite (naive UTC text): its per-row parameter processing cost more than the
        # inserts themselves.
        times = [i for i, c in enumerate(columns) if _is_time(table.c[c].type)]
        marks = ", ".join("?" for _c in columns)
        values = []
        for row in rows:
            value = list(pick(row))
            for i in times:
                if value[i] is not None:
                    value[i] = _sqlite_text(value[i])
            values.append(value)
        cursor = raw.cursor()
        try:
            cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)
        finally:
            cursor.close()

    def finish(self) -> None:
        """Write what is left; on PostgreSQL move each id sequence past the ids given."""
        self.flush()
        if self.conn.dialect.name == "postgresql":
            for model, last in self.ids.items():
                table = model.__tablename__
                self.conn.execute(
                    text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n)"),
                    {"t": table, "n": last},
                )
        self.commit()


# -- the generator --------------------------------------------------------------------------


@dataclass(eq=False)
class Place:
    id: int
    level: str
    name: str
    path: str
    parent: "Place | None" = None
    children: list = field(default_factory=list)
    volunteers: range = range(0)  # volunteer numbers living here (communities, summed above)


class City:
    def __init__(self, scale: float, seed: int, writer: Writer, progress):
        self.scale, self.seed, self.w = scale, seed, writer
        self.rng = random.Random(seed)
        self.progress = progress or (lambda stage, done, total: None)
        self.now = utcnow().replace(microsecond=0)
        self.start = self.now - timedelta(days=DAYS)
        self.tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
        self.password = generate_password_hash(_demo_password())
        self.thresholds = default_thresholds()
        self.counts = {k: max(1, round(v * scale)) for k, v in FULL.items()}
        self.counts["volunteers"] = max(20, self.counts["volunteers"])
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            # Templates, formatted per row: what the app's services write in the ledger.
            self.convert_memo = _("%(minutes)d minutes at %(rate)d points per hour")
            self.redeem_memo = _("Redeemed at %(store)s")

    # ---- places

    def regions(self) -> None:
        rng, w = self.rng, self.w
        stations = self.counts["stations"]
        districts = max(1, min(DISTRICTS, round(stations / 22)))
        streets = max(districts, round(stations / 3.1))
        city = self._region("city", CITY, None)
        self.city = city
        self.districts = [
            self._region("district", DISTRICT_NAMES[n], city) for n in range(districts)
        ]
        self.streets = []
        for n in range(streets):
            district = self.districts[n % districts]
            suffix = "镇" if rng.random() < 0.2 else "街道"
            self.streets.append(self._region("street", self._name(district, suffix), district))
        self.communities = []
        for n in range(stations):
            street = self.streets[n % streets] if n < streets else rng.choice(self.streets)
            suffix = "村" if street.name.endswith("镇") and rng.random() < 0.5 else "社区"
            self.communities.append(self._region("community", self._name(street, suffix), street))
        # Volunteers per community: uneven, as real communities are. Numbered in tree
        # order, so that every street's and district's volunteers are one range.
        in_order = [c for d in self.districts for s in d.children for c in s.children]
        weights = [0.4 + rng.random() * 1.2 for _ in in_order]
        total, first = sum(weights), 0
        for n, (community, weight) in enumerate(zip(in_order, weights, strict=True)):
            size = round(self.counts["volunteers"] * weight / total)
            if n == len(in_order) - 1:
                size = self.counts["volunteers"] - first
            community.volunteers = range(first, first + size)
            first += size
        for place in [*self.streets, *self.districts, city]:
            ranges = [c.volunteers for c in place.children if len(c.volunteers)]
            if ranges:
                place.volunteers = range(ranges[0].start, ranges[-1].stop)
        self.in_order = in_order
        w.add(
            ConversionRate,
            {
                "id": w.next_id(ConversionRate),
                "region_id": city.id,
                "points_per_hour": POINTS_PER_HOUR,
                "effective_from": (self.start - timedelta(days=30)).date(),
                "created_by_id": None,
                "created_at": self.start - timedelta(days=30),
            },
        )

    def _region(self, level: str, name: str, parent: Place | None) -> Place:
        region_id = self.w.next_id(Region)
        path = f"{parent.path if parent else '/'}{region_id}/"
        place = Place(region_id, level, name, path, parent)
        if parent:
            parent.children.append(place)
        self.w.add(
            Region,
            {
                "id": region_id,
                "parent_id": parent.id if parent else None,
                "level": level,
                "name": name,
                "code": None,  # a made-up city has no real division codes
                "path": path,
                "created_at": self.start - timedelta(days=60),
            },
        )
        return place

    def _name(self, parent: Place, suffix: str) -> str:
        taken = {c.name for c in parent.children}
        for _attempt in range(200):
            name = self.rng.choice(FIRST) + self.rng.choice(SECOND) + suffix
            if name not in taken:
                return name
        return f"{parent.name[:2]}第{len(parent.children) + 1}{suffix}"

    # ---- people who run things

    def _user(self, name: str, home: Place | None, *, username=None, phone=None, at=None) -> int:
        user_id = self.w.next_id(User)
        self.w.add(
            User,
            {
                "id": user_id,
                "username": username,
                "phone": phone,
                "name": name,
                "password_hash": self.password,
                "active": True,
                "locale": None,
                "region_id": home.id if home else None,
                "session_version": 1,
                "created_at": at or self.start - timedelta(days=45),
                "last_login_at": None,
            },
        )
        return user_id

    def _grant(self, user_id: int, role: Role, scope_kind: ScopeKind, scope_id: int, at) -> None:
        self.w.add(
            RoleGrant,
            {
                "id": self.w.next_id(RoleGrant),
                "user_id": user_id,
                "role": role.value,
                "scope_kind": scope_kind.value,
                "scope_id": scope_id,
                "granted_by_id": None,
                "created_at": at,
            },
        )

    def staff(self) -> None:
        at = self.start - timedelta(days=45)
        self.admin_id = self._user("城市管理员", None, username=ADMIN_LOGIN)
        self._grant(self.admin_id, Role.ADMIN, ScopeKind.REGION, self.city.id, at)
        self.district_admin = {}
        for n, district in enumerate(self.districts):
            user_id = self._user(self._person_name(), district, username=f"district{n + 1:02d}")
            self._grant(user_id, Role.ADMIN, ScopeKind.REGION, district.id, at)
            self.district_admin[district.id] = user_id
        self.station_of, self.staff_of = {}, {}
        for community in self.communities:
            station_id = self.w.next_id(Station)
            self.station_of[community.id] = station_id
            self.w.add(
                Station,
                {
                    "id": station_id,
                    "region_id": community.id,
                    "name": f"{community.name}志愿服务站",
                    "address": f"{community.parent.name}{community.name}党群服务中心一楼",
                    "phone": f"0591-8{7_000_000 + station_id}",
                    "active": True,
                    "created_at": at,
                },
            )
            staff_id = self._user(self._person_name(), community, username=f"staff{station_id}")
            self._grant(staff_id, Role.STATION_STAFF, ScopeKind.STATION, station_id, at)
            self.staff_of[station_id] = staff_id

    def teams(self) -> None:
        """Teams mostly at streets, some in communities or for a whole district; each with
        a leader chosen among the volunteers living there."""
        rng, w = self.rng, self.w
        self.teams_near = defaultdict(list)  # street or district id -> [team]
        self.leader_of = {}  # volunteer number -> team
        self.team_list = []
        names = defaultdict(set)
        for _n in range(self.counts["teams"]):
            roll = rng.random()
            if roll < 0.7:
                place = rng.choice(self.streets)
            elif roll < 0.9:
                place = rng.choice(self.communities)
            else:
                place = rng.choice(self.districts)
            theme = rng.choice(TEAM_THEMES)
            social = rng.random() < 0.1
            short = place.name[:-2] if place.name.endswith(("街道", "社区")) else place.name[:-1]
            base = f"{short}{theme}" + ("社会工作服务中心" if social else "志愿服务队")
            name, k = base, 1
            while name in names[place.id]:
                k += 1
                name = f"{base}{k}分队" if not social else f"{base}{k}"
            names[place.id].add(name)
            team = SimpleNamespace(id=w.next_id(Organization), place=place, name=name, leader=None)
            self.team_list.append(team)
            w.add(
                Organization,
                {
                    "id": team.id,
                    "region_id": place.id,
                    "name": name,
                    "kind": "social_org" if social else "team",
                    "description": f"{name}，服务{place.name}居民。",
                    "active": True,
                    "created_at": self.start - timedelta(days=rng.randrange(30, 400)),
                },
            )
            near = place.parent if place.level == "community" else place
            self.teams_near[near.id].append(team)
            people = place.volunteers
            for _attempt in range(5):
                if not len(people):
                    break
                candidate = rng.choice(people)
                if candidate not in self.leader_of:
                    self.leader_of[candidate] = team
                    team.leader = self.first_volunteer_user + candidate
                    break

    # ---- events

    def events(self) -> None:
        """Events over two years, in date order (ids follow the date); mostly finished."""
        rng, w = self.rng, self.w
        made = []
        span = (self.now + timedelta(days=30) - self.start).days
        for _n in range(self.counts["events"]):
            if rng.random() < 0.4:
                community = rng.choice(self.communities)
                organizer = ("station", self.station_of[community.id], community)
            else:
                team = rng.choice(self.team_list)
                organizer = ("team", team, team.place)
            day = self.start.date() + timedelta(days=rng.randrange(span))
            while day.weekday() < 5 and rng.random() < 0.4:  # weekends are busier
                day = self.start.date() + timedelta(days=rng.randrange(span))
            hour = rng.choice((8, 9, 9, 10, 14, 14, 15))
            local = datetime(
                day.year, day.month, day.day, hour, rng.choice((0, 30)), tzinfo=self.tz
            )
            hours = rng.choice((2, 3, 3, 4, 4, 4, 5, 5, 6, 8))
            starts = local.astimezone(UTC)
            made.append((starts, hours, organizer, rng.choice(list(EVENTS))))
        made.sort(key=lambda e: e[0])
        self.pool = defaultdict(lambda: ([], []))  # street/district id -> (starts, events)
        self.upcoming = []
        for n, (starts, hours, organizer, category) in enumerate(made):
            self.progress("events", n + 1, len(made))
            kind, who, place = organizer
            ends = starts + timedelta(hours=hours)
            event_id = w.next_id(Event)
            if kind == "station":
                station_id, organization_id = who, None
                approver = self.staff_of[who]
                short = place.name[:-2]
            else:
                station_id, organization_id = None, who.id
                approver = who.leader or self._admin_above(place)
                short = who.name.removesuffix("志愿服务队").removesuffix("社会工作服务中心")
            title = f"{short}{rng.choice(EVENTS[category])}"
            if ends < self.now:
                state = "cancelled" if rng.random() < 0.01 else "finished"
            else:
                state = "published"
            w.add(
                Event,
                {
                    "id": event_id,
                    "station_id": station_id,
                    "organization_id": organization_id,
                    "region_id": place.id,
                    "title": title[:120],
                    "description": f"{title}。请提前十分钟到场签到，结束后签退。",
                    "category": category,
                    "address": f"{place.name}党群服务中心",
                    "latitude": None,
                    "longitude": None,
                    "radius_m": None,
                    "starts_at": starts,
                    "ends_at": ends,
                    "capacity": None,
                    "signup_opens_at": starts - timedelta(days=14),
                    "signup_closes_at": starts,
                    "cancel_before_minutes": 120,
                    "audience": "public",
                    "walk_ins": True,
                    "rounding": "half_hour",
                    "grace_minutes": 15,
                    "max_minutes": None,
                    "state": state,
                    "cancel_reason": "天气原因，活动取消。" if state == "cancelled" else "",
                    "qr_handle": f"{rng.getrandbits(64):016X}",
                    "qr_secret": secrets.token_hex(32),
                    "previous_qr_secret": None,
                    "created_by_id": approver,
                    "created_at": starts - timedelta(days=rng.randrange(3, 20)),
                    "updated_at": min(ends, self.now),
                },
            )
            info = (event_id, place.id, station_id, organization_id, starts, ends, title, approver)
            if state == "finished":
                near = place.parent if place.level == "community" else place
                starts_list, events = self.pool[near.id]
                starts_list.append(starts)
                events.append(info)
            elif state == "published":
                self.upcoming.append((info, place))

    def _admin_above(self, place: Place) -> int:
        while place.parent is not None and place.parent.parent is not None:
            place = place.parent
        return self.district_admin.get(place.id, self.admin_id)

    # ---- volunteers and their history

    def _person(self, number: int, community: Place) -> SimpleNamespace:
        """Who volunteer `number` is, from a generator of their own: the same in the pass
        that writes people and the one that writes their history, whatever came before."""
        rng = random.Random(self.seed * 1_000_003 + number)
        registered = self.start + timedelta(
            days=rng.uniform(-365, DAYS - 3), seconds=rng.randrange(86400)
        )
        registered = min(registered, self.now - timedelta(days=1))
        roll = rng.random()
        status = "pending" if roll < 0.05 else "suspended" if roll < 0.07 else "verified"
        if number in self.leader_of:
            status = "verified"
        verified_at = min(
            registered + timedelta(days=rng.uniform(0, 10)), self.now - timedelta(hours=1)
        )
        return SimpleNamespace(
            rng=rng,
            user_id=self.first_volunteer_user + number,
            name=self._person_name(rng),
            registered=registered,
            status=status,
            verified_at=verified_at,
            last_login=self.now - timedelta(days=rng.randrange(1, 200))
            if rng.random() < 0.6
            else None,
            staff_id=self.staff_of[self.station_of[community.id]],
        )

    def people(self) -> None:
        """Every volunteer's user row and role grants, before events name their leaders."""
        w, total, done = self.w, self.counts["volunteers"], 0
        for community in self.in_order:
            for number in community.volunteers:
                person = self._person(number, community)
                user_id = w.next_id(User)
                assert user_id == person.user_id, "volunteers' user ids must follow their numbers"
                w.add(
                    User,
                    {
                        "id": user_id,
                        "username": None,
                        "phone": self._mobile(number),
                        "name": person.name,
                        "password_hash": self.password,
                        "active": True,
                        "locale": None,
                        "region_id": community.id,
                        "session_version": 1,
                        "created_at": person.registered,
                        "last_login_at": person.last_login,
                    },
                )
                at = person.registered
                self._grant(user_id, Role.VOLUNTEER, ScopeKind.REGION, community.id, at)
                if (led := self.leader_of.get(number)) is not None:
                    self._grant(user_id, Role.TEAM_LEADER, ScopeKind.ORGANIZATION, led.id, at)
                done += 1
                if done % 5000 == 0 or done == total:
                    self.progress("people", done, total)

    def volunteers(self) -> None:
        """Each volunteer's profile with their whole history, one volunteer at a time."""
        self.accounts()
        total, done = self.counts["volunteers"], 0
        for community in self.in_order:
            street = community.parent
            for number in community.volunteers:
                self._volunteer(number, community, street, street.parent)
                done += 1
                if done % 1000 == 0 or done == total:
                    self.progress("volunteers", done, total)

    def accounts(self) -> None:
        """Every region's issuance account, and the city's exchange (the rate is the city's)."""
        at = self.start - timedelta(days=30)
        self.issuance = {}
        for place in [self.city, *self.districts, *self.streets, *self.communities]:
            owner = f"region:{place.id}"
            self.issuance[place.id] = self._account("issuance", "minutes", owner, place.id, at)
        owner = f"region:{self.city.id}"
        self.exchange = (
            self._account("conversion", "minutes", owner, self.city.id, at),
            self._account("conversion", "points", owner, self.city.id, at),
        )

    def _account(self, kind: str, currency: str, owner_key: str, region_id: int, at) -> int:
        """A system account: aggregated, so it keeps no balance or chain on its row."""
        account_id = self.w.next_id(Account)
        self.w.add(
            Account,
            {
                "id": account_id,
                "kind": kind,
                "currency": currency,
                "owner_key": owner_key,
                "user_id": None,
                "region_id": region_id,
                "aggregated": True,
                "balance": 0,
                "last_seq": 0,
                "last_hash": GENESIS_HASH,
                "created_at": at,
            },
        )
        return account_id

    def _volunteer(self, number: int, community: Place, street: Place, district: Place) -> None:
        w, person = self.w, self._person(number, community)
        rng, user_id = person.rng, person.user_id
        # Teams: a leader leads theirs; about a third of the others belong to one nearby.
        teams = []
        if (led := self.leader_of.get(number)) is not None:
            teams.append((led, "leader"))
        if rng.random() < 0.3:
            near = self.teams_near[street.id if rng.random() < 0.85 else district.id]
            if near and (team := rng.choice(near)) is not led:
                teams.append((team, "member"))
        for team, role in teams:
            w.add(
                Membership,
                {
                    "id": w.next_id(Membership),
                    "organization_id": team.id,
                    "user_id": user_id,
                    "role": role,
                    "joined_at": person.registered + timedelta(days=rng.uniform(0, 30)),
                },
            )
        lifetime = 0
        if person.status != "pending" and rng.random() < 0.75:
            lifetime = self._history(person, community, street, district)
        number_text, born, gender = self._resident_id(number)
        known = person.status != "pending"
        w.add(
            Volunteer,
            {
                "id": w.next_id(Volunteer),
                "user_id": user_id,
                "region_id": community.id,
                "document_type": "resident_id",
                "document_cipher": identity.encrypt(number_text),
                "document_hash": identity.document_hash("resident_id", number_text),
                "document_tail": number_text[-4:],
                "birth_date": born,
                "gender": gender,
                "skills": ",".join(sorted({rng.choice(SKILLS), rng.choice(SKILLS)} - {""})),
                "availability": rng.choice(AVAILABILITY),
                "status": person.status,
                "status_reason": "长期未参加活动，暂停" if person.status == "suspended" else "",
                "status_changed_at": person.verified_at if known else None,
                "verified_at": person.verified_at if known else None,
                "verified_by_id": person.staff_id if known else None,
                "consent_version": current_app.config["PRIVACY_NOTICE_VERSION"],
                "consent_at": person.registered,
                "guardian_consent_at": None,
                "guardian_name": None,
                "guardian_phone": None,
                "star_level": level_for(lifetime, self.thresholds),
                "qr_handle": f"{rng.getrandbits(64):016X}",
                "card_version": 1,
                "card_issued_at": person.registered,
                "source": rng.choice(("self", "self", "self", "staff", "import")),
                "created_at": person.registered,
            },
        )

    def _history(self, person, community: Place, street: Place, district: Place) -> int:
        """Attendance, service records, credits and conversions of one volunteer, in time
        order, with their ledger chains; returns the approved minutes."""
        rng, w, user_id, registered = person.rng, self.w, person.user_id, person.registered
        # Most serve a few times; a long tail serves every week (and earns stars).
        wanted = min(300, int(3.1 * rng.paretovariate(1.6)))
        picks = []
        for place, share in ((street, 0.85), (district, 0.15)):
            starts, events = self.pool[place.id]
            first = bisect.bisect_left(starts, registered)
            k = min(len(events) - first, round(wanted * share))
            if k > 0:
                picks += [events[i] for i in rng.sample(range(first, len(events)), k)]
        if not picks:
            return 0
        picks.sort(key=lambda e: e[4])
        records, credits = [], []  # credits: (time, record row, minutes, memo, region, actor)
        for (
            event_id,
            region_id,
            station_id,
            _organization,
            starts,
            ends,
            title,
            approver,
        ) in picks:
            span = int((ends - starts).total_seconds() // 60)
            minutes = max(30, span - 30 * rng.choice((0, 0, 0, 0, 1, 1, 2)))
            checked_in = starts + timedelta(minutes=rng.randint(-10, 12))
            flagged = rng.random() < 0.02
            if flagged:
                checked_out, out_via = ends, "auto"
                minutes = span
            else:
                checked_out = min(
                    ends + timedelta(minutes=15),
                    checked_in + timedelta(minutes=minutes + rng.randint(0, 20)),
                )
                out_via = rng.choice(("kiosk", "kiosk", "kiosk", "poster", "phone_code"))
            in_via = rng.choice(
                ("kiosk", "kiosk", "kiosk", "poster", "phone_code", "card", "staff")
            )
            attendance_id = w.next_id(Attendance)
            w.add(
                Attendance,
                {
                    "id": attendance_id,
                    "event_id": event_id,
                    "user_id": user_id,
                    "checked_in_at": checked_in,
                    "check_in_via": in_via,
                    "checked_in_by_id": approver
                    if in_via in ("phone_code", "card", "staff")
                    else None,
                    "checked_out_at": checked_out,
                    "check_out_via": out_via,
                    "checked_out_by_id": approver if out_via == "phone_code" else None,
                    "minutes": minutes,
                    "flagged": flagged,
                },
            )
            decided = ends + timedelta(seconds=rng.randrange(2 * 3600, 120 * 3600))
            if approver == user_id:  # nobody approves their own hours
                approver = self._admin_above(street)
            state = (
                "pending"
                if decided > self.now
                else "rejected"
                if rng.random() < 0.004
                else "approved"
            )
            record_id = w.next_id(ServiceRecord)
            served_on = starts.astimezone(self.tz).date()
            row = {
                "id": record_id,
                "user_id": user_id,
                "event_id": event_id,
                "attendance_id": attendance_id,
                "staff_entry_id": None,
                "corrects_id": None,
                "station_id": station_id,
                "region_id": region_id,
                "served_on": served_on,
                "minutes": minutes,
                "description": title,
                "state": state,
                "flagged": flagged,
                "flag_reason": "no_check_out" if flagged else "",
                "created_by_id": None,
                "created_at": checked_out,
                "decided_by_id": None if state == "pending" else approver,
                "decided_at": None if state == "pending" else decided,
                "reason": "签到记录与现场核实不符" if state == "rejected" else "",
                "transaction_id": None,  # set when credited below
            }
            records.append(row)
            if state == "approved":
                credits.append((decided, row, minutes, title[:200], region_id, approver))
        if not credits:
            for row in records:
                w.add(ServiceRecord, row)
            return 0
        credits.sort(key=lambda credit: credit[0])
        hours = self._chain_account(user_id, community, "hours", credits[0][0])
        points = None
        lifetime = 0
        convert_at = set()
        if len(credits) > 3 and rng.random() < 0.15:
            convert_at = set(rng.sample(range(1, len(credits)), min(2, len(credits) - 1)))
        for n, (at, row, minutes, memo, region_id, actor) in enumerate(credits):
            if n in convert_at and hours.balance >= 120:
                later = credits[n][0]
                earlier = credits[n - 1][0]
                when = (earlier + (later - earlier) * rng.uniform(0.2, 0.8)).replace(microsecond=0)
                if points is None:
                    points = self._chain_account(user_id, community, "points", when)
                self._convert(user_id, community, hours, points, when)
            asked = {"volunteer": user_id, "region": region_id, "minutes": minutes, "memo": memo}
            row["transaction_id"] = tx_id = w.next_id(Transaction)
            self._post(
                tx_id,
                "service_credit",
                f"service-record:{row['id']}",
                fingerprint("service_credit", asked),
                actor,
                memo,
                at,
                region_id,
                [(self.issuance[region_id], -minutes, None), (hours.id, minutes, hours)],
            )
            lifetime += minutes
        self.w.stats.minutes_approved += lifetime
        for row in records:  # after their transactions, which they reference
            w.add(ServiceRecord, row)
        self._close_account(hours)
        if points is not None:
            self._close_account(points)
        return lifetime

    # Accounts whose rows are written once their chain is complete: they are inserted
    # before the entries that reference them, in the same flush.

    def _chain_account(self, user_id, community, kind, at):
        account = SimpleNamespace(
            id=self.w.next_id(Account),
            kind=kind,
            user_id=user_id,
            region_id=community.id,
            created_at=at,
            seq=0,
            balance=0,
            last=GENESIS_HASH,
            entries=[],
        )
        return account

    def _close_account(self, account) -> None:
        self.w.add(
            Account,
            {
                "id": account.id,
                "kind": account.kind,
                "currency": "minutes" if account.kind == "hours" else "points",
                "owner_key": f"user:{account.user_id}",
                "user_id": account.user_id,
                "region_id": account.region_id,
                "aggregated": False,
                "balance": account.balance,
                "last_seq": account.seq,
                "last_hash": account.last,
                "created_at": account.created_at,
            },
        )
        for row in account.entries:
            self.w.add(Entry, row)
        account.entries = []

    def _post(self, tx_id, kind, key, print_, actor, memo, at, region_id, legs) -> None:
        """One transaction as post() writes it; legs are (account id, amount, chain or None)."""
        pairs = [(account_id, amount) for account_id, amount, _chain in legs]
        tx = SimpleNamespace(
            kind=kind,
            idempotency_key=key,
            fingerprint=print_,
            actor_id=actor,
            memo=memo,
            created_at=at,
            reverses_id=None,
        )
        tx.hash = transaction_hash(tx, pairs)
        self.w.add(Transaction, {"id": tx_id, "region_id": region_id, **vars(tx)})
        for account_id, amount, chain in sorted(legs, key=lambda leg: leg[0]):
            row = {
                "id": self.w.next_id(Entry),
                "transaction_id": tx_id,
                "account_id": account_id,
                "amount": amount,
                "seq": None,
                "balance_after": None,
                "prev_hash": None,
                "hash": None,
            }
            if chain is not None:
                chain.seq += 1
                chain.balance += amount
                assert chain.balance >= 0, "a generated chain went below zero"
                chained = entry_hash(
                    chain.last, tx.hash, account_id, amount, chain.seq, chain.balance
                )
                row.update(
                    seq=chain.seq, balance_after=chain.balance, prev_hash=chain.last, hash=chained
                )
                chain.last = chained
                # Held until the account row is written (it must come first).
                chain.entries.append(row)
            else:
                self.w.add(Entry, row)

    def _convert(self, user_id, community, hours, points, when) -> None:
        spent = (hours.balance // 2) // 60 * 60
        earned = spent * POINTS_PER_HOUR // 60
        tx_id = self.w.next_id(Transaction)
        self._post(
            tx_id,
            "conversion",
            f"city:convert:{user_id}:{hours.seq}",
            fingerprint("conversion", {"user": user_id, "minutes": spent}),
            user_id,
            self.convert_memo % {"minutes": spent, "rate": POINTS_PER_HOUR},
            when,
            community.id,
            [
                (hours.id, -spent, hours),
                (self.exchange[0], spent, None),
                (self.exchange[1], -earned, None),
                (points.id, earned, points),
            ],
        )

    # ---- love supermarkets

    def stores(self) -> None:
        """A store in about one community in five: goods, donations, households in
        difficulty with monthly points, and redemptions by people who converted hours."""
        self.w.flush()  # the points accounts read below are in the database by now
        chosen = self.rng.sample(self.communities, max(1, round(len(self.communities) / 5)))
        for n, community in enumerate(sorted(chosen, key=lambda c: c.id)):
            self._store(community)
            self.progress("stores", n + 1, len(chosen))

    def _store(self, community: Place) -> None:
        rng, w = self.rng, self.w
        opened = self.start + timedelta(days=rng.randrange(0, 60))
        station_id = self.station_of[community.id]
        staff_id = self.staff_of[station_id]
        store = SimpleNamespace(id=w.next_id(Store), name=f"{community.name[:-2]}爱心超市")
        w.add(
            Store,
            {
                "id": store.id,
                "region_id": community.id,
                "station_id": station_id,
                "name": store.name,
                "address": f"{community.name}党群服务中心一楼东侧",
                "opening_hours": "周二、周五 9:00-11:30，周六 14:30-17:00",
                "phone": f"0591-8{7_100_000 + store.id}",
                "active": True,
                "created_at": opened,
            },
        )
        cashier = self._user(self._person_name(), community, username=f"cashier{store.id}")
        self._grant(cashier, Role.CASHIER, ScopeKind.STORE, store.id, opened)
        sales = self._account("sales", "points", f"store:{store.id}", community.id, opened)
        goods = [
            SimpleNamespace(
                id=w.next_id(Goods),
                n=n,
                name=name,
                category=category,
                unit=unit,
                price=price,
                limit=limit,
                difficulty=difficulty,
                sold=[0, 0],
            )
            for n, (name, category, unit, price, limit, difficulty) in enumerate(GOODS)
        ]
        # Who spends points here: people of the community who converted hours (their
        # chains go on from where the volunteer pass left them), and households in
        # difficulty who receive monthly points.
        holders = {}
        found = w.conn.execute(
            select(
                Account.id,
                Account.user_id,
                Account.balance,
                Account.last_seq,
                Account.last_hash,
                Transaction.created_at,
            )
            .join(Entry, (Entry.account_id == Account.id) & (Entry.seq == Account.last_seq))
            .join(Transaction, Transaction.id == Entry.transaction_id)
            .where(
                Account.region_id == community.id, Account.kind == "points", Account.balance >= 8
            )
            .order_by(Account.id)
            .limit(300)
        )
        for row in found:
            holders[row.user_id] = SimpleNamespace(
                id=row.id,
                user_id=row.user_id,
                seq=row.last_seq,
                balance=row.balance,
                last=row.last_hash,
                entries=[],
                since=row.created_at,
                household=False,
                new=False,
            )
        allocation = None
        plan = []  # (time, kind, holder, detail)
        for _n in range(3):
            user_id = self._user(
                self._person_name(),
                community,
                # Past the volunteers' numbers, so never one of their mobiles.
                phone=self._mobile(self.counts["volunteers"] + w.ids[Household]),
                at=opened,
            )
            monthly = rng.choice((100, 150, 200))
            holder = self._chain_account(user_id, community, "points", opened)
            holder.household, holder.new, holder.since = True, True, opened
            holders[user_id] = holder
            w.add(
                Household,
                {
                    "id": w.next_id(Household),
                    "user_id": user_id,
                    "region_id": community.id,
                    "reason": rng.choice(("低保户", "特困供养", "残疾人家庭", "独居老人")),
                    "monthly_points": monthly,
                    "active": True,
                    "added_by_id": staff_id,
                    "created_at": opened,
                },
            )
            if allocation is None:
                owner = f"region:{community.id}"
                allocation = self._account("allocation", "points", owner, community.id, opened)
            # The last twelve calendar months, granted early in each month.
            this_month = self.now.astimezone(self.tz).date().replace(day=1)
            for back in range(12, 0, -1):
                year, month = divmod(this_month.year * 12 + this_month.month - 1 - back, 12)
                day = datetime(year, month + 1, rng.randint(3, 8), 10, tzinfo=self.tz)
                plan.append((day.astimezone(UTC), "allocate", holder, monthly))
        for holder in holders.values():
            tries = 6 if holder.household else rng.randint(1, 3)
            since = max(holder.since, opened)
            for _try in range(tries):
                if since >= self.now - timedelta(days=1):
                    break
                since = since + (self.now - since) * rng.uniform(0.05, 0.5)
                since = since.replace(microsecond=0)
                plan.append((since, "redeem", holder, None))
        plan.sort(key=lambda p: (p[0], p[2].id))
        taken = defaultdict(int)  # (user, goods, month) -> quantity, for the monthly limits
        redemptions = []
        for at, kind, holder, detail in plan:
            if kind == "allocate":
                month = at.astimezone(self.tz)
                key = f"city:allocation:{community.id}:{month:%Y-%m}:{holder.user_id}"
                memo = f"{month:%Y-%m} 困难群众积分"
                asked = {
                    "region": community.id,
                    "person": holder.user_id,
                    "points": detail,
                    "memo": memo,
                }
                self._post(
                    w.next_id(Transaction),
                    "allocation",
                    key,
                    fingerprint("allocation", asked),
                    staff_id,
                    memo,
                    at,
                    community.id,
                    [(allocation, -detail, None), (holder.id, detail, holder)],
                )
                continue
            month = at.astimezone(self.tz).strftime("%Y-%m")
            cart = {}
            for item in rng.sample(goods, rng.randint(1, 2)):
                if item.difficulty and not holder.household:
                    continue
                if item.limit and taken[holder.user_id, item.id, month] + 1 > item.limit:
                    continue
                cart[item.id] = 1
            total = sum(g.price for g in goods if g.id in cart)
            if not cart or total > holder.balance:
                continue
            for item in goods:
                if item.id in cart:
                    taken[holder.user_id, item.id, month] += 1
                    item.sold[0 if at < self.now - timedelta(days=DAYS // 2) else 1] += 1
            redemption_id = w.next_id(Redemption)
            key = f"city:redemption:{store.id}:{redemption_id}"
            asked = {"store": store.id, "user": holder.user_id, "cart": sorted(cart.items())}
            print_ = fingerprint("redemption", asked)
            tx_id = w.next_id(Transaction)
            self._post(
                tx_id,
                "redemption",
                f"redemption:{key}",
                print_,
                cashier,
                (self.redeem_memo % {"store": store.name})[:200],
                at,
                community.id,
                [(holder.id, -total, holder), (sales, total, None)],
            )
            redemptions.append((redemption_id, at, holder.user_id, cart, total, key, print_, tx_id))
        self._stock(store, goods, opened, cashier, redemptions)
        moved = []
        for holder in holders.values():
            if holder.new:
                self._close_account(holder)
            elif holder.entries:
                for row in holder.entries:
                    w.add(Entry, row)
                moved.append(
                    {"account": holder.id, "b": holder.balance, "s": holder.seq, "h": holder.last}
                )
        if moved:
            w.flush()
            w.conn.execute(
                update(Account)
                .where(Account.id == bindparam("account"))
                .values(balance=bindparam("b"), last_seq=bindparam("s"), last_hash=bindparam("h")),
                moved,
            )

    def _stock(self, store, goods, opened, cashier, redemptions) -> None:
        """Goods with the stock left, the donations that filled the shelves (at opening and
        halfway), the redemptions, and every movement with the stock it left."""
        rng, w = self.rng, self.w
        halfway = self.now - timedelta(days=DAYS // 2)
        stock = {}
        for item in goods:
            item.first = item.sold[0] + rng.randint(5, 30)
            item.second = item.sold[1] + rng.randint(5, 30)
            stock[item.id] = item.first + item.second - sum(item.sold)
            w.add(
                Goods,
                {
                    "id": item.id,
                    "store_id": store.id,
                    "name": item.name,
                    "category": item.category,
                    "unit": item.unit,
                    "barcode": _ean13(f"69{store.id:05d}{item.n + 1:05d}"),
                    "points_price": item.price,
                    "stock": stock[item.id],
                    "low_stock": 5,
                    "limit_quantity": item.limit,
                    "limit_period": "month" if item.limit else None,
                    "eligibility": "difficulty" if item.difficulty else "everyone",
                    "active": True,
                    "photo": None,
                    "photo_type": None,
                    "created_at": opened,
                },
            )
        level = dict.fromkeys(stock, 0)
        donations = [(opened + timedelta(hours=1), "first"), (max(opened, halfway), "second")]
        events = [(at, 0, ("donation", part)) for at, part in donations]
        events += [(r[1], 1, ("redemption", r)) for r in redemptions]
        for at, _order, (kind, detail) in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == "donation":
                donation_id = w.next_id(Donation)
                day = at.astimezone(self.tz).date()
                lines = [(item, getattr(item, detail)) for item in goods]
                w.add(
                    Donation,
                    {
                        "id": donation_id,
                        "store_id": store.id,
                        "serial": f"JZ{store.id:04d}-{day:%Y%m%d}-{donation_id:06d}",
                        "donor_kind": rng.choice(("business", "organization", "anonymous")),
                        "donor_name": rng.choice(("爱心粮油店", "区慈善总会", "")),
                        "donor_phone": "",
                        "donated_on": day,
                        "value_fen": sum(q * 1500 for _item, q in lines),
                        "note": "爱心捐赠",
                        "received_by_id": cashier,
                        "request_key": None,
                        "created_at": at,
                    },
                )
                for item, quantity in lines:
                    w.add(
                        DonationLine,
                        {
                            "id": w.next_id(DonationLine),
                            "donation_id": donation_id,
                            "goods_id": item.id,
                            "quantity": quantity,
                            "value_fen": quantity * 1500,
                        },
                    )
                    level[item.id] += quantity
                    self._movement(
                        store,
                        item,
                        "donation",
                        quantity,
                        level,
                        at,
                        cashier,
                        donation_id=donation_id,
                    )
                continue
            redemption_id, at, user_id, cart, total, key, print_, tx_id = detail
            day = at.astimezone(self.tz).date()
            w.add(
                Redemption,
                {
                    "id": redemption_id,
                    "store_id": store.id,
                    "user_id": user_id,
                    "serial": f"DH{store.id:04d}-{day:%Y%m%d}-{redemption_id:06d}",
                    "idempotency_key": key,
                    "fingerprint": print_,
                    "points": total,
                    "state": "completed",
                    "cashier_id": cashier,
                    "transaction_id": tx_id,
                    "created_at": at,
                    "cancelled_at": None,
                    "cancelled_by_id": None,
                    "cancel_reason": "",
                    "cancel_transaction_id": None,
                },
            )
            for item in goods:
                if item.id in cart:
                    w.add(
                        RedemptionLine,
                        {
                            "id": w.next_id(RedemptionLine),
                            "redemption_id": redemption_id,
                            "goods_id": item.id,
                            "user_id": user_id,
                            "quantity": cart[item.id],
                            "points_price": item.price,
                        },
                    )
                    level[item.id] -= cart[item.id]
                    self._movement(
                        store,
                        item,
                        "redemption",
                        -cart[item.id],
                        level,
                        at,
                        cashier,
                        redemption_id=redemption_id,
                    )
        assert level == stock, "the stock movements do not add up to the stock left"

    def _movement(self, store, item, kind, change, level, at, cashier, **links) -> None:
        assert level[item.id] >= 0, "generated stock went below zero"
        self.w.add(
            StockMovement,
            {
                "id": self.w.next_id(StockMovement),
                "store_id": store.id,
                "goods_id": item.id,
                "kind": kind,
                "change": change,
                "stock_after": level[item.id],
                "reason": "",
                "note": "",
                "donation_id": links.get("donation_id"),
                "redemption_id": links.get("redemption_id"),
                "actor_id": cashier,
                "created_at": at,
            },
        )

    # ---- sign-ups for what is coming

    def signups(self) -> None:
        """Upcoming events have people signed up from around them."""
        rng, w = self.rng, self.w
        for info, place in self.upcoming:
            event_id, starts = info[0], info[4]
            people = place.volunteers
            if not len(people):
                continue
            for number in rng.sample(people, min(len(people), rng.randint(3, 30))):
                at = min(self.now, starts - timedelta(days=rng.uniform(1, 14)))
                w.add(
                    Signup,
                    {
                        "id": w.next_id(Signup),
                        "event_id": event_id,
                        "user_id": self.first_volunteer_user + number,
                        "state": "confirmed",
                        "walk_in": False,
                        "added_by_id": None,
                        "created_at": at,
                        "updated_at": at,
                    },
                )

    # ---- helpers for people

    def _person_name(self, rng=None) -> str:
        rng = rng or self.rng
        given = rng.choice(GIVEN)
        if rng.random() < 0.7:
            given += rng.choice(GIVEN)
        return rng.choice(SURNAMES) + given

    @staticmethod
    def _mobile(number: int) -> str:
        # Distinct for distinct numbers: 7919 is prime to 10**8, so the tail never repeats
        # within a prefix.
        prefix, rest = divmod(number, len(MOBILE_PREFIXES))
        return MOBILE_PREFIXES[rest] + f"{(prefix * 7919 + 1357) % 10**8:08d}"

    @staticmethod
    def _resident_id(number: int) -> tuple[str, date, str]:
        """A valid resident ID (GB 11643), distinct per number: the area and birth date
        come from the number, the serial from how often that pair was used before."""
        from stdnum.cn import ric

        area = AREAS[number % len(AREAS)]
        j = number // len(AREAS)
        days = 21_900  # born 1948-2007: volunteers aged about 18 to 78
        born = date(1948, 1, 1) + timedelta(days=(j * 7919) % days)
        # Recoverable from (birth date, serial), so never repeated: j % days gives the date,
        # and (serial - 1) // 2 = j // days + 10 * ((j % days) % 49).
        serial = 2 * (j // days + 10 * ((j % days) % 49)) + 1 + (number // 7) % 2
        body = f"{area}{born:%Y%m%d}{serial:03d}"
        gender = "male" if serial % 2 else "female"
        return body + ric.calc_check_digit(body + "0"), born, gender


def _is_time(column_type) -> bool:
    return isinstance(column_type, (UTCDateTime, Date, DateTime))


def _sqlite_text(value) -> str:
    """A date or datetime as SQLAlchemy stores it in SQLite (datetimes naive, in UTC)."""
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"
    return value.isoformat()


def _ean13(body: str) -> str:
    """An EAN-13 with its check digit, so demo barcodes scan like real ones."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _demo_password() -> str:
    from timebank.demo import DEMO_PASSWORD

    return DEMO_PASSWORD


def generate(scale: float = 1.0, seed: int = 0, progress=None) -> dict:
    """Bulk-load the city into an empty, migrated database; counts, time and memory.

    progress(stage, done, total) is called as each stage advances. Commits as it goes
    (a failure leaves a partial city: drop the database and start again).
    """
    if not 0 < scale <= 4:
        raise CityRefused("The scale must be above 0 and at most 4.")
    check_empty()
    began, cpu = time.perf_counter(), time.process_time()
    stats = Stats()
    db.session.remove()
    with db.engine.connect() as connection:
        copy = connection.dialect.name == "postgresql"
        writer = Writer(connection, stats, copy)
        city = City(scale, seed, writer, progress)
        city.regions()
        city.staff()
        city.first_volunteer_user = writer.ids[User] + 1
        city.teams()
        city.people()
        city.events()
        city.volunteers()
        city.stores()
        city.signups()
        writer.finish()
    if progress:
        progress("rollups", 0, 1)
    written = rollups.rebuild()
    db.session.commit()
    if progress:
        progress("rollups", 1, 1)
    with db.engine.connect() as connection:
        # Fresh statistics, so the first dashboard query plans well.
        connection.execute(text("ANALYZE"))
        connection.commit()
    stats.seconds = round(time.perf_counter() - began, 1)
    stats.peak_rss_mib = _peak_rss_mib()
    return {
        "scale": scale,
        "seed": seed,
        "rows": dict(stats.rows),
        "rollup_rows": written,
        "total_rows": stats.total_rows,
        "seconds": stats.seconds,
        "rows_per_s": round(stats.total_rows / stats.seconds) if stats.seconds else None,
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "peak_rss_mib": stats.peak_rss_mib,
        "approved_hours": stats.minutes_approved // 60,
        "admin_login": ADMIN_LOGIN,
    }
