"""Bulk import of volunteers from a station's spreadsheet (CSV or XLSX).

Every row passes the checks of self-registration (services.check_person). Valid rows are
written in batches with Core executemany: no ORM object and no password hash per row,
duplicates looked up with one IN query per batch, and the caller's commit after each
batch, so memory stays flat however long the file. A person already registered (same
document) is skipped, not refused: importing the same file twice adds nothing the second
time.

Imported people have no password (auth.models.UNUSABLE_PASSWORD) and cannot sign in
until staff set one. Their consent was collected on paper by the station: the importer
attests it, and each profile's consent_version, "import:<id>", names the audit event that
records who imported which file (its SHA-256) and when.
"""

import csv
import hashlib
import re
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from timebank.audit.services import record
from timebank.auth.models import UNUSABLE_PASSWORD, Role, RoleGrant, ScopeKind, User
from timebank.core.db import utcnow
from timebank.core.errors import ValidationFailed
from timebank.extensions import db
from timebank.organizations.models import MemberRole, Membership
from timebank.regions.models import Region
from timebank.volunteers import codes, identity, services
from timebank.volunteers.import_rows import (
    DOCUMENT_TYPE_NAMES,
    Layout,
    Place,
    Places,
    cell_text,
    digits_text,
    find_header,
    loose_key,
    parse_birth_date,
    parse_document_number,
    parse_document_type,
    parse_gender,
    parse_yes,
)
from timebank.volunteers.models import DocumentType, Volunteer, VolunteerStatus
from timebank.volunteers.sheets import FileRefused, open_sheet, too_many_rows

BATCH_SIZE = 1000
IN_CHUNK = 500
# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# -- keys seen earlier in the file --------------------------------------------------------


class SeenKeys:
    """Documents and mobile numbers met earlier in this file, with their line numbers.

    A private temporary SQLite database (on disk beyond a small cache) rather than a
    Python set, so memory stays flat however long the file. Keys are BLAKE2 digests under
    a random key of this import only: the temporary file holds no ID or phone number.
    """

    def __init__(self):
        self._secret = secrets.token_bytes(32)
        self._db = sqlite3.connect("", isolation_level=None)  # "": temporary, private
        self._db.execute("PRAGMA cache_size = -2048")
        self._db.execute("CREATE TABLE seen (key BLOB PRIMARY KEY, line INTEGER) WITHOUT ROWID")

    def key(self, kind: str, value: str) -> bytes:
        message = f"{kind}:{value}".encode()
        return hashlib.blake2b(message, key=self._secret, digest_size=16).digest()

    def lines(self, keys: list[bytes]) -> dict[bytes, int]:
        found = {}
        for start in range(0, len(keys), IN_CHUNK):
            chunk = keys[start : start + IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._db.execute(f"SELECT key, line FROM seen WHERE key IN ({marks})", chunk)
            )
        return found

    def add(self, pairs) -> None:
        self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", pairs)

    def close(self) -> None:
        self._db.close()


# -- results and the rejected-rows report -------------------------------------------------


@dataclass
class Problem:
    """A rejected row: where, why, and who (masked: never a full ID or mobile number)."""

    line: int
    column: str
    reason: str
    name: str = ""
    document: str = ""
    phone: str = ""
    community: str = ""
    team: str = ""


@dataclass
class ImportResult:
    dry_run: bool
    rows: int = 0  # people rows in the file, from the first pass
    read: int = 0
    added: int = 0  # would be added, in a dry run
    skipped: int = 0  # already registered
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    audit_event_id: int | None = None

    @property
    def unlisted_problems(self) -> int:
        return self.rejected - len(self.problems)


