"""Real-name registration: document checks, age rules, duplicates, encryption at rest."""

from datetime import date

import pytest
import sqlalchemy as sa
from stdnum.cn import ric

from tests import factories
from timebank.auth.models import Role
from timebank.core.errors import Conflict, ValidationFailed
from timebank.extensions import db
from timebank.volunteers import identity, services
from timebank.volunteers.models import Volunteer

TODAY = date(2026, 11, 22)


@pytest.fixture(autouse=True)
def english(ctx):
    """The messages below are matched in English; the catalogue's Chinese is tested elsewhere."""
    from flask_babel import force_locale

    with force_locale("en"):
        yield


def with_check_digit(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def wrong_check_digit(number: str) -> str:
    return number[:-1] + ("1" if number[-1] != "1" else "2")


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("11010519900101001", "18 characters"),  # 17 characters
        ("1101051990010100A1", "18 characters"),  # a letter inside
        (wrong_check_digit(factories.resident_id()), "check digit"),
        (with_check_digit("11010519900230001"), "not a real date"),  # 30 February
        (with_check_digit("11010520300101001"), "not a real date"),  # born in the future
        (with_check_digit("99999919900101001"), "area code"),
    ],
)
def test_corrupted_resident_ids_are_refused_with_the_reason(ctx, number, message):
    with pytest.raises(ValidationFailed) as refused:
        identity.parse_document("resident_id", number, today=TODAY)
    assert refused.value.field == "document_number"
    assert message in str(refused.value)


def test_birth_date_and_gender_come_from_the_id(ctx):
    male = identity.parse_document(
        "resident_id", factories.resident_id("19851203", 13), today=TODAY
    )
    female = identity.parse_document(
        "resident_id", factories.resident_id("20010630", 24), today=TODAY
    )
    assert (male.birth_date, male.gender) == (date(1985, 12, 3), "male")
    assert (female.birth_date, female.gender) == (date(2001, 6, 30), "female")


@pytest.mark.parametrize(
    ("doc_type", "good", "bad"),
    [
        ("hk_macao_permit", "H12345678", "X12345678"),
        ("taiwan_permit", "12345678", "1234567"),
        ("passport", "E12345678", "E1"),
        ("foreign_permanent", "USA110012345678", "US1100123456"),
    ],
)
def test_other_documents_are_checked_by_format(ctx, doc_type, good, bad):
    assert identity.parse_document(doc_type, good.lower(), today=TODAY).number == good
    with pytest.raises(ValidationFailed):
        identity.parse_document(doc_type, bad, today=TODAY)


def test_registration_stores_only_ciphertext_and_masks_the_number(ctx, places):
    number = factories.resident_id("19900101", 7)
    volunteer = factories.volunteer(places.east_c, document_number=number)
    row = db.session.execute(
        sa.text("SELECT * FROM volunteer WHERE id = :id"), {"id": volunteer.id}
    )
    raw = " ".join(str(v) for v in row.one())
    assert number not in raw and number[:14] not in raw
    assert identity.decrypt(volunteer.document_cipher) == number
    assert volunteer.masked_document == "*" * 14 + number[-4:]
    assert volunteer.user.region_id == places.east_c.id
    assert volunteer.user.has_role(Role.VOLUNTEER)
    assert (volunteer.status, volunteer.consent_version) == ("pending", "2026-11")


def test_the_same_id_cannot_register_twice_whatever_the_case_of_x(ctx, places):
    number = "11010519491231002X"
    factories.volunteer(places.east_c, document_number=number)
    with pytest.raises(Conflict) as refused:
        factories.volunteer(
            places.west_c, document_number=number.lower(), phone="13700000002", name="王五"
        )
    assert refused.value.code == "already_registered"
    assert "sign in" in str(refused.value).lower()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Volunteer)) == 1


def born_years_ago(years: int, days: int = 0) -> str:
    today = services.today()
    born = date(today.year - years, today.month, min(today.day, 28))
    return born.strftime("%Y%m%d")


def test_minors_need_guardian_consent_and_under_14s_guardian_details(ctx, places):
    sixteen = factories.resident_id(born_years_ago(16), 3)
    with pytest.raises(ValidationFailed) as refused:
        factories.volunteer(places.east_c, document_number=sixteen)
    assert refused.value.field == "guardian_consent"
    teen = factories.volunteer(places.east_c, document_number=sixteen, guardian_consent=True)
    assert teen.guardian_consent_at is not None and teen.guardian_name is None

    twelve = factories.resident_id(born_years_ago(12), 5)
    with pytest.raises(ValidationFailed) as refused:
        factories.volunteer(
            places.east_c, document_number=twelve, phone="13700000003", guardian_consent=True
        )
    assert refused.value.field == "guardian_name"
    with pytest.raises(ValidationFailed) as refused:
        factories.volunteer(
            places.east_c,
            document_number=twelve,
            phone="13700000003",
            guardian_consent=True,
            guardian_name="王父",
            guardian_phone="12345",
        )
    assert refused.value.field == "guardian_phone"
    child = factories.volunteer(
        places.east_c,
        document_number=twelve,
        phone="13700000003",
        guardian_consent=True,
        guardian_name="王父",
        guardian_phone="13600000009",
    )
    assert (child.guardian_name, child.guardian_phone) == ("王父", "13600000009")


def test_an_adult_needs_no_guardian(ctx, places):
    eighteen = factories.resident_id(born_years_ago(18), 9)
    assert factories.volunteer(places.east_c, document_number=eighteen).guardian_consent_at is None


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"phone": "1234"}, "phone"),
        ({"consent": False}, "consent"),
        ({"region_id": None}, "region_id"),
        ({"name": " "}, "name"),
        ({"document_type": "driving_licence"}, "document_type"),
        ({"document_type": "passport", "document_number": "E12345678"}, "birth_date"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(ctx, places, override, field):
    with pytest.raises(ValidationFailed) as refused:
        factories.volunteer(places.east_c, **override)
    assert refused.value.field == field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Volunteer)) == 0


def test_registration_must_name_a_community_not_a_street(ctx, places):
    with pytest.raises(ValidationFailed) as refused:
        factories.volunteer(places.east)
    assert refused.value.field == "region_id"


def test_passport_holders_give_their_birth_date(ctx, places):
    volunteer = factories.volunteer(
        places.east_c,
        document_type="passport",
        document_number="e1234 5678",
        birth_date=date(1970, 5, 4),
        gender="female",
    )
    assert volunteer.masked_document == "****5678"
    assert (volunteer.birth_date, volunteer.gender) == (date(1970, 5, 4), "female")


def test_a_rotated_data_key_still_reads_old_numbers_and_finds_duplicates(app, ctx, places):
    from cryptography.fernet import Fernet

    number = factories.resident_id("19900101", 61)
    old_cipher = identity.encrypt(number)
    old_hash = identity.document_hash("resident_id", number)
    original = app.config["DATA_KEY"]
    app.config["DATA_KEY"] = f"{Fernet.generate_key().decode()},{original}"
    try:
        assert identity.decrypt(old_cipher) == number
        assert identity.document_hash("resident_id", number) == old_hash
        new_cipher = identity.encrypt(number)
    finally:
        app.config["DATA_KEY"] = original
    # Written with the new key: the old key alone cannot read it.
    with pytest.raises(RuntimeError):
        identity.decrypt(new_cipher)
