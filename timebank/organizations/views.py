"""Pages: the teams and social organizations in an administrator's subtree."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from timebank.auth.forms import EmptyForm
from timebank.auth.models import Role
from timebank.auth.services import find_by_login
from timebank.core.errors import Conflict, DomainError, ValidationFailed
from timebank.core.forms import options
from timebank.core.security import can_lead_organization, requires
from timebank.extensions import db
from timebank.organizations import services
from timebank.organizations.forms import MemberForm, OrganizationForm
from timebank.organizations.models import Membership, Organization
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
    form.region_id.choices = options(
        (r.id, f"{'— ' * r.depth}{r.name}")
        for r in db.session.scalars(regions_in_scope(current_user))
    )
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
    form.region_id.choices = options([(organization.region_id, organization.region.name)])
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
    return render_template(
        "organizations/form.html",
        form=form,
        organization=organization,
        members=db.session.scalars(services.members(organization)).all(),
        member_form=MemberForm(prefix="member"),
        remove_form=EmptyForm(prefix="remove"),
    )


@bp.route("/<int:organization_id>/members", methods=["POST"])
@requires(Role.ADMIN, Role.TEAM_LEADER)
def add_member(organization_id: int):
    organization = db.get_or_404(Organization, organization_id)
    if not can_lead_organization(current_user, organization):
        abort(404)
    form = MemberForm(prefix="member")
    if form.validate_on_submit():
        person = find_by_login(form.login.data)
        if person is None:
            flash(_("Nobody signs in with %(login)s.", login=form.login.data), "error")
        else:
            try:
                services.add_member(current_user, organization, person, form.role.data)
            except (ValidationFailed, Conflict) as exc:
                db.session.rollback()
                flash(str(exc.message), "error")
            else:
                db.session.commit()
                flash(_("%(name)s is now a member.", name=person.name), "success")
    else:
        for errors in form.errors.values():
            flash(" ".join(str(e) for e in errors), "error")
    return redirect(url_for("organizations.edit", organization_id=organization.id))


@bp.route("/<int:organization_id>/members/<int:membership_id>/remove", methods=["POST"])
@requires(Role.ADMIN, Role.TEAM_LEADER)
def remove_member(organization_id: int, membership_id: int):
    membership = db.get_or_404(Membership, membership_id)
    if membership.organization_id != organization_id or not can_lead_organization(
        current_user, membership.organization
    ):
        abort(404)
    if EmptyForm(prefix="remove").validate_on_submit():
        services.remove_member(current_user, membership)
        db.session.commit()
        flash(_("Member removed."), "info")
    return redirect(url_for("organizations.edit", organization_id=organization_id))
