"""Several processes racing to create the same thing: one wins, the rest get a clean conflict."""

import multiprocessing
import os

import pytest
import sqlalchemy as sa

RACERS = 4


def _race(url: str, instance: str, community_id: int, start, queue) -> None:
    os.environ["TIMEBANK_INSTANCE_PATH"] = instance
    from timebank import create_app
    from timebank.core.errors import Conflict
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.regions.models import Region
    from timebank.stations.services import create_station

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.test_request_context():
        region = db.session.get(Region, community_id)
        start.wait(timeout=60)
        try:
            create_station(SYSTEM, region=region, name="抢注站")
            db.session.commit()
            queue.put("created")
        except Conflict:
            db.session.rollback()
            queue.put("conflict")
        except Exception as exc:  # anything else is a failure the parent reports
            queue.put(repr(exc))


@pytest.mark.slow
def test_racing_station_creations_make_exactly_one(database_url, app, tmp_path):
    """Runs against the suite's backend: SQLite file or PostgreSQL, with real commits."""
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.regions.services import create_region

    with app.test_request_context():
        district = create_region(SYSTEM, name="竞速区", parent=None, level="district")
        street = create_region(SYSTEM, name="竞速街道", parent=district)
        community = create_region(SYSTEM, name="竞速社区", parent=street)
        db.session.commit()
        ids = [community.id, street.id, district.id]
    spawn = multiprocessing.get_context("spawn")
    start, queue = spawn.Event(), spawn.Queue()
    racers = [
        spawn.Process(target=_race, args=(database_url, str(tmp_path), ids[0], start, queue))
        for _ in range(RACERS)
    ]
    try:
        for racer in racers:
            racer.start()
        start.set()
        outcomes = sorted(queue.get(timeout=120) for _ in racers)
        for racer in racers:
            racer.join(timeout=30)
        assert outcomes == ["conflict"] * (RACERS - 1) + ["created"]
    finally:
        # These rows were really committed: remove them so other tests start clean.
        engine = sa.create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM audit_event WHERE region_path LIKE :p"), {"p": f"/{ids[2]}/%"}
            )
            conn.execute(sa.text("DELETE FROM station WHERE region_id = :c"), {"c": ids[0]})
            for region_id in ids:
                conn.execute(sa.text("DELETE FROM region WHERE id = :r"), {"r": region_id})
        engine.dispose()
