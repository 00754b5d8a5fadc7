"""Reading an uploaded spreadsheet row by row: CSV (UTF-8 or GB18030) or a one-sheet XLSX.

Two passes over the file. scan() reads all of it before anything is changed: it settles
the text encoding, refuses formulas, and counts the rows. records() then streams the
rows. Neither keeps more than a row in memory, except the shared-strings table that
openpyxl loads for an XLSX (so very large lists are best given as CSV).
"""

import codecs
import csv
import hashlib
import io
import zipfile
from collections.abc import Iterator

from flask_babel import gettext as _

from timebank.core.errors import ValidationFailed

CHUNK = 1 << 20
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 (.xls) and other OLE documents
# A sheet's XML compresses 5-15 times; far more than that is a zip bomb.
MAX_ZIP_RATIO = 100
ZIP_RATIO_FLOOR = 64 << 20
DELIMITERS = (",", "\t", ";")


class FileRefused(ValidationFailed):
    """The file as a whole cannot be imported; nothing was changed."""

    code = "file_refused"

    def __init__(self, message):
        super().__init__(message, field="file")


def too_large(max_bytes: int) -> str:
    return _(
        "The file is larger than %(size)s. Split it into smaller files, or ask your "
        "administrator to import it with the command-line import.",
        size=f"{max_bytes / (1 << 20):g} MB",
    )


def too_many_rows(max_rows: int) -> str:
    return _(
        "The file has more than %(rows)d people. Split it into smaller files, or ask your "
        "administrator to import it with the command-line import.",
        rows=max_rows,
    )


def not_xlsx() -> str:
    return _("This is not a valid .xlsx workbook. Open it in Excel or WPS and save it again.")


def filled(value) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


def open_sheet(stream, filename: str = "", *, max_bytes: int | None = None):
    """A CsvSheet or XlsxSheet over a seekable binary stream, told apart by their content."""
    size, digest, head = _measure(stream)
    if max_bytes is not None and size > max_bytes:
        raise FileRefused(too_large(max_bytes))
    if size == 0:
        raise FileRefused(_("The file is empty."))
    name = (filename or "").lower()
    if head.startswith(XLSX_MAGIC):
        return XlsxSheet(stream, digest)
    if head.startswith(OLE_MAGIC) or name.endswith(".xls"):
        raise FileRefused(
            _("This is an old Excel (.xls) file. Save it as .xlsx or as CSV and try again.")
        )
    if name.endswith((".xlsx", ".xlsm")):
        raise FileRefused(not_xlsx())
    return CsvSheet(stream, digest)


def _measure(stream) -> tuple[int, str, bytes]:
    """Size, SHA-256 (named in the audit log) and first bytes, reading in chunks."""
    stream.seek(0)
    digest = hashlib.sha256()
    size, head = 0, b""
    while chunk := stream.read(CHUNK):
        if not head:
            head = chunk[:8]
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return size, digest.hexdigest(), head


class CsvSheet:
    kind = "csv"

    def __init__(self, stream, digest: str):
        self.stream, self.digest = stream, digest
        self.encoding: str | None = None
        self.delimiter = ","

    def scan(self) -> int:
        """Rows holding anything. Tries UTF-8 (what WPS and "CSV UTF-8" write) before
        GB18030, the superset of the GBK that Excel in China writes by default."""
        self.stream.seek(0)
        head = self.stream.read(4)
        if head.startswith(codecs.BOM_UTF8):
            candidates = ["utf-8-sig"]
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            candidates = ["utf-16"]  # Excel's "Unicode text", tab separated
        else:
            candidates = ["utf-8", "gb18030"]
        for encoding in candidates:
            try:
                self.delimiter = self._sniff(encoding)
                count = sum(1 for _row in self._read(encoding))
            except UnicodeDecodeError:
                continue
            self.encoding = encoding
            return count
        raise FileRefused(
            _(
                'The file\'s text encoding is not recognised. Save it as "CSV UTF-8" or as '
                ".xlsx and try again."
            )
        )

    def records(self) -> Iterator[tuple[int, list]]:
        """(line as the spreadsheet numbers it, cells) for every row holding anything."""
        if self.encoding is None:
            raise RuntimeError("scan() the file first")
        return self._read(self.encoding)

    def _sniff(self, encoding: str) -> str:
        self.stream.seek(0)
        text = self.stream.read(64 * 1024).decode(encoding, errors="ignore")
        first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
        return max(DELIMITERS, key=first.count) if first else ","

    def _read(self, encoding: str) -> Iterator[tuple[int, list]]:
        self.stream.seek(0)
        text = io.TextIOWrapper(self.stream, encoding=encoding, newline="")
        line = 0
        try:
            # Excel numbers records, not physical lines: a cell may hold a line break.
            for line, row in enumerate(csv.reader(text, delimiter=self.delimiter), start=1):
                if any(cell.strip() for cell in row):
                    yield line, row
        except csv.Error:
            raise FileRefused(
                _("Line %(line)d of the file is not valid CSV.", line=line + 1)
            ) from None
        finally:
            text.detach()  # the caller's stream stays open


class XlsxSheet:
    kind = "xlsx"

    def __init__(self, stream, digest: str):
        self.stream, self.digest = stream, digest
        self.encoding = None
        self._check_archive()

    def _check_archive(self) -> None:
        self.stream.seek(0)
        try:
            with zipfile.ZipFile(self.stream) as archive:
                members = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError):
            raise FileRefused(not_xlsx()) from None
        for info in members:
            if info.file_size > max(ZIP_RATIO_FLOOR, MAX_ZIP_RATIO * info.compress_size):
                raise FileRefused(not_xlsx())

    def _open(self):
        from openpyxl import load_workbook

        self.stream.seek(0)
        try:
            # data_only=False: formulas come back as formulas, so they can be refused.
            workbook = load_workbook(self.stream, read_only=True, data_only=False)
        except Exception:  # openpyxl raises many kinds on a malformed file
            raise FileRefused(not_xlsx()) from None
        if len(workbook.sheetnames) != 1:
            count = len(workbook.sheetnames)
            workbook.close()
            raise FileRefused(
                _(
                    "The workbook has %(count)d sheets. Keep only the sheet with the people "
                    "(delete the others, hidden ones too) and try again.",
                    count=count,
                )
            )
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None or not hasattr(sheet, "reset_dimensions"):
            workbook.close()
            raise FileRefused(not_xlsx())
        # The stored dimension can be wrong (some programs write A1:A1); trusting it
        # would silently cut the sheet short.
        sheet.reset_dimensions()
        return workbook, sheet

    def scan(self) -> int:
        workbook, sheet = self._open()
        count = 0
        try:
            for row in sheet.iter_rows(min_row=1):
                holds = False
                for cell in row:
                    if cell.value is None:
                        continue
                    if cell.data_type == "f":
                        raise FileRefused(
                            _(
                                "Cell %(cell)s holds a formula. Copy the sheet, paste it back "
                                "as values only, and try again.",
                                cell=cell.coordinate,
                            )
                        )
                    holds = holds or filled(cell.value)
                count += holds
        except FileRefused:
            raise
        except Exception:  # a damaged sheet part
            raise FileRefused(not_xlsx()) from None
        finally:
            workbook.close()
        return count

    def records(self) -> Iterator[tuple[int, tuple]]:
        workbook, sheet = self._open()
        try:
            # Missing rows come back empty, so enumerate gives the row number Excel shows.
            for line, row in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
                if any(filled(value) for value in row):
                    yield line, row
        finally:
            workbook.close()
