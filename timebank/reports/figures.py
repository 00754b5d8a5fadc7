"""The dashboard's figures for a scope (region subtree, station, team, store) and a period.

Flows (people-times, hours, points, goods) are summed from the rollup tables; stocks and
small tables (volunteers, teams, events, donations, balances) are counted directly, with
indexes. Figures a scope cannot have (teams inside a store) are None, shown as "—".
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from flask_babel import gettext as _
from sqlalchemy import case, func, select, text

from timebank.auth.models import Role, User
from timebank.core.errors import NotFound, ValidationFailed
from timebank.core.security import (
    administered_regions,
    can_admin_region,
    can_lead_organization,
    can_staff_station,
)
from timebank.events.models import Event, EventState, RecordState, ServiceRecord
from timebank.extensions import db
from timebank.ledger.exports import period_bounds
from timebank.ledger.models import Account, AccountKind, Transaction, TransactionKind
from timebank.organizations.models import Membership, Organization, OrganizationKind
from timebank.regions.models import Region
from timebank.reports.models import LedgerDay, ServiceDay, StoreDay
from timebank.reports.rollups import local_day, local_day_sql
from timebank.stations.models import Station
from timebank.stores.models import Donation, Store
from timebank.stores.services import can_run_store
from timebank.volunteers.models import Volunteer, VolunteerStatus

MAX_PERIOD_DAYS = 366 * 10
RANKING_SIZE = 10
# Distributions over fewer people than this would tell one person's star level.
SMALLEST_GROUP = 5


@dataclass(frozen=True)
class Scope:
    """What a dashboard covers: a region's subtree, a station, a team or a store."""

    kind: str  # "region", "station", "team" or "store"
    id: int
    name: str
    # The region whose subtree holds the scope's people and places (a team's and a store's
    # own region); None for a team, whose people are its members wherever they live.
    path: str | None

    @classmethod
    def of_region(cls, region: Region) -> "Scope":
        return cls("region", region.id, region.name, region.path)

    @classmethod
    def of_station(cls, station: Station) -> "Scope":
        return cls("station", station.id, station.name, station.region.path)

    @classmethod
    def of_team(cls, team: Organization) -> "Scope":
        return cls("team", team.id, team.name, None)

    @classmethod
    def of_store(cls, store: Store) -> "Scope":
        return cls("store", store.id, store.name, store.region.path)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def scopes_for(actor: User) -> list[Scope]:
    """The scopes a person may open a dashboard on, widest first (the default is the first)."""
    found = []
    if actor.is_superadmin:
        found += [Scope.of_region(r) for r in _roots()]
    found += [Scope.of_region(r) for r in administered_regions(actor) if not actor.is_superadmin]
    for grant in actor.grants_of(Role.STATION_STAFF):
        if station := db.session.get(Station, grant.scope_id):
            found.append(Scope.of_station(station))
    for grant in actor.grants_of(Role.TEAM_LEADER):
        if team := db.session.get(Organization, grant.scope_id):
            found.append(Scope.of_team(team))
    for grant in actor.grants_of(Role.CASHIER):
        if store := db.session.get(Store, grant.scope_id):
            found.append(Scope.of_store(store))
    return found


def _roots() -> list[Region]:
    return list(db.session.scalars(select(Region).where(Region.parent_id.is_(None))))


def resolve_scope(actor: User, key: str | None) -> Scope:
    """The scope named "kind:id", if the actor may see it (NotFound otherwise: a scope
    outside the caller's is not confirmed to exist). No key: the actor's widest scope."""
    if not key:
        found = scopes_for(actor)
        if not found:
            raise NotFound(_("You have no area to report on."))
        return found[0]
    kind, _sep, raw = key.partition(":")
    model = {"region": Region, "station": Station, "team": Organization, "store": Store}.get(kind)
    if model is None or not raw.isdigit():
        raise NotFound(_("No such area."))
    target = db.session.get(model, int(raw))
    allowed = (
        target is not None
        and {
            "region": lambda: can_admin_region(actor, target),
            "station": lambda: can_staff_station(actor, target),
            "team": lambda: can_lead_organization(actor, target),
            "store": lambda: can_run_store(actor, target),
        }[kind]()
    )
    if not allowed:
        raise NotFound(_("No such area."))
    return {
        "region": Scope.of_region,
        "station": Scope.of_station,
        "team": Scope.of_team,
        "store": Scope.of_store,
    }[kind](target)


