"""API: service-record certificates: issue, list, read, PDF, revoke, and public verification."""

from flask import current_app
from flask.views import MethodView
from flask_babel import to_user_timezone
from flask_login import current_user

from timebank.core.api import Blueprint, paginate
from timebank.core.errors import NotFound
from timebank.core.security import requires
from timebank.extensions import db, limiter
from timebank.reports import certificates, pdf
from timebank.reports.certificate_views import pdf_response
from timebank.reports.schemas_certificates import (
    CertificateCreateSchema,
    CertificatePageSchema,
    CertificateQuerySchema,
    CertificateSchema,
    RevokeSchema,
    VerificationSchema,
)

blp = Blueprint(
    "Certificates", __name__, url_prefix="/certificates", description="Service-record certificates"
)


def _actor():
    return current_user._get_current_object()


def _verify_limit() -> str:
    return current_app.config["CERTIFICATE_VERIFY_LIMIT_PER_IP"]


@blp.route("")
class Certificates(MethodView):
    @requires()
    @blp.arguments(CertificateQuerySchema, location="query")
    @blp.response(200, CertificatePageSchema)
    def get(self, args):
        """The caller's certificates and those of the volunteers they manage, newest first"""
        select = certificates.visible(
            _actor(),
            mine=args["mine"],
            q=args["q"],
            user_id=args.get("user_id"),
            revoked=args.get("revoked"),
        )
        return paginate(select, args["page"], args["per_page"])

    @requires()
    @blp.arguments(CertificateCreateSchema)
    @blp.response(201, CertificateSchema)
    def post(self, args):
        """Issue a certificate now: a volunteer for themselves, or staff for a volunteer
        (user_id) they manage"""
        actor = _actor()
        volunteer = certificates.volunteer_for(actor, args.get("user_id"))
        certificate = certificates.issue(
            actor,
            volunteer,
            period_start=args["period_start"],
            period_end=args["period_end"],
            purpose=args["purpose"],
        )
        db.session.commit()
        return certificate


@blp.route("/<int:certificate_id>")
class CertificateItem(MethodView):
    @requires()
    @blp.response(200, CertificateSchema)
    def get(self, certificate_id):
        """One certificate (its holder, or staff over the holder's community)"""
        return certificates.get_certificate(_actor(), certificate_id)


@blp.route("/<int:certificate_id>/pdf")
class CertificatePdf(MethodView):
    @requires()
    @blp.response(200, content_type="application/pdf", description="A4, one page")
    def get(self, certificate_id):
        """The certificate as a PDF, in the caller's language"""
        return pdf_response(certificates.get_certificate(_actor(), certificate_id))


@blp.route("/<int:certificate_id>/revoke")
class CertificateRevoke(MethodView):
    @requires()
    @blp.arguments(RevokeSchema)
    @blp.response(200, CertificateSchema)
    def post(self, args, certificate_id):
        """Revoke a certificate, with the reason (staff over the holder's community; once)"""
        certificate = certificates.get_certificate(_actor(), certificate_id)
        certificates.revoke(_actor(), certificate, args["reason"])
        db.session.commit()
        return certificate


@blp.route("/verify/<path:code>")
class CertificateVerification(MethodView):
    decorators = [limiter.shared_limit(_verify_limit, scope="certificate-verify")]

    @blp.response(200, VerificationSchema)
    @blp.doc(security=[])
    def get(self, code):
        """Check a certificate by the code on its paper (public, throttled per address)"""
        certificate = certificates.find_by_code(code)
        if certificate is None:
            raise NotFound(certificates.no_such_certificate())
        return {
            "valid": not certificate.revoked,
            "serial": certificate.serial,
            "holder_name": certificates.mask_holder_name(certificate.holder_name),
            "masked_document": certificate.masked_document,
            "period_start": certificate.period_start,
            "period_end": certificate.period_end,
            "total_minutes": certificate.total_minutes,
            "service_count": certificate.service_count,
            "lines": certificate.lines,
            "issued_on": to_user_timezone(certificate.issued_at).date(),
            "revoked_on": (
                to_user_timezone(certificate.revoked_at).date() if certificate.revoked else None
            ),
            "issuer": pdf.issuer_name(),
        }
