"""Pages: service projects, what they group, and their evaluation reports."""

import io
from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from timebank.auth.models import Role
from timebank.core.errors import DomainError
from timebank.core.forms import options
from timebank.core.security import requires
from timebank.extensions import db
from timebank.reports import projects
from timebank.reports.models import Project
from timebank.reports.project_exports import (
    PDF_MIMETYPE,
    XLSX_MIMETYPE,
    download_name,
    report_xlsx,
    state_label,
)
from timebank.reports.project_forms import (
    BeneficiaryForm,
    BeneficiaryImportForm,
    LinkEventForm,
    LinkStoreForm,
    MediaReportForm,
    ProjectForm,
)
from timebank.stations.models import Station

bp = Blueprint("projects", __name__)

ROLES = (Role.STATION_STAFF, Role.TEAM_LEADER, Role.ADMIN)


@bp.app_template_filter("project_event_state")
def event_state(value) -> str:
    return state_label(str(value))


def _actor():
    return current_user._get_current_object()


def _project(project_id: int) -> Project:
    """A project the person manages; any other is a 404, its existence not confirmed."""
    return projects.get_visible_project(_actor(), project_id)


def _fen(value: Decimal | None) -> int:
    return int((value or Decimal(0)) * 100)


def _details(form: ProjectForm) -> projects.ProjectDetails:
    kind, _sep, number = (form.organizer.data or "").partition(":")
    organizer_id = int(number) if number.isdigit() else None
    return projects.ProjectDetails(
        name=form.name.data,
        description=form.description.data or "",
        starts_on=form.starts_on.data,
        ends_on=form.ends_on.data,
        funding_source=form.funding_source.data or "",
        funding_fen=_fen(form.funding_yuan.data),
        station_id=organizer_id if kind == "station" else None,
        organization_id=organizer_id if kind == "organization" else None,
    )


def _organizer_options(actor) -> list:
    pairs = []
    for organizer in projects.organizer_choices(actor):
        kind = "station" if isinstance(organizer, Station) else "organization"
        pairs.append((f"{kind}:{organizer.id}", organizer.name))
    return options(pairs)


# -- projects -----------------------------------------------------------------------------


@bp.route("/projects/")
@requires(*ROLES)
def index():
    page = db.paginate(projects.projects_for(_actor()), per_page=50)
    return render_template("projects/index.html", page=page)


@bp.route("/projects/new", methods=["GET", "POST"])
@requires(*ROLES)
def new():
    form = ProjectForm()
    form.organizer.choices = _organizer_options(_actor())
    if form.validate_on_submit():
        try:
            project = projects.create_project(_actor(), _details(form))
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(
                _("Project %(name)s created. Link its events next.", name=project.name), "success"
            )
            return redirect(url_for(".show", project_id=project.id))
    return render_template("projects/form.html", form=form, project=None)


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
@requires(*ROLES)
def edit(project_id: int):
    project = _project(project_id)
    form = ProjectForm(obj=project)
    del form.organizer  # the organizer of a project does not change
    if request.method == "GET":
        form.funding_yuan.data = Decimal(project.funding_fen) / 100
    if form.validate_on_submit():
        details = projects.ProjectDetails(
            name=form.name.data,
            description=form.description.data or "",
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
            funding_source=form.funding_source.data or "",
            funding_fen=_fen(form.funding_yuan.data),
        )
        try:
            projects.update_project(_actor(), project, details)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Project saved."), "success")
            return redirect(url_for(".show", project_id=project.id))
    return render_template("projects/form.html", form=form, project=project)


@bp.route("/projects/<int:project_id>/delete", methods=["POST"])
@requires(*ROLES)
def delete(project_id: int):
    project = _project(project_id)
    name = project.name
    projects.delete_project(_actor(), project)
    db.session.commit()
    flash(_("Project %(name)s removed.", name=name), "success")
    return redirect(url_for(".index"))


def _show(project: Project, **forms):
    """The project's page; a form given here (with its errors) replaces the blank one."""
    event_form = forms.get("event_form") or LinkEventForm(prefix="link-event")
    event_form.event_id.choices = options(
        (e.id, f"{projects.local_day(e.starts_at).isoformat()} {e.title}")
        for e in projects.candidate_events(project)
    )
    store_form = forms.get("store_form") or LinkStoreForm(prefix="link-store")
    store_form.store_id.choices = options(
        (s.id, s.name) for s in projects.candidate_stores(_actor(), project)
    )
    return render_template(
        "projects/show.html",
        project=project,
        report=projects.evaluate(project),
        event_form=event_form,
        store_form=store_form,
        media_form=forms.get("media_form") or MediaReportForm(prefix="media"),
        person_form=forms.get("person_form") or BeneficiaryForm(prefix="person"),
        import_form=forms.get("import_form") or BeneficiaryImportForm(prefix="import"),
        outside=projects.events_outside_period(project),
    )


@bp.route("/projects/<int:project_id>")
@requires(*ROLES)
def show(project_id: int):
    return _show(_project(project_id))


def _back(project: Project, anchor: str):
    return redirect(url_for(".show", project_id=project.id, _anchor=anchor))


def _submit(project: Project, form, name: str, change, success: str, anchor: str):
    """Post one of the page's forms: the change and a redirect, or the page with errors."""
    if form.validate_on_submit():
        try:
            change(form)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(success, "success")
            return _back(project, anchor)
    return _show(project, **{name: form})


# -- events and stores --------------------------------------------------------------------