def check_period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The period asked for, or this year so far; refused when it ends before it starts."""
    start = start or today.replace(month=1, day=1)
    end = end or today
    if end < start:
        raise ValidationFailed(_("The period ends before it starts."), field="end")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise ValidationFailed(_("Choose a period of at most ten years."), field="start")
    return start, end


@dataclass
class Month:
    month: str  # "2026-03"
    people_times: int = 0
    minutes: int = 0
    new_volunteers: int = 0
    points_redeemed: int = 0


@dataclass
class Ranked:
    id: int
    name: str
    people_times: int
    minutes: int


@dataclass
class Summary:
    scope: Scope
    start: date
    end: date
    volunteers: int | None = None
    new_volunteers: int | None = None
    verified_volunteers: int | None = None
    active_volunteers: int | None = None
    teams: int | None = None
    stations: int | None = None
    events_held: int | None = None
    people_times: int | None = None
    service_minutes: int | None = None
    stars: dict[int, int] | None = None
    points_converted: int | None = None
    points_allocated: int | None = None
    points_redeemed: int | None = None
    points_outstanding: int | None = None
    donations: int | None = None
    donations_value_fen: int | None = None
    redemptions: int | None = None
    goods_redeemed: int | None = None
    months: list[Month] = field(default_factory=list)
    top_stations: list[Ranked] = field(default_factory=list)
    top_teams: list[Ranked] = field(default_factory=list)

    @property
    def points_issued(self) -> int | None:
        if self.points_converted is None and self.points_allocated is None:
            return None
        return (self.points_converted or 0) + (self.points_allocated or 0)

    def as_dict(self) -> dict:
        """Plain values, for the API and the exports."""
        return {
            "scope": {"kind": self.scope.kind, "id": self.scope.id, "name": self.scope.name},
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            **{name: getattr(self, name) for name in FIGURES},
            "points_issued": self.points_issued,
            "stars": {str(k): v for k, v in (self.stars or {}).items()} or None,
            "months": [vars(m) for m in self.months],
            "top_stations": [vars(r) for r in self.top_stations],
            "top_teams": [vars(r) for r in self.top_teams],
        }


# The single-number figures, in the order pages and exports show them.
FIGURES = (
    "volunteers",
    "new_volunteers",
    "verified_volunteers",
    "active_volunteers",
    "teams",
    "stations",
    "events_held",
    "people_times",
    "service_minutes",
    "points_converted",
    "points_allocated",
    "points_redeemed",
    "points_outstanding",
    "donations",
    "donations_value_fen",
    "redemptions",
    "goods_redeemed",
)


def _within(column, subtree: list[int] | None):
    """column (a region id) lies in the subtree, given as a list of ids: the planner then
    reads a street's rows by index, where a subquery made it scan the city. None (the only
    root region's subtree) is every row: no condition spares the city a join."""
    return column.is_not(None) if subtree is None else column.in_(subtree)


def _subtree_ids(path: str) -> list[int] | None:
    """The ids of the regions in the subtree (a few hundred for a whole city), or None
    for the only root, whose subtree is everything."""
    if path.count("/") == 2:  # "/1/": a root
        roots = db.session.scalar(
            select(func.count()).select_from(Region).where(Region.parent_id.is_(None))
        )
        if roots == 1:
            return None
    return list(
        db.session.scalars(select(Region.id).where(Region.path.startswith(path, autoescape=True)))
    )


