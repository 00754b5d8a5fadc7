"""Pages: the dashboard for a scope and period, and its export as XLSX or CSV."""

from flask import Blueprint, render_template, request
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from timebank.auth.models import Role
from timebank.core.db import utcnow
from timebank.core.errors import DomainError
from timebank.core.exports import export_response
from timebank.core.forms import Form
from timebank.core.security import requires
from timebank.ledger.forms import PeriodForm
from timebank.reports import charts, figures
from timebank.volunteers.services import today

bp = Blueprint("reports", __name__, url_prefix="/reports")

REPORTING_ROLES = (Role.ADMIN, Role.STATION_STAFF, Role.TEAM_LEADER, Role.CASHIER)

LABELS = {
    "volunteers": _l("Registered volunteers"),
    "new_volunteers": _l("New volunteers"),
    "verified_volunteers": _l("Verified volunteers"),
    "active_volunteers": _l("Active volunteers"),
    "teams": _l("Teams"),
    "stations": _l("Stations"),
    "events_held": _l("Events held"),
    "people_times": _l("People-times served"),
    "service_minutes": _l("Service hours"),
    "points_converted": _l("Points converted"),
    "points_allocated": _l("Points allocated to households"),
    "points_issued": _l("Points issued in all"),
    "points_redeemed": _l("Points redeemed at stores"),
    "points_outstanding": _l("Points outstanding"),
    "donations": _l("Donations received"),
    "donations_value_fen": _l("Donations value (yuan)"),
    "redemptions": _l("Redemptions"),
    "goods_redeemed": _l("Goods redeemed"),
}
SCOPE_KINDS = {
    "region": _l("Region"),
    "station": _l("Station"),
    "team": _l("Team"),
    "store": _l("Love supermarket"),
}
ORDER = [*figures.FIGURES[:11], "points_issued", *figures.FIGURES[11:]]


def display_value(name: str, value) -> str:
    """A figure as people read it: hours with one decimal, yuan with two, else whole."""
    if value is None:
        return "—"
    if name == "service_minutes":
        return format_decimal(round(value / 60, 1), format="#,##0.0")
    if name == "donations_value_fen":
        return format_decimal(value / 100, format="#,##0.00")
    return format_decimal(value)


def export_value(name: str, value):
    """A figure as a spreadsheet cell: a number, hours and yuan as decimals."""
    if value is None:
        return ""
    if name == "service_minutes":
        return round(value / 60, 2)
    if name == "donations_value_fen":
        return round(value / 100, 2)
    return value


class DashboardForm(PeriodForm):
    """The period and scope, read from the query string."""

    class Meta:
        csrf = False


def _read(form: DashboardForm) -> figures.Summary:
    scope = figures.resolve_scope(current_user, request.args.get("scope"))
    start, end = figures.check_period(form.start.data, form.end.data, today())
    return figures.summary(scope, start, end)


@bp.get("/")
@requires(*REPORTING_ROLES)
def dashboard():
    form = DashboardForm(request.args)
    form.validate()
    try:
        summary = _read(form) if not form.errors else None
    except DomainError as exc:
        if exc.field is None:  # an unknown or foreign scope: not confirmed to exist
            raise
        Form.fail(form, exc)
        summary = None
    scopes = figures.scopes_for(current_user)
    if summary is None:
        return render_template(
            "reports/dashboard.html", form=form, summary=None, scopes=scopes, kinds=SCOPE_KINDS
        ), 400
    months = [m.month for m in summary.months]
    charts_ = {}
    if summary.people_times is not None:
        charts_["hours"] = charts.columns(
            _("Service hours by month"),
            [(m, round(x.minutes / 60, 1)) for m, x in zip(months, summary.months, strict=True)],
            chart_id="chart-hours",
        )
        charts_["people"] = charts.columns(
            _("People-times served by month"),
            [(m, x.people_times) for m, x in zip(months, summary.months, strict=True)],
            chart_id="chart-people",
        )
    if summary.stars:
        charts_["stars"] = charts.bars(
            _("Volunteers by star level"),
            [(_("%(n)d stars", n=level), n) for level, n in sorted(summary.stars.items())],
            chart_id="chart-stars",
        )
    if summary.top_stations:
        charts_["stations"] = charts.bars(
            _("Stations by service hours"),
            [(r.name, round(r.minutes / 60, 1)) for r in summary.top_stations],
            chart_id="chart-stations",
        )
    if summary.top_teams:
        charts_["teams"] = charts.bars(
            _("Teams by service hours"),
            [(r.name, round(r.minutes / 60, 1)) for r in summary.top_teams],
            chart_id="chart-teams",
        )
    if summary.points_redeemed is not None:
        charts_["points"] = charts.columns(
            _("Points redeemed by month"),
            [(m, x.points_redeemed) for m, x in zip(months, summary.months, strict=True)],
            chart_id="chart-points",
        )
    return render_template(
        "reports/dashboard.html",
        form=form,
        summary=summary,
        scopes=scopes,
        kinds=SCOPE_KINDS,
        figures=[
            (name, LABELS[name], display_value(name, _value(summary, name))) for name in ORDER
        ],
        charts=charts_,
        export_args={k: v for k, v in request.args.items() if k in ("scope", "start", "end")},
    )


def _value(summary: figures.Summary, name: str):
    return getattr(summary, name)


def _rows(summary: figures.Summary) -> list[list]:
    """The report as rows: figures, then months, then rankings."""
    scope_kind = SCOPE_KINDS[summary.scope.kind]
    rows = [
        [_("Figure"), _("Value")],
        [_("Area"), f"{scope_kind}: {summary.scope.name}"],
        [_("Period"), f"{summary.start.isoformat()} – {summary.end.isoformat()}"],
    ]
    rows += [
        [str(LABELS[name]), export_value(name, _value(summary, name))]
        for name in ORDER
        if _value(summary, name) is not None
    ]
    if summary.stars:
        rows += [[], [_("Star level"), _("Volunteers")]]
        rows += [[level, n] for level, n in sorted(summary.stars.items())]
    rows += [
        [],
        [_("Month"), _("People-times served"), _("Service hours"), _("New volunteers")]
        + [_("Points redeemed")],
    ]
    rows += [
        [m.month, m.people_times, round(m.minutes / 60, 2), m.new_volunteers, m.points_redeemed]
        for m in summary.months
    ]
    for title, ranked in ((_("Station"), summary.top_stations), (_("Team"), summary.top_teams)):
        if ranked:
            rows += [[], [title, _("People-times served"), _("Service hours")]]
            rows += [[r.name, r.people_times, round(r.minutes / 60, 2)] for r in ranked]
    return rows


@bp.get("/summary.<any(csv, xlsx):fmt>")
@requires(*REPORTING_ROLES)
def export(fmt: str):
    form = DashboardForm(request.args)
    if not form.validate():
        return render_template(
            "reports/dashboard.html",
            form=form,
            summary=None,
            scopes=figures.scopes_for(current_user),
            kinds=SCOPE_KINDS,
        ), 400
    summary = _read(form)
    rows = _rows(summary)
    name = f"report-{summary.scope.kind}-{summary.scope.id}-{utcnow():%Y%m%d}"
    # A few dozen rows: the export's streaming is for the long lists, this one is small.
    return export_response(fmt, name, rows[0], rows[1:], _("Report"), widths=(28, 24, 16, 16))
