"""API: service projects, the events, stores, media reports and beneficiaries they group,
and their evaluation reports (JSON, XLSX, PDF)."""

import io
from dataclasses import fields

from flask import Response, send_file
from flask.views import MethodView
from flask_login import current_user

from timebank.auth.models import Role
from timebank.core.api import Blueprint, paginate
from timebank.core.security import requires
from timebank.extensions import db
from timebank.reports import projects
from timebank.reports.models import Project
from timebank.reports.project_exports import (
    PDF_MIMETYPE,
    XLSX_MIMETYPE,
    download_name,
    report_xlsx,
)
from timebank.reports.project_schemas import (
    BeneficiaryCreateSchema,
    BeneficiaryImportSchema,
    BeneficiarySchema,
    EventLinkSchema,
    ImportResultSchema,
    LinkedEventSchema,
    LinkedStoreSchema,
    MediaReportCreateSchema,
    MediaReportSchema,
    ProjectCreateSchema,
    ProjectLinksSchema,
    ProjectPageSchema,
    ProjectQuerySchema,
    ProjectSchema,
    ProjectStoresSchema,
    ProjectUpdateSchema,
    ReportSchema,
    StoreLinkSchema,
)

blp = Blueprint(
    "Projects",
    __name__,
    url_prefix="/projects",
    description="Projects and their evaluation reports",
)


def _actor():
    return current_user._get_current_object()


def _readable(project_id: int) -> Project:
    """Reads: a project outside the caller's scope answers 404, as if it did not exist."""
    return projects.get_visible_project(_actor(), project_id)


def _writable(project_id: int) -> Project:
    """Writes: the services refuse with 403 a project the caller does not manage."""
    return projects.get_project(project_id)


@blp.route("")
class Projects(MethodView):
    @requires()
    @blp.arguments(ProjectQuerySchema, location="query")
    @blp.response(200, ProjectPageSchema)
    def get(self, args):
        """The projects the caller runs or administers, latest period first"""
        return paginate(projects.projects_for(_actor()), args["page"], args["per_page"])

    @requires(Role.STATION_STAFF, Role.TEAM_LEADER, Role.ADMIN)
    @blp.arguments(ProjectCreateSchema)
    @blp.response(201, ProjectSchema)
    def post(self, args):
        """Start a project run by a station or a team"""
        project = projects.create_project(_actor(), projects.ProjectDetails(**args))
        db.session.commit()
        return project


@blp.route("/<int:project_id>")
class ProjectItem(MethodView):
    @requires()
    @blp.response(200, ProjectSchema)
    def get(self, project_id):
        """One project"""
        return _readable(project_id)

    @requires()
    @blp.arguments(ProjectUpdateSchema)
    @blp.response(200, ProjectSchema)
    def patch(self, args, project_id):
        """Change the name, description, period or funding (not the organizer)"""
        project = _writable(project_id)
        current = {
            f.name: getattr(project, f.name)
            for f in fields(projects.ProjectDetails)
            if f.name not in ("station_id", "organization_id")
        }
        projects.update_project(_actor(), project, projects.ProjectDetails(**{**current, **args}))
        db.session.commit()
        return project

    @requires()
    @blp.response(204)
    def delete(self, project_id):
        """Remove the project with its links, media reports and beneficiaries"""
        projects.delete_project(_actor(), _writable(project_id))
        db.session.commit()
        return Response(status=204)


# -- events and stores --------------------------------------------------------------------


@blp.route("/<int:project_id>/events")
class ProjectEvents(MethodView):
    @requires()
    @blp.response(200, ProjectLinksSchema)
    def get(self, project_id):
        """The events linked, and those of the organizer in the period that could be"""
        project = _readable(project_id)
        return {"linked": project.events, "candidates": projects.candidate_events(project)}

    @requires()
    @blp.arguments(EventLinkSchema)
    @blp.response(201, LinkedEventSchema)
    def post(self, args, project_id):
        """Link one of the organizer's events in the project's period"""
        event = projects.link_event(_actor(), _writable(project_id), args["event_id"])
        db.session.commit()
        return event


@blp.route("/<int:project_id>/events/<int:event_id>")
class ProjectEvent(MethodView):
    @requires()
    @blp.response(204)
    def delete(self, project_id, event_id):
        """Unlink an event (the event itself stays)"""
        projects.unlink_event(_actor(), _writable(project_id), event_id)
        db.session.commit()
        return Response(status=204)