def summary(scope: Scope, start: date, end: date) -> Summary:
    low, high = period_bounds(start, end)
    if db.session.get_bind().dialect.name == "postgresql":
        # The distinct count of a city's active volunteers hashes a few hundred thousand
        # ids: in memory for this transaction only, instead of spilling to disk. And plans
        # made for these values: psycopg prepares statements run often, and a generic plan
        # cannot know whether a region path names one street or the whole city.
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    result = Summary(scope, start, end)
    # Read once: every figure of a region, station or store is filtered by it.
    subtree = _subtree_ids(scope.path) if scope.path else None
    months = _month_table(start, end)

    # -- people: volunteers living in the scope, or a team's members -------------------
    if scope.kind in ("region", "station", "team"):
        if scope.kind == "team":
            people = select(Membership.user_id).where(Membership.organization_id == scope.id)
            who = Volunteer.user_id.in_(people)
        else:
            who = _within(Volunteer.region_id, subtree)
        # One pass over the volunteers: per star level and, for those registered in the
        # period, per month of registration.
        in_period = (Volunteer.created_at >= low) & (Volunteer.created_at < high)
        month = case((in_period, _month_of(Volunteer.created_at)), else_=None)
        result.volunteers = result.new_volunteers = result.verified_volunteers = 0
        stars: dict[int, int] = {}
        for level, joined, registered, verified, first in db.session.execute(
            select(
                Volunteer.star_level,
                month,
                func.count().filter(Volunteer.created_at < high),
                func.count().filter(
                    Volunteer.status == VolunteerStatus.VERIFIED, Volunteer.verified_at < high
                ),
                func.min(Volunteer.created_at),
            )
            .where(who, Volunteer.created_at < high)
            .group_by(Volunteer.star_level, month)
        ):
            result.volunteers += registered
            result.verified_volunteers += verified
            stars[level] = stars.get(level, 0) + registered
            if joined is not None:
                result.new_volunteers += registered
                if (key := _local_month(first)) in months:
                    months[key].new_volunteers += registered
        result.stars = stars if sum(stars.values()) >= SMALLEST_GROUP else None

    # -- places -------------------------------------------------------------------------
    if scope.kind == "region":
        result.teams = db.session.scalar(
            select(func.count())
            .select_from(Organization)
            .where(
                _within(Organization.region_id, subtree),
                Organization.kind == OrganizationKind.TEAM,
                Organization.active.is_(True),
            )
        )
        result.stations = db.session.scalar(
            select(func.count())
            .select_from(Station)
            .where(_within(Station.region_id, subtree), Station.active.is_(True))
        )

    # -- service: events held, people-times and hours (rollup), active volunteers --------
    if scope.kind != "store":
        service_scope = {
            "region": lambda: _within(ServiceDay.region_id, subtree),
            "station": lambda: ServiceDay.station_id == scope.id,
            "team": lambda: ServiceDay.organization_id == scope.id,
        }[scope.kind]()
        event_scope = {
            "region": lambda: _within(Event.region_id, subtree),
            "station": lambda: Event.station_id == scope.id,
            "team": lambda: Event.organization_id == scope.id,
        }[scope.kind]()
        result.events_held = db.session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                event_scope,
                Event.state == EventState.FINISHED,
                Event.starts_at >= low,
                Event.starts_at < high,
            )
        )
        period = (ServiceDay.day >= start, ServiceDay.day <= end)
        result.people_times = result.service_minutes = 0
        for day, people_times, minutes in db.session.execute(
            select(ServiceDay.day, func.sum(ServiceDay.people_times), func.sum(ServiceDay.minutes))
            .where(service_scope, *period)
            .group_by(ServiceDay.day)
        ):
            result.people_times += int(people_times or 0)
            result.service_minutes += int(minutes or 0)
            if (key := f"{day:%Y-%m}") in months:
                months[key].people_times += int(people_times or 0)
                months[key].minutes += int(minutes or 0)
        result.active_volunteers = _active_volunteers(scope, subtree, start, end)
        if scope.kind == "region":
            result.top_stations = _ranking(ServiceDay.station_id, Station, service_scope, period)
            result.top_teams = _ranking(
                ServiceDay.organization_id, Organization, service_scope, period
            )

    # -- points ---------------------------------------------------------------------------
    # Flows by region: a station's are its stores' (below), not its whole community's.
    if scope.kind == "region":
        flows = dict.fromkeys(
            (TransactionKind.CONVERSION, TransactionKind.ALLOCATION, TransactionKind.REDEMPTION),
            0,
        )
        for day, kind, amount in db.session.execute(
            select(LedgerDay.day, LedgerDay.kind, func.sum(LedgerDay.amount))
            .where(
                _within(LedgerDay.region_id, subtree),
                LedgerDay.day >= start,
                LedgerDay.day <= end,
                LedgerDay.kind.in_(list(flows)),
            )
            .group_by(LedgerDay.day, LedgerDay.kind)
        ):
            flows[kind] += int(amount or 0)
            if kind == TransactionKind.REDEMPTION and (key := f"{day:%Y-%m}") in months:
                months[key].points_redeemed += int(amount or 0)
        result.points_converted = flows[TransactionKind.CONVERSION]
        result.points_allocated = flows[TransactionKind.ALLOCATION]
        result.points_redeemed = flows[TransactionKind.REDEMPTION]
    # Balances of the people living in the area. Not for a team: a leader sees members
    # masked, and a small team's total would be one member's balance.
    if scope.kind in ("region", "station"):
        holders = select(User.id).where(_within(User.region_id, subtree))
        # Balances now: points held today, whatever the period.
        result.points_outstanding = int(
            db.session.scalar(
                select(func.coalesce(func.sum(Account.balance), 0)).where(
                    Account.kind == AccountKind.POINTS, Account.user_id.in_(holders)
                )
            )
        )

    # -- love supermarkets -----------------------------------------------------------------
    if scope.kind in ("region", "station", "store"):
        stores = {
            "region": lambda: select(Store.id).where(_within(Store.region_id, subtree)),
            "station": lambda: select(Store.id).where(Store.station_id == scope.id),
            "store": lambda: select(Store.id).where(Store.id == scope.id),
        }[scope.kind]()
        count, value = db.session.execute(
            select(func.count(), func.coalesce(func.sum(Donation.value_fen), 0)).where(
                Donation.store_id.in_(stores),
                Donation.donated_on >= start,
                Donation.donated_on <= end,
            )
        ).one()
        result.donations, result.donations_value_fen = count, int(value)
        result.redemptions = result.goods_redeemed = 0
        store_points = 0
        for day, redemptions, points, goods in db.session.execute(
            select(
                StoreDay.day,
                func.sum(StoreDay.redemptions),
                func.sum(StoreDay.points),
                func.sum(StoreDay.goods),
            )
            .where(StoreDay.store_id.in_(stores), StoreDay.day >= start, StoreDay.day <= end)
            .group_by(StoreDay.day)
        ):
            result.redemptions += int(redemptions or 0)
            result.goods_redeemed += int(goods or 0)
            store_points += int(points or 0)
            if scope.kind in ("station", "store") and (key := f"{day:%Y-%m}") in months:
                months[key].points_redeemed += int(points or 0)
        if scope.kind in ("station", "store"):
            result.points_redeemed = store_points

    result.months = list(months.values())
    return result


