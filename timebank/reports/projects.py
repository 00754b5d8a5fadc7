"""Service projects (政府购买服务): who runs them, what they group, and their evaluation report."""

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import String, case, cast, distinct, func, literal, or_, union

from timebank.audit.services import record
from timebank.auth.models import Role, User
from timebank.auth.services import validate_phone
from timebank.core.db import flush_unique, insert_unique, utcnow
from timebank.core.errors import Conflict, NotFound, Problems, ValidationFailed
from timebank.core.security import (
    can_admin_region,
    can_lead_organization,
    can_staff_station,
    ensure,
    in_admin_scope,
)
from timebank.events.models import Event, EventState, RecordState, ServiceRecord
from timebank.events.services import organizers_for
from timebank.extensions import db
from timebank.ledger.exports import period_bounds
from timebank.ledger.models import Transaction, TransactionKind
from timebank.organizations.models import Organization
from timebank.regions.models import Region
from timebank.reports.models import Beneficiary, MediaReport, Project, project_event, project_store
from timebank.reports.rollups import local_day
from timebank.stations.models import Station
from timebank.stores.models import (
    Donation,
    Redemption,
    RedemptionLine,
    RedemptionState,
    Store,
)
from timebank.stores.services import can_run_store
from timebank.volunteers.identity import mask_phone

MAX_FUNDING_FEN = 10_000_000_000  # one hundred million yuan: more is a typo
MAX_DESCRIPTION = 5000
MAX_IMPORT_LINES = 5000
MAX_IMPORT_BYTES = 1024 * 1024
MAX_CANDIDATES = 500


# -- who may do what ----------------------------------------------------------------------


def can_manage(actor, project: Project) -> bool:
    """Staff of the project's station, leaders of its team, administrators above either."""
    if getattr(actor, "is_superadmin", False):
        return True
    if project.station is not None and can_staff_station(actor, project.station):
        return True
    if project.organization is not None and can_lead_organization(actor, project.organization):
        return True
    return can_admin_region(actor, project.region)


def projects_for(actor):
    """A select of the projects this person may see and edit, newest period first."""
    select = db.select(Project).join(Project.region)
    if not getattr(actor, "is_superadmin", False):
        station_ids = [g.scope_id for g in actor.grants_of(Role.STATION_STAFF)]
        team_ids = [g.scope_id for g in actor.grants_of(Role.TEAM_LEADER)]
        select = select.where(
            or_(
                Project.station_id.in_(station_ids),
                Project.organization_id.in_(team_ids),
                in_admin_scope(actor, Region.path),
            )
        )
    return select.order_by(Project.starts_on.desc(), Project.id.desc())


def get_project(project_id: int) -> Project:
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound(_("No such project."))
    return project


def get_visible_project(actor, project_id: int) -> Project:
    """A project the actor manages; any other answers as if it did not exist."""
    project = db.session.get(Project, project_id)
    if project is None or not can_manage(actor, project):
        raise NotFound(_("No such project."))
    return project


def organizer_choices(actor) -> list[Station | Organization]:
    """Stations and teams this person may run a project for (the same as for events)."""
    return organizers_for(actor)


# -- projects -----------------------------------------------------------------------------


@dataclass
class ProjectDetails:
    name: str
    starts_on: date | None
    ends_on: date | None
    description: str = ""
    funding_source: str = ""
    funding_fen: int = 0
    station_id: int | None = None
    organization_id: int | None = None


def _organizer(actor, details: ProjectDetails) -> Station | Organization:
    """The station or team named, refused alike when unknown or outside the actor's scope,
    so that the answer tells nothing about places the actor may not see."""
    refusal = ValidationFailed(
        _("Choose a station or team you run projects for."), field="organizer"
    )
    if (details.station_id is None) == (details.organization_id is None):
        raise refusal
    if details.station_id is not None:
        organizer = db.session.get(Station, details.station_id)
        allowed = organizer is not None and can_staff_station(actor, organizer)
    else:
        organizer = db.session.get(Organization, details.organization_id)
        allowed = organizer is not None and can_lead_organization(actor, organizer)
    if not (allowed or (organizer is not None and getattr(actor, "is_superadmin", False))):
        raise refusal
    return organizer


