"""Identity documents: validation, encryption at rest, the keyed lookup hash and masking.

The plain number exists only in memory while a request handles it. At rest there is a
Fernet token (key from TIMEBANK_DATA_KEY, never in the database), an HMAC for uniqueness,
and the last four characters for search and masked display.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from flask_babel import gettext as _
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent

from timebank.core.errors import ValidationFailed
from timebank.volunteers.models import DocumentType, Gender

# Mainland travel permits: H/M + 8 digits (+2 for the renewal count) for Hong Kong and
# Macao residents; 8 digits (older: 10) for Taiwan residents.
HK_MACAO_RE = re.compile(r"^[HM]\d{8}(\d{2})?$")
TAIWAN_RE = re.compile(r"^\d{8}(\d{2})?$")
PASSPORT_RE = re.compile(r"^[A-Z0-9]{5,17}$")
# Foreigner's permanent residence ID: 2017 card (15 characters, 3 letters + 12 digits) or
# the 2023 card (18 digits starting with 9, with the resident-ID check digit).
FOREIGN_OLD_RE = re.compile(r"^[A-Z]{3}\d{12}$")
OLDEST_AGE = 120


@dataclass(frozen=True)
class Document:
    type: DocumentType
    number: str
    birth_date: date | None = None
    gender: Gender | None = None

    @property
    def tail(self) -> str:
        return self.number[-4:]


def normalise(number: str) -> str:
    """Upper case, no spaces or dashes: '11010519491231002x' and '...002X' are one number."""
    return re.sub(r"[\s\-]", "", number or "").upper()


def looks_like_document(text: str) -> bool:
    """A search term that is probably a whole document number (not a name, phone or tail)."""
    text = normalise(text)
    return (
        len(text) >= 8
        and text.isascii()
        and text.isalnum()
        and any(c.isdigit() for c in text)
        and not (len(text) == 11 and text.isdigit())
    )


def document_hashes(number: str) -> list[str]:
    """The lookup hash of this number under every document type, for search."""
    return [document_hash(kind, number) for kind in DocumentType]


def parse_document(doc_type: str, number: str, *, today: date) -> Document:
    """The validated document, or ValidationFailed on field 'document_number'."""
    try:
        kind = DocumentType(doc_type)
    except ValueError:
        raise ValidationFailed(_("Choose a document type."), field="document_type") from None
    number = normalise(number)
    if not number:
        raise ValidationFailed(_("Enter the document number."), field="document_number")
    if kind is DocumentType.RESIDENT_ID:
        return _resident_id(number, today)
    if kind is DocumentType.FOREIGN_PERMANENT and len(number) == 18:
        _check_digit(number, _("This is not a valid permanent residence ID number."))
        return Document(kind, number)
    pattern, message = {
        DocumentType.HK_MACAO_PERMIT: (
            HK_MACAO_RE,
            _("A Hong Kong/Macao permit number is H or M followed by 8 or 10 digits."),
        ),
        DocumentType.TAIWAN_PERMIT: (
            TAIWAN_RE,
            _("A Taiwan permit number has 8 or 10 digits."),
        ),
        DocumentType.PASSPORT: (
            PASSPORT_RE,
            _("A passport number has 5 to 17 letters and digits."),
        ),
        DocumentType.FOREIGN_PERMANENT: (
            FOREIGN_OLD_RE,
            _("This is not a valid permanent residence ID number."),
        ),
    }[kind]
    if not pattern.match(number):
        raise ValidationFailed(message, field="document_number")
    return Document(kind, number)


def _check_digit(number: str, message: str) -> None:
    if not number[:-1].isdigit() or ric.calc_check_digit(number) != number[-1]:
        raise ValidationFailed(message, field="document_number")


def _resident_id(number: str, today: date) -> Document:
    field = "document_number"
    if len(number) != 18 or not number[:17].isdigit() or number[-1] not in "0123456789X":
        raise ValidationFailed(
            _("A resident ID number has 18 characters: 17 digits, then a digit or X."),
            field=field,
        )

    def not_a_date():  # built only when needed: translating costs time in bulk imports
        return ValidationFailed(
            _("The birth date in this ID number is not a real date."), field=field
        )

    try:
        born = ric.get_birth_date(number)
    except (InvalidComponent, ValueError):
        raise not_a_date() from None
    if born > today or today.year - born.year > OLDEST_AGE:
        raise not_a_date()
    if ric.calc_check_digit(number) != number[-1]:
        raise ValidationFailed(
            _("The last character (the check digit) does not match; check the number."),
            field=field,
        )
    if not _known_province(number):
        raise ValidationFailed(
            _("The area code at the start of this ID number does not exist."), field=field
        )
    gender = Gender.MALE if int(number[16]) % 2 else Gender.FEMALE
    return Document(DocumentType.RESIDENT_ID, number, born, gender)


def _known_province(number: str) -> bool:
    """Only the province is checked: python-stdnum's full place check dates each county
    code against the birth year, which refuses real cards of people born before their
    county got its code (an elderly volunteer in Fuzhou's Gulou, code 350102 since 1983).
    """
    return _area_has_province(number[:6])


@lru_cache(maxsize=8192)
def _area_has_province(area: str) -> bool:
    # Cached: python-stdnum searches its table on every call, the slowest part of checking
    # a number, which a bulk import does hundreds of thousands of times.
    from stdnum import numdb

    return any("province" in props for _part, props in numdb.get("cn/loc").info(area))


# -- keys ---------------------------------------------------------------------------------


def _keys() -> list[str]:
    raw = current_app.config.get("DATA_KEY") or ""
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        raise RuntimeError("DATA_KEY is not configured")
    return keys


def _fernet() -> MultiFernet:
    """New numbers are encrypted with the first key; older keys still decrypt (rotation)."""
    cache = current_app.extensions.setdefault("timebank.fernet", {})
    raw = current_app.config["DATA_KEY"]
    if raw not in cache:
        cache.clear()
        cache[raw] = MultiFernet([Fernet(k) for k in _keys()])
    return cache[raw]


def _hash_key() -> bytes:
    # The lookup hash must survive key rotation, so it derives from the last (oldest) key.
    return _derived_hash_key(_keys()[-1])


@lru_cache(maxsize=4)
def _derived_hash_key(oldest: str) -> bytes:
    # Cached: bulk imports hash every row.
    return hmac.new(oldest.encode(), b"timebank.document-hash.v1", hashlib.sha256).digest()


def document_hash(doc_type: str, number: str) -> str:
    message = f"{doc_type}:{normalise(number)}".encode()
    return hmac.new(_hash_key(), message, hashlib.sha256).hexdigest()


def encrypt(number: str) -> str:
    return _fernet().encrypt(normalise(number).encode()).decode()


def decrypt(cipher: str) -> str:
    try:
        return _fernet().decrypt(cipher.encode()).decode()
    except InvalidToken:
        raise RuntimeError("cannot decrypt a document number: wrong TIMEBANK_DATA_KEY?") from None


# -- masking ------------------------------------------------------------------------------


def mask_tail(doc_type: DocumentType, tail: str) -> str:
    """What everyone sees: the length hidden behind a fixed run of stars, the last four."""
    if doc_type is DocumentType.RESIDENT_ID:
        return "*" * 14 + tail
    return "****" + tail


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***; Latin names keep the first letter."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    return name[0] + "*" * min(len(name) - 1, 3)


def mask_phone(phone: str | None) -> str:
    if not phone or len(phone) < 7:
        return phone or ""
    return phone[:3] + "****" + phone[-4:]
