"""Service-record certificates: totals from approved, unreversed hours; the PDF's text and QR
code; the public verify page; revocation; who may see, issue and download what."""

import io
import os
import re
import secrets
from datetime import timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pypdf
import pytest
import zxingcpp
from flask_babel import force_locale

from tests import factories
from tests.conftest import login
from timebank.audit.models import AuditEvent
from timebank.core.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from timebank.events import attendance, records
from timebank.events.models import ServiceRecord
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.exports import format_duration
from timebank.ledger.models import Transaction
from timebank.organizations.models import Organization
from timebank.reports import certificates
from timebank.reports.models import Certificate
from timebank.stations.models import Station
from timebank.volunteers import services as volunteers
from timebank.volunteers.models import Volunteer

API = "/api/v1/certificates"
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh"}
HOLDER = "王小明"
HOLDER_PHONE = "13712345678"

# The fixture's hours, by hand: the station line counts the 120 and 45 minute entries (the
# 60 minute one was reversed, the 180 minute one lies outside the period); the team line
# counts the 30 minutes of its event. 120 + 45 + 30 = 195 minutes = 3 h 15 min.
STATION_MINUTES, TEAM_MINUTES, TOTAL_MINUTES = 165, 30, 195


def _entry(staff, station, user, days_ago: int, minutes: int):
    """A station staff entry (补录) for one person, approved by the staff member who typed it."""
    entry = records.create_entry(
        staff,
        station,
        [user],
        served_on=volunteers.today() - timedelta(days=days_ago),
        minutes=minutes,
        description="社区助老",
        reason="纸质签到表补录",
    )
    service_record = db.session.scalar(db.select(ServiceRecord).filter_by(staff_entry_id=entry.id))
    assert service_record.state == "approved" and service_record.transaction_id
    return service_record


@pytest.fixture
def served(app, places, people):
    """王小明, verified, in the east community, with approved hours at the east station and
    with the east team, one credit reversed and one entry long before the period."""
    with app.test_request_context():
        volunteer = factories.volunteer(
            places.east_c,
            verified=True,
            name=HOLDER,
            phone=HOLDER_PHONE,
            document_number=factories.resident_id(serial=77),
        )
        user = volunteer.user
        staff = db.session.get(type(people.east_staff), people.east_staff.id)
        station = db.session.get(Station, places.east_station.id)
        _entry(staff, station, user, days_ago=40, minutes=120)
        _entry(staff, station, user, days_ago=20, minutes=45)
        mistaken = _entry(staff, station, user, days_ago=10, minutes=60)
        _entry(staff, station, user, days_ago=400, minutes=180)
        ledger.reverse(
            db.session.get(type(people.district_admin), people.district_admin.id),
            db.session.get(Transaction, mistaken.transaction_id),
            "重复登记",
        )

        team = db.session.get(Organization, places.east_team.id)
        event = factories.event(team, starts_in=-30, lasts=60)
        attendance.check_in(event, user, via="kiosk", at=event.starts_at)
        attendance.check_out(event, user, via="kiosk", at=event.starts_at + timedelta(minutes=25))
        team_record = db.session.scalar(db.select(ServiceRecord).filter_by(event_id=event.id))
        assert team_record.minutes == TEAM_MINUTES
        records.approve(db.session.get(type(people.east_admin), people.east_admin.id), team_record)
        db.session.commit()
        today = volunteers.today()
        return SimpleNamespace(
            volunteer_id=volunteer.id,
            user_id=user.id,
            tail=volunteer.document_tail,
            start=today - timedelta(days=100),
            end=today,
        )


def _issue(app, served, actor_id=None, **overrides):
    """Issue through the service, committed; answers the certificate's id and code."""
    with app.test_request_context():
        volunteer = db.session.get(Volunteer, served.volunteer_id)
        actor = db.session.get(type(volunteer.user), actor_id or served.user_id)
        fields = {"period_start": served.start, "period_end": served.end, "purpose": "升学"}
        fields.update(overrides)
        made = certificates.issue(actor, volunteer, **fields)
        db.session.commit()
        return SimpleNamespace(id=made.id, code=made.code, serial=made.serial)


