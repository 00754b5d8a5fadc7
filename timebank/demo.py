"""A believable demo district: streets, communities, stations, teams, staff and volunteers."""

from datetime import date

from timebank.auth.models import Role, User
from timebank.auth.services import create_user, grant_role
from timebank.core.security import SYSTEM
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import ConversionRate
from timebank.organizations.services import add_member, create_organization
from timebank.regions.models import Region
from timebank.regions.services import create_region
from timebank.stations.services import create_station
from timebank.volunteers.services import Registration, register, verify

DEMO_PASSWORD = "Timebank-demo-2026"  # noqa: S105 - printed for demo use

DISTRICT = ("鼓楼区", "350102")
STREETS = {
    "东街街道": ["三坊七巷社区", "光禄坊社区", "南营社区"],
    "温泉街道": ["汤边社区", "五四北社区", "冶山社区"],
}
TEAMS = [
    ("东街街道", "东街青年志愿服务队", "team"),
    ("东街街道", "夕阳红助老服务队", "team"),
    ("温泉街道", "温泉环保志愿队", "team"),
    ("鼓楼区", "鼓楼区乐善社会工作服务中心", "social_org"),
]
VOLUNTEERS = [
    ("13800000001", "张伟"),
    ("13800000002", "王芳"),
    ("13800000003", "李娜"),
    ("13800000004", "刘洋"),
    ("13800000005", "陈静"),
    ("13800000006", "杨磊"),
    ("13800000007", "赵敏"),
    ("13800000008", "黄强"),
    ("13800000009", "周婷"),
    ("13800000010", "吴刚"),
]

DEMO_LOGINS = {
    "password": DEMO_PASSWORD,
    "accounts": [
        ("admin", "superadmin / 超级管理员"),
        ("district", "administrator of 鼓楼区 / 区管理员"),
        ("dongjie", "administrator of 东街街道 / 街道管理员"),
        ("wenquan", "administrator of 温泉街道 / 街道管理员"),
        ("staff", "staff of 三坊七巷社区志愿服务站 / 站点工作人员"),
        ("leader", "leader of 东街青年志愿服务队 / 队长"),
        ("cashier", "cashier of 三坊七巷爱心超市 / 超市收银员"),
        ("13800000001", "volunteer 张伟 / 志愿者 (verified, one star)"),
        ("13800000007", "volunteer 赵敏 / 志愿者 (awaiting verification at staff's station)"),
    ],
}


def has_data() -> bool:
    return db.session.scalar(db.select(Region.id).limit(1)) is not None


def _user(login: str, name: str, home=None) -> User:
    kwargs = {"phone": login} if login.isdigit() else {"username": login}
    user = create_user(None, name=name, password=DEMO_PASSWORD, **kwargs)
    user.region_id = home.id if home is not None else None
    return user


def _profile(user: User, community, index: int):
    """A real-name profile with a made-up but valid ID number from the demo district."""
    from stdnum.cn import ric

    born = f"{1960 + index * 4}{index % 12 + 1:02d}{index % 27 + 1:02d}"
    body = f"{DISTRICT[1]}{born}{index:03d}"
    registration = Registration(
        name=user.name,
        document_type="resident_id",
        document_number=body + ric.calc_check_digit(body + "0"),
        phone=user.phone,
        region_id=community.id,
        consent=True,
        skills=("陪伴老人,助餐送餐", "义务理发", "环境清洁,垃圾分类宣传", "助学辅导")[index % 4],
        availability=("周末", "工作日晚上", "随时")[index % 3],
    )
    return register(SYSTEM, registration, user=user, source="staff")


