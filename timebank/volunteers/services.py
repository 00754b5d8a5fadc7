"""Registering volunteers, verifying and suspending them, revealing IDs, and who sees whom."""

from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import false, or_, true

from timebank.audit.services import record
from timebank.auth.models import Role, User
from timebank.auth.passwords import check_password_policy
from timebank.auth.services import create_user, grant_role, validate_phone
from timebank.core.db import flush_unique, insert_unique, utcnow
from timebank.core.errors import Conflict, NotFound, Problems, ValidationFailed
from timebank.core.security import SYSTEM, administered_regions, can_admin_region, ensure
from timebank.extensions import db
from timebank.regions.models import Region, RegionLevel
from timebank.volunteers import codes, identity
from timebank.volunteers.models import Gender, Volunteer, VolunteerStatus

ADULT_AGE = 18
GUARDIAN_DETAILS_AGE = 14
MAX_SKILLS_LENGTH = 500


def already_registered() -> Conflict:
    return Conflict(
        _(
            "This document number is already registered. Sign in with your mobile number, "
            "or ask your community volunteer station for help."
        ),
        field="document_number",
        code="already_registered",
    )


@dataclass
class Registration:
    """What a person fills in to register; the form and the API both build one."""

    name: str
    document_type: str
    document_number: str
    phone: str
    region_id: int | None
    consent: bool
    password: str | None = None
    skills: str = ""
    availability: str = ""
    birth_date: date | None = None
    gender: str | None = None
    guardian_consent: bool = False
    guardian_name: str = ""
    guardian_phone: str = ""


def community(region_id) -> Region:
    region = db.session.get(Region, region_id) if region_id else None
    if region is None or region.level != RegionLevel.COMMUNITY:
        raise ValidationFailed(_("Choose your community."), field="region_id")
    return region


def clean_skills(skills: str) -> str:
    """Comma-separated, trimmed, de-duplicated; Chinese and Latin commas alike."""
    parts = (skills or "").replace("，", ",").replace("、", ",").split(",")
    seen = []
    for part in (p.strip() for p in parts):
        if part and part not in seen:
            seen.append(part[:50])
    text = ",".join(seen)
    if len(text) > MAX_SKILLS_LENGTH:
        raise ValidationFailed(_("List fewer skills."), field="skills")
    return text


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_person(form: Registration, today: date, problems: Problems | None = None) -> dict:
    """Who the person is, checked without the database: name, document, age, phone, guardian.

    Self-registration and the bulk import share it, so a spreadsheet row passes exactly
    when the same person could register themselves. Every independent check runs, so a
    form shows all its mistakes at once; pass problems to add more checks before raising.
    """
    own = problems is None
    problems = Problems() if own else problems
    name = (form.name or "").strip()
    with problems.check():
        if not name:
            raise ValidationFailed(_("Enter your real name as on your document."), field="name")
        if len(name) > 64:
            raise ValidationFailed(_("The name is too long."), field="name")
    document = birth_date = gender = None
    with problems.check():
        document = identity.parse_document(form.document_type, form.document_number, today=today)
        birth_date, gender = document.birth_date, document.gender
    if document is not None and birth_date is None:
        with problems.check():
            birth_date = form.birth_date
            if birth_date is None:
                raise ValidationFailed(_("Enter your date of birth."), field="birth_date")
            if birth_date > today or today.year - birth_date.year > identity.OLDEST_AGE:
                birth_date = None
                raise ValidationFailed(_("Enter a real date of birth."), field="birth_date")
        with problems.check():
            try:
                gender = Gender(form.gender) if form.gender else None
            except ValueError:
                raise ValidationFailed(_("Choose a gender."), field="gender") from None
    phone = None
    with problems.check():
        phone = validate_phone(form.phone)
    age = age_on(birth_date, today) if birth_date else None
    guardian_name = guardian_phone = None
    if age is not None and age < ADULT_AGE:
        with problems.check():
            if not form.guardian_consent:
                raise ValidationFailed(
                    _("Volunteers under 18 need their guardian's consent."),
                    field="guardian_consent",
                )
    if age is not None and age < GUARDIAN_DETAILS_AGE:
        with problems.check():
            guardian_name = (form.guardian_name or "").strip()
            if not guardian_name or len(guardian_name) > 64:
                raise ValidationFailed(
                    _("Volunteers under 14 must give their guardian's name."),
                    field="guardian_name",
                )
        with problems.check():
            guardian_phone = validate_phone(form.guardian_phone, field="guardian_phone")
    skills = ""
    with problems.check():
        skills = clean_skills(form.skills)
    if own:
        problems.raise_any()
    return dict(
        name=name,
        document=document,
        birth_date=birth_date,
        gender=gender,
        phone=phone,
        minor=age is not None and age < ADULT_AGE,
        guardian_name=guardian_name,
        guardian_phone=guardian_phone,
        skills=skills,
        availability=(form.availability or "").strip()[:200],
    )