def _refusal(call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value


# -- the facts ------------------------------------------------------------------------------


def test_totals_count_approved_unreversed_hours_in_the_period_by_organization(app, served, places):
    issued = _issue(app, served)
    with app.test_request_context():
        made = db.session.get(Certificate, issued.id)
        assert made.lines == [
            {"organization": "东一站", "minutes": STATION_MINUTES, "count": 2},
            {"organization": "东街服务队", "minutes": TEAM_MINUTES, "count": 1},
        ]
        assert (made.total_minutes, made.service_count) == (TOTAL_MINUTES, 3)
        assert made.holder_name == HOLDER
        assert made.masked_document == "*" * 14 + served.tail
        assert made.region_id == places.east_c.id and made.purpose == "升学"
        # The year is the local one (New Year's Eve in UTC is already next year in Shanghai).
        local_year = made.issued_at.astimezone(ZoneInfo("Asia/Shanghai")).year
        assert made.serial == f"ZM{local_year}-{made.id:06d}"
        assert 16 <= len(made.code) <= 32 and certificates.CODE_SHAPE.fullmatch(made.code)
        audit = db.session.scalar(
            db.select(AuditEvent).filter_by(action="certificate.issue", object_id=made.id)
        )
        assert audit.actor_id == served.user_id
        assert audit.detail["total_minutes"] == TOTAL_MINUTES
        assert HOLDER not in str(audit.detail)


def test_a_narrower_period_counts_less(app, served):
    issued = _issue(app, served, period_start=served.end - timedelta(days=25))
    with app.test_request_context():
        made = db.session.get(Certificate, issued.id)
        # Only the 45 minutes twenty days ago and the team's 30 minutes today.
        assert (made.total_minutes, made.service_count) == (45 + TEAM_MINUTES, 2)


def test_two_certificates_get_distinct_serials_and_codes(app, served):
    first, second = _issue(app, served), _issue(app, served)
    assert first.serial != second.serial and first.code != second.code


# -- refusals -------------------------------------------------------------------------------


def test_periods_that_cannot_be_certified_are_refused_by_field(ctx, served, people):
    volunteer = db.session.get(Volunteer, served.volunteer_id)
    user = volunteer.user
    today = volunteers.today()

    def issue(start, end, **kwargs):
        # Worded in English here, whatever the default language: the messages are checked.
        with force_locale("en"):
            refusal = _refusal(
                certificates.issue, user, volunteer, period_start=start, period_end=end, **kwargs
            )
            refusal.message = str(refusal.message)
            return refusal

    backwards = issue(today - timedelta(days=1), today - timedelta(days=5))
    assert isinstance(backwards, ValidationFailed) and backwards.field == "period_end"
    assert "ends before it starts" in str(backwards.message)
    future = issue(today - timedelta(days=5), today + timedelta(days=1))
    assert future.field == "period_end" and "after today" in str(future.message)
    assert issue(today + timedelta(days=3), today + timedelta(days=9)).fields.keys() == {
        "period_start",
        "period_end",
    }
    too_long = issue(today - timedelta(days=11 * 365), today)
    assert too_long.field == "period_start" and "10 years" in str(too_long.message)
    missing = issue(None, None)
    assert set(missing.fields) == {"period_start", "period_end"}
    purpose = issue(served.start, served.end, purpose="x" * 101)
    assert purpose.field == "purpose"
    nothing = issue(today - timedelta(days=5 * 365), today - timedelta(days=4 * 365))
    assert nothing.code == "no_service" and "nothing to certify" in str(nothing.message)
    assert db.session.scalar(db.select(db.func.count()).select_from(Certificate)) == 0


def test_unverified_volunteers_get_no_certificate(ctx, places, people):
    pending = factories.volunteer(
        places.east_c, phone="13799990000", document_number=factories.resident_id(serial=88)
    )
    refused = _refusal(
        certificates.issue,
        people.east_staff,
        pending,
        period_start=volunteers.today() - timedelta(days=30),
        period_end=volunteers.today(),
    )
    assert isinstance(refused, Conflict) and refused.code == "not_verified"


def test_only_the_volunteer_and_staff_over_them_issue(ctx, served, people):
    volunteer = db.session.get(Volunteer, served.volunteer_id)
    period = {"period_start": served.start, "period_end": served.end}
    for outsider in (people.west_admin, people.east_leader, people.volunteer):
        refused = _refusal(certificates.issue, outsider, volunteer, **period)
        assert isinstance(refused, PermissionDenied)
    assert certificates.issue(people.east_staff, volunteer, **period).requested_by_id == (
        people.east_staff.id
    )


# -- the PDF --------------------------------------------------------------------------------


def _pdf(response) -> pypdf.PdfReader:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    return pypdf.PdfReader(io.BytesIO(response.data))


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_pdf_reads_back_name_hours_and_a_qr_code_of_the_verify_url(app, client, served, auth):
    created = client.post(
        API,
        json={"period_start": served.start.isoformat(), "period_end": served.end.isoformat()},
        headers=auth(HOLDER_PHONE),
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert body["total_minutes"] == TOTAL_MINUTES and body["service_count"] == 3
    assert body["verify_url"] == f"http://localhost/verify/{body['code']}"

    document = _pdf(client.get(f"{API}/{body['id']}/pdf", headers=auth(HOLDER_PHONE, **ZH)))
    assert len(document.pages) == 1
    page = document.pages[0]
    assert abs(float(page.mediabox.width) - 595.28) < 1  # A4
    text = _squeeze(page.extract_text())
    with app.test_request_context(headers=ZH):
        total = format_duration(TOTAL_MINUTES)
        station_line = format_duration(STATION_MINUTES)
    assert HOLDER in text
    assert _squeeze(total) in text and _squeeze(station_line) in text
    assert "东一站" in text and "东街服务队" in text
    assert body["serial"] in text and body["masked_document"] in text

    [image] = page.images
    [decoded] = zxingcpp.read_barcodes(image.image)
    assert decoded.text == body["verify_url"]


def test_the_pdf_page_is_for_the_holder_and_staff_in_scope(app, client, served, auth):
    issued = _issue(app, served)
    url = f"/certificates/{issued.id}.pdf"
    login(client, HOLDER_PHONE)
    english = _pdf(client.get(url, headers=EN))
    assert HOLDER in _squeeze(english.pages[0].extract_text())
    client.post("/logout")
    login(client, "eaststaff")
    assert client.get(url).status_code == 200
    client.post("/logout")
    for outsider in ("westadmin", "eastleader", "13900000001"):
        login(client, outsider)
        assert client.get(url).status_code == 404, outsider
        assert client.get(f"/certificates/{issued.id}").status_code == 404, outsider
        client.post("/logout")
        assert client.get(f"{API}/{issued.id}/pdf", headers=auth(outsider)).status_code == 404


def test_someone_elses_pdf_is_not_found(app, client, served, places, auth):
    issued = _issue(app, served)
    with app.test_request_context():
        factories.volunteer(
            places.east_c,
            verified=True,
            name="李雷",
            phone="13755556666",
            document_number=factories.resident_id(serial=99),
        )
    login(client, "13755556666")
    assert client.get(f"/certificates/{issued.id}.pdf").status_code == 404
    headers = auth("13755556666")
    assert client.get(f"{API}/{issued.id}/pdf", headers=headers).status_code == 404
    assert client.get(f"{API}/{issued.id}", headers=headers).status_code == 404
    listed = client.get(API, headers=headers).json
    assert listed["total"] == 0


# -- public verification and revocation -----------------------------------------------------


def test_verify_shows_masked_facts_valid_then_revoked(app, client, served, auth):
    issued = _issue(app, served)
    page = client.get(f"/verify/{issued.code}", headers=EN)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "VALID" in html and "REVOKED" not in html
    assert "王**" in html and HOLDER not in html
    assert "*" * 14 + served.tail in html
    assert issued.serial in html and "东街服务队" in html
    assert format_duration_en(app, TOTAL_MINUTES) in html
    assert HOLDER_PHONE not in html and HOLDER_PHONE[-4:] not in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "noindex" in page.headers["X-Robots-Tag"]
    public = client.get(f"{API}/verify/{issued.code}").json
    assert public["valid"] is True and public["holder_name"] == "王**"
    assert "code" not in public and "user_id" not in public and "purpose" not in public

    # The holder cannot revoke their own; staff of another street do not even see it.
    holder = auth(HOLDER_PHONE)
    refused = client.post(f"{API}/{issued.id}/revoke", json={"reason": "x"}, headers=holder)
    assert refused.status_code == 403
    west = client.post(f"{API}/{issued.id}/revoke", json={"reason": "x"}, headers=auth("westadmin"))
    assert west.status_code == 404

    login(client, "eaststaff")
    no_reason = client.post(f"/certificates/{issued.id}/revoke", data={"reason": ""}, headers=EN)
    assert "Give the reason." in no_reason.get_data(as_text=True)
    done = client.post(f"/certificates/{issued.id}/revoke", data={"reason": "时长登记有误"})
    assert done.status_code == 302
    again = client.post(
        f"{API}/{issued.id}/revoke", json={"reason": "again"}, headers=auth("eaststaff")
    )
    assert again.status_code == 409 and again.json["error"]["code"] == "already_revoked"
    client.post("/logout")

    html = client.get(f"/verify/{issued.code}", headers=EN).get_data(as_text=True)
    assert "REVOKED" in html and "VALID" not in html
    assert "时长登记有误" not in html  # the reason is for staff, not the public
    with app.test_request_context():
        made = db.session.get(Certificate, issued.id)
        revoked_on = made.revoked_at
        audit = db.session.scalar(
            db.select(AuditEvent).filter_by(action="certificate.revoke", object_id=made.id)
        )
        assert audit.detail["reason"] == "时长登记有误"
    assert str(revoked_on.year) in html
    public = client.get(f"{API}/verify/{issued.code}").json
    assert public["valid"] is False and public["revoked_on"]


def format_duration_en(app, minutes: int) -> str:
    with app.test_request_context(headers=EN):
        return format_duration(minutes)


@pytest.mark.parametrize(
    "code",
    [
        secrets.token_urlsafe(18),  # the right shape, never issued
        "short",
        "a" * 200,
        "../../etc/passwd",
        "abc%3Cscript%3E",
        "ZM2026-000001",
    ],
)
def test_made_up_or_forged_codes_are_not_found(client, code):
    page = client.get(f"/verify/{code}", headers=EN)
    assert page.status_code == 404
    assert "There is no such certificate." in page.get_data(as_text=True)
    api = client.get(f"{API}/verify/{code}", headers=EN)
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


def test_verify_is_throttled_per_address(other_app):
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "CERTIFICATE_VERIFY_LIMIT_PER_IP": "3 per minute",
    }
    with other_app(**settings) as app:
        client = app.test_client()
        codes = [secrets.token_urlsafe(18) for _ in range(3)]
        assert [client.get(f"/verify/{c}").status_code for c in codes[:2]] == [404, 404]
        # Page and API share one allowance.
        assert client.get(f"{API}/verify/{codes[2]}").status_code == 404
        assert client.get(f"/verify/{codes[0]}").status_code == 429
        assert client.get(f"{API}/verify/{codes[0]}").status_code == 429


# -- pages and lists ------------------------------------------------------------------------


def test_a_volunteer_asks_on_their_page_and_sees_clear_errors(app, client, served):
    login(client, HOLDER_PHONE)
    form = client.get("/me/certificates", headers=EN).get_data(as_text=True)
    assert 'name="period_start"' in form and "No certificates yet." in form
    backwards = client.post(
        "/me/certificates",
        data={
            "period_start": served.end.isoformat(),
            "period_end": served.start.isoformat(),
        },
        headers=EN,
    )
    assert backwards.status_code == 200
    assert "The period ends before it starts." in backwards.get_data(as_text=True)
    made = client.post(
        "/me/certificates",
        data={
            "period_start": served.start.isoformat(),
            "period_end": served.end.isoformat(),
            "purpose": "评优",
        },
    )
    assert made.status_code == 302
    detail = client.get(made.headers["Location"], headers=EN).get_data(as_text=True)
    assert "评优" in detail and "Download PDF" in detail and "Revoke" not in detail
    listed = client.get("/me/certificates", headers=EN).get_data(as_text=True)
    assert re.search(r"ZM\d{4}-\d{6}", listed)


def test_staff_list_their_scope_filter_and_issue_from_the_volunteers_page(
    app, client, served, auth
):
    issued = _issue(app, served)
    login(client, "eaststaff")
    listed = client.get("/staff/certificates", headers=EN).get_data(as_text=True)
    assert issued.serial in listed and HOLDER in listed
    by_name = client.get("/staff/certificates", query_string={"q": "小明"}).get_data(as_text=True)
    assert issued.serial in by_name
    by_serial = client.get("/staff/certificates", query_string={"q": issued.serial.lower()})
    assert issued.serial in by_serial.get_data(as_text=True)
    other = client.get("/staff/certificates", query_string={"q": "李"}).get_data(as_text=True)
    assert issued.serial not in other
    revoked_only = client.get("/staff/certificates", query_string={"state": "revoked"})
    assert issued.serial not in revoked_only.get_data(as_text=True)

    profile = client.get(f"/staff/volunteers/{served.volunteer_id}", headers=EN)
    assert f"/staff/certificates/new?volunteer_id={served.volunteer_id}" in profile.get_data(
        as_text=True
    )
    made = client.post(
        f"/staff/certificates/new?volunteer_id={served.volunteer_id}",
        data={"period_start": served.start.isoformat(), "period_end": served.end.isoformat()},
    )
    assert made.status_code == 302
    client.post("/logout")

    login(client, "westadmin")
    assert issued.serial not in client.get("/staff/certificates").get_data(as_text=True)
    assert (
        client.get(f"/staff/certificates/new?volunteer_id={served.volunteer_id}").status_code == 404
    )
    client.post("/logout")

    # The API: staff see those in scope, the holder their own, outsiders nothing.
    east = client.get(API, headers=auth("eaststaff")).json
    assert east["total"] == 2 and {"items", "page", "per_page", "total"} <= east.keys()
    assert client.get(API, headers=auth("westadmin")).json["total"] == 0
    assert client.get(API, headers=auth(HOLDER_PHONE)).json["total"] == 2
    assert (
        client.get(API, query_string={"mine": "true"}, headers=auth("eaststaff")).json["total"] == 0
    )


def test_api_issue_for_someone_else_needs_scope(client, served, auth):
    period = {"period_start": served.start.isoformat(), "period_end": served.end.isoformat()}
    body = {**period, "user_id": served.user_id}
    west = client.post(API, json=body, headers=auth("westadmin"))
    assert west.status_code == 404 and list(west.json["error"]["fields"]) == ["user_id"]
    made = client.post(API, json=body, headers=auth("eaststaff"))
    assert made.status_code == 201 and made.json["user_id"] == served.user_id
    bad = client.post(
        API,
        json={"period_start": period["period_end"], "period_end": period["period_start"]},
        headers=auth(HOLDER_PHONE, **EN),
    )
    assert bad.status_code == 422
    assert bad.json["error"]["fields"] == {"period_end": ["The period ends before it starts."]}
    # Someone with no volunteer profile asking for themselves is told why.
    staff_self = client.post(API, json=period, headers=auth("eaststaff", **EN))
    assert staff_self.status_code == 409
    assert staff_self.json["error"]["code"] == "not_a_volunteer"


def test_the_openapi_document_describes_the_certificate_paths(client):
    spec = client.get("/api/v1/openapi.json").json
    for path in (
        "/api/v1/certificates",
        "/api/v1/certificates/{certificate_id}",
        "/api/v1/certificates/{certificate_id}/pdf",
        "/api/v1/certificates/{certificate_id}/revoke",
        "/api/v1/certificates/verify/{code}",
    ):
        assert path in spec["paths"], path
    assert spec["paths"]["/api/v1/certificates/verify/{code}"]["get"]["security"] == []


def test_certificate_ids_never_reach_the_verify_page_only_codes(app, served, client):
    """The id in a URL names nothing publicly: /verify/<id> is not a certificate."""
    issued = _issue(app, served)
    assert client.get(f"/verify/{issued.id}").status_code == 404
    assert client.get(f"/verify/{issued.serial}").status_code == 404


# -- fonts and masking ----------------------------------------------------------------------

NOTO_CFF = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def test_an_unusable_configured_font_falls_back(app, monkeypatch, tmp_path):
    from timebank.reports import pdf

    junk = tmp_path / "broken.ttf"
    junk.write_bytes(b"not a font")
    for path in (str(junk), str(tmp_path / "missing.ttc"), NOTO_CFF):
        monkeypatch.setitem(app.config, "CJK_FONT_PATH", path)
        with app.test_request_context():
            name = pdf.cjk_font()
        assert name == pdf.CID_FONT or name in pdf._loaded.values()
        assert pdf._loaded.get(path) is None  # CFF outlines and junk are never used


@pytest.mark.skipif(not os.path.isfile(DEJAVU), reason="no DejaVu on this host")
def test_a_configured_truetype_font_comes_first(app, monkeypatch):
    from timebank.reports import pdf

    monkeypatch.setitem(app.config, "CJK_FONT_PATH", DEJAVU)
    with app.test_request_context():
        assert pdf.cjk_font() == pdf._loaded[DEJAVU]


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张伟", "张*"), ("张三伟", "张**"), ("欧阳娜娜", "欧***"), ("李", "李"), ("", "")],
)
def test_names_on_the_public_page_keep_only_the_family_name(name, masked):
    assert certificates.mask_holder_name(name) == masked