def seed() -> None:
    seeder = SYSTEM
    district = create_region(
        seeder, name=DISTRICT[0], parent=None, level="district", code=DISTRICT[1]
    )
    streets, communities, stations = {}, [], []
    for street_name, community_names in STREETS.items():
        street = create_region(seeder, name=street_name, parent=district)
        streets[street_name] = street
        for community_name in community_names:
            community = create_region(seeder, name=community_name, parent=street)
            communities.append(community)
            stations.append(
                create_station(
                    seeder,
                    region=community,
                    name=f"{community_name}志愿服务站",
                    address=f"{street_name}{community_name}党群服务中心一楼",
                    phone="0591-8" + str(7000000 + community.id),
                )
            )
    regions = {DISTRICT[0]: district, **streets}
    teams = [
        create_organization(
            seeder,
            region=regions[where],
            name=name,
            kind=kind,
            description=f"{name}，服务社区居民。",
        )
        for where, name, kind in TEAMS
    ]

    grant_role(seeder, _user("admin", "系统管理员"), Role.SUPERADMIN)
    district_admin = _user("district", "林晓红")
    grant_role(seeder, district_admin, Role.ADMIN, district.id)
    grant_role(seeder, _user("dongjie", "郑建国"), Role.ADMIN, streets["东街街道"].id)
    grant_role(seeder, _user("wenquan", "许丽"), Role.ADMIN, streets["温泉街道"].id)
    staff = _user("staff", "陈晓明", home=communities[0])
    grant_role(seeder, staff, Role.STATION_STAFF, stations[0].id)
    # The leader is a volunteer too, and a member of the team with the leader role (which
    # also grants the team-leader role on it).
    leader = _user("leader", "黄志强", home=communities[0])
    leader.phone = "13800000099"
    verify(district_admin, _profile(leader, communities[0], len(VOLUNTEERS)), "")
    add_member(seeder, teams[0], leader, role="leader")

    # The district converts one hour of service into 10 points.
    db.session.add(
        ConversionRate(region_id=district.id, points_per_hour=10, effective_from=date(2026, 1, 1))
    )
    people = []
    for index, (phone, name) in enumerate(VOLUNTEERS):
        community = communities[index % len(communities)]
        volunteer = _user(phone, name, home=community)
        people.append(volunteer)
        profile = _profile(volunteer, community, index)
        if index in (4, 6):  # a few wait for verification (and so for credits), as in life
            continue
        verify(district_admin, profile, "")
        if index < 3:
            add_member(seeder, teams[0], volunteer)
        if index == 0:
            # A long-serving volunteer, so the demo shows a star level.
            ledger.credit_service(
                volunteer,
                100 * 60,
                community,
                key="demo:service:history",
                actor=staff,
                memo="2025年 社区志愿服务累计",
            )
        # A few months of approved service, so statements and balances have something in them.
        for month, minutes in enumerate((120, 90, 180, 60)[: 1 + index % 4], start=7):
            ledger.credit_service(
                volunteer,
                minutes + 30 * (index % 3),
                community,
                key=f"demo:service:{phone}:{month}",
                actor=staff,
                memo=f"2026年{month}月 社区志愿服务",
            )
    db.session.flush()
    _events(staff, leader, stations[0], teams[0], people)
    db.session.flush()
    _stores(staff, stations[0], communities[0], people)
    db.session.flush()


def _events(staff, leader, station, team, people) -> None:
    """An event under way (for the kiosk and scanner), one next week, one finished with
    hours waiting for approval, and a team event; times relative to when the demo loads."""
    from datetime import timedelta

    from timebank.core.db import utcnow
    from timebank.events import attendance, records
    from timebank.events import services as events
    from timebank.events.models import Via

    now = utcnow().replace(second=0, microsecond=0)

    def event(organizer, actor, title, starts_in_hours, hours, **details):
        start = now + timedelta(hours=starts_in_hours)
        made = events.create_event(
            actor,
            organizer,
            events.EventDetails(
                title=title,
                starts_at=start,
                ends_at=start + timedelta(hours=hours),
                address=organizer.address if hasattr(organizer, "address") else "",
                **details,
            ),
        )
        made.state = "published"  # published as of when it was created, even if past
        return made

    under_way = event(
        station,
        staff,
        "重阳敬老：社区长者助餐",
        -0.5,
        3,
        category="elderly",
        capacity=20,
        description="为社区独居老人送餐、陪伴聊天。请提前十分钟到站签到。",
    )
    for volunteer in people[:5]:
        if volunteer.id != people[4].id:  # 陈静 waits for verification: she signs up later
            events.sign_up(volunteer, under_way)
    attendance.check_in(under_way, people[0], via=Via.KIOSK, at=now - timedelta(minutes=25))
    attendance.check_in(under_way, people[1], via=Via.KIOSK, at=now - timedelta(minutes=20))

    event(
        station,
        staff,
        "垃圾分类宣传进小区",
        24 * 7,
        2,
        category="environment",
        capacity=2,
        cancel_before_minutes=24 * 60,
        description="在小区入口设摊宣传垃圾分类知识，发放宣传册。",
    )
    event(
        team,
        leader,
        "青年志愿者周末义务理发",
        24 * 3,
        3,
        category="community",
        audience="team",
        description="东街青年志愿服务队队员专场：为社区老人义务理发。",
    )

    done = event(
        station,
        staff,
        "社区图书角整理",
        -26,
        2,
        category="culture",
        description="整理社区图书角，登记新捐赠的图书。",
    )
    for index, volunteer in enumerate(people[:3]):
        # Nobody signed up beforehand: they walked in and scanned the screen.
        attendance.check_in(done, volunteer, via=Via.KIOSK, at=done.starts_at)
        if index < 2:
            attendance.check_out(
                done,
                volunteer,
                via=Via.KIOSK,
                at=done.starts_at + timedelta(minutes=100 + 10 * index),
            )
    events.finish(staff, done)  # the third forgot to check out: closed at the end, flagged
    first = db.session.scalar(
        db.select(records.ServiceRecord).filter_by(event_id=done.id, user_id=people[0].id)
    )
    records.approve(staff, first)