@blp.route("/<int:project_id>/stores")
class ProjectStores(MethodView):
    @requires()
    @blp.response(200, ProjectStoresSchema)
    def get(self, project_id):
        """The love supermarkets linked, and those in the project's region that could be"""
        project = _readable(project_id)
        return {
            "linked": project.stores,
            "candidates": projects.candidate_stores(_actor(), project),
        }

    @requires()
    @blp.arguments(StoreLinkSchema)
    @blp.response(201, LinkedStoreSchema)
    def post(self, args, project_id):
        """Link a love supermarket in the project's region"""
        store = projects.link_store(_actor(), _writable(project_id), args["store_id"])
        db.session.commit()
        return store


@blp.route("/<int:project_id>/stores/<int:store_id>")
class ProjectStore(MethodView):
    @requires()
    @blp.response(204)
    def delete(self, project_id, store_id):
        """Unlink a love supermarket"""
        projects.unlink_store(_actor(), _writable(project_id), store_id)
        db.session.commit()
        return Response(status=204)


# -- media reports and beneficiaries ------------------------------------------------------


@blp.route("/<int:project_id>/media-reports")
class MediaReports(MethodView):
    @requires()
    @blp.response(200, MediaReportSchema(many=True))
    def get(self, project_id):
        """The project's media reports, by date published"""
        return _readable(project_id).media_reports

    @requires()
    @blp.arguments(MediaReportCreateSchema)
    @blp.response(201, MediaReportSchema)
    def post(self, args, project_id):
        """Add a press or online report about the project"""
        item = projects.add_media_report(_actor(), _writable(project_id), **args)
        db.session.commit()
        return item


@blp.route("/<int:project_id>/media-reports/<int:report_id>")
class MediaReportItem(MethodView):
    @requires()
    @blp.response(204)
    def delete(self, project_id, report_id):
        """Remove a media report"""
        projects.remove_media_report(_actor(), _writable(project_id), report_id)
        db.session.commit()
        return Response(status=204)


@blp.route("/<int:project_id>/beneficiaries")
class Beneficiaries(MethodView):
    @requires()
    @blp.response(200, BeneficiarySchema(many=True))
    def get(self, project_id):
        """The people the project served (服务对象), phones masked"""
        return _readable(project_id).beneficiaries

    @requires()
    @blp.arguments(BeneficiaryCreateSchema)
    @blp.response(201, BeneficiarySchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, args, project_id):
        """Add a person; a phone already on the list is refused (409)"""
        person = projects.add_beneficiary(_actor(), _writable(project_id), **args)
        db.session.commit()
        return person


@blp.route("/<int:project_id>/beneficiaries/import")
class BeneficiaryImport(MethodView):
    @requires()
    @blp.arguments(BeneficiaryImportSchema)
    @blp.response(201, ImportResultSchema)
    def post(self, args, project_id):
        """Add many people from "name,phone[,note]" lines: all of them, or none if a line
        is not valid; people already listed are counted, not added again"""
        result = projects.import_beneficiaries(_actor(), _writable(project_id), args["text"])
        db.session.commit()
        return result


@blp.route("/<int:project_id>/beneficiaries/<int:beneficiary_id>")
class BeneficiaryItem(MethodView):
    @requires()
    @blp.response(204)
    def delete(self, project_id, beneficiary_id):
        """Remove a person from the list"""
        projects.remove_beneficiary(_actor(), _writable(project_id), beneficiary_id)
        db.session.commit()
        return Response(status=204)


# -- the evaluation report ----------------------------------------------------------------


@blp.route("/<int:project_id>/report")
class Report(MethodView):
    @requires()
    @blp.response(200, ReportSchema)
    def get(self, project_id):
        """The evaluation report's figures over the project's period"""
        return projects.evaluate(_readable(project_id))


@blp.route("/<int:project_id>/report.xlsx")
class ReportXlsx(MethodView):
    @requires()
    @blp.response(200, content_type=XLSX_MIMETYPE, description="the report as a workbook")
    def get(self, project_id):
        """The evaluation report as an XLSX workbook"""
        project = _readable(project_id)
        return send_file(
            io.BytesIO(report_xlsx(projects.evaluate(project))),
            mimetype=XLSX_MIMETYPE,
            as_attachment=True,
            download_name=download_name(project, "xlsx"),
        )


@blp.route("/<int:project_id>/report.pdf")
class ReportPdf(MethodView):
    @requires()
    @blp.response(200, content_type=PDF_MIMETYPE, description="the report, printable")
    def get(self, project_id):
        """The evaluation report as a PDF"""
        from timebank.reports.project_pdf import report_pdf

        project = _readable(project_id)
        return send_file(
            io.BytesIO(report_pdf(projects.evaluate(project))),
            mimetype=PDF_MIMETYPE,
            as_attachment=True,
            download_name=download_name(project, "pdf"),
        )
