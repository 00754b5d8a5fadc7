"""Reading a row of a volunteer list: its columns, its cells, and the communities and
teams it names, within what the importer manages."""

import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import or_, select, true

from timebank.core.errors import ValidationFailed
from timebank.core.security import SYSTEM, administered_regions, ensure
from timebank.extensions import db
from timebank.organizations.models import Organization
from timebank.regions.models import Region, RegionLevel
from timebank.volunteers import services
from timebank.volunteers.models import DocumentType, Gender
from timebank.volunteers.sheets import FileRefused, filled

HEADER_SEARCH_ROWS = 10  # a title row or two may sit above the header
IN_CHUNK = 500


# -- columns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    field: str
    label: str  # the header the template uses
    synonyms: tuple[str, ...]
    required: bool = False


COLUMNS = (
    Column("name", "姓名", ("真实姓名", "名字", "name"), True),
    Column("document_type", "证件类型", ("证件种类", "document_type")),
    Column(
        "document_number",
        "证件号码",
        ("身份证号", "身份证号码", "证件号", "公民身份号码", "身份证", "document_number"),
        True,
    ),
    Column("phone", "手机号", ("手机号码", "手机", "联系电话", "电话", "phone"), True),
    Column("community", "社区", ("所属社区", "居住社区", "community"), True),
    Column("team", "队伍", ("志愿队伍", "所属队伍", "服务队", "team")),
    Column("skills", "技能", ("特长", "技能特长", "skills")),
    Column("availability", "服务时间", ("可服务时间", "空闲时间", "availability")),
    Column("birth_date", "出生日期", ("生日", "birth_date")),
    Column("gender", "性别", ("gender",)),
    Column("guardian_consent", "监护人同意", ("guardian_consent",)),
    Column("guardian_name", "监护人姓名", ("监护人", "guardian_name")),
    Column(
        "guardian_phone",
        "监护人电话",
        ("监护人手机", "监护人手机号", "监护人联系电话", "guardian_phone"),
    ),
)
BY_FIELD = {column.field: column for column in COLUMNS}