def _safe(value) -> str:
    """Text that a spreadsheet program will not run as a formula."""
    value = str(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class RejectedRows:
    """The report of rejected rows, as CSV; open its stream with encoding "utf-8-sig" so
    that Excel shows the Chinese."""

    def __init__(self, stream):
        self.writer = csv.writer(stream)
        self.writer.writerow(
            [
                _("Line"),
                _("Column"),
                _("Reason"),
                _("Name"),
                _("Document number"),
                _("Mobile number"),
                _("Community"),
                _("Team"),
            ]
        )

    def write(self, p: Problem) -> None:
        masked = (p.column, p.reason, p.name, p.document, p.phone, p.community, p.team)
        self.writer.writerow([p.line, *(_safe(v) for v in masked)])


# -- the import ---------------------------------------------------------------------------


@dataclass(slots=True)
class Candidate:
    """A row that passed the checks needing no database, waiting for its batch."""

    line: int
    person: dict
    place: Place
    team_id: int | None
    text: dict
    digest: str = ""
    document_key: bytes = b""
    phone_key: bytes = b""


def import_volunteers(
    actor,
    stream,
    *,
    filename: str = "",
    dry_run: bool = False,
    region: Region | None = None,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    report=None,
    commit=None,
    progress=None,
    batch_size: int = BATCH_SIZE,
    keep_problems: int | None = None,
) -> ImportResult:
    """Check (dry_run) or import the people listed in a CSV or XLSX file.

    stream: a seekable binary file. region limits the communities rows may name to that
    subtree of the actor's scope. report: a text stream receiving the rejected rows as
    CSV. commit: called after each batch (pass db.session.commit; a dry run's batches
    only read, and committing ends their read transaction). progress(read, rows) after
    each batch. keep_problems caps the problems kept in the result (the report has all).

    Raises FileRefused, before anything is changed, for a file that cannot be imported
    as a whole: wrong format, formulas, several sheets, a missing column, too large.
    """
    sheet = open_sheet(stream, filename, max_bytes=max_bytes)
    total = sheet.scan()
    with closing(sheet.records()) as records:
        layout, header_rows = find_header(records)
        rows = max(total - header_rows, 0)
        if max_rows is not None and rows > max_rows:
            raise FileRefused(too_many_rows(max_rows))
        job = _Import(actor, layout, Places(actor, region), dry_run, report, keep_problems)
        job.result.rows = rows
        job.result.ignored_columns = layout.ignored
        try:
            if not dry_run:
                job.open_audit(filename, sheet, rows)
            for line, values in records:
                job.take(line, values)
                if len(job.pending) + len(job.problems) >= batch_size:
                    job.flush(commit)
                    if progress:
                        progress(job.result.read, rows)
            job.flush(None)
            if not dry_run:
                job.close_audit()
            if commit:
                commit()
        finally:
            job.seen.close()
    if progress:
        progress(job.result.read, rows)
    return job.result


class _Import:
    def __init__(self, actor, layout: Layout, places: Places, dry_run, report, keep_problems):
        self.actor = actor
        self.actor_id = getattr(actor, "id", None)
        self.layout, self.places = layout, places
        self.dry_run = dry_run
        self.report = RejectedRows(report) if report is not None else None
        self.keep_problems = keep_problems
        self.result = ImportResult(dry_run=dry_run)
        self.seen = SeenKeys()
        self.now = utcnow()
        self.today = services.today()
        self.consent_version = "import"
        self.pending: list[Candidate] = []
        self.problems: list[Problem] = []

    # -- audit: one event when the import starts, one when it ends, never one per row

    def open_audit(self, filename: str, sheet, rows: int) -> None:
        event = record(
            self.actor,
            "volunteer.import",
            None,
            region=self.places.audit_region,
            file=(filename or "")[:200],
            sha256=sheet.digest,
            format=sheet.kind,
            rows=rows,
            # The importer attests that the station holds everyone's signed consent.
            consent="paper",
        )
        db.session.flush()
        self.result.audit_event_id = event.id
        version = f"import:{event.id}"
        self.consent_version = version if len(version) <= 16 else "import"

    def close_audit(self) -> None:
        r = self.result
        record(
            self.actor,
            "volunteer.import.finish",
            None,
            region=self.places.audit_region,
            import_event_id=r.audit_event_id,
            read=r.read,
            added=r.added,
            skipped=r.skipped,
            rejected=r.rejected,
        )

    # -- rows

    def take(self, line: int, values) -> None:
        self.result.read += 1
        cells = self.layout.cells(values)
        text = {name: cell_text(value) for name, value in cells.items()}
        try:
            self.pending.append(self._check(line, cells, text))
        except ValidationFailed as exc:
            # One report line per row, naming every bad cell in it.
            found = exc.fields or {exc.field: [str(exc.message)]}
            self.reject(line, list(found), "；".join(m for ms in found.values() for m in ms), text)

    def _check(self, line: int, cells: dict, text: dict) -> Candidate:
        get = text.get
        form = services.Registration(
            name=get("name", ""),
            document_type=parse_document_type(get("document_type", "")),
            document_number=parse_document_number(cells.get("document_number")),
            phone=digits_text(cells.get("phone")),
            region_id=None,
            consent=True,
            skills=get("skills", ""),
            availability=get("availability", ""),
            birth_date=parse_birth_date(cells.get("birth_date")),
            gender=parse_gender(get("gender", "")),
            guardian_consent=parse_yes(get("guardian_consent", "")),
            guardian_name=get("guardian_name", ""),
            guardian_phone=digits_text(cells.get("guardian_phone")),
        )
        person = services.check_person(form, self.today)
        read_from_id = person["document"].birth_date
        if read_from_id and form.birth_date and form.birth_date != read_from_id:
            raise ValidationFailed(
                _("The date of birth does not match the one in the ID number."),
                field="birth_date",
            )
        place = self.places.community(get("community", ""))
        team_id = self.places.team(get("team"), place) if get("team") else None
        return Candidate(line, person, place, team_id, text)

    def reject(self, line: int, field_name: str | list | None, reason: str, text: dict) -> None:
        number = identity.normalise(text.get("document_number", ""))
        kind = DOCUMENT_TYPE_NAMES.get(
            loose_key(text.get("document_type", "")), DocumentType.RESIDENT_ID
        )
        self.problems.append(
            Problem(
                line=line,
                column="、".join(
                    self.layout.label(name)
                    for name in (field_name if isinstance(field_name, list) else [field_name])
                ),
                reason=reason,
                name=identity.mask_name(text.get("name", "")),
                document=identity.mask_tail(kind, number[-4:]) if number else "",
                phone=identity.mask_phone(re.sub(r"\D", "", digits_text(text.get("phone")))),
                community=text.get("community", "")[:100],
                team=text.get("team", "")[:100],
            )
        )

    # -- batches

    def flush(self, commit) -> None:
        batch, self.pending = self.pending, []
        if batch:
            keep = self._sort_out(batch)
            if keep and not self.dry_run:
                keep = self._write(keep)
            self.result.added += len(keep)
        problems, self.problems = sorted(self.problems, key=lambda p: p.line), []
        self.result.rejected += len(problems)
        for problem in problems:
            if self.report is not None:
                self.report.write(problem)
            if self.keep_problems is None or len(self.result.problems) < self.keep_problems:
                self.result.problems.append(problem)
        if commit:
            commit()

    def _sort_out(self, batch: list[Candidate]) -> list[Candidate]:
        """Rows to add: not a repeat of an earlier line, not already registered (skipped),
        and with a mobile number nobody has yet."""
        for c in batch:
            document = c.person["document"]
            c.digest = identity.document_hash(document.type, document.number)
            c.document_key = self.seen.key("document", c.digest)
            c.phone_key = self.seen.key("phone", c.person["phone"])
        earlier = self.seen.lines([k for c in batch for k in (c.document_key, c.phone_key)])
        registered, taken = self._in_database(batch)
        keep, new = [], {}
        for c in batch:
            first = earlier.get(c.document_key) or new.get(c.document_key)
            if first:
                self._refuse(c, "document_number", self._same_document(first))
                continue
            new[c.document_key] = c.line
            if c.digest in registered:
                self.result.skipped += 1
                new.setdefault(c.phone_key, c.line)
                continue
            first = earlier.get(c.phone_key) or new.get(c.phone_key)
            if first:
                self._refuse(
                    c, "phone", _("The same mobile number is on line %(line)d.", line=first)
                )
            elif c.person["phone"] in taken:
                self._refuse(c, "phone", self._phone_taken())
            else:
                new[c.phone_key] = c.line
                keep.append(c)
        self.seen.add(new.items())
        return keep

    @staticmethod
    def _same_document(line: int) -> str:
        return _(
            "The same document number is on line %(line)d; only that line is imported.",
            line=line,
        )

    @staticmethod
    def _phone_taken() -> str:
        return _("An account with this mobile number already exists.")

    def _refuse(self, c: Candidate, field_name: str, reason: str) -> None:
        self.reject(c.line, field_name, reason, c.text)

    def _in_database(self, batch: list[Candidate]) -> tuple[set[str], set[str]]:
        """Document hashes already registered and mobile numbers already used: one IN
        query each for the whole batch."""
        registered = set(
            db.session.scalars(
                select(Volunteer.document_hash).where(
                    Volunteer.document_hash.in_([c.digest for c in batch])
                )
            )
        )
        taken = set(
            db.session.scalars(
                select(User.phone).where(User.phone.in_({c.person["phone"] for c in batch}))
            )
        )
        return registered, taken

    def _write(self, batch: list[Candidate]) -> list[Candidate]:
        for _attempt in range(3):
            try:
                with db.session.begin_nested():
                    self._insert(batch)
                return batch
            except IntegrityError:
                # Someone registered meanwhile with one of these documents or mobile
                # numbers (PostgreSQL lets a concurrent request pass the same checks).
                registered, taken = self._in_database(batch)
                rest = []
                for c in batch:
                    if c.digest in registered:
                        self.result.skipped += 1
                    elif c.person["phone"] in taken:
                        self._refuse(c, "phone", self._phone_taken())
                    else:
                        rest.append(c)
                batch = rest
        raise RuntimeError("the volunteer import kept colliding with concurrent registrations")

    def _insert(self, batch: list[Candidate]) -> None:
        """Users, profiles, volunteer grants and team memberships: four executemany."""
        now = self.now
        users = User.__table__
        # Matched back by mobile number (unique in a batch by now) rather than by order:
        # asking for the parameters' order makes SQLAlchemy insert one row at a time on
        # SQLite, where the table has no sentinel column to sort on.
        user_ids = dict(
            db.session.execute(
                insert(users).returning(users.c.phone, users.c.id),
                [
                    {
                        "username": None,
                        "phone": c.person["phone"],
                        "name": c.person["name"],
                        "password_hash": UNUSABLE_PASSWORD,
                        "active": True,
                        "locale": None,
                        "region_id": c.place.id,
                        "session_version": 1,
                        "created_at": now,
                        "last_login_at": None,
                    }
                    for c in batch
                ],
            ).all()
        )
        profiles, grants, memberships = [], [], []
        for c in batch:
            p, document = c.person, c.person["document"]
            user_id = user_ids[p["phone"]]
            profiles.append(
                {
                    "user_id": user_id,
                    "region_id": c.place.id,
                    "document_type": str(document.type),
                    "document_cipher": identity.encrypt(document.number),
                    "document_hash": c.digest,
                    "document_tail": document.tail,
                    "birth_date": p["birth_date"],
                    "gender": str(p["gender"]) if p["gender"] else None,
                    "skills": p["skills"],
                    "availability": p["availability"],
                    "status": VolunteerStatus.PENDING.value,
                    "status_reason": "",
                    "status_changed_at": None,
                    "verified_at": None,
                    "verified_by_id": None,
                    "consent_version": self.consent_version,
                    "consent_at": now,
                    "guardian_consent_at": now if p["minor"] else None,
                    "guardian_name": p["guardian_name"],
                    "guardian_phone": p["guardian_phone"],
                    "star_level": 0,
                    "qr_handle": codes.new_handle(),
                    "card_version": 1,
                    "card_issued_at": now,
                    "source": "import",
                    "created_at": now,
                }
            )
            grants.append(
                {
                    "user_id": user_id,
                    "role": Role.VOLUNTEER.value,
                    "scope_kind": ScopeKind.REGION.value,
                    "scope_id": c.place.id,
                    "granted_by_id": self.actor_id,
                    "created_at": now,
                }
            )
            if c.team_id is not None:
                memberships.append(
                    {
                        "organization_id": c.team_id,
                        "user_id": user_id,
                        "role": MemberRole.MEMBER.value,
                        "joined_at": now,
                    }
                )
        db.session.execute(insert(Volunteer.__table__), profiles)
        db.session.execute(insert(RoleGrant.__table__), grants)
        if memberships:
            db.session.execute(insert(Membership.__table__), memberships)
