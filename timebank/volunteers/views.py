"""Pages: registration, the volunteer's profile and personal code, staff verification and search."""

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import or_, true

from timebank.auth.forms import EmptyForm
from timebank.auth.models import Role
from timebank.core import qr
from timebank.core.db import utcnow
from timebank.core.errors import DomainError
from timebank.core.forms import options
from timebank.core.security import administered_regions, requires
from timebank.extensions import db, limiter
from timebank.ledger import services as ledger
from timebank.ledger.models import Entry, Transaction, TransactionKind
from timebank.organizations.models import Membership, Organization
from timebank.regions.models import Region, RegionLevel
from timebank.volunteers import codes, identity, queries, services, stars
from timebank.volunteers.forms import (
    DecisionForm,
    ProfileForm,
    RegistrationForm,
    RevealForm,
    SearchForm,
    SetPasswordForm,
    StarRuleForm,
)
from timebank.volunteers.models import StarRule, Volunteer

bp = Blueprint("volunteers", __name__)


def registration_limit():
    return current_app.config["REGISTER_LIMIT_PER_IP"]


def community_choices():
    """Every community, grouped by street: registration is open to the whole tree."""
    communities = db.session.scalars(
        db.select(Region).where(Region.level == RegionLevel.COMMUNITY).order_by(Region.path)
    ).all()
    grouped: dict[str, list] = {}
    for community in communities:
        street = community.parent.name if community.parent else ""
        grouped.setdefault(street, []).append((community.id, community.name))
    return options([("", _("Choose…"))]) + options(grouped)


def _registration_form() -> RegistrationForm:
    form = RegistrationForm()
    form.region_id.choices = community_choices()
    if current_user.is_authenticated:
        # A signed-in person registers their existing account: no new password.
        del form.password
        del form.confirm
        if request.method == "GET":
            form.name.data = form.name.data or current_user.name
            form.phone.data = form.phone.data or current_user.phone
    return form


@bp.route("/volunteers/register", methods=["GET", "POST"])
@limiter.limit(registration_limit, methods=["POST"], scope="register-ip")
def register():
    if current_user.is_authenticated and services.profile_of(current_user):
        return redirect(url_for("volunteers.profile"))
    form = _registration_form()
    if request.method == "POST":
        valid = form.validate_on_submit()
        user = current_user._get_current_object() if current_user.is_authenticated else None
        registration = services.Registration(
            name=form.name.data,
            document_type=form.document_type.data,
            document_number=form.document_number.data,
            phone=form.phone.data,
            region_id=int(form.region_id.data) if (form.region_id.data or "").isdigit() else None,
            consent=form.consent.data,
            password=form.password.data if user is None else None,
            skills=form.skills.data,
            availability=form.availability.data,
            birth_date=form.birth_date.data,
            gender=form.gender.data or None,
            guardian_consent=form.guardian_consent.data,
            guardian_name=form.guardian_name.data,
            guardian_phone=form.guardian_phone.data,
        )
        try:
            if valid:
                volunteer = services.register(user, registration, user=user)
            else:
                # The form's own checks failed (password, dates): show the service's too,
                # so every mistake appears at once. Nothing is written.
                services.check_registration(registration, today=services.today())
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            if valid:
                if user is None:
                    from timebank.auth.views import start_session

                    start_session(volunteer.user)
                db.session.commit()
                flash(
                    _("Welcome, %(name)s! You are registered.", name=volunteer.user.name),
                    "success",
                )
                return redirect(url_for("volunteers.profile"))
    # The number typed is never sent back to the browser, even with an error beside it.
    form.document_number.data = ""
    return render_template(
        "volunteers/register.html",
        form=form,
        notice_version=current_app.config["PRIVACY_NOTICE_VERSION"],
    )


@bp.route("/privacy")
def privacy():
    return render_template(
        "volunteers/privacy.html", version=current_app.config["PRIVACY_NOTICE_VERSION"]
    )


# -- the volunteer's own pages ------------------------------------------------------------


def _my_profile() -> Volunteer:
    volunteer = services.profile_of(current_user)
    if volunteer is None:
        abort(404)
    return volunteer


def recent_service(volunteer: Volunteer, limit: int = 5):
    hours = ledger.find_person_account(volunteer.user, ledger.AccountKind.HOURS)
    if hours is None:
        return []
    return db.session.execute(
        db.select(Transaction.created_at, Transaction.memo, Entry.amount)
        .join(Entry, Entry.transaction_id == Transaction.id)
        .where(Entry.account_id == hours.id, Transaction.kind == TransactionKind.SERVICE_CREDIT)
        .order_by(Transaction.id.desc())
        .limit(limit)
    ).all()