def loose_key(text) -> str:
    """Headers and short answers compared loosely: full-width forms, spaces, '*' and
    notes in brackets such as （必填） do not count."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    text = re.sub(r"\(.*?\)", "", text)
    return re.sub(r"[\s*:]", "", text).lower()


SYNONYMS = {
    loose_key(name): column for column in COLUMNS for name in (column.label, *column.synonyms)
}


class Layout:
    """Where each known column sits in this file, and what the file calls it."""

    def __init__(self, header):
        self.index: dict[str, int] = {}
        self.labels: dict[str, str] = {}
        self.ignored: list[str] = []
        for position, cell in enumerate(header):
            if not filled(cell):
                continue
            written = str(cell).strip()
            column = SYNONYMS.get(loose_key(cell))
            if column is None:
                self.ignored.append(written)
            elif column.field in self.index:
                raise FileRefused(
                    _(
                        "The columns “%(first)s” and “%(second)s” both give %(column)s. "
                        "Keep one of them.",
                        first=self.labels[column.field],
                        second=written,
                        column=column.label,
                    )
                )
            else:
                self.index[column.field] = position
                self.labels[column.field] = written

    @staticmethod
    def known(row) -> int:
        return len(
            {SYNONYMS[k].field for k in (loose_key(v) for v in row if filled(v)) if k in SYNONYMS}
        )

    @property
    def missing(self) -> list[str]:
        return [c.label for c in COLUMNS if c.required and c.field not in self.index]

    def label(self, field_name: str | None) -> str:
        if field_name in self.labels:
            return self.labels[field_name]
        column = BY_FIELD.get(field_name or "")
        return column.label if column else ""

    def cells(self, values) -> dict:
        return {f: values[i] if i < len(values) else None for f, i in self.index.items()}


def find_header(records) -> tuple[Layout, int]:
    """The header, and how many non-empty rows it took to reach it (title rows included)."""
    for seen, (_line, values) in enumerate(records, start=1):
        if Layout.known(values) >= 2:
            layout = Layout(values)
            if layout.missing:
                raise FileRefused(
                    _(
                        "The file has no column for: %(columns)s. Download the template to see "
                        "the columns.",
                        columns="、".join(layout.missing),
                    )
                )
            return layout, seen
        if seen >= HEADER_SEARCH_ROWS:
            break
    raise FileRefused(
        _(
            "No header row found. The first row must name the columns, such as %(columns)s.",
            columns="、".join(c.label for c in COLUMNS if c.required),
        )
    )


# -- cells --------------------------------------------------------------------------------

DOCUMENT_TYPE_NAMES = {
    **{
        loose_key(name): DocumentType.RESIDENT_ID
        for name in ("身份证", "居民身份证", "二代身份证", "中国居民身份证")
    },
    **{
        loose_key(name): DocumentType.HK_MACAO_PERMIT
        for name in ("港澳通行证", "港澳居民来往内地通行证", "回乡证")
    },
    **{
        loose_key(name): DocumentType.TAIWAN_PERMIT
        for name in ("台湾通行证", "台湾居民来往大陆通行证", "台胞证")
    },
    **{loose_key(name): DocumentType.PASSPORT for name in ("护照", "外国护照", "中国护照")},
    **{
        loose_key(name): DocumentType.FOREIGN_PERMANENT
        for name in ("外国人永久居留身份证", "外国人永久居留证", "永久居留身份证", "永久居留证")
    },
    **{loose_key(kind.value): kind for kind in DocumentType},
}
DOCUMENT_TYPE_EXAMPLES = ("居民身份证", "港澳通行证", "台湾通行证", "护照", "外国人永久居留身份证")
GENDERS = {
    **dict.fromkeys(("男", "男性", "m", "male"), Gender.MALE),
    **dict.fromkeys(("女", "女性", "f", "female"), Gender.FEMALE),
}
YES = {"是", "y", "yes", "同意", "已同意", "有", "√", "✓", "✔", "1", "true"}
NO = {"否", "n", "no", "不同意", "无", "×", "✗", "0", "false"}
DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
SCIENTIFIC_RE = re.compile(r"^\d+(\.\d+)?e\+?\d+$", re.IGNORECASE)
# Excel keeps 15 significant digits: a longer number typed into a number cell is damaged.
EXCEL_DIGITS = 15


def cell_text(value) -> str:
    if value is None:
        return ""
    if type(value) is str:  # nearly every cell: checked first
        return value.strip()
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def digits_text(value) -> str:
    """Numbers typed with full-width digits (１３８…) read as ordinary ones."""
    return unicodedata.normalize("NFKC", cell_text(value))


def _lost_digits() -> ValidationFailed:
    return ValidationFailed(
        _(
            "This number was stored as a number and lost its last digits. Format the column "
            "as text and type the number again."
        ),
        field="document_number",
    )


def parse_document_number(value) -> str:
    if isinstance(value, float) and (
        len(cell_text(value)) > EXCEL_DIGITS or not value.is_integer()
    ):
        raise _lost_digits()
    text = digits_text(value)
    if SCIENTIFIC_RE.match(text.replace(" ", "")):
        raise _lost_digits()
    return text


def parse_document_type(text: str) -> str:
    if not loose_key(text):
        return DocumentType.RESIDENT_ID
    kind = DOCUMENT_TYPE_NAMES.get(loose_key(text))
    if kind is None:
        raise ValidationFailed(
            _(
                "Unknown document type. Write one of: %(types)s.",
                types="、".join(DOCUMENT_TYPE_EXAMPLES),
            ),
            field="document_type",
        )
    return kind


def parse_birth_date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = digits_text(value).replace("T", " ").split(" ")[0]
    if not text:
        return None
    match = DATE_RE.match(text) or COMPACT_DATE_RE.match(text)
    if match:
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            pass
    raise ValidationFailed(
        _("Write the date of birth as year-month-day, for example 1990-01-31."),
        field="birth_date",
    )


def parse_gender(text: str) -> str | None:
    if not loose_key(text):
        return None
    try:
        return GENDERS[loose_key(text)]
    except KeyError:
        raise ValidationFailed(_("Write the gender as 男 or 女."), field="gender") from None


def parse_yes(text: str) -> bool:
    answer = loose_key(text)
    if not answer or answer in NO:
        return False
    if answer in YES:
        return True
    raise ValidationFailed(_("Write 是 (yes) or 否 (no)."), field="guardian_consent")


# -- places: the communities and teams an importer may use --------------------------------


def _place_key(text) -> str:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")))
    return re.sub(r"[\\|/]+", "/", text).strip("/")


@dataclass(frozen=True, slots=True)
class Place:
    id: int
    path: str
    label: str  # street/community, as a person would write it


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    path: str  # of the team's region
    allowed: bool


class Places:
    """Communities in the actor's scope (optionally inside limit), found by the names
    people write: "东一社区", or "东街街道/东一社区" when two streets have one of that name.

    Held as plain values, so batch commits expire nothing that is needed later.
    """

    def __init__(self, actor, limit: Region | None = None):
        unlimited = actor is SYSTEM or actor.is_superadmin
        if unlimited:
            roots = [limit] if limit is not None else None
            admin_roots, staffed, led = [], [], set()
        else:
            admin_roots = administered_regions(actor)
            staffed = services.staffed_regions(actor)
            led = set(services.led_organization_ids(actor))
            roots = admin_roots + staffed
            if limit is not None:
                roots = (
                    [limit]
                    if any(root.contains(limit) for root in roots)
                    else [root for root in roots if limit.contains(root)]
                )
            ensure(bool(roots))
        # The audit line is shown to administrators of this region and above.
        self.audit_region = limit or (roots[0] if roots and len(roots) == 1 else None)
        condition = (
            true()
            if roots is None
            else or_(*(Region.path.startswith(root.path, autoescape=True) for root in roots))
        )
        communities = db.session.execute(
            select(Region.id, Region.path, Region.name).where(
                Region.level == RegionLevel.COMMUNITY, condition
            )
        ).all()
        ancestors = {int(part) for _id, path, _name in communities for part in _parents(path)}
        names = dict(_in_chunks(select(Region.id, Region.name), Region.id, ancestors))
        self.by_key: dict[str, list[Place]] = defaultdict(list)
        for region_id, path, name in communities:
            chain = [names.get(int(part), "") for part in _parents(path)] + [name]
            place = Place(region_id, path, "/".join(chain[-2:]))
            for depth in range(1, len(chain) + 1):
                self.by_key[_place_key("/".join(chain[-depth:]))].append(place)

        # Teams serving these communities: based in one of them or in a region above.
        self.teams: dict[str, list[Team]] = defaultdict(list)
        region_ids = {c.id for c in communities} | ancestors
        query = select(Organization.id, Organization.name, Region.path).join(Organization.region)
        query = query.where(Organization.active.is_(True))
        for org_id, name, path in _in_chunks(query, Organization.region_id, region_ids):
            # Their leaders and the administrators or station staff above them.
            allowed = (
                unlimited
                or org_id in led
                or any(path.startswith(root.path) for root in admin_roots + staffed)
            )
            self.teams[_place_key(name)].append(Team(org_id, path, allowed))

    def community(self, text: str) -> Place:
        key = _place_key(text)
        if not key:
            raise ValidationFailed(_("Write the person's community."), field="community")
        found = self.by_key.get(key, [])
        if len(found) == 1:
            return found[0]
        if not found:
            raise ValidationFailed(
                _("No community called “%(name)s” among those you manage.", name=text),
                field="community",
            )
        raise ValidationFailed(
            _(
                "Several communities are called “%(name)s”. Write the street too, for example "
                "“%(example)s”.",
                name=text,
                example=found[0].label,
            ),
            field="community",
        )

    def team(self, text: str, place: Place) -> int:
        candidates = [
            t for t in self.teams.get(_place_key(text), ()) if place.path.startswith(t.path)
        ]
        if not candidates:
            raise ValidationFailed(
                _("No team called “%(name)s” serves this person's community.", name=text),
                field="team",
            )
        team = max(candidates, key=lambda t: len(t.path))  # the nearest one
        if not team.allowed:
            raise ValidationFailed(
                _("You cannot add people to the team “%(name)s”.", name=text), field="team"
            )
        return team.id


def _parents(path: str) -> list[str]:
    return path.strip("/").split("/")[:-1]


def _in_chunks(query, column, values):
    values = list(values)
    for start in range(0, len(values), IN_CHUNK):
        yield from db.session.execute(query.where(column.in_(values[start : start + IN_CHUNK])))


# -- the template -------------------------------------------------------------------------

TEXT_COLUMNS = ("document_number", "phone", "guardian_phone")
TEMPLATE_TEXT_ROWS = 2000


def template_workbook() -> bytes:
    """An empty list with the header row; the number columns are formatted as text, so
    that Excel keeps every digit of an ID number."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "志愿者"
    sheet.append([column.label for column in COLUMNS])
    for position, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=position)
        cell.font = Font(bold=column.required)
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = 20 if column.field in TEXT_COLUMNS else 12
        if column.field in TEXT_COLUMNS:
            for row in range(2, TEMPLATE_TEXT_ROWS + 2):
                sheet.cell(row=row, column=position).number_format = "@"
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
