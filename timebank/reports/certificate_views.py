"""Certificate pages: my certificates, staff lists and issuing, detail, PDF, public verify."""

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from timebank.auth.models import Role
from timebank.core.errors import DomainError
from timebank.core.security import requires
from timebank.extensions import db, limiter
from timebank.reports import certificates, pdf
from timebank.reports.certificate_forms import RequestForm, RevokeForm, SearchForm
from timebank.volunteers import services as volunteers

bp = Blueprint("certificates", __name__)

STAFF_ROLES = (Role.STATION_STAFF, Role.ADMIN)
PER_PAGE = 30


def verify_limit() -> str:
    return current_app.config["CERTIFICATE_VERIFY_LIMIT_PER_IP"]


def verify_url(certificate) -> str:
    return url_for("certificates.verify", code=certificate.code, _external=True)


def _actor():
    return current_user._get_current_object()


def _issue(form: RequestForm, volunteer):
    """Issue from a submitted form; answers the certificate, or None with the form failed."""
    try:
        certificate = certificates.issue(
            _actor(),
            volunteer,
            period_start=form.period_start.data,
            period_end=form.period_end.data,
            purpose=form.purpose.data or "",
        )
    except DomainError as exc:
        db.session.rollback()
        form.fail(exc)
        return None
    db.session.commit()
    flash(_("Certificate %(serial)s issued.", serial=certificate.serial), "success")
    return certificate


# -- the volunteer's own ----------------------------------------------------------------------


@bp.route("/me/certificates", methods=["GET", "POST"])
@login_required
def mine():
    volunteer = volunteers.profile_of(current_user)
    form = RequestForm()
    if volunteer is not None and form.validate_on_submit():
        certificate = _issue(form, volunteer)
        if certificate is not None:
            return redirect(url_for(".show", certificate_id=certificate.id))
    held = db.session.scalars(certificates.visible(current_user, mine=True)).all()
    return render_template(
        "certificates/mine.html", volunteer=volunteer, form=form, certificates=held
    )


# -- staff ------------------------------------------------------------------------------------


@bp.route("/staff/certificates")
@requires(*STAFF_ROLES)
def staff_index():
    form = SearchForm(request.args)
    state = form.state.data
    revoked = {"valid": False, "revoked": True}.get(state)
    select = certificates.staff_list(current_user, q=form.q.data or "", revoked=revoked)
    page = db.paginate(select, per_page=PER_PAGE, error_out=False)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("certificates/staff_index.html", form=form, page=page, args=args)


@bp.route("/staff/certificates/new", methods=["GET", "POST"])
@requires(*STAFF_ROLES)
def staff_new():
    """Issue a certificate for a volunteer one manages (?volunteer_id= from their page)."""
    volunteer_id = request.args.get("volunteer_id", type=int)
    if volunteer_id is None:
        flash(_("Open the volunteer's page first, then issue their certificate."), "info")
        return redirect(url_for("volunteers.staff_index"))
    volunteer = volunteers.get_volunteer(current_user, volunteer_id)
    if not volunteers.can_manage(current_user, volunteer):
        abort(404)  # their own profile, seen as a volunteer: issued from /me/certificates
    form = RequestForm()
    if form.validate_on_submit():
        certificate = _issue(form, volunteer)
        if certificate is not None:
            return redirect(url_for(".show", certificate_id=certificate.id))
    return render_template("certificates/staff_new.html", volunteer=volunteer, form=form)


# -- one certificate --------------------------------------------------------------------------


@bp.route("/certificates/<int:certificate_id>")
@login_required
def show(certificate_id: int):
    certificate = certificates.get_certificate(_actor(), certificate_id)
    return render_template(
        "certificates/show.html",
        certificate=certificate,
        can_manage=certificates.can_manage(_actor(), certificate),
        revoke_form=RevokeForm(),
        verify_url=verify_url(certificate),
    )


def pdf_response(certificate) -> Response:
    body = pdf.certificate_pdf(certificate, verify_url(certificate))
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="certificate-{certificate.serial}.pdf"'
    )
    # Personal data: never kept by a shared cache or the browser's.
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/certificates/<int:certificate_id>.pdf")
@login_required
def download(certificate_id: int):
    return pdf_response(certificates.get_certificate(_actor(), certificate_id))


@bp.route("/certificates/<int:certificate_id>/revoke", methods=["POST"])
@requires(*STAFF_ROLES)
def revoke(certificate_id: int):
    certificate = certificates.get_certificate(_actor(), certificate_id)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            certificates.revoke(_actor(), certificate, form.reason.data or "")
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Certificate %(serial)s revoked.", serial=certificate.serial), "success")
            return redirect(url_for(".show", certificate_id=certificate.id))
    return render_template(
        "certificates/show.html",
        certificate=certificate,
        can_manage=True,
        revoke_form=form,
        verify_url=verify_url(certificate),
    )


# -- public verification ----------------------------------------------------------------------


@bp.route("/verify/<path:code>")
@limiter.shared_limit(verify_limit, scope="certificate-verify")
def verify(code: str):
    """Anyone holding the paper checks it here: the facts masked, and whether it still holds.

    <path:> so that any forged shape gets the same "no such certificate" page."""
    certificate = certificates.find_by_code(code)
    if certificate is None:
        response = Response(render_template("certificates/verify_missing.html"), status=404)
    else:
        response = Response(
            render_template(
                "certificates/verify.html",
                certificate=certificate,
                holder=certificates.mask_holder_name(certificate.holder_name),
                issuer=pdf.issuer_name(),
            )
        )
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    # A revocation shows at once: no cache keeps the old answer.
    response.headers["Cache-Control"] = "no-store"
    return response