def _ean13(body: str) -> str:
    """An EAN-13 with its check digit, so demo barcodes scan like real ones."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


GOODS = [
    # name, category, unit, points, stock, limit (quantity, period), for difficulty only
    ("金龙鱼大米 5kg", "grain_oil", "袋", 50, 20, (1, "month"), False),
    ("鲁花花生油 1L", "grain_oil", "瓶", 40, 12, (1, "month"), False),
    ("挂面 1kg", "food", "包", 10, 40, None, False),
    ("洗衣液 2kg", "daily", "瓶", 25, 15, (2, "month"), False),
    ("牙膏牙刷套装", "health", "套", 8, 30, None, False),
    ("学生文具套装", "stationery", "套", 15, 3, None, False),
    ("冬季棉被", "daily", "床", 80, 6, (1, "year"), True),
]


def _stores(staff, station, community, people) -> None:
    """A love supermarket at the first station: goods with barcodes, donations, a cashier,
    a household in difficulty, and a redemption already made."""
    from timebank.stores import redemptions
    from timebank.stores import services as stores

    store = stores.create_store(
        staff,
        stores.StoreDetails(
            name="三坊七巷爱心超市",
            station_id=station.id,
            address="三坊七巷社区党群服务中心一楼东侧",
            opening_hours="周二、周五 9:00-11:30，周六 14:30-17:00",
            phone="0591-87001234",
        ),
    )
    cashier = _user("cashier", "王秀英", home=community)
    grant_role(SYSTEM, cashier, Role.CASHIER, store.id)
    made = []
    for n, (name, category, unit, price, stock, limit, difficulty) in enumerate(GOODS):
        made.append(
            (
                stores.add_goods(
                    cashier,
                    store,
                    stores.GoodsDetails(
                        name=name,
                        category=category,
                        unit=unit,
                        points_price=price,
                        barcode=_ean13(f"690000{n + 1:06d}"),
                        limit_quantity=limit[0] if limit else None,
                        limit_period=limit[1] if limit else None,
                        eligibility="difficulty" if difficulty else "everyone",
                    ),
                ),
                stock,
            )
        )
    today = stores.local_today()
    half = len(made) // 2
    stores.receive_donation(
        cashier,
        store,
        donor_kind="business",
        donor_name="东街粮油店",
        donor_phone="0591-87005678",
        donated_on=today,
        items=[
            stores.DonationItem(quantity=stock, goods_id=goods.id, value_fen=stock * 3000)
            for goods, stock in made[:half]
        ],
        note="年末爱心捐赠",
    )
    stores.receive_donation(
        cashier,
        store,
        donor_kind="anonymous",
        donor_name="",
        donated_on=today,
        items=[
            stores.DonationItem(quantity=stock, goods_id=goods.id, value_fen=stock * 1500)
            for goods, stock in made[half:]
        ],
    )
    # 赵敏's household is in difficulty: on the list, with this month's points granted.
    household = people[6]
    stores.keep_household(staff, community, household, reason="低保户", monthly_points=100)
    ledger.allocate(
        staff,
        community,
        household,
        100,
        key="demo:allocation:household",
        memo=f"{today:%Y-%m} 困难群众积分",
    )
    # 张伟 turned twenty hours of service into points and redeemed some at the counter.
    volunteer = people[0]
    ledger.convert(volunteer, 20 * 60, key="demo:convert:1")
    redemptions.redeem(
        cashier,
        store,
        volunteer,
        [(made[2][0].id, 1), (made[4][0].id, 1)],
        key="demo:redemption:1",
    )
