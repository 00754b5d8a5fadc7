"""API: public registration, per-object access, staff decisions, personal codes."""

import time

import zxingcpp
from PIL import Image

from tests import factories
from tests.conftest import bearer, token_for


def registration_body(places, **overrides):
    body = {
        "name": "李四",
        "document_type": "resident_id",
        "document_number": factories.resident_id("19900101", 41),
        "phone": "13700000041",
        "password": factories.PASSWORD,
        "region_id": places.east_c.id,
        "consent": True,
        "skills": "急救",
    }
    body.update(overrides)
    return body


def test_public_registration_answers_the_masked_profile(client, places):
    body = registration_body(places)
    response = client.post("/api/v1/volunteers", json=body)
    assert response.status_code == 201, response.json
    assert response.json["document_masked"].endswith(body["document_number"][-4:])
    assert body["document_number"] not in response.text
    assert response.json["status"] == "pending"
    token = token_for(client, "13700000041")
    me = client.get("/api/v1/me/volunteer", headers=bearer(token)).json
    assert me["stars"]["level"] == 0 and me["hours_balance"] == 0


def test_registration_errors_use_the_one_error_shape(client, places):
    bad = registration_body(places, document_number="110105199001010411")
    response = client.post("/api/v1/volunteers", json=bad)
    assert response.status_code == 422
    assert response.json["error"]["fields"].keys() == {"document_number"}
    again = client.post("/api/v1/volunteers", json=registration_body(places))
    assert again.status_code == 201
    duplicate = client.post(
        "/api/v1/volunteers",
        json=registration_body(places, phone="13700000042", name="别人"),
    )
    assert duplicate.status_code == 409
    assert duplicate.json["error"]["code"] == "already_registered"


def test_registration_is_throttled_per_address(other_app):
    from tests.conftest import populate

    with other_app(RATELIMIT_ENABLED=True, REGISTER_LIMIT_PER_IP="2 per hour") as app:
        places, _people = populate(app)
        client = app.test_client()
        statuses = [
            client.post(
                "/api/v1/volunteers",
                json=registration_body(
                    places,
                    phone=f"1370000010{n}",
                    document_number=factories.resident_id("19900101", 100 + n),
                ),
            ).status_code
            for n in range(3)
        ]
        assert statuses == [201, 201, 429]


def test_a_volunteer_cannot_read_another_volunteer(client, places, people, enrol):
    mine = enrol()
    other = enrol(
        places.west_c,
        phone="13700000002",
        document_number=factories.resident_id("19900101", 2),
        name="王五",
    )
    token = token_for(client, "13700000001")
    assert client.get(f"/api/v1/volunteers/{mine.id}", headers=bearer(token)).status_code == 200
    refused = client.get(f"/api/v1/volunteers/{other.id}", headers=bearer(token))
    assert refused.status_code == 404 and "王五" not in refused.text
    assert client.get("/api/v1/volunteers", headers=bearer(token)).status_code == 403


def test_staff_of_one_street_cannot_see_volunteers_of_another(client, places, people, enrol):
    west = enrol(places.west_c, name="王五")
    east = enrol(phone="13700000002", document_number=factories.resident_id("19900101", 2))
    token = token_for(client, "eaststaff")
    listing = client.get("/api/v1/volunteers", headers=bearer(token)).json
    assert [v["id"] for v in listing["items"]] == [east.id]
    assert client.get(f"/api/v1/volunteers/{west.id}", headers=bearer(token)).status_code == 404
    verify = client.post(f"/api/v1/volunteers/{west.id}/verify", json={}, headers=bearer(token))
    assert verify.status_code == 404
    ok = client.post(f"/api/v1/volunteers/{east.id}/verify", json={}, headers=bearer(token))
    assert ok.status_code == 200 and ok.json["status"] == "verified"
    # The district administrator sees both; the west one by searching its ID tail.
    admin = token_for(client, "district")
    found = client.get(
        "/api/v1/volunteers", query_string={"q": west.document_tail}, headers=bearer(admin)
    ).json
    assert [v["id"] for v in found["items"]] == [west.id]


def test_nobody_verifies_themselves(client, places, people, enrol):
    from timebank.auth.models import Role
    from timebank.auth.services import grant_role
    from timebank.core.security import SYSTEM
    from timebank.extensions import db

    volunteer = enrol()
    with client.application.test_request_context():
        grant_role(
            SYSTEM,
            db.session.get(type(volunteer.user), volunteer.user_id),
            Role.STATION_STAFF,
            places.east_station.id,
        )
        db.session.commit()
    token = token_for(client, "13700000001")
    response = client.post(
        f"/api/v1/volunteers/{volunteer.id}/verify", json={}, headers=bearer(token)
    )
    assert response.status_code == 422


def decode(png: bytes) -> str:
    import io

    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1
    return results[0].text