def _check_details(details: ProjectDetails) -> ProjectDetails:
    """Every mistake at once, each on its field."""
    problems = Problems()

    def refuse(message, name):
        problems.errors.append(ValidationFailed(message, field=name))

    details.name = (details.name or "").strip()
    if not details.name or len(details.name) > 120:
        refuse(_("Enter a name of up to 120 characters."), "name")
    details.description = (details.description or "").strip()
    if len(details.description) > MAX_DESCRIPTION:
        refuse(_("The description is too long (at most 5,000 characters)."), "description")
    details.funding_source = (details.funding_source or "").strip()
    if len(details.funding_source) > 100:
        refuse(_("Enter a funding source of up to 100 characters."), "funding_source")
    funding = details.funding_fen
    if not isinstance(funding, int) or isinstance(funding, bool):
        refuse(_("Enter the funding amount."), "funding_fen")
    elif not 0 <= funding <= MAX_FUNDING_FEN:
        refuse(_("The funding is between 0 and 100,000,000 yuan."), "funding_fen")
    if details.starts_on is None:
        refuse(_("Enter the first day of the project."), "starts_on")
    if details.ends_on is None:
        refuse(_("Enter the last day of the project."), "ends_on")
    if details.starts_on and details.ends_on and details.ends_on < details.starts_on:
        refuse(_("The project cannot end before it starts."), "ends_on")
    problems.raise_any()
    return details


def _name_taken() -> Conflict:
    return Conflict(_("Another project in this region has this name."), field="name")


def create_project(actor, details: ProjectDetails) -> Project:
    organizer = _organizer(actor, details)
    details = _check_details(details)
    region = organizer.region
    if db.session.scalar(db.select(Project.id).filter_by(region_id=region.id, name=details.name)):
        raise _name_taken()
    project = insert_unique(
        db.session,
        Project(
            region_id=region.id,
            station_id=organizer.id if isinstance(organizer, Station) else None,
            organization_id=organizer.id if isinstance(organizer, Organization) else None,
            name=details.name,
            description=details.description,
            starts_on=details.starts_on,
            ends_on=details.ends_on,
            funding_source=details.funding_source,
            funding_fen=details.funding_fen,
            created_by_id=getattr(actor, "id", None),
        ),
        _name_taken(),
    )
    record(actor, "project.create", project, region=region, name=project.name)
    return project


def update_project(actor, project: Project, details: ProjectDetails) -> Project:
    """Change the name, description, period and funding; the organizer stays."""
    ensure(can_manage(actor, project))
    details = _check_details(details)
    # The linked events stay inside the period, so the report never silently drops one.
    since, until = period_bounds(details.starts_on, details.ends_on)
    outside = [e.title for e in project.events if not since <= e.starts_at < until]
    if outside:
        raise ValidationFailed(
            _(
                "Linked events fall outside this period (%(events)s): unlink them first.",
                events="、".join(outside[:5]),
            ),
            field="ends_on" if details.ends_on < project.ends_on else "starts_on",
        )
    clash = db.select(Project.id).where(
        Project.region_id == project.region_id,
        Project.name == details.name,
        Project.id != project.id,
    )
    if db.session.scalar(clash):
        raise _name_taken()
    for name in ("name", "description", "starts_on", "ends_on", "funding_source", "funding_fen"):
        setattr(project, name, getattr(details, name))
    flush_unique(db.session, _name_taken())
    record(actor, "project.update", project, region=project.region)
    return project


def delete_project(actor, project: Project) -> None:
    """Remove the project with its links, media reports and beneficiaries (not the events
    or stores themselves)."""
    ensure(can_manage(actor, project))
    record(actor, "project.delete", project, region=project.region, name=project.name)
    db.session.delete(project)
    db.session.flush()


# -- events and stores --------------------------------------------------------------------


def events_outside_period(project: Project) -> list[Event]:
    """Linked events that have since moved out of the period: the report leaves them out."""
    since, until = period_bounds(project.starts_on, project.ends_on)
    return [e for e in project.events if not since <= e.starts_at < until]


def _organizer_events(project: Project):
    if project.station_id is not None:
        return Event.station_id == project.station_id
    return Event.organization_id == project.organization_id


def candidate_events(project: Project) -> list[Event]:
    """The organizer's events in the project's period not linked yet (cancelled ones never
    took place, so they are not offered)."""
    since, until = period_bounds(project.starts_on, project.ends_on)
    linked = db.select(project_event.c.event_id).where(project_event.c.project_id == project.id)
    return db.session.scalars(
        db.select(Event)
        .where(
            _organizer_events(project),
            Event.starts_at >= since,
            Event.starts_at < until,
            Event.state != EventState.CANCELLED,
            Event.id.not_in(linked),
        )
        .order_by(Event.starts_at, Event.id)
        .limit(MAX_CANDIDATES)
    ).all()