def _number(value) -> int | None:
    return int(value) if (value or "").isdigit() else None


@bp.route("/projects/<int:project_id>/events", methods=["POST"])
@requires(*ROLES)
def link_event(project_id: int):
    project = _project(project_id)
    return _submit(
        project,
        LinkEventForm(prefix="link-event"),
        "event_form",
        lambda f: projects.link_event(_actor(), project, _number(f.event_id.data)),
        _("Event added to the project."),
        "events",
    )


@bp.route("/projects/<int:project_id>/events/<int:event_id>/unlink", methods=["POST"])
@requires(*ROLES)
def unlink_event(project_id: int, event_id: int):
    project = _project(project_id)
    projects.unlink_event(_actor(), project, event_id)
    db.session.commit()
    flash(_("Event removed from the project."), "success")
    return _back(project, "events")


@bp.route("/projects/<int:project_id>/stores", methods=["POST"])
@requires(*ROLES)
def link_store(project_id: int):
    project = _project(project_id)
    return _submit(
        project,
        LinkStoreForm(prefix="link-store"),
        "store_form",
        lambda f: projects.link_store(_actor(), project, _number(f.store_id.data)),
        _("Love supermarket added to the project."),
        "stores",
    )


@bp.route("/projects/<int:project_id>/stores/<int:store_id>/unlink", methods=["POST"])
@requires(*ROLES)
def unlink_store(project_id: int, store_id: int):
    project = _project(project_id)
    projects.unlink_store(_actor(), project, store_id)
    db.session.commit()
    flash(_("Love supermarket removed from the project."), "success")
    return _back(project, "stores")


# -- media reports and beneficiaries ------------------------------------------------------


@bp.route("/projects/<int:project_id>/media", methods=["POST"])
@requires(*ROLES)
def add_media(project_id: int):
    project = _project(project_id)
    return _submit(
        project,
        MediaReportForm(prefix="media"),
        "media_form",
        lambda f: projects.add_media_report(
            _actor(),
            project,
            title=f.title.data,
            outlet=f.outlet.data or "",
            url=f.url.data or "",
            published_on=f.published_on.data,
        ),
        _("Media report added."),
        "media",
    )


@bp.route("/projects/<int:project_id>/media/<int:report_id>/delete", methods=["POST"])
@requires(*ROLES)
def remove_media(project_id: int, report_id: int):
    project = _project(project_id)
    projects.remove_media_report(_actor(), project, report_id)
    db.session.commit()
    flash(_("Media report removed."), "success")
    return _back(project, "media")


@bp.route("/projects/<int:project_id>/beneficiaries", methods=["POST"])
@requires(*ROLES)
def add_person(project_id: int):
    project = _project(project_id)
    return _submit(
        project,
        BeneficiaryForm(prefix="person"),
        "person_form",
        lambda f: projects.add_beneficiary(
            _actor(), project, name=f.name.data, phone=f.phone.data, note=f.note.data or ""
        ),
        _("Beneficiary added."),
        "beneficiaries",
    )


@bp.route("/projects/<int:project_id>/beneficiaries/<int:beneficiary_id>/delete", methods=["POST"])
@requires(*ROLES)
def remove_person(project_id: int, beneficiary_id: int):
    project = _project(project_id)
    projects.remove_beneficiary(_actor(), project, beneficiary_id)
    db.session.commit()
    flash(_("Beneficiary removed."), "success")
    return _back(project, "beneficiaries")


@bp.route("/projects/<int:project_id>/beneficiaries/import", methods=["POST"])
@requires(*ROLES)
def import_people(project_id: int):
    project = _project(project_id)
    form = BeneficiaryImportForm(prefix="import")
    if form.validate_on_submit():
        try:
            upload = form.upload.data
            if upload and getattr(upload, "filename", ""):
                text = projects.decode_upload(upload.read(projects.MAX_IMPORT_BYTES + 1))
            else:
                text = form.lines.data or ""
            result = projects.import_beneficiaries(_actor(), project, text)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            message = ngettext("%(num)d person added.", "%(num)d people added.", result.added)
            if result.already_listed:
                message += " " + ngettext(
                    "%(num)d was already on the list.",
                    "%(num)d were already on the list.",
                    result.already_listed,
                )
            flash(message, "success")
            return _back(project, "beneficiaries")
    return _show(project, import_form=form)


# -- the evaluation report ----------------------------------------------------------------


@bp.route("/projects/<int:project_id>/report")
@requires(*ROLES)
def report(project_id: int):
    """The report as a page, printable from the browser."""
    project = _project(project_id)
    return render_template(
        "projects/report.html", project=project, report=projects.evaluate(project)
    )


@bp.route("/projects/<int:project_id>/report.xlsx")
@requires(*ROLES)
def report_workbook(project_id: int):
    project = _project(project_id)
    return send_file(
        io.BytesIO(report_xlsx(projects.evaluate(project))),
        mimetype=XLSX_MIMETYPE,
        as_attachment=True,
        download_name=download_name(project, "xlsx"),
    )


@bp.route("/projects/<int:project_id>/report.pdf")
@requires(*ROLES)
def report_document(project_id: int):
    from timebank.reports.project_pdf import report_pdf

    project = _project(project_id)
    return send_file(
        io.BytesIO(report_pdf(projects.evaluate(project))),
        mimetype=PDF_MIMETYPE,
        as_attachment=True,
        download_name=download_name(project, "pdf"),
    )
