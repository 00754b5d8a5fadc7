"""Staff page: upload a list of volunteers, check it, import it, download the rejected rows."""

import io
import re
import secrets
import time
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileAllowed, FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField, SubmitField

from timebank.auth.models import Role
from timebank.core.forms import Form
from timebank.core.security import requires
from timebank.extensions import db
from timebank.volunteers import import_rows, imports
from timebank.volunteers.sheets import FileRefused, too_large

bp = Blueprint("volunteer_imports", __name__)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Room for the multipart envelope and the other fields around the file itself.
FORM_OVERHEAD = 64 * 1024
REPORT_DIR = "imports"
REPORT_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{24}$")
REPORT_KEEP_SECONDS = 24 * 3600


class ImportForm(Form):
    file = FileField(
        _l("List of volunteers (.xlsx or .csv)"),
        [
            FileRequired(_l("Choose a file.")),
            FileAllowed(["xlsx", "csv"], _l("Choose an .xlsx or .csv file.")),
        ],
    )
    consent = BooleanField(
        _l(
            "Everyone in this list signed the privacy notice on paper (a guardian too, for "
            "anyone under 18), and the station keeps the signed forms."
        )
    )
    check = SubmitField(_l("Check only"))
    submit = SubmitField(_l("Import"))


@bp.route("/staff/volunteers/import", methods=["GET", "POST"])
@requires(Role.STATION_STAFF, Role.ADMIN)
def upload():
    max_bytes = current_app.config["IMPORT_UPLOAD_MAX_BYTES"]
    refused = None
    if (request.content_length or 0) > max_bytes + FORM_OVERHEAD:
        form, refused = ImportForm(formdata=None), too_large(max_bytes)
    else:
        # A body sent without a length (chunked) is cut off at the limit too.
        request.max_content_length = max_bytes + FORM_OVERHEAD
        try:
            form = ImportForm()
        except RequestEntityTooLarge:
            form, refused = ImportForm(formdata=None), too_large(max_bytes)
    result = report_token = None
    if refused:
        form.file.errors = [refused]
    elif form.validate_on_submit():
        dry_run = not form.submit.data
        if not dry_run and not form.consent.data:
            form.consent.errors = [
                _("Confirm that the station keeps everyone's signed consent before importing.")
            ]
        else:
            result, report_token = _run(form, dry_run, max_bytes)
    return render_template(
        "volunteers/import.html",
        form=form,
        result=result,
        report_token=report_token,
        columns=import_rows.COLUMNS,
        max_rows=current_app.config["IMPORT_UPLOAD_MAX_ROWS"],
        max_mb=f"{max_bytes / (1 << 20):g}",
    ), (413 if refused else 200)


def _run(form: ImportForm, dry_run: bool, max_bytes: int):
    """The import's result and, when rows were rejected by a real import, the report's token."""
    actor = current_user._get_current_object()
    upload = form.file.data
    token = path = report = None
    if not dry_run:
        token = secrets.token_urlsafe(18)
        path = _report_path(actor.id, token)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _prune(path.parent)
        report = path.open("w", encoding="utf-8-sig", newline="")
    try:
        result = imports.import_volunteers(
            actor,
            upload.stream,
            filename=upload.filename or "",
            dry_run=dry_run,
            max_bytes=max_bytes,
            max_rows=current_app.config["IMPORT_UPLOAD_MAX_ROWS"],
            report=report,
            commit=db.session.commit,
        )
    except FileRefused as exc:
        db.session.rollback()
        form.file.errors = [str(exc.message)]
        result = None
    finally:
        if report is not None:
            report.close()
    if path is not None and (result is None or not result.rejected):
        path.unlink(missing_ok=True)
        token = None
    return result, token


def _report_path(user_id: int, token: str) -> Path:
    # The user's id is part of the name: a token alone does not open someone else's report.
    return Path(current_app.instance_path) / REPORT_DIR / f"volunteers-{user_id}-{token}.csv"


def _prune(folder: Path) -> None:
    """Reports hold personal data (masked): they are kept for a day, then deleted."""
    cutoff = time.time() - REPORT_KEEP_SECONDS
    for old in folder.glob("volunteers-*.csv"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass  # removed meanwhile by another worker


@bp.route("/staff/volunteers/import/reports/<token>.csv")
@requires(Role.STATION_STAFF, Role.ADMIN)
def report(token: str):
    if not REPORT_TOKEN_RE.match(token):
        abort(404)
    path = _report_path(current_user.id, token)
    if not path.is_file():
        abort(404)
    return send_file(
        path,
        mimetype="text/csv",
        as_attachment=True,
        download_name=_("rejected-rows") + ".csv",
        max_age=0,
    )


@bp.route("/staff/volunteers/import/template.xlsx")
@requires(Role.STATION_STAFF, Role.ADMIN)
def template():
    return send_file(
        io.BytesIO(import_rows.template_workbook()),
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=_("volunteers-template") + ".xlsx",
    )
