"""Streamed CSV and XLSX downloads of any list of rows, in little memory however long."""

import csv
import io
import tempfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from flask import Response, request, stream_with_context
from flask_babel import to_user_timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from werkzeug.wsgi import wrap_file

FORMATS = ("csv", "xlsx")
CSV_CHUNK = 16 * 1024
XLSX_CHUNK = 64 * 1024
# A small workbook stays in memory; a larger one rolls over to a file on disk.
XLSX_SPOOL = 1024 * 1024
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
_PLAIN = (str, int, float, Decimal, bool, date)


def safe(value):
    """Text that a spreadsheet will show, not run."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def local_datetime(moment: datetime | None) -> datetime | None:
    """A stored (UTC) time as the reader's wall-clock time, to the second: spreadsheets
    know no time zones, and openpyxl refuses aware datetimes."""
    if moment is None:
        return None
    return to_user_timezone(moment).replace(tzinfo=None, microsecond=0)


def clean_sheet_title(title: str) -> str:
    # Excel refuses these characters in a sheet name, and more than 31 of any.
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in (title or "")).strip()
    return cleaned[:31] or "Sheet"


def _cell_value(value):
    # Lazy translations and enums arrive here too; spreadsheets take plain values only.
    if value is None or isinstance(value, _PLAIN):
        return value
    return str(value)


def _csv_text(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _attachment(response: Response, filename: str) -> Response:
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    return response


def csv_response(filename: str, headers: Sequence[str], rows: Iterable[Sequence]) -> Response:
    """Streamed in chunks as the rows arrive, so a long list never sits in memory whole.

    rows is consumed inside the response, with the request context kept: a generator over
    a query with yield_per reads the database only as the download proceeds.
    """
    headers = [str(text) for text in headers]

    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # so that Excel reads the Chinese as UTF-8
        writer.writerow(headers)
        for row in rows:
            writer.writerow([safe(_csv_text(_cell_value(value))) for value in row])
            if buffer.tell() > CSV_CHUNK:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
    return response


def write_workbook(
    target,
    headers: Sequence[str],
    rows: Iterable[Sequence],
    title: str,
    widths: Sequence[int | None] = (),
) -> int:
    """Write one sheet in openpyxl's write-only mode (rows go to a temporary file as they
    come, not to a tree in memory) into target, a path or binary file; returns the rows."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=clean_sheet_title(title))
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths, start=1):
        if width:
            sheet.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    header = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=str(text))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in rows:
        cells = []
        for value in row:
            value = safe(_cell_value(value))
            if isinstance(value, date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = DATETIME_FORMAT if isinstance(value, datetime) else DATE_FORMAT
                value = cell
            cells.append(value)
        sheet.append(cells)
        count += 1
    workbook.save(target)
    return count


def xlsx_response(
    filename: str,
    headers: Sequence[str],
    rows: Iterable[Sequence],
    title: str,
    widths: Sequence[int | None] = (),
) -> Response:
    """The workbook is written before answering (an XLSX is a zip, its index at the end),
    then sent from its spooled file in chunks; the file goes when the response closes."""
    # Not a with block: the response closes it once sent.
    spool = tempfile.SpooledTemporaryFile(max_size=XLSX_SPOOL)  # noqa: SIM115
    try:
        write_workbook(spool, headers, rows, title, widths)
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    response = Response(
        wrap_file(request.environ, spool, XLSX_CHUNK),
        mimetype=XLSX_MIMETYPE,
        direct_passthrough=True,
    )
    response.content_length = size
    # wrap_file's iterator closes the file when the server closes the response, even when
    # the client goes away mid-download; this covers servers that never iterate it.
    response.call_on_close(spool.close)
    return _attachment(response, f"{filename}.xlsx")


def export_response(
    fmt: str,
    filename: str,
    headers: Sequence[str],
    rows: Iterable[Sequence],
    sheet_title: str = "",
    widths: Sequence[int | None] = (),
) -> Response:
    """A download of rows as "csv" or "xlsx".

    Values may be text, numbers, dates and (local, naive) datetimes; text that a
    spreadsheet would run as a formula is quoted. filename has no extension and should be
    ASCII; widths (in characters) apply to the XLSX columns in order.
    """
    if fmt == "csv":
        return csv_response(filename, headers, rows)
    if fmt == "xlsx":
        return xlsx_response(filename, headers, rows, sheet_title or filename, widths)
    raise ValueError(f"unknown export format: {fmt}")