def check_registration(form: Registration, today: date) -> dict:
    """Every check that needs no write: the person, their community, consent, duplicates."""
    problems = Problems()
    checked = check_person(form, today, problems)
    region = None
    with problems.check():
        region = community(form.region_id)
    with problems.check():
        if not form.consent:
            raise ValidationFailed(
                _("Read and accept the privacy notice to register."), field="consent"
            )
    problems.raise_any()
    document = checked["document"]
    digest = identity.document_hash(document.type, document.number)
    if db.session.scalar(db.select(Volunteer.id).filter_by(document_hash=digest)):
        raise already_registered()
    return dict(checked, region=region, document_hash=digest)


def register(actor, form: Registration, *, user: User | None = None, source="self") -> Volunteer:
    """Create the person (unless user is given) and their real-name profile, pending verification.

    actor is None for self-registration; staff registering someone pass themselves.
    """
    now = utcnow()
    checked = check_registration(form, today=now.astimezone(_local_tz()).date())
    region = checked["region"]
    if actor is not None and actor is not user:
        ensure(can_manage_region(actor, region))
    phone_taken = Conflict(
        _("This mobile number is already registered. Sign in, or use another number."),
        field="phone",
    )
    if user is None:
        if db.session.scalar(db.select(User.id).filter_by(phone=checked["phone"])):
            raise phone_taken
        user = create_user(
            actor, name=checked["name"], password=form.password, phone=checked["phone"]
        )
    elif db.session.scalar(db.select(Volunteer.id).filter_by(user_id=user.id)):
        raise Conflict(_("You have already registered as a volunteer."), code="already_registered")
    else:
        user.name = checked["name"]
        if user.phone != checked["phone"]:
            if db.session.scalar(db.select(User.id).filter_by(phone=checked["phone"])):
                raise phone_taken
            user.phone = checked["phone"]
            flush_unique(db.session, phone_taken)
    user.region_id = region.id
    document = checked["document"]
    volunteer = Volunteer(
        user_id=user.id,
        region_id=region.id,
        document_type=document.type,
        document_cipher=identity.encrypt(document.number),
        document_hash=checked["document_hash"],
        document_tail=document.tail,
        birth_date=checked["birth_date"],
        gender=checked["gender"],
        skills=checked["skills"],
        availability=checked["availability"],
        consent_version=current_app.config["PRIVACY_NOTICE_VERSION"],
        consent_at=now,
        guardian_consent_at=now if checked["minor"] else None,
        guardian_name=checked["guardian_name"],
        guardian_phone=checked["guardian_phone"],
        qr_handle=codes.new_handle(),
        card_issued_at=now,
        source=source,
    )
    insert_unique(db.session, volunteer, already_registered())
    grant_role(SYSTEM, user, Role.VOLUNTEER, region.id)
    record(actor or user, "volunteer.register", volunteer, region=region, source=source)
    return volunteer


