"""Pages: the teams and social organizations in an administrator's subtree (/admin), and the
team pages every signed-in person uses (/teams): browse, join, leave, found a team."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.routing import BuildError

from timebank.auth.forms import EmptyForm
from timebank.auth.models import Role
from timebank.auth.services import find_by_login
from timebank.core.errors import Conflict, DomainError, ValidationFailed
from timebank.core.forms import options
from timebank.core.security import can_admin_region, can_lead_organization, requires
from timebank.extensions import db
from timebank.organizations import applications, queries, services
from timebank.organizations.forms import (
    JoinForm,
    MemberForm,
    OrganizationForm,
    ReasonForm,
    RoleForm,
    TeamApplicationForm,
    TeamSearchForm,
)
from timebank.organizations.models import (
    JoinRequest,
    Membership,
    Organization,
    TeamApplication,
)
from timebank.regions.models import Region, RegionLevel
from timebank.regions.services import regions_in_scope

bp = Blueprint("organizations", __name__, url_prefix="/admin/organizations")


@bp.route("/")
@requires(Role.ADMIN)
def index():
    page = db.paginate(services.organizations_in_scope(current_user), per_page=50, error_out=False)
    return render_template(
        "organizations/index.html",
        page=page,
        pending_applications=queries.count_pending_applications(current_user),
    )


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
        can_add=organization is not None and can_admin_region(current_user, organization.region),
    )


@bp.route("/<int:organization_id>/members", methods=["POST"])
@requires(Role.ADMIN, Role.TEAM_LEADER)
def add_member(organization_id: int):
    organization = db.get_or_404(Organization, organization_id)
    if not can_lead_organization(current_user, organization):
        abort(404)
    # Only administrators put someone in a team directly; leaders approve join requests,
    # so nobody lands in a team (and under its leader's eyes) without asking.
    if not can_admin_region(current_user, organization.region):
        abort(403)
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
        try:
            services.remove_member(current_user, membership)
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Member removed."), "info")
    return redirect(url_for("organizations.edit", organization_id=organization_id))


def _flash_errors(form) -> None:
    for errors in form.errors.values():
        flash(" ".join(str(e) for e in errors), "error")


# -- team applications, decided by administrators ------------------------------------------


@bp.route("/applications")
@requires(Role.ADMIN)
def applications_index():
    page = db.paginate(
        queries.pending_applications_in_scope(current_user), per_page=50, error_out=False
    )
    return render_template(
        "organizations/applications.html",
        page=page,
        approve_form=EmptyForm(prefix="approve"),
        reject_form=ReasonForm(prefix="reject"),
    )


def _application_in_scope(application_id: int) -> TeamApplication:
    application = db.get_or_404(TeamApplication, application_id)
    if not can_admin_region(current_user, application.region):
        abort(404)
    return application


@bp.route("/applications/<int:application_id>/approve", methods=["POST"])
@requires(Role.ADMIN)
def approve_application(application_id: int):
    application = _application_in_scope(application_id)
    if EmptyForm(prefix="approve").validate_on_submit():
        try:
            organization = applications.approve_application(current_user, application)
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(
                _(
                    "Team %(name)s founded, led by %(person)s.",
                    name=organization.name,
                    person=application.applicant.name,
                ),
                "success",
            )
    return redirect(url_for("organizations.applications_index"))


@bp.route("/applications/<int:application_id>/reject", methods=["POST"])
@requires(Role.ADMIN)
def reject_application(application_id: int):
    application = _application_in_scope(application_id)
    form = ReasonForm(prefix="reject")
    if form.validate_on_submit():
        try:
            applications.reject_application(current_user, application, form.reason.data)
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Application rejected; the applicant can read your reason."), "info")
    else:
        _flash_errors(form)
    return redirect(url_for("organizations.applications_index"))


# -- team pages for everyone signed in ------------------------------------------------------

teams = Blueprint("teams", __name__, url_prefix="/teams")


def _register_url() -> str:
    try:
        return url_for("volunteers.register")
    except BuildError:
        return "/volunteers/register"


def _visible_team(organization_id: int) -> Organization:
    """A closed team is shown only to its members, its leaders and administrators."""
    organization = db.get_or_404(Organization, organization_id)
    if not organization.active and not (
        can_lead_organization(current_user, organization)
        or queries.membership_of(current_user, organization)
    ):
        abort(404)
    return organization


def _team_regions():
    return db.session.scalars(
        db.select(Region)
        .where(Region.level.in_([RegionLevel.STREET, RegionLevel.COMMUNITY]))
        .order_by(Region.path)
    )


def _region_choices(regions, blank: str):
    return options(
        [("", blank), *((r.id, f"{'— ' * max(r.depth - 1, 0)}{r.name}") for r in regions)]
    )


@teams.route("/", endpoint="index")
@requires()
def browse():
    form = TeamSearchForm(request.args)
    form.region_id.choices = _region_choices(
        db.session.scalars(db.select(Region).order_by(Region.path)), _("All regions")
    )
    form.validate()
    value = form.region_id.data
    region = db.session.get(Region, int(value)) if str(value or "").isdigit() else None
    page = db.paginate(queries.browse(form.q.data or "", region), per_page=30, error_out=False)
    return render_template(
        "organizations/teams.html",
        form=form,
        page=page,
        counts=queries.member_counts(page.items),
        search=dict(q=form.q.data or "", region_id=region.id if region else ""),
    )


@teams.route("/mine")
@requires()
def mine():
    return render_template(
        "organizations/mine.html",
        memberships=queries.my_memberships(current_user),
        join_requests=queries.my_join_requests(current_user),
        team_applications=db.session.scalars(
            queries.applications_visible_to(current_user, mine=True)
        ).all(),
        withdraw_form=EmptyForm(prefix="withdraw"),
    )


@teams.route("/<int:organization_id>")
@requires()
def show(organization_id: int):
    organization = _visible_team(organization_id)
    manage = can_lead_organization(current_user, organization)
    page = db.paginate(queries.members(organization), per_page=50, error_out=False)
    join_refusal = None
    try:
        applications.check_can_join(current_user)
    except applications.VolunteerProfileRequired as exc:
        join_refusal = (str(exc.message), _register_url())
    except DomainError as exc:
        join_refusal = (str(exc.message), None)
    return render_template(
        "organizations/team.html",
        organization=organization,
        manage=manage,
        page=page,
        rows=queries.member_rows(page.items, full=manage),
        totals=queries.totals(organization),
        membership=queries.membership_of(current_user, organization),
        my_request=queries.join_request_of(current_user, organization),
        pending=db.session.scalars(queries.join_requests(organization)).all() if manage else [],
        join_refusal=join_refusal,
        join_form=JoinForm(prefix="join"),
        leave_form=EmptyForm(prefix="leave"),
        withdraw_form=EmptyForm(prefix="withdraw"),
        approve_form=EmptyForm(prefix="approve"),
        reject_form=ReasonForm(prefix="reject"),
        role_form=RoleForm(prefix="role"),
    )


def _back_to(organization: Organization):
    return redirect(url_for("teams.show", organization_id=organization.id))


@teams.route("/<int:organization_id>/join", methods=["POST"])
@requires()
def join(organization_id: int):
    organization = _visible_team(organization_id)
    form = JoinForm(prefix="join")
    if form.validate_on_submit():
        try:
            applications.request_to_join(current_user, organization, form.message.data)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Your request has been sent to the team's leaders."), "success")
    else:
        _flash_errors(form)
    return _back_to(organization)


@teams.route("/<int:organization_id>/leave", methods=["POST"])
@requires()
def leave(organization_id: int):
    organization = _visible_team(organization_id)
    if EmptyForm(prefix="leave").validate_on_submit():
        try:
            services.leave(current_user, organization)
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
            return _back_to(organization)
        db.session.commit()
        flash(_("You have left %(name)s.", name=organization.name), "info")
        return redirect(url_for("teams.mine"))
    return _back_to(organization)


@teams.route("/<int:organization_id>/members/<int:membership_id>/role", methods=["POST"])
@requires()
def change_role(organization_id: int, membership_id: int):
    membership = db.get_or_404(Membership, membership_id)
    organization = membership.organization
    if membership.organization_id != organization_id or not can_lead_organization(
        current_user, organization
    ):
        abort(404)
    form = RoleForm(prefix="role")
    if form.validate_on_submit():
        try:
            services.change_role(current_user, membership, form.role.data)
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Member role changed."), "success")
    return _back_to(organization)


def _join_request_for_leader(join_request_id: int) -> JoinRequest:
    join_request = db.get_or_404(JoinRequest, join_request_id)
    if not can_lead_organization(current_user, join_request.organization):
        abort(404)
    return join_request


@teams.route("/join-requests/<int:join_request_id>/approve", methods=["POST"])
@requires()
def approve_join_request(join_request_id: int):
    join_request = _join_request_for_leader(join_request_id)
    if EmptyForm(prefix="approve").validate_on_submit():
        try:
            applications.approve_join_request(current_user, join_request)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("%(name)s is now a member.", name=join_request.user.name), "success")
    return _back_to(join_request.organization)


@teams.route("/join-requests/<int:join_request_id>/reject", methods=["POST"])
@requires()
def reject_join_request(join_request_id: int):
    join_request = _join_request_for_leader(join_request_id)
    form = ReasonForm(prefix="reject")
    if form.validate_on_submit():
        try:
            applications.reject_join_request(current_user, join_request, form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Request rejected; the person can read your reason."), "info")
    else:
        _flash_errors(form)
    return _back_to(join_request.organization)


@teams.route("/join-requests/<int:join_request_id>/withdraw", methods=["POST"])
@requires()
def withdraw_join_request(join_request_id: int):
    join_request = db.get_or_404(JoinRequest, join_request_id)
    if join_request.user_id != current_user.id:
        abort(404)
    if EmptyForm(prefix="withdraw").validate_on_submit():
        try:
            applications.withdraw_join_request(current_user, join_request)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Request withdrawn."), "info")
    return redirect(url_for("teams.mine"))


@teams.route("/apply", methods=["GET", "POST"])
@requires()
def apply():
    form = TeamApplicationForm()
    form.region_id.choices = _region_choices(_team_regions(), "—")
    if form.validate_on_submit():
        value = form.region_id.data
        region = db.session.get(Region, int(value)) if str(value or "").isdigit() else None
        try:
            application = applications.apply_for_team(
                current_user,
                region=region,
                name=form.name.data,
                description=form.description.data,
            )
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(
                _(
                    "Your application has been sent to the administrators of %(region)s.",
                    region=application.region.name,
                ),
                "success",
            )
            return redirect(url_for("teams.mine"))
    return render_template("organizations/apply.html", form=form)


@teams.route("/applications/<int:application_id>/withdraw", methods=["POST"])
@requires()
def withdraw_application(application_id: int):
    application = db.get_or_404(TeamApplication, application_id)
    if application.applicant_id != current_user.id:
        abort(404)
    if EmptyForm(prefix="withdraw").validate_on_submit():
        try:
            applications.withdraw_application(current_user, application)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Application withdrawn."), "info")
    return redirect(url_for("teams.mine"))
