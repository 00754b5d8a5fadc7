"""Pages: the teams and social organizations in an administrator's subtree."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from timebank.auth.models import Role
from timebank.core.errors import DomainError, ValidationFailed
from timebank.core.security import can_lead_organization, requires
from timebank.extensions import db
from timebank.organizations import services
from timebank.organizations.forms import OrganizationForm
from timebank.organizations.models import Organization
from timebank.regions.models import Region
from timebank.regions.services import regions_in_scope

bp = Blueprint("organizations", __name__, url_prefix="/admin/organizations")


@bp.route("/")
@requires(Role.ADMIN)
def index():
    page = db.paginate(services.organizations_in_scope(current_user), per_page=50, error_out=False)
    return render_template("organizations/index.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def new():
    form = OrganizationForm()
    form.region_id.choices = [
        (str(r.id), f"{'— ' * r.depth}{r.name}")
        for r in db.session.scalars(regions_in_scope(current_user))
    ]
    if form.validate_on_submit():
        try:
            value = form.region_id.data
            region = db.session.get(Region, int(value)) if str(value).isdigit() else None
            if region is None:
                raise ValidationFailed(_("Choose a region."), field="region_id")
            organization = services.create_organization(
                current_user,
                region=region,
                name=form.name.data,
                kind=form.kind.data,
                description=form.description.data,
            )
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Organization %(name)s created.", name=organization.name), "success")
            return redirect(url_for("organizations.index"))
    return render_template("organizations/form.html", form=form, organization=None)


@bp.route("/<int:organization_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN, Role.TEAM_LEADER)
def edit(organization_id: int):
    organization = db.get_or_404(Organization, organization_id)
    if not can_lead_organization(current_user, organization):
        abort(404)
    form = OrganizationForm(obj=organization)
    form.region_id.choices = [(str(organization.region_id), organization.region.name)]
    if form.validate_on_submit():
        try:
            services.update_organization(
                current_user,
                organization,
                name=form.name.data,
                kind=form.kind.data,
                description=form.description.data,
                active=form.active.data,
            )
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Organization saved."), "success")
            return redirect(url_for("organizations.edit", organization_id=organization.id))
    return render_template("organizations/form.html", form=form, organization=organization)