def link_event(actor, project: Project, event_id) -> Event:
    ensure(can_manage(actor, project))
    event = db.session.get(Event, event_id) if isinstance(event_id, int) else None
    organizer_id = project.station_id if project.station_id else project.organization_id
    event_organizer_id = (
        (event.station_id if project.station_id else event.organization_id) if event else None
    )
    if event is None or event_organizer_id != organizer_id:
        # Unknown and someone else's answer alike: nothing outside the organizer leaks.
        raise ValidationFailed(
            _("Choose one of the organizer's events in the project's period."), field="event_id"
        )
    since, until = period_bounds(project.starts_on, project.ends_on)
    if not since <= event.starts_at < until:
        raise ValidationFailed(
            _("This event takes place outside the project's period."), field="event_id"
        )
    if event.state == EventState.CANCELLED:
        raise ValidationFailed(
            _("A cancelled event cannot be part of a project."), field="event_id"
        )
    if event not in project.events:
        project.events.append(event)
        db.session.flush()
        record(actor, "project.link_event", project, region=project.region, event_id=event.id)
    return event


def _unlink(actor, project: Project, linked: list, item_id: int, missing, kind: str) -> None:
    """Take an event or a store off the project, audited."""
    ensure(can_manage(actor, project))
    item = next((i for i in linked if i.id == item_id), None)
    if item is None:
        raise NotFound(missing)
    linked.remove(item)
    db.session.flush()
    record(
        actor, f"project.unlink_{kind}", project, region=project.region, **{f"{kind}_id": item_id}
    )


def unlink_event(actor, project: Project, event_id: int) -> None:
    missing = _("This event is not part of the project.")
    _unlink(actor, project, project.events, event_id, missing, "event")


def _stores_in_region(project: Project):
    return (
        db.select(Store)
        .join(Store.region)
        .where(Region.path.startswith(project.region.path, autoescape=True))
    )


def candidate_stores(actor, project: Project) -> list[Store]:
    """Love supermarkets in the project's region and below that the actor runs (a store's
    figures are its own staff's to share), not linked yet."""
    linked = db.select(project_store.c.store_id).where(project_store.c.project_id == project.id)
    found = db.session.scalars(
        _stores_in_region(project)
        .where(Store.id.not_in(linked))
        .order_by(Store.name, Store.id)
        .limit(MAX_CANDIDATES)
    ).all()
    return [store for store in found if can_run_store(actor, store)]


def link_store(actor, project: Project, store_id) -> Store:
    ensure(can_manage(actor, project))
    store = None
    if isinstance(store_id, int):
        store = db.session.scalar(_stores_in_region(project).where(Store.id == store_id))
    # A team leader does not see a store's redemptions anywhere else: only those who run
    # it (its cashiers, its station's staff, administrators above) may link it.
    if store is None or not can_run_store(actor, store):
        raise ValidationFailed(
            _("Choose a love supermarket in the project's region."), field="store_id"
        )
    if store not in project.stores:
        project.stores.append(store)
        db.session.flush()
        record(actor, "project.link_store", project, region=project.region, store_id=store.id)
    return store


def unlink_store(actor, project: Project, store_id: int) -> None:
    missing = _("This store is not part of the project.")
    _unlink(actor, project, project.stores, store_id, missing, "store")


# -- media reports ------------------------------------------------------------------------


def check_url(url: str, name: str = "url") -> str:
    """An absolute http(s) address with a host, or nothing."""
    url = (url or "").strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or len(url) > 500
        or any(c.isspace() for c in url)
    ):
        raise ValidationFailed(
            _("Enter a web address starting with http:// or https://."), field=name
        )
    return url


