"""Pages: registering in the browser, the profile, the personal code and card, staff decisions."""

import re

import sqlalchemy as sa

from tests import factories
from tests.conftest import login
from timebank.audit.models import AuditEvent
from timebank.extensions import db
from timebank.volunteers.models import Volunteer


def form_data(places, **overrides):
    data = {
        "name": "李四",
        "document_type": "resident_id",
        "document_number": factories.resident_id("19900101", 11),
        "phone": "13700000011",
        "password": factories.PASSWORD,
        "confirm": factories.PASSWORD,
        "region_id": str(places.east_c.id),
        "skills": "急救，陪伴老人",
        "availability": "周末",
        "consent": "y",
    }
    data.update(overrides)
    return data


def test_a_person_registers_and_lands_on_their_profile_signed_in(client, places):
    page = client.get("/volunteers/register")
    assert page.status_code == 200 and "东一社区" in page.text
    number = factories.resident_id("19900101", 11)
    response = client.post("/volunteers/register", data=form_data(places), follow_redirects=True)
    assert response.status_code == 200
    assert "我的志愿者档案" in response.text or "My volunteer profile" in response.text
    assert number not in response.text
    assert "*" * 14 + number[-4:] in response.text
    assert "急救、陪伴老人" in response.text
    code = client.get("/me/code")
    assert code.status_code == 200 and "<svg" in code.text
    fresh = client.get("/me/code.json").json
    assert fresh["token"].startswith("TBP.") and 30 <= fresh["period"] <= 60


def test_registration_errors_show_beside_the_field_and_the_number_is_not_echoed(client, places):
    bad = factories.resident_id("19900101", 11)[:-1] + "Z"
    response = client.post(
        "/volunteers/register", data=form_data(places, document_number=bad, consent="")
    )
    assert response.status_code == 200
    assert bad not in response.text
    right = factories.resident_id("19900101", 11)
    wrong = right[:-1] + ("1" if right[-1] != "1" else "2")
    checked = client.post("/volunteers/register", data=form_data(places, document_number=wrong))
    assert "校验码" in checked.text  # in Chinese, beside the field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Volunteer)) == 0


def test_duplicate_registration_sends_the_person_to_sign_in(client, places, enrol):
    enrol(document_number=factories.resident_id("19900101", 11))
    response = client.post(
        "/volunteers/register",
        data=form_data(
            places,
            document_number=factories.resident_id("19900101", 11).lower(),
            phone="13700000099",
        ),
    )
    assert "已注册" in response.text or "already registered" in response.text


def test_staff_verify_and_suspend_with_reasons_audited(client, places, people, enrol):
    volunteer = enrol()
    login(client, "eaststaff")
    page = client.get(f"/staff/volunteers/{volunteer.id}")
    assert page.status_code == 200 and volunteer.masked_document in page.text
    client.post(f"/staff/volunteers/{volunteer.id}/verify", data={"reason": ""})
    assert db.session.get(Volunteer, volunteer.id).status == "verified"
    client.post(f"/staff/volunteers/{volunteer.id}/suspend", data={"reason": ""})
    assert db.session.get(Volunteer, volunteer.id).status == "verified"  # a reason is required
    client.post(f"/staff/volunteers/{volunteer.id}/suspend", data={"reason": "冒用他人信息"})
    assert db.session.get(Volunteer, volunteer.id).status == "suspended"
    client.post(f"/staff/volunteers/{volunteer.id}/reinstate", data={"reason": "核实无误"})
    assert db.session.get(Volunteer, volunteer.id).status == "verified"
    actions = db.session.scalars(
        sa.select(AuditEvent.action)
        .where(AuditEvent.object_id == volunteer.id)
        .where(AuditEvent.object_type == "volunteer")
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [
        "volunteer.register",
        "volunteer.verify",
        "volunteer.suspend",
        "volunteer.reinstate",
    ]


def test_staff_of_another_street_cannot_see_or_verify(client, places, people, enrol):
    volunteer = enrol(places.west_c)
    login(client, "eaststaff")
    assert client.get(f"/staff/volunteers/{volunteer.id}").status_code == 404
    assert client.post(f"/staff/volunteers/{volunteer.id}/verify").status_code == 404
    listing = client.get("/staff/volunteers")
    assert volunteer.user.name not in listing.text
    assert db.session.get(Volunteer, volunteer.id).status == "pending"


def test_an_administrator_reveals_the_number_with_a_reason_and_it_is_audited(
    client, places, people, enrol
):
    number = factories.resident_id("19800505", 21)
    volunteer = enrol(document_number=number)
    login(client, "eastadmin")
    refused = client.post(f"/staff/volunteers/{volunteer.id}/reveal", data={"reason": ""})
    assert number not in refused.text
    shown = client.post(f"/staff/volunteers/{volunteer.id}/reveal", data={"reason": "核对保险"})
    assert number in shown.text
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "volunteer.reveal_document")
    )
    assert event.detail["reason"] == "核对保险" and event.actor_id == people.east_admin.id
    # Station staff manage but cannot reveal.
    staff = client.application.test_client()
    login(staff, "eaststaff")
    assert (
        staff.post(f"/staff/volunteers/{volunteer.id}/reveal", data={"reason": "x"}).status_code
        == 403
    )


