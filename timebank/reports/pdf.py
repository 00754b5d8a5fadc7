"""PDF building blocks (CJK font, styles, tables, QR codes) and the certificate PDF."""

import hashlib
import io
import logging
import os
import threading
from xml.sax.saxutils import escape

from flask import current_app
from flask_babel import format_date, gettext, to_user_timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from timebank.core import qr
from timebank.ledger.exports import format_duration

log = logging.getLogger(__name__)

# TrueType CJK fonts Debian packages put here (fonts-wqy-zenhei, fonts-wqy-microhei,
# fonts-arphic-uming). Noto CJK is not listed: its outlines are CFF, which TTFont refuses.
DEBIAN_CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
# Built into reportlab and every PDF reader's CJK support: needs no file, is not embedded.
CID_FONT = "STSong-Light"

_lock = threading.Lock()
_loaded: dict[str, str] = {}  # font file → registered name
_refused: set[str] = set()  # font files that failed once; not read again by this process


def _register_file(path: str) -> str | None:
    if path in _loaded:
        return _loaded[path]
    if path in _refused or not os.path.isfile(path):
        return None
    name = "CJK-" + hashlib.sha256(path.encode()).hexdigest()[:10]
    try:
        # subfontIndex picks the first face of a collection (.ttc); plain .ttf ignore it.
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
    except (TTFError, OSError, ValueError) as exc:
        log.warning("CJK font %s cannot be used in PDFs: %s", path, exc)
        _refused.add(path)
        return None
    _loaded[path] = name
    return name


def cjk_font() -> str:
    """Register a font that draws Chinese and answer its name for reportlab.

    CJK_FONT_PATH first, then the known Debian paths, else the built-in STSong-Light.
    Registration happens once per process and font file.
    """
    configured = (current_app.config.get("CJK_FONT_PATH") or "").strip()
    with _lock:
        for path in ([configured] if configured else []) + list(DEBIAN_CJK_FONTS):
            name = _register_file(path)
            if name:
                return name
        if configured and configured not in _loaded:
            log.warning("CJK_FONT_PATH %s is unusable; PDFs use %s", configured, CID_FONT)
        if CID_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
        return CID_FONT


def styles(font: str) -> dict[str, ParagraphStyle]:
    """Paragraph styles in one font; CJK word wrap breaks lines between any two characters."""
    base = ParagraphStyle("body", fontName=font, fontSize=11, leading=17, wordWrap="CJK")
    return {
        "title": ParagraphStyle(
            "title", parent=base, fontSize=22, leading=30, alignment=TA_CENTER, spaceAfter=6
        ),
        "subtitle": ParagraphStyle("subtitle", parent=base, alignment=TA_CENTER, fontSize=10),
        "heading": ParagraphStyle(
            "heading", parent=base, fontSize=13, leading=19, spaceBefore=8, spaceAfter=4
        ),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=10, leading=14),
        "number": ParagraphStyle(
            "number", parent=base, fontSize=10, leading=14, alignment=TA_RIGHT
        ),
        "small": ParagraphStyle("small", parent=base, fontSize=8.5, leading=12),
        "warning": ParagraphStyle(
            "warning", parent=base, fontSize=14, leading=20, textColor=colors.red
        ),
    }


def text(value, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: names and places are escaped, never read as markup."""
    return Paragraph(escape(str(value)), style)


def table(
    rows: list[list],
    col_widths: list[float],
    font: str,
    *,
    header: bool = True,
    footer: bool = False,
    numeric: tuple[int, ...] = (),
) -> Table:
    """A ruled table; plain cells wrap, columns in `numeric` align right, the first row is a
    header (repeated on each page) and the last a footer when asked."""
    sheet = styles(font)
    cells = [
        [
            cell
            if not isinstance(cell, str | int)
            else text(cell, sheet["number"] if col in numeric else sheet["cell"])
            for col, cell in enumerate(row)
        ]
        for row in rows
    ]
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    if footer:
        commands.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f6f6f6")))
    made = Table(cells, colWidths=col_widths, repeatRows=1 if header else 0, hAlign="LEFT")
    made.setStyle(TableStyle(commands))
    return made


def qr_image(data: str, size: float) -> Image:
    """A QR code as a square image flowable, `size` points wide."""
    return Image(io.BytesIO(qr.png(data, box_size=8)), width=size, height=size)


def build(story: list, *, title: str, author: str) -> bytes:
    """Lay the flowables out on A4 pages and answer the PDF's bytes."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=22 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=title,
        author=author,
        creator=author,
    )
    document.build(story)
    return buffer.getvalue()