def test_the_phone_code_identifies_the_volunteer_only_while_valid(client, places, people, enrol):
    from timebank.core import qr

    volunteer = enrol()
    me = token_for(client, "13700000001")
    code = client.get("/api/v1/me/code", headers=bearer(me)).json
    # What a scanner reads from the rendered code is the token itself.
    token = decode(qr.png(code["token"]))
    assert token == code["token"]
    staff = token_for(client, "eaststaff")
    found = client.post("/api/v1/volunteers/identify", json={"token": token}, headers=bearer(staff))
    assert found.status_code == 200
    assert (found.json["via"], found.json["volunteer"]["id"]) == ("phone", volunteer.id)

    from timebank.volunteers import codes

    with client.application.test_request_context():
        db_volunteer = codes.resolve(token).volunteer
        old, _ = codes.phone_token(db_volunteer, now=time.time() - 3 * codes.period())
    expired = client.post("/api/v1/volunteers/identify", json={"token": old}, headers=bearer(staff))
    assert (expired.status_code, expired.json["error"]["code"]) == (422, "code_expired")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    refused = client.post(
        "/api/v1/volunteers/identify", json={"token": forged}, headers=bearer(staff)
    )
    assert refused.status_code == 422
    # A plain volunteer cannot identify people.
    assert (
        client.post(
            "/api/v1/volunteers/identify", json={"token": token}, headers=bearer(me)
        ).status_code
        == 403
    )


def test_a_reissued_card_revokes_the_old_card(client, places, people, enrol):
    volunteer = enrol()
    me = token_for(client, "13700000001")
    staff = token_for(client, "eaststaff")
    from tests.conftest import login

    web = client.application.test_client()
    login(web, "13700000001")
    old = decode(web.get("/me/card.png").data)
    assert old.startswith("TBC.")
    ok = client.post("/api/v1/volunteers/identify", json={"token": old}, headers=bearer(staff))
    assert ok.json["via"] == "card"
    reissued = client.post(f"/api/v1/volunteers/{volunteer.id}/card", headers=bearer(me))
    assert reissued.json["card_version"] == 2
    refused = client.post("/api/v1/volunteers/identify", json={"token": old}, headers=bearer(staff))
    assert (refused.status_code, refused.json["error"]["code"]) == (422, "card_revoked")
    new = decode(web.get("/me/card.png").data)
    assert (
        client.post(
            "/api/v1/volunteers/identify", json={"token": new}, headers=bearer(staff)
        ).status_code
        == 200
    )


def test_suspended_volunteers_codes_are_refused(client, places, people, enrol):
    volunteer = enrol()
    staff = token_for(client, "eaststaff")
    client.post(
        f"/api/v1/volunteers/{volunteer.id}/suspend", json={"reason": "违规"}, headers=bearer(staff)
    )
    me = token_for(client, "13700000001")
    token = client.get("/api/v1/me/code", headers=bearer(me)).json["token"]
    refused = client.post(
        "/api/v1/volunteers/identify", json={"token": token}, headers=bearer(staff)
    )
    assert refused.json["error"]["code"] == "volunteer_suspended"


def test_malformed_codes_get_a_clear_answer_not_a_crash(client, places, people, enrol):
    enrol()
    staff = token_for(client, "eaststaff")
    for token in ("TBP.AB.1.É", "TBP.0123456789ABCDEF.²." + "A" * 26, "hello", "", "TBC...."):
        response = client.post(
            "/api/v1/volunteers/identify", json={"token": token or " "}, headers=bearer(staff)
        )
        assert response.status_code == 422, token


def test_a_suspended_staff_member_cannot_reinstate_themselves(client, places, people, enrol):
    from timebank.auth.models import Role, User
    from timebank.auth.services import grant_role
    from timebank.core.security import SYSTEM
    from timebank.extensions import db

    volunteer = enrol()
    with client.application.test_request_context():
        grant_role(
            SYSTEM,
            db.session.get(User, volunteer.user_id),
            Role.STATION_STAFF,
            places.east_station.id,
        )
        db.session.commit()
    admin = token_for(client, "eastadmin")
    client.post(
        f"/api/v1/volunteers/{volunteer.id}/suspend",
        json={"reason": "调查中"},
        headers=bearer(admin),
    )
    me = token_for(client, "13700000001")
    response = client.post(
        f"/api/v1/volunteers/{volunteer.id}/reinstate",
        json={"reason": "我没问题"},
        headers=bearer(me),
    )
    assert response.status_code == 422
    assert client.get(f"/api/v1/volunteers/{volunteer.id}", headers=bearer(me)).json["status"] == (
        "suspended"
    )


def test_a_team_leader_cannot_pull_people_in_or_read_their_profiles(client, places, people, enrol):
    from tests.conftest import login

    west = enrol(places.west_c, name="王五")
    web = client.application.test_client()
    login(web, "eastleader")
    added = web.post(
        f"/admin/organizations/{places.east_team.id}/members",
        data={"member-login": "13700000001", "member-role": "member"},
    )
    assert added.status_code == 403
    leader = token_for(client, "eastleader")
    assert client.get(f"/api/v1/volunteers/{west.id}", headers=bearer(leader)).status_code == 404
    assert client.get("/api/v1/volunteers", headers=bearer(leader)).status_code == 403


def test_the_api_names_every_bad_field_at_once(client, places):
    body = registration_body(places, document_number="1234", phone="555", consent=False)
    response = client.post("/api/v1/volunteers", json=body)
    assert response.status_code == 422
    assert response.json["error"]["fields"].keys() == {"document_number", "phone", "consent"}