def _active_volunteers(scope: Scope, subtree: list[int] | None, start: date, end: date) -> int:
    """Distinct volunteers with approved service in the scope and period (not a rollup:
    distinct counts do not add up across days)."""
    # NOT EXISTS, an anti-join on the unique reverses_id: NOT IN over a subquery can turn
    # into a scan of the ledger per service record.
    reversed_ = (
        select(Transaction.id)
        .where(
            Transaction.reverses_id == ServiceRecord.transaction_id,
            Transaction.kind == TransactionKind.REVERSAL,
        )
        .exists()
    )
    where = [
        ServiceRecord.state == RecordState.APPROVED,
        ServiceRecord.served_on >= start,
        ServiceRecord.served_on <= end,
        ~reversed_,
    ]
    if scope.kind == "region":
        where.append(_within(ServiceRecord.region_id, subtree))
    elif scope.kind == "station":
        where.append(ServiceRecord.station_id == scope.id)
    else:
        where.append(
            ServiceRecord.event_id.in_(select(Event.id).where(Event.organization_id == scope.id))
        )
    # DISTINCT in a subquery: PostgreSQL hashes it, where count(DISTINCT …) would sort.
    people = select(ServiceRecord.user_id).where(*where).distinct().subquery()
    return db.session.scalar(select(func.count()).select_from(people))


def _ranking(column, model, service_scope, period) -> list[Ranked]:
    minutes = func.sum(ServiceDay.minutes).label("minutes")
    rows = db.session.execute(
        select(column, func.sum(ServiceDay.people_times), minutes)
        .where(service_scope, *period, column != 0)
        .group_by(column)
        .order_by(minutes.desc(), column)
        .limit(RANKING_SIZE)
    ).all()
    names = dict(
        db.session.execute(
            select(model.id, model.name).where(model.id.in_([r[0] for r in rows]))
        ).all()
    )
    return [
        Ranked(id=i, name=names.get(i, "?"), people_times=int(p or 0), minutes=int(m or 0))
        for i, p, m in rows
    ]


def _month_table(start: date, end: date) -> dict[str, Month]:
    months = {}
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        key = f"{year:04d}-{month:02d}"
        months[key] = Month(key)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _month_of(column):
    """A grouping key for the local month of a UTC timestamp column."""
    day = local_day_sql(column)
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("month", day)
    return func.strftime("%Y-%m", day)


def _local_month(moment: datetime) -> str:
    if isinstance(moment, str):  # an aggregate some drivers hand back untyped
        moment = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    return f"{local_day(moment):%Y-%m}"