# -- the service-record certificate ---------------------------------------------------------


def format_minutes(minutes: int) -> str:
    return format_duration(minutes)


def issuer_name() -> str:
    return current_app.config.get("CERTIFICATE_ISSUER_NAME") or gettext("Timebank")


def certificate_pdf(certificate, verify_url: str) -> bytes:
    """The certificate on one A4 page, in the request's language: who, which period, hours
    by organization, the totals, serial and issue date, and a QR code of the verify URL."""
    _ = gettext
    font = cjk_font()
    sheet = styles(font)
    width = A4[0] - 44 * mm
    issuer = issuer_name()
    period = _(
        "%(start)s to %(end)s",
        start=format_date(certificate.period_start, "long"),
        end=format_date(certificate.period_end, "long"),
    )
    total = format_minutes(certificate.total_minutes)
    title = _("Volunteer Service Record Certificate")

    story = [text(title, sheet["title"]), text(issuer, sheet["subtitle"]), Spacer(1, 8 * mm)]
    if certificate.revoked:
        story += [
            text(
                _(
                    "REVOKED on %(date)s: this certificate is no longer valid.",
                    date=format_date(to_user_timezone(certificate.revoked_at).date(), "long"),
                ),
                sheet["warning"],
            ),
            Spacer(1, 4 * mm),
        ]
    story.append(
        text(
            _(
                "This is to certify that %(name)s (ID %(document)s) served as a volunteer "
                "from %(period)s. The service recorded and approved in %(system)s is:",
                name=certificate.holder_name,
                document=certificate.masked_document,
                period=period,
                system=issuer,
            ),
            sheet["body"],
        )
    )
    story.append(Spacer(1, 4 * mm))
    facts = [
        [_("Full name"), certificate.holder_name],
        [_("ID number"), certificate.masked_document],
        [_("Period"), period],
    ]
    if certificate.purpose:
        facts.append([_("Purpose"), certificate.purpose])
    story += [table(facts, [35 * mm, width - 35 * mm], font, header=False), Spacer(1, 5 * mm)]

    rows = [[_("Organizer"), _("Services"), _("Service time")]]
    rows += [
        [line["organization"], str(line["count"]), format_minutes(line["minutes"])]
        for line in certificate.lines
    ]
    rows.append([_("Total"), str(certificate.service_count), total])
    story += [
        text(_("Service by organization"), sheet["heading"]),
        table(
            rows,
            [width - 70 * mm, 25 * mm, 45 * mm],
            font,
            header=True,
            footer=True,
            numeric=(1, 2),
        ),
        Spacer(1, 5 * mm),
        text(
            _(
                "Total service hours: %(hours)s in %(count)d services.",
                hours=total,
                count=certificate.service_count,
            ),
            sheet["heading"],
        ),
        Spacer(1, 6 * mm),
    ]

    issued = format_date(to_user_timezone(certificate.issued_at).date(), "long")
    signature = [
        text(_("Serial: %(serial)s", serial=certificate.serial), sheet["body"]),
        text(_("Issued on: %(date)s", date=issued), sheet["body"]),
        text(_("Issued by: %(system)s", system=issuer), sheet["body"]),
        Spacer(1, 3 * mm),
        text(
            _("Scan the code or open this address to check that the certificate is valid:"),
            sheet["small"],
        ),
        text(verify_url, sheet["small"]),
    ]
    qr_size = 38 * mm
    layout = Table(
        [[signature, qr_image(verify_url, qr_size)]],
        colWidths=[width - qr_size - 4 * mm, qr_size + 4 * mm],
        hAlign="LEFT",
    )
    layout.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(layout)
    return build(story, title=f"{title} {certificate.serial}", author=issuer)
