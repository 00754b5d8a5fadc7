"""A project's evaluation report as a printable A4 PDF, in Chinese as well as English."""

import io
from xml.sax.saxutils import escape

from flask_babel import format_datetime
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

# The certificates' font lookup: a configured or Debian TrueType CJK font, else the
# built-in STSong-Light, so both kinds of PDF look alike and nothing is committed.
from timebank.reports.pdf import cjk_font
from timebank.reports.project_exports import info_rows, state_label
from timebank.reports.projects import ProjectReport, summary_rows


def _styles(font: str) -> dict[str, ParagraphStyle]:
    # CJK text has no spaces to break at: wordWrap="CJK" breaks between any characters.
    base = ParagraphStyle("body", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24, alignment=1),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=13, leading=18, alignment=1),
        "heading": ParagraphStyle("heading", parent=base, fontSize=12, leading=18, spaceBefore=8),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11),
    }


def _table(rows: list[list], widths: list[float], font: str, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("FONT", (0, 0), (-1, -1), font, 9),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(style))
    return table


def _text(value, style) -> Paragraph:
    return Paragraph(escape(str(value)), style)


def report_pdf(report: ProjectReport) -> bytes:
    font = cjk_font()
    styles = _styles(font)
    body = styles["body"]
    data = io.BytesIO()
    document = SimpleDocTemplate(
        data,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"{report.name} · {_('Project evaluation report')}",
    )
    width = A4[0] - 36 * mm
    story = [
        _text(report.name, styles["title"]),
        _text(_("Project evaluation report"), styles["subtitle"]),
        Spacer(1, 6 * mm),
        _table(
            [[_text(label, body), _text(value, body)] for label, value in info_rows(report)],
            [width * 0.28, width * 0.72],
            font,
            header=False,
        ),
        _text(_("Figures"), styles["heading"]),
        _table(
            [[_("Item"), _("Value")]]
            + [[_text(label, body), str(value)] for _key, label, value in summary_rows(report)],
            [width * 0.6, width * 0.4],
            font,
        ),
        _text(_("Events"), styles["heading"]),
    ]
    if report.events:
        story.append(
            _table(
                [[_("Event"), _("Date"), _("State"), _("People-times"), _("Hours")]]
                + [
                    [
                        _text(item.title, body),
                        item.day.isoformat(),
                        state_label(item.state),
                        str(item.people_times),
                        str(item.hours),
                    ]
                    for item in report.events
                ],
                [width * 0.42, width * 0.16, width * 0.14, width * 0.14, width * 0.14],
                font,
            )
        )
    else:
        story.append(_text(_("No events linked in the period."), body))
    story.append(_text(_("Media reports"), styles["heading"]))
    if report.media_reports:
        story.append(
            _table(
                [[_("Headline"), _("Outlet"), _("Published on")]]
                + [
                    [
                        _text(item.title, body),
                        _text(item.outlet, body),
                        item.published_on.isoformat(),
                    ]
                    for item in report.media_reports
                ],
                [width * 0.56, width * 0.26, width * 0.18],
                font,
            )
        )
    else:
        story.append(_text(_("No media reports."), body))
    story += [
        Spacer(1, 8 * mm),
        _text(
            _(
                "Computed from the time bank's records on %(when)s.",
                when=format_datetime(report.generated_at, "yyyy-MM-dd HH:mm"),
            ),
            styles["small"],
        ),
    ]
    document.build(story)
    return data.getvalue()
