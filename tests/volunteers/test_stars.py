"""Star levels: thresholds by region, changes recorded on credit and on reversal."""

import pytest

from tests import factories
from timebank.core.errors import PermissionDenied, ValidationFailed
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.volunteers import stars
from timebank.volunteers.models import StarLevelChange


def test_levels_follow_default_thresholds(ctx):
    default = [100, 300, 600, 1000, 1500]
    assert [stars.level_for(h * 60, default) for h in (0, 99, 100, 299, 300, 1499, 1500, 9999)] == [
        0,
        0,
        1,
        1,
        2,
        4,
        5,
        5,
    ]


def test_a_credit_that_crosses_a_threshold_is_recorded_once(ctx, places, people):
    volunteer = factories.volunteer(places.east_c, verified=True)
    ledger.credit_service(volunteer.user, 99 * 60, places.east_c, key="s:1")
    assert volunteer.star_level == 0
    posted = ledger.credit_service(volunteer.user, 90, places.east_c, key="s:2")
    ledger.credit_service(volunteer.user, 90, places.east_c, key="s:2")  # a retry
    assert volunteer.star_level == 1
    changes = db.session.scalars(db.select(StarLevelChange)).all()
    assert [(c.from_level, c.to_level, c.lifetime_minutes) for c in changes] == [(0, 1, 6030)]
    progress = stars.progress(volunteer)
    assert (progress.level, progress.next_level, progress.minutes_to_next) == (
        1,
        2,
        300 * 60 - 6030,
    )

    # Converting hours to points never costs a star; reversing the credit does.
    ledger.reverse(people.root, posted.transaction, "录入错误")
    assert volunteer.star_level == 0
    assert [c.to_level for c in stars.history(volunteer)] == [0, 1]


def test_a_region_sets_its_own_thresholds_for_everything_below(ctx, places, people):
    volunteer = factories.volunteer(places.east_c, verified=True)
    stars.set_rule(people.east_admin, places.east, "10,20,30,40,50")
    assert stars.thresholds_for(places.east_c) == [10, 20, 30, 40, 50]
    assert stars.thresholds_for(places.west_c) == [100, 300, 600, 1000, 1500]
    ledger.credit_service(volunteer.user, 25 * 60, places.east_c, key="s:3")
    assert volunteer.star_level == 2
    # A community below overrides its street; stored levels follow at once, recorded.
    stars.set_rule(people.east_admin, places.east_c, "1,2,3,4,5")
    assert stars.progress(volunteer).level == volunteer.star_level == 5
    stars.set_rule(people.east_admin, places.east_c, None)
    assert stars.progress(volunteer).level == volunteer.star_level == 2
    assert [c.to_level for c in stars.history(volunteer)] == [2, 5, 2]


@pytest.mark.parametrize("bad", ["100,300", "300,100,600,1000,1500", "a,b,c,d,e", "0,1,2,3,4"])
def test_bad_thresholds_are_refused(ctx, places, people, bad):
    with pytest.raises(ValidationFailed):
        stars.set_rule(people.east_admin, places.east, bad)


def test_only_administrators_of_the_region_set_thresholds(ctx, places, people):
    with pytest.raises(PermissionDenied):
        stars.set_rule(people.west_admin, places.east, "10,20,30,40,50")
    with pytest.raises(PermissionDenied):
        stars.set_rule(people.east_staff, places.east_c, "10,20,30,40,50")


def test_star_rule_page(client, places, people):
    from tests.conftest import login

    login(client, "eastadmin")
    page = client.get("/admin/star-levels")
    assert page.status_code == 200 and "东街街道" in page.text
    client.post(
        "/admin/star-levels", data={"region_id": places.east.id, "thresholds": "50,100,150,200,250"}
    )
    with client.application.test_request_context():
        assert stars.thresholds_for(places.east_c) == [50, 100, 150, 200, 250]
    assert client.get(f"/admin/star-levels?region_id={places.west.id}").status_code == 404


def test_hours_wait_until_the_identity_is_verified(ctx, places, people):
    from timebank.core.errors import Conflict
    from timebank.volunteers import services

    volunteer = factories.volunteer(places.east_c)
    with pytest.raises(Conflict) as refused:
        ledger.credit_service(volunteer.user, 60, places.east_c, key="v:1")
    assert refused.value.code == "not_verified"
    assert ledger.lifetime_service_minutes(volunteer.user) == 0
    services.verify(people.east_staff, volunteer)
    ledger.credit_service(volunteer.user, 60, places.east_c, key="v:1")
    services.suspend(people.east_staff, volunteer, "调查")
    with pytest.raises(Conflict):
        ledger.credit_service(volunteer.user, 60, places.east_c, key="v:2")
    assert ledger.lifetime_service_minutes(volunteer.user) == 60