def _profile_context(volunteer: Volunteer) -> dict:
    user = volunteer.user
    hours = ledger.find_person_account(user, ledger.AccountKind.HOURS)
    points = ledger.find_person_account(user, ledger.AccountKind.POINTS)
    teams = db.session.execute(
        db.select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
        .order_by(Organization.name)
    ).all()
    return dict(
        volunteer=volunteer,
        progress=stars.progress(volunteer),
        hours_balance=ledger.balance_of(hours) if hours else 0,
        points_balance=ledger.balance_of(points) if points else 0,
        teams=teams,
        recent=recent_service(volunteer),
        history=stars.history(volunteer),
    )


@bp.route("/me/volunteer")
@login_required
def profile():
    volunteer = services.profile_of(current_user)
    if volunteer is None:
        return redirect(url_for("volunteers.register"))
    return render_template(
        "volunteers/profile.html",
        news=stars.unseen_changes(volunteer),
        dismiss=EmptyForm(),
        **_profile_context(volunteer),
    )


@bp.route("/me/volunteer/stars-seen", methods=["POST"])
@login_required
def stars_seen():
    volunteer = _my_profile()
    if EmptyForm().validate_on_submit():
        for change in stars.unseen_changes(volunteer):
            change.seen_at = utcnow()
        db.session.commit()
    return redirect(url_for("volunteers.profile"))


@bp.route("/me/volunteer/edit", methods=["GET", "POST"])
@login_required
def edit_profile():
    volunteer = _my_profile()
    form = ProfileForm(
        data=None
        if request.method == "POST"
        else {
            "phone": volunteer.user.phone,
            "skills": volunteer.skills.replace(",", ", "),
            "availability": volunteer.availability,
        }
    )
    if form.validate_on_submit():
        try:
            services.update_profile(
                current_user,
                volunteer,
                phone=form.phone.data,
                skills=form.skills.data,
                availability=form.availability.data,
            )
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Your details are saved."), "success")
            return redirect(url_for("volunteers.profile"))
    return render_template("volunteers/edit.html", form=form, volunteer=volunteer)


@bp.route("/me/code")
@login_required
def my_code():
    volunteer = _my_profile()
    return render_template(
        "volunteers/code.html", volunteer=volunteer, code=codes.payload(volunteer)
    )


@bp.route("/me/code.json")
@login_required
def my_code_json():
    response = jsonify(codes.payload(_my_profile()))
    response.headers["Cache-Control"] = "no-store"
    return response


