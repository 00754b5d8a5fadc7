"""A project's evaluation report as an XLSX workbook: summary, events, media reports."""

import io

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from timebank.events.models import EventState
from timebank.ledger.exports import XLSX_MIMETYPE, _safe, _sheet_title
from timebank.reports.projects import ProjectReport, summary_rows

__all__ = ["PDF_MIMETYPE", "XLSX_MIMETYPE", "download_name", "info_rows", "report_xlsx"]

PDF_MIMETYPE = "application/pdf"


def download_name(project, extension: str) -> str:
    """The project's name and start as a file name (Chinese kept; send_file encodes it)."""
    # Characters that file systems refuse become underscores.
    stem = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in project.name)
    return f"{stem.strip() or 'project'}-{project.starts_on:%Y%m%d}.{extension}"


def info_rows(report: ProjectReport) -> list[tuple[str, str]]:
    """What the report is about, above its figures."""
    return [
        (_("Project"), report.name),
        (_("Organizer"), report.organizer),
        (_("Region"), report.region),
        (_("Period"), f"{report.starts_on.isoformat()} – {report.ends_on.isoformat()}"),
        (_("Funding source"), report.funding_source),
        (_("Love supermarkets"), "、".join(report.stores)),
    ]


def state_label(state: str) -> str:
    try:
        return str(EventState(state).label)
    except ValueError:
        return state


def _sheet(workbook: Workbook, title: str, headers: list[str], widths: list[int]):
    sheet = workbook.create_sheet(title=_sheet_title(title))
    sheet.append([_safe(h) for h in headers])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    return sheet


def report_xlsx(report: ProjectReport) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)

    summary = _sheet(workbook, _("Summary"), [_("Item"), _("Value")], [28, 50])
    for label, value in info_rows(report):
        summary.append([_safe(label), _safe(value)])
    for _key, label, value in summary_rows(report):
        summary.append([_safe(label), value])
        if hasattr(value, "as_tuple"):  # Decimal: hours and yuan, two places
            summary.cell(row=summary.max_row, column=2).number_format = "0.00"

    events = _sheet(
        workbook,
        _("Events"),
        [_("Event"), _("Date"), _("State"), _("People-times"), _("Hours"), _("Minutes")],
        [40, 12, 12, 14, 10, 10],
    )
    for item in report.events:
        events.append(
            [
                _safe(item.title),
                item.day,
                _safe(state_label(item.state)),
                item.people_times,
                item.hours,
                item.minutes,
            ]
        )
        events.cell(row=events.max_row, column=2).number_format = "yyyy-mm-dd"
        events.cell(row=events.max_row, column=5).number_format = "0.00"

    media = _sheet(
        workbook,
        _("Media reports"),
        [_("Headline"), _("Outlet"), _("Published on"), _("Web address")],
        [40, 20, 14, 50],
    )
    for item in report.media_reports:
        media.append([_safe(item.title), _safe(item.outlet), item.published_on, _safe(item.url)])
        media.cell(row=media.max_row, column=3).number_format = "yyyy-mm-dd"

    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()