def test_search_by_name_phone_and_id_tail(client, places, people, enrol):
    a = enrol(
        name="王小明", phone="13700000021", document_number=factories.resident_id("19900101", 31)
    )
    enrol(name="赵大力", phone="13700000022", document_number=factories.resident_id("19900101", 32))
    login(client, "eaststaff")

    def names(**params):
        text = client.get("/staff/volunteers", query_string=params).text
        return {n for n in ("王小明", "赵大力") if n in text}

    assert names(q="小明") == {"王小明"}
    assert names(q="13700000022") == {"赵大力"}
    assert names(q=a.document_tail) == {"王小明"}
    assert names() == {"王小明", "赵大力"}
    assert names(status="verified") == set()


def test_card_reissue_changes_the_printed_code(client, places, enrol):
    volunteer = enrol()
    login(client, "13700000001")
    first = client.get("/me/card.png")
    assert first.status_code == 200 and first.mimetype == "image/png"
    client.post("/me/card/reissue")
    second = client.get("/me/card.png")
    assert second.data != first.data
    assert db.session.get(Volunteer, volunteer.id).card_version == 2


def test_star_news_is_shown_once_dismissed(client, places, enrol):
    from timebank.ledger.services import credit_service

    volunteer = enrol(verified=True)
    with client.application.test_request_context():
        credit_service(volunteer.user, 100 * 60, places.east_c, key="t:1")
        db.session.commit()
    login(client, "13700000001")
    page = client.get("/me/volunteer").text
    assert re.search("1 ?星|1 stars?", page)
    client.post("/me/volunteer/stars-seen")
    assert "恭喜" not in client.get("/me/volunteer").text


def test_a_signed_in_staff_member_registers_their_own_account(client, places, people):
    login(client, "eaststaff")
    page = client.get("/volunteers/register")
    assert 'name="password"' not in page.text
    data = form_data(places, name="陈站长", phone="13700000055")
    del data["password"], data["confirm"]
    response = client.post("/volunteers/register", data=data)
    assert response.status_code == 302
    volunteer = db.session.scalar(sa.select(Volunteer))
    assert volunteer.user_id == people.east_staff.id
    assert client.get("/volunteers/register").status_code == 302  # already registered


def test_a_taken_mobile_number_is_refused_with_a_sign_in_hint(client, places, people):
    response = client.post("/volunteers/register", data=form_data(places, phone="13900000001"))
    assert "已注册" in response.text or "already registered" in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Volunteer)) == 0


def test_a_whole_id_number_searched_goes_to_the_volunteer_and_never_into_a_url(
    client, places, people, enrol
):
    number = "11010519491231002X"
    volunteer = enrol(document_number=number)
    enrol(places.west_c, phone="13700000002", document_number=factories.resident_id("19900101", 2))
    login(client, "eaststaff")
    found = client.post("/staff/volunteers", data={"q": number.lower()})
    assert found.status_code == 302
    assert found.location.endswith(f"/staff/volunteers/{volunteer.id}")
    outside = client.post("/staff/volunteers", data={"q": factories.resident_id("19900101", 2)})
    assert outside.status_code == 302 and "?" not in outside.location
    page = client.get(outside.location)
    assert factories.resident_id("19900101", 2) not in page.text
    # Other searches come back as a GET, for paging and the back button.
    by_name = client.post("/staff/volunteers", data={"q": "李"})
    assert by_name.status_code == 302 and "q=" in by_name.location
    # An old-style link with the number in it is not echoed.
    cleaned = client.get("/staff/volunteers", query_string={"q": number})
    assert cleaned.status_code == 302 and number not in cleaned.location


def test_every_mistake_in_the_form_is_shown_at_once(client, places):
    response = client.post(
        "/volunteers/register",
        data=form_data(places, document_number="1234", phone="555", consent="", region_id=""),
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200
    text = response.text
    for message in ("18 characters", "11-digit", "privacy notice", "Choose your community"):
        assert message in text, message


def test_staff_give_an_imported_volunteer_a_password_and_they_sign_in(client, places, people):
    import io

    from timebank.volunteers.imports import import_volunteers

    number = factories.resident_id("19900101", 88)
    csv_text = f"姓名,证件号码,手机号,社区\n导入者,{number},13700000088,东一社区\n"
    with client.application.test_request_context():
        from timebank.core.security import SYSTEM

        import_volunteers(
            SYSTEM,
            io.BytesIO(csv_text.encode("utf-8-sig")),
            filename="a.csv",
            commit=db.session.commit,
        )
        volunteer = db.session.scalar(sa.select(Volunteer).filter_by(source="import"))
    user_client = client.application.test_client()
    assert login(user_client, "13700000088", "Correct-Horse-42").status_code == 200  # refused
    login(client, "eaststaff")
    page = client.get(f"/staff/volunteers/{volunteer.id}").text
    assert "pw-password" in page
    weak = client.post(
        f"/staff/volunteers/{volunteer.id}/password",
        data={"pw-password": "12345678", "pw-confirm": "12345678"},
    )
    assert weak.status_code == 302
    assert login(user_client, "13700000088", "12345678").status_code == 200  # still refused
    client.post(
        f"/staff/volunteers/{volunteer.id}/password",
        data={"pw-password": "Correct-Horse-42", "pw-confirm": "Correct-Horse-42"},
    )
    assert login(user_client, "13700000088", "Correct-Horse-42").status_code == 302
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "volunteer.set_password")
    )
    assert event.detail == {"first": True} and event.actor_id == people.east_staff.id