def add_media_report(
    actor,
    project: Project,
    *,
    title: str,
    published_on: date | None,
    outlet: str = "",
    url: str = "",
) -> MediaReport:
    ensure(can_manage(actor, project))
    problems = Problems()
    title = (title or "").strip()
    if not title or len(title) > 200:
        problems.errors.append(
            ValidationFailed(_("Enter a title of up to 200 characters."), field="title")
        )
    outlet = (outlet or "").strip()
    if len(outlet) > 100:
        problems.errors.append(
            ValidationFailed(_("Enter an outlet of up to 100 characters."), field="outlet")
        )
    with problems.check():
        url = check_url(url)
    if published_on is None:
        problems.errors.append(
            ValidationFailed(_("Enter the date it was published."), field="published_on")
        )
    problems.raise_any()
    item = MediaReport(
        project_id=project.id,
        title=title,
        outlet=outlet,
        url=url,
        published_on=published_on,
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(item)
    db.session.flush()
    db.session.refresh(project, ["media_reports"])
    record(actor, "project.add_media_report", item, region=project.region, project_id=project.id)
    return item


def remove_media_report(actor, project: Project, report_id: int) -> None:
    ensure(can_manage(actor, project))
    item = db.session.get(MediaReport, report_id)
    if item is None or item.project_id != project.id:
        raise NotFound(_("No such media report."))
    record(actor, "project.remove_media_report", item, region=project.region, title=item.title)
    db.session.delete(item)
    db.session.flush()
    db.session.refresh(project, ["media_reports"])


# -- beneficiaries ------------------------------------------------------------------------


def _phone_taken() -> Conflict:
    return Conflict(
        _("This phone number is already on the project's list of beneficiaries."),
        field="phone",
        code="beneficiary_exists",
    )


def _check_person(name: str, phone: str, note: str) -> tuple[str, str, str]:
    problems = Problems()
    name = (name or "").strip()
    if not name or len(name) > 64:
        problems.errors.append(
            ValidationFailed(_("Enter a name of up to 64 characters."), field="name")
        )
    with problems.check():
        phone = validate_phone(phone)
    note = (note or "").strip()
    if len(note) > 200:
        problems.errors.append(
            ValidationFailed(_("Enter a note of up to 200 characters."), field="note")
        )
    problems.raise_any()
    return name, phone, note


def add_beneficiary(actor, project: Project, *, name: str, phone: str, note: str = ""):
    ensure(can_manage(actor, project))
    name, phone, note = _check_person(name, phone, note)
    if db.session.scalar(db.select(Beneficiary.id).filter_by(project_id=project.id, phone=phone)):
        raise _phone_taken()
    person = insert_unique(
        db.session,
        Beneficiary(
            project_id=project.id,
            name=name,
            phone=phone,
            note=note,
            created_by_id=getattr(actor, "id", None),
        ),
        _phone_taken(),
    )
    db.session.refresh(project, ["beneficiaries"])
    record(
        actor,
        "project.add_beneficiary",
        person,
        region=project.region,
        project_id=project.id,
        phone=mask_phone(phone),
    )
    return person


def remove_beneficiary(actor, project: Project, beneficiary_id: int) -> None:
    ensure(can_manage(actor, project))
    person = db.session.get(Beneficiary, beneficiary_id)
    if person is None or person.project_id != project.id:
        raise NotFound(_("No such beneficiary."))
    record(
        actor,
        "project.remove_beneficiary",
        person,
        region=project.region,
        project_id=project.id,
        phone=mask_phone(person.phone),
    )
    db.session.delete(person)
    db.session.flush()
    db.session.refresh(project, ["beneficiaries"])


@dataclass
class ImportResult:
    added: int
    already_listed: int


def decode_upload(data: bytes) -> str:
    """Text of an uploaded CSV: UTF-8 (with or without Excel's mark), else GB 18030, which
    Excel on a Chinese Windows uses when it saves "CSV"."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationFailed(_("The file is too large (at most 1 MB)."), field="upload")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise ValidationFailed(
                _("The file is not a text (CSV) file."), field="upload"
            ) from None


def _rows(text: str):
    # Full-width commas and tabs (a paste from a spreadsheet) count as separators too.
    text = text.replace("，", ",").replace("\t", ",")
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if any(cells):
            yield number, cells


def import_beneficiaries(actor, project: Project, text: str) -> ImportResult:
    """Add "name,phone[,note]" lines; all or nothing. People already listed (or listed
    twice) are counted, not refused, so that a sheet uploaded again adds only the new."""
    ensure(can_manage(actor, project))
    rows = list(_rows(text or ""))
    first_phone = rows[0][1][1] if rows and len(rows[0][1]) > 1 else ""
    if first_phone and not any(ch.isdigit() for ch in first_phone):
        rows = rows[1:]  # a header line ("姓名,电话")
    if not rows:
        raise ValidationFailed(_("Paste or upload at least one line."), field="lines")
    if len(rows) > MAX_IMPORT_LINES:
        raise ValidationFailed(
            _("At most %(count)d lines at once.", count=MAX_IMPORT_LINES), field="lines"
        )
    errors, people = [], {}
    for number, cells in rows:
        cells = [*cells, "", ""]
        try:
            name, phone, note = _check_person(cells[0], cells[1], cells[2])
        except ValidationFailed as exc:
            reasons = exc.fields or {exc.field: [str(exc.message)]}
            detail = " ".join(m for messages in reasons.values() for m in messages)
            errors.append(_("Line %(number)d: %(reason)s", number=number, reason=detail))
            continue
        people.setdefault(phone, (name, note))
    if errors:
        shown = errors[:20]
        if len(errors) > len(shown):
            shown.append(_("… and %(count)d more lines.", count=len(errors) - len(shown)))
        raise ValidationFailed(
            _("Some lines are not valid; nothing was added."),
            field="lines",
            fields={"lines": shown},
        )
    listed = set(
        db.session.scalars(
            db.select(Beneficiary.phone).where(
                Beneficiary.project_id == project.id, Beneficiary.phone.in_(list(people))
            )
        )
    )
    new = [(phone, person) for phone, person in people.items() if phone not in listed]
    db.session.add_all(
        Beneficiary(
            project_id=project.id,
            name=name,
            phone=phone,
            note=note,
            created_by_id=getattr(actor, "id", None),
        )
        for phone, (name, note) in new
    )
    flush_unique(db.session, _phone_taken())
    db.session.refresh(project, ["beneficiaries"])
    result = ImportResult(added=len(new), already_listed=len(rows) - len(new))
    record(actor, "project.import_beneficiaries", project, region=project.region, **vars(result))
    return result


# -- the evaluation report ----------------------------------------------------------------


def _hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"))


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


@dataclass
class EventFigures:
    event_id: int
    title: str
    day: date
    state: str
    people_times: int
    minutes: int

    @property
    def hours(self) -> Decimal:
        return _hours(self.minutes)


@dataclass
class MediaItem:
    title: str
    outlet: str
    url: str
    published_on: date


@dataclass
class ProjectReport:
    """A project's evaluation figures (项目评估报告), computed from the base tables."""

    project_id: int
    name: str
    organizer: str
    region: str
    starts_on: date
    ends_on: date
    funding_source: str
    funding_fen: int
    services_held: int = 0
    people_times: int = 0
    volunteer_minutes: int = 0
    volunteers: int = 0
    beneficiaries: int = 0
    listed_beneficiaries: int = 0
    redeeming_residents: int = 0
    donations: int = 0
    donation_value_fen: int = 0
    redemptions: int = 0
    redemption_points: int = 0
    redeemed_goods: int = 0
    events: list[EventFigures] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    media_reports: list[MediaItem] = field(default_factory=list)
    generated_at: datetime = field(default_factory=utcnow)

    @property
    def volunteer_hours(self) -> Decimal:
        return _hours(self.volunteer_minutes)

    @property
    def funding_yuan(self) -> Decimal:
        return _yuan(self.funding_fen)

    @property
    def donation_value_yuan(self) -> Decimal:
        return _yuan(self.donation_value_fen)

    @property
    def media_report_count(self) -> int:
        return len(self.media_reports)


def _counted_records(event_ids: list[int]) -> list:
    """Approved service of these events whose ledger credit still stands."""
    reversed_credit = (
        db.select(Transaction.id)
        .where(
            Transaction.kind == TransactionKind.REVERSAL,
            Transaction.reverses_id == ServiceRecord.transaction_id,
        )
        .exists()
    )
    return [
        ServiceRecord.event_id.in_(event_ids),
        ServiceRecord.state == RecordState.APPROVED,
        ~reversed_credit,
    ]


def evaluate(project: Project) -> ProjectReport:
    """The report's figures over the project's period (local days, Asia/Shanghai)."""
    since, until = period_bounds(project.starts_on, project.ends_on)
    organizer = project.station or project.organization
    report = ProjectReport(
        project_id=project.id,
        name=project.name,
        organizer=organizer.name if organizer else "",
        region=project.region.name,
        starts_on=project.starts_on,
        ends_on=project.ends_on,
        funding_source=project.funding_source,
        funding_fen=project.funding_fen,
    )
    events = db.session.scalars(
        db.select(Event)
        .join(project_event, project_event.c.event_id == Event.id)
        .where(
            project_event.c.project_id == project.id,
            Event.starts_at >= since,
            Event.starts_at < until,
        )
        .order_by(Event.starts_at, Event.id)
    ).all()
    event_ids = [e.id for e in events]
    report.services_held = sum(1 for e in events if e.state == EventState.FINISHED)

    counted = _counted_records(event_ids)
    # A supplement (corrects_id set) adds minutes to a service already counted once.
    per_event = {
        event_id: (int(people or 0), int(minutes or 0))
        for event_id, people, minutes in db.session.execute(
            db.select(
                ServiceRecord.event_id,
                func.sum(case((ServiceRecord.corrects_id.is_(None), 1), else_=0)),
                func.sum(ServiceRecord.minutes),
            )
            .where(*counted)
            .group_by(ServiceRecord.event_id)
        )
    }
    for event in events:
        people, minutes = per_event.get(event.id, (0, 0))
        report.events.append(
            EventFigures(
                event_id=event.id,
                title=event.title,
                day=local_day(event.starts_at),
                state=str(event.state),
                people_times=people,
                minutes=minutes,
            )
        )
    report.people_times = sum(p for p, _m in per_event.values())
    report.volunteer_minutes = sum(m for _p, m in per_event.values())
    report.volunteers = db.session.scalar(
        db.select(func.count(distinct(ServiceRecord.user_id))).where(*counted)
    )

    store_ids = [s.id for s in project.stores]
    report.stores = [s.name for s in project.stores]
    redeemed = [
        Redemption.store_id.in_(store_ids),
        Redemption.state == RedemptionState.COMPLETED,
        Redemption.created_at >= since,
        Redemption.created_at < until,
    ]
    listed = db.select(Beneficiary.phone.label("who")).where(Beneficiary.project_id == project.id)
    # A resident without a phone (signed up with a user name) is still one person.
    residents = (
        db.select(func.coalesce(User.phone, literal("user:") + cast(User.id, String)).label("who"))
        .join(Redemption, Redemption.user_id == User.id)
        .where(*redeemed)
    )
    everyone = union(listed, residents).subquery()
    report.beneficiaries = db.session.scalar(db.select(func.count()).select_from(everyone))
    report.listed_beneficiaries = db.session.scalar(
        db.select(func.count(Beneficiary.id)).where(Beneficiary.project_id == project.id)
    )
    report.redemptions, report.redemption_points, report.redeeming_residents = db.session.execute(
        db.select(
            func.count(Redemption.id),
            func.coalesce(func.sum(Redemption.points), 0),
            func.count(distinct(Redemption.user_id)),
        ).where(*redeemed)
    ).one()
    report.redeemed_goods = int(
        db.session.scalar(
            db.select(func.coalesce(func.sum(RedemptionLine.quantity), 0))
            .join(Redemption, Redemption.id == RedemptionLine.redemption_id)
            .where(*redeemed)
        )
    )
    report.redemption_points = int(report.redemption_points)
    report.donations, report.donation_value_fen = db.session.execute(
        db.select(func.count(Donation.id), func.coalesce(func.sum(Donation.value_fen), 0)).where(
            Donation.store_id.in_(store_ids),
            Donation.donated_on >= project.starts_on,
            Donation.donated_on <= project.ends_on,
        )
    ).one()
    report.donation_value_fen = int(report.donation_value_fen)
    report.media_reports = [
        MediaItem(title=m.title, outlet=m.outlet, url=m.url, published_on=m.published_on)
        for m in project.media_reports
    ]
    return report


# The report's headline figures, in the order the pages, the sheet and the PDF show them.
def summary_rows(report: ProjectReport) -> list[tuple[str, str, object]]:
    """(key, label, value) for every headline figure; the key is the JSON field's name."""
    return [
        ("services_held", _("Services held"), report.services_held),
        ("people_times", _("People-times served"), report.people_times),
        ("volunteer_hours", _("Volunteer hours"), report.volunteer_hours),
        ("volunteers", _("Volunteers involved"), report.volunteers),
        ("beneficiaries", _("Beneficiaries (distinct people)"), report.beneficiaries),
        ("donations", _("Donations received"), report.donations),
        ("donation_value_yuan", _("Value of donations (yuan)"), report.donation_value_yuan),
        ("redemptions", _("Redemptions"), report.redemptions),
        ("redemption_points", _("Points redeemed"), report.redemption_points),
        ("redeemed_goods", _("Goods redeemed"), report.redeemed_goods),
        ("media_report_count", _("Media reports"), report.media_report_count),
        ("funding_yuan", _("Funding (yuan)"), report.funding_yuan),
    ]


def masked_beneficiaries(project: Project) -> list[dict]:
    """The list as pages and the API show it: phones masked."""
    return [
        {"id": b.id, "name": b.name, "phone": mask_phone(b.phone), "note": b.note}
        for b in project.beneficiaries
    ]