def _local_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))


def today() -> date:
    return datetime.now(_local_tz()).date()


# -- who may see and manage whom ----------------------------------------------------------


def staffed_regions(actor) -> list[Region]:
    """Regions of the stations the actor staffs: their staff manage volunteers living there."""
    from timebank.stations.models import Station

    ids = [g.scope_id for g in actor.grants_of(Role.STATION_STAFF)]
    if not ids:
        return []
    stations = db.session.scalars(db.select(Station).where(Station.id.in_(ids))).all()
    return [station.region for station in stations]


def can_manage_region(actor, region: Region) -> bool:
    """Administrators above the region, or staff of a station covering it."""
    if actor is SYSTEM or can_admin_region(actor, region):
        return True
    return any(place.contains(region) for place in staffed_regions(actor))


def can_manage(actor, volunteer: Volunteer) -> bool:
    return can_manage_region(actor, volunteer.region)


def led_organization_ids(actor) -> list[int]:
    return [g.scope_id for g in actor.grants_of(Role.TEAM_LEADER)]


def can_view(actor, volunteer: Volunteer) -> bool:
    """The volunteer, and staff and administrators over their community.

    Team leaders see their members on the team page, masked; not the profile itself.
    """
    return getattr(actor, "id", None) == volunteer.user_id or can_manage(actor, volunteer)


def in_scope(actor):
    """SQL condition on Volunteer (joined to its Region): the volunteers an actor manages."""
    if actor is SYSTEM or actor.is_superadmin:
        return true()
    roots = administered_regions(actor) + staffed_regions(actor)
    conditions = [Region.path.startswith(root.path, autoescape=True) for root in roots]
    return or_(*conditions) if conditions else false()


def get_volunteer(actor, volunteer_id: int) -> Volunteer:
    """A volunteer the actor may see; others answer 404 like missing ones."""
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None or not can_view(actor, volunteer):
        raise NotFound(_("That volunteer does not exist."))
    return volunteer


def profile_of(user) -> Volunteer | None:
    if not getattr(user, "id", None):
        return None
    return db.session.scalar(db.select(Volunteer).filter_by(user_id=user.id))


def ensure_may_be_credited(user) -> None:
    """Service hours go only to verified identities: a pending or suspended volunteer's
    hours wait (the service record stays pending) until staff verify or reinstate them.

    People with no volunteer profile (staff, residents) are the caller's business.
    """
    volunteer = profile_of(user)
    if volunteer is not None and not volunteer.is_verified:
        raise Conflict(
            _(
                "%(name)s's identity is not verified yet; their hours wait until station "
                "staff verify it.",
                name=volunteer.user.name,
            ),
            code="not_verified",
        )


# -- verification and status --------------------------------------------------------------


