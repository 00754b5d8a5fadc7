"""In Chromium: the district administrator opens the dashboard, sees figures and charts,
narrows it to a station, and is told clearly when the period runs backwards."""

import re

import pytest

from tests.e2e.test_admin_flow import sign_in
from timebank.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def test_administrator_reads_the_dashboard(live_server, page):
    base = live_server
    sign_in(page, base, "district", DEMO_PASSWORD)
    page.locator('header nav a[href="/reports/"]').click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().endswith("鼓楼区")

    # The demo district's figures (张伟's approved service in the demo, 20 hours converted).
    volunteers = page.locator('[data-figure="volunteers"] .stat-value')
    assert int(volunteers.inner_text().replace(",", "")) > 0
    hours = page.locator('[data-figure="service_minutes"] .stat-value').inner_text()
    assert float(hours.replace(",", "")) > 0

    # A chart drawn on the server, visible, with a bar per month and its accessible title.
    chart = page.locator("svg#chart-hours")
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() >= 1
    assert chart.locator("title").first.text_content()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 100

    # A station in the ranking opens the station's own dashboard, for the same period.
    first = page.locator("table.ranking a").first
    name = first.inner_text()
    first.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().endswith(name)
    assert "scope=station" in page.url
    assert page.locator('[data-figure="people_times"]').is_visible()

    # A period that ends before it starts: the form says so beside the date.
    page.goto(f"{base}/reports/?start=2026-06-01&end=2026-01-01")
    alert = page.locator("#report-filter [role=alert]")
    assert alert.count() == 1 and alert.inner_text()
    assert not page.locator("#figures").count()

    # The export link downloads a workbook.
    page.goto(f"{base}/reports/")
    with page.expect_download() as download:
        page.locator('a[href^="/reports/summary.xlsx"]').click()
    assert re.match(r"report-region-\d+-\d{8}\.xlsx", download.value.suggested_filename)