def _card_png(volunteer: Volunteer) -> Response:
    response = Response(qr.png(codes.card_token(volunteer), box_size=8), mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/me/card")
@login_required
def my_card():
    volunteer = _my_profile()
    return render_template(
        "volunteers/card.html",
        volunteer=volunteer,
        png_url=url_for("volunteers.my_card_png", v=volunteer.card_version),
        reissue_url=url_for("volunteers.my_card_reissue"),
        form=EmptyForm(),
    )


@bp.route("/me/card.png")
@login_required
def my_card_png():
    return _card_png(_my_profile())


@bp.route("/me/card/reissue", methods=["POST"])
@login_required
def my_card_reissue():
    volunteer = _my_profile()
    if EmptyForm().validate_on_submit():
        services.reissue_card(current_user, volunteer)
        db.session.commit()
        flash(_("A new card is ready. The old card no longer works."), "success")
    return redirect(url_for("volunteers.my_card"))


# -- staff --------------------------------------------------------------------------------

STAFF_ROLES = (Role.STATION_STAFF, Role.ADMIN)


def _staff_volunteer(volunteer_id: int) -> Volunteer:
    volunteer = db.session.get(Volunteer, volunteer_id)
    if volunteer is None or not services.can_view(current_user, volunteer):
        abort(404)
    return volunteer


def _scope_choices(form: SearchForm) -> None:
    roots = (
        db.session.scalars(db.select(Region).where(Region.parent_id.is_(None))).all()
        if current_user.is_superadmin
        else administered_regions(current_user) + services.staffed_regions(current_user)
    )
    paths = [root.path for root in roots]
    regions = []
    if paths:
        regions = db.session.scalars(
            db.select(Region)
            .where(or_(*(Region.path.startswith(p, autoescape=True) for p in paths)))
            .where(Region.level.in_([RegionLevel.STREET, RegionLevel.COMMUNITY]))
            .order_by(Region.path)
            .limit(500)
        ).all()
    form.region_id.choices = options(
        [("", _("Any"))]
        + [(r.id, ("— " if r.level == "community" else "") + r.name) for r in regions]
    )
    # Teams inside the caller's places, and those of the streets and districts above them,
    # whose members may live there too.
    above = {region_id for root in roots for region_id in root.ancestor_ids()}
    teams = db.session.scalars(
        db.select(Organization)
        .join(Organization.region)
        .where(
            or_(
                Organization.region_id.in_(above),
                *(Region.path.startswith(p, autoescape=True) for p in paths),
            )
            if not current_user.is_superadmin
            else true()
        )
        .order_by(Organization.name)
        .limit(500)
    ).all()
    form.organization_id.choices = options([("", _("Any"))] + [(t.id, t.name) for t in teams])


def _int(value):
    return int(value) if value and str(value).isdigit() else None


@bp.route("/staff/volunteers", methods=["GET", "POST"])
@requires(*STAFF_ROLES)
def staff_index():
    if request.method == "POST":
        return _search_redirect()
    if identity.looks_like_document(request.args.get("q", "")):
        # A number in a hand-made link is neither used nor echoed (the page repeats its URL).
        args = {k: v for k, v in request.args.items() if k not in ("q", "page")}
        return redirect(url_for("volunteers.staff_index", **args))
    form = SearchForm(request.args)
    _scope_choices(form)
    query = queries.search(
        current_user,
        form.q.data or "",
        region_id=_int(form.region_id.data),
        organization_id=_int(form.organization_id.data),
        status=form.status.data or None,
        star_level=_int(form.star_level.data),
    )
    page = db.paginate(query, per_page=30, error_out=False)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("volunteers/staff_index.html", form=form, page=page, args=args)


def _search_redirect():
    """Searches are posted, so a whole ID number typed in never lands in a URL or history.

    A whole ID number goes straight to the volunteer it names; any other search comes back
    as a GET, so that paging and the back button work.
    """
    form = SearchForm(request.form)
    q = (form.q.data or "").strip()
    if identity.looks_like_document(q):
        found = db.session.scalars(queries.search(current_user, q).limit(2)).all()
        if len(found) == 1:
            return redirect(url_for("volunteers.staff_show", volunteer_id=found[0].id))
        flash(_("No volunteer in your area has this document number."), "error")
        return redirect(url_for("volunteers.staff_index"))
    args = {
        name: request.form.get(name)
        for name in ("q", "region_id", "organization_id", "status", "star_level")
        if request.form.get(name)
    }
    return redirect(url_for("volunteers.staff_index", **args))


@bp.route("/staff/volunteers/<int:volunteer_id>")
@requires(*STAFF_ROLES)
def staff_show(volunteer_id: int):
    volunteer = _staff_volunteer(volunteer_id)
    return render_template(
        "volunteers/staff_show.html",
        can_manage=services.can_manage(current_user, volunteer),
        can_reveal=services.can_admin_region(current_user, volunteer.region),
        decision=DecisionForm(),
        reveal=RevealForm(),
        card_form=EmptyForm(),
        password_form=SetPasswordForm(prefix="pw"),
        **_profile_context(volunteer),
    )


@bp.route(
    "/staff/volunteers/<int:volunteer_id>/<any(verify, suspend, reinstate):action>",
    methods=["POST"],
)
@requires(*STAFF_ROLES)
def staff_decide(volunteer_id: int, action: str):
    volunteer = _staff_volunteer(volunteer_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            if action == "verify":
                services.verify(current_user, volunteer, form.reason.data)
                message = _("%(name)s is verified.", name=volunteer.user.name)
            elif action == "suspend":
                services.suspend(current_user, volunteer, form.reason.data)
                message = _("%(name)s is suspended.", name=volunteer.user.name)
            else:
                services.reinstate(current_user, volunteer, form.reason.data)
                message = _("%(name)s is reinstated.", name=volunteer.user.name)
        except DomainError as exc:
            db.session.rollback()
            if exc.status == 403:
                raise
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(message, "success")
    return redirect(url_for("volunteers.staff_show", volunteer_id=volunteer.id))


@bp.route("/staff/volunteers/<int:volunteer_id>/password", methods=["POST"])
@requires(*STAFF_ROLES)
def staff_set_password(volunteer_id: int):
    volunteer = _staff_volunteer(volunteer_id)
    form = SetPasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            services.set_password(current_user, volunteer, form.password.data)
        except DomainError as exc:
            db.session.rollback()
            if exc.status == 403:
                raise
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(
                _(
                    "%(name)s can now sign in with their mobile number and this password.",
                    name=volunteer.user.name,
                ),
                "success",
            )
    else:
        for errors in form.errors.values():
            flash(" ".join(str(e) for e in errors), "error")
    return redirect(url_for("volunteers.staff_show", volunteer_id=volunteer.id))


@bp.route("/staff/volunteers/<int:volunteer_id>/reveal", methods=["POST"])
@requires(Role.ADMIN)
def staff_reveal(volunteer_id: int):
    volunteer = _staff_volunteer(volunteer_id)
    form = RevealForm()
    if not form.validate_on_submit():
        flash(_("Give the reason."), "error")
        return redirect(url_for("volunteers.staff_show", volunteer_id=volunteer.id))
    number = services.reveal_document(current_user, volunteer, form.reason.data)
    db.session.commit()
    return render_template("volunteers/revealed.html", volunteer=volunteer, number=number)


@bp.route("/staff/volunteers/<int:volunteer_id>/card")
@requires(*STAFF_ROLES)
def staff_card(volunteer_id: int):
    volunteer = _staff_volunteer(volunteer_id)
    if not services.can_manage(current_user, volunteer):
        abort(404)
    return render_template(
        "volunteers/card.html",
        volunteer=volunteer,
        png_url=url_for(
            "volunteers.staff_card_png", volunteer_id=volunteer.id, v=volunteer.card_version
        ),
        reissue_url=url_for("volunteers.staff_card_reissue", volunteer_id=volunteer.id),
        form=EmptyForm(),
    )


@bp.route("/staff/volunteers/<int:volunteer_id>/card.png")
@requires(*STAFF_ROLES)
def staff_card_png(volunteer_id: int):
    volunteer = _staff_volunteer(volunteer_id)
    if not services.can_manage(current_user, volunteer):
        abort(404)
    return _card_png(volunteer)


@bp.route("/staff/volunteers/<int:volunteer_id>/card/reissue", methods=["POST"])
@requires(*STAFF_ROLES)
def staff_card_reissue(volunteer_id: int):
    volunteer = _staff_volunteer(volunteer_id)
    if EmptyForm().validate_on_submit():
        services.reissue_card(current_user, volunteer)
        db.session.commit()
        flash(_("A new card is ready. The old card no longer works."), "success")
    return redirect(url_for("volunteers.staff_card", volunteer_id=volunteer.id))


# -- star rules ---------------------------------------------------------------------------


@bp.route("/admin/star-levels", methods=["GET", "POST"])
@requires(Role.ADMIN)
def star_rules():
    regions = (
        db.session.scalars(db.select(Region).where(Region.parent_id.is_(None))).all()
        if current_user.is_superadmin
        else administered_regions(current_user)
    )
    region = None
    if region_id := _int(request.values.get("region_id")):
        region = db.session.get(Region, region_id)
        if region is None or not services.can_admin_region(current_user, region):
            abort(404)
    region = region or (regions[0] if regions else None)
    if region is None:
        abort(404)
    rule = db.session.scalar(db.select(StarRule).filter_by(region_id=region.id))
    form = StarRuleForm(data={"thresholds": rule.thresholds if rule else ""})
    if form.validate_on_submit():
        try:
            stars.set_rule(current_user, region, form.thresholds.data or None)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Star levels saved for %(region)s.", region=region.name), "success")
            return redirect(url_for("volunteers.star_rules", region_id=region.id))
    children = db.session.scalars(
        db.select(Region)
        .where(Region.path.startswith(region.path))
        .order_by(Region.path)
        .limit(300)
    ).all()
    return render_template(
        "volunteers/star_rules.html",
        form=form,
        region=region,
        regions=children,
        in_force=stars.thresholds_for(region),
        rule=rule,
        default=stars.default_thresholds(),
    )


@bp.app_template_filter("mask_phone")
def mask_phone_filter(phone):
    from timebank.volunteers.identity import mask_phone

    return mask_phone(phone)


@bp.app_template_filter("mask_name")
def mask_name_filter(name):
    from timebank.volunteers.identity import mask_name

    return mask_name(name)