def _reason(reason: str, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ValidationFailed(_("Give the reason."), field="reason")
    if len(reason) > 500:
        raise ValidationFailed(_("The reason is too long."), field="reason")
    return reason


def verify(actor, volunteer: Volunteer, note: str = "") -> Volunteer:
    """Staff have seen the document in person: the volunteer's hours may now be credited."""
    ensure(can_manage(actor, volunteer))
    if actor.id == volunteer.user_id:
        raise ValidationFailed(_("Someone else must verify your identity."))
    if volunteer.status == VolunteerStatus.SUSPENDED:
        raise Conflict(_("Reinstate this volunteer before verifying them."))
    if volunteer.status == VolunteerStatus.VERIFIED:
        return volunteer
    now = utcnow()
    volunteer.status = VolunteerStatus.VERIFIED
    volunteer.verified_at = volunteer.status_changed_at = now
    volunteer.verified_by_id = actor.id
    volunteer.status_reason = _reason(note, required=False)
    record(actor, "volunteer.verify", volunteer, region=volunteer.region)
    return volunteer


def suspend(actor, volunteer: Volunteer, reason: str) -> Volunteer:
    ensure(can_manage(actor, volunteer))
    reason = _reason(reason, required=True)
    if actor.id == volunteer.user_id:
        raise ValidationFailed(_("You cannot suspend yourself."))
    if volunteer.status == VolunteerStatus.SUSPENDED:
        return volunteer
    volunteer.status = VolunteerStatus.SUSPENDED
    volunteer.status_reason = reason
    volunteer.status_changed_at = utcnow()
    record(actor, "volunteer.suspend", volunteer, region=volunteer.region, reason=reason)
    return volunteer


def reinstate(actor, volunteer: Volunteer, reason: str) -> Volunteer:
    """Back to verified if staff had verified them before, else back to pending."""
    ensure(can_manage(actor, volunteer))
    reason = _reason(reason, required=True)
    if actor.id == volunteer.user_id:
        raise ValidationFailed(_("Someone else must reinstate you."))
    if volunteer.status != VolunteerStatus.SUSPENDED:
        return volunteer
    volunteer.status = (
        VolunteerStatus.VERIFIED if volunteer.verified_at else VolunteerStatus.PENDING
    )
    volunteer.status_reason = reason
    volunteer.status_changed_at = utcnow()
    record(actor, "volunteer.reinstate", volunteer, region=volunteer.region, reason=reason)
    return volunteer


def reveal_document(actor, volunteer: Volunteer, reason: str) -> str:
    """The full number, for an administrator who states why; every reveal is audited."""
    ensure(can_admin_region(actor, volunteer.region))
    reason = _reason(reason, required=True)
    record(actor, "volunteer.reveal_document", volunteer, region=volunteer.region, reason=reason)
    return identity.decrypt(volunteer.document_cipher)


def reissue_card(actor, volunteer: Volunteer) -> Volunteer:
    """A new printed card: the old card's code stops working at once."""
    ensure(actor.id == volunteer.user_id or can_manage(actor, volunteer))
    volunteer.card_version += 1
    volunteer.card_issued_at = utcnow()
    record(
        actor,
        "volunteer.reissue_card",
        volunteer,
        region=volunteer.region,
        card_version=volunteer.card_version,
    )
    return volunteer


def set_password(actor, volunteer: Volunteer, password: str) -> None:
    """Staff give a volunteer a password, with the volunteer present: how people imported
    from a station's list (who have none) first sign in, and how a forgotten one is reset.

    Every session the volunteer had ends; the change is audited, the password is not.
    """
    ensure(can_manage(actor, volunteer))
    if actor.id == volunteer.user_id:
        raise ValidationFailed(_("Change your own password on your account page."))
    user = volunteer.user
    check_password_policy(password, field="password", login=user.username or "")
    first = not user.has_usable_password
    user.set_password(password)
    user.session_version += 1
    record(actor, "volunteer.set_password", volunteer, region=volunteer.region, first=first)


def update_profile(actor, volunteer: Volunteer, *, phone=None, skills=None, availability=None):
    """What a volunteer may change themselves; name, ID and community go through staff."""
    ensure(actor.id == volunteer.user_id or can_manage(actor, volunteer))
    user = volunteer.user
    changes = {}
    if phone is not None:
        phone = validate_phone(phone)
        if phone != user.phone:
            taken = Conflict(_("This login is already taken."), field="phone")
            if db.session.scalar(db.select(User.id).filter_by(phone=phone)):
                raise taken
            user.phone = phone
            flush_unique(db.session, taken)
            changes["phone"] = "changed"
    if skills is not None:
        skills = clean_skills(skills)
        if skills != volunteer.skills:
            volunteer.skills = skills
            changes["skills"] = skills
    if availability is not None:
        availability = availability.strip()[:200]
        if availability != volunteer.availability:
            volunteer.availability = availability
            changes["availability"] = availability
    if changes:
        record(actor, "volunteer.update", volunteer, region=volunteer.region, **changes)
    return volunteer
