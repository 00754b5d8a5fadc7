"""Every change is written to the audit log, and administrators read only their subtree."""

from tests.conftest import login
from timebank.audit.models import AuditEvent
from timebank.extensions import db


def test_changes_are_audited_with_actor_and_address(client, people, places):
    login(client, "eastadmin")
    client.post(
        "/admin/stations/new",
        data={"name": "审计站", "region_id": places.east_c.id},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    event = db.session.scalar(
        db.select(AuditEvent).filter_by(action="station.create").order_by(AuditEvent.id.desc())
    )
    assert event.actor_id == people.east_admin.id
    assert event.ip == "10.1.2.3"
    assert event.request_id
    assert event.detail == {"name": "审计站"}
    assert event.region_path == places.east_c.path


def test_admin_sees_only_their_subtree_in_the_audit_log(client, people, places):
    login(client, "westadmin")
    client.post("/admin/stations/new", data={"name": "西边新站", "region_id": places.west_c.id})
    client.post("/logout")
    login(client, "eastadmin")
    client.post("/admin/stations/new", data={"name": "东边新站", "region_id": places.east_c.id})
    page = client.get("/admin/audit/?action=station.").data.decode()
    assert "东边新站" in page and "西边新站" not in page
    client.post("/logout")
    login(client, "district")
    page = client.get("/admin/audit/?action=station.").data.decode()
    assert "东边新站" in page and "西边新站" in page


def test_audit_log_filters_by_actor_and_date(client, people, places):
    login(client, "eastadmin")
    client.post("/admin/stations/new", data={"name": "过滤站", "region_id": places.east_c.id})
    client.post("/logout")
    login(client, "district")
    assert "过滤站" in client.get("/admin/audit/?actor=eastadmin").data.decode()
    assert "过滤站" not in client.get("/admin/audit/?actor=westadmin").data.decode()
    assert "过滤站" not in client.get("/admin/audit/?end=2020-01-01").data.decode()
