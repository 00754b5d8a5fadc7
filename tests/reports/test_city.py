"""`flask demo city` at a small scale: counts in proportion, a ledger that verifies, real ID
numbers, and rollups equal to their recomputation."""

from datetime import date

import pytest
from flask_migrate import upgrade

from tests.conftest import fresh_database
from timebank.extensions import db

SCALE = 0.004  # about 1,500 volunteers, 11 teams, 106 events, one station


@pytest.fixture
def city_app(make_app, tmp_path):
    with fresh_database(tmp_path, "timebank_city") as url:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_city_needs_a_migrated_empty_database(city_app):
    runner = city_app.test_cli_runner()
    missing = runner.invoke(args=["demo", "city", "--scale", "0.001"])
    assert missing.exit_code != 0 and "flask db upgrade" in missing.output
    with city_app.app_context():
        upgrade()
    refused = city_app.test_cli_runner().invoke(args=["demo", "city", "--scale", "0"])
    assert refused.exit_code != 0 and "scale" in refused.output


def test_city_at_small_scale(city_app):
    from sqlalchemy import func, select

    from timebank.auth.models import User
    from timebank.events.models import Event, ServiceRecord
    from timebank.ledger.verify import verify
    from timebank.organizations.models import Organization
    from timebank.reports import rollups
    from timebank.reports.city import FULL
    from timebank.stations.models import Station
    from timebank.volunteers import identity
    from timebank.volunteers.models import Volunteer

    with city_app.app_context():
        upgrade()
    runner = city_app.test_cli_runner()
    made = runner.invoke(args=["demo", "city", "--scale", str(SCALE), "--seed", "7"])
    assert made.exit_code == 0, made.output
    assert "cityadmin" in made.output and "peak memory" in made.output

    with city_app.app_context():

        def count(model, *where):
            return db.session.scalar(select(func.count()).select_from(model).where(*where))

        for model, key in ((Station, "stations"), (Organization, "teams"), (Event, "events")):
            assert count(model) == max(1, round(FULL[key] * SCALE)), model
        assert count(Volunteer) == round(FULL["volunteers"] * SCALE)
        # About five services per volunteer, nearly all approved, some still pending.
        records = count(ServiceRecord)
        approved = count(ServiceRecord, ServiceRecord.state == "approved")
        assert 3 * count(Volunteer) < records < 8 * count(Volunteer)
        assert 0.95 * records < approved < records

        report = verify()
        assert report.ok, report.problems
        assert report.transactions > approved  # credits, conversions, allocations, redemptions

        today = date.today()
        for volunteer in db.session.scalars(select(Volunteer)):
            number = identity.decrypt(volunteer.document_cipher)
            document = identity.parse_document("resident_id", number, today=today)
            assert document.birth_date == volunteer.birth_date
            assert document.tail == volunteer.document_tail
            assert identity.document_hash("resident_id", number) == volunteer.document_hash

        for model in rollups.ROLLUPS:
            assert rollups.current(model) == rollups.recompute(model), model.__tablename__

        admin = db.session.scalar(select(User).filter_by(username="cityadmin"))
        assert admin is not None and admin.check_password("Timebank-demo-2026")

    again = runner.invoke(args=["demo", "city", "--scale", str(SCALE)])
    assert again.exit_code != 0 and "already has data" in again.output
