"""Pages: sign in and out, my account and API tokens, staff accounts and their role grants."""

import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from timebank.auth import services
from timebank.auth.forms import EmptyForm, GrantForm, LoginForm, PasswordForm, TokenForm, UserForm
from timebank.auth.login import login_rate_limits
from timebank.auth.models import ApiToken, Role, RoleGrant, ScopeKind, User
from timebank.core.errors import DomainError, ValidationFailed
from timebank.core.forms import options
from timebank.core.security import in_admin_scope, requires
from timebank.core.web import safe_next
from timebank.extensions import db
from timebank.organizations.services import organizations_in_scope
from timebank.regions.models import Region
from timebank.regions.services import regions_in_scope
from timebank.stations.services import stations_in_scope

bp = Blueprint("auth", __name__)


def start_session(user: User, remember: bool = False) -> None:
    """Sign the user in on a fresh session (an id planted before login is worthless)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    login_user(user, remember=remember)
    session["login_at"] = session["seen_at"] = int(time.time())
    session.permanent = True
    services.note_login(user)


@bp.route("/login", methods=["GET", "POST"])
@login_rate_limits
def login():
    next_url = safe_next(request.values.get("next"), url_for("main.index"))
    if current_user.is_authenticated:
        return redirect(next_url)
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.login.data, form.password.data)
        if user is None:
            flash(_("Wrong login or password."), "error")
        else:
            remember = form.remember.data and current_app.config["REMEMBER_ME_ENABLED"]
            start_session(user, remember=remember)
            db.session.commit()
            return redirect(next_url)
    return render_template(
        "auth/login.html",
        form=form,
        next=next_url,
        remember_enabled=current_app.config["REMEMBER_ME_ENABLED"],
    )


@bp.route("/logout", methods=["POST"])
def logout():
    form = EmptyForm()
    if form.validate_on_submit():
        lang = session.get("lang")
        logout_user()
        session.clear()
        if lang:
            session["lang"] = lang
        flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except DomainError as exc:
            form.fail(exc)
        else:
            db.session.commit()
            # The version bump signed this session out too; sign it back in.
            login_user(current_user._get_current_object())
            flash(_("Your password has been changed. Other devices are signed out."), "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form, sign_out_form=EmptyForm(prefix="all"))


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere():
    if EmptyForm(prefix="all").validate_on_submit():
        services.sign_out_everywhere(current_user)
        db.session.commit()
        logout_user()
        session.clear()
        flash(_("You have been signed out on every device."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    form = TokenForm()
    plain = None
    if form.validate_on_submit():
        _token, plain = services.issue_token(
            current_user, form.name.data, current_app.config["API_TOKEN_LIFETIME"]
        )
        db.session.commit()
        flash(_("Copy the token now: it will not be shown again."), "warning")
    items = db.session.scalars(
        db.select(ApiToken).filter_by(user_id=current_user.id).order_by(ApiToken.id.desc())
    ).all()
    return render_template(
        "auth/tokens.html",
        form=form,
        plain=plain,
        tokens=items,
        revoke_form=EmptyForm(),
        now=services.utcnow(),
    )


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    token = db.get_or_404(ApiToken, token_id)
    if token.user_id != current_user.id:
        abort(404)
    if EmptyForm().validate_on_submit():
        services.revoke_token(current_user, token)
        db.session.commit()
        flash(_("The token has been revoked."), "info")
    return redirect(url_for("auth.tokens"))


# -- staff accounts and grants ------------------------------------------------------------


def grantable_roles(actor: User) -> list[tuple[str, str]]:
    roles = [Role.STATION_STAFF, Role.TEAM_LEADER, Role.ADMIN, Role.VOLUNTEER]
    if actor.is_superadmin:
        roles.append(Role.SUPERADMIN)
    return [(str(r), str(r.label)) for r in roles]


def scope_choices(actor: User) -> dict[str, list[tuple[str, str]]]:
    """Places the actor may grant roles on, grouped for the select box."""
    choices = {
        str(_("Regions")): [
            (f"region:{r.id}", f"{'  ' * r.depth}{r.name}")
            for r in db.session.scalars(regions_in_scope(actor))
        ],
        str(_("Stations")): [
            (f"station:{s.id}", f"{s.name} ({s.region.name})")
            for s in db.session.scalars(stations_in_scope(actor))
        ],
        str(_("Organizations")): [
            (f"organization:{o.id}", f"{o.name} ({o.region.name})")
            for o in db.session.scalars(organizations_in_scope(actor))
        ],
        str(_("Love supermarkets")): [
            (f"store:{s.id}", f"{s.name} ({s.region.name})")
            for s in db.session.scalars(stores_in_scope(actor))
        ],
    }
    if actor.is_superadmin:
        choices[str(_("Everywhere"))] = [("global:0", str(_("Everywhere")))]
    return {group: items for group, items in choices.items() if items}


def parse_grant(role_value: str, scope_value: str) -> tuple[Role, int]:
    try:
        role = Role(role_value)
    except ValueError:
        raise ValidationFailed(_("Choose a role."), field="role") from None
    kind, _sep, scope_id = (scope_value or "").partition(":")
    if kind != role.scope_kind or not scope_id.isdigit():
        needed = {
            ScopeKind.REGION: _("a region"),
            ScopeKind.STATION: _("a station"),
            ScopeKind.ORGANIZATION: _("an organization"),
            ScopeKind.GLOBAL: _("Everywhere"),
            ScopeKind.STORE: _("a store"),
        }[role.scope_kind]
        raise ValidationFailed(
            _("The role %(role)s is granted on %(place)s.", role=role.label, place=needed),
            field="scope",
        )
    return role, int(scope_id)


def stores_in_scope(actor: User):
    """Love supermarkets inside the actor's subtree, where they may appoint cashiers."""
    from timebank.stores.models import Store

    return (
        db.select(Store)
        .join(Store.region)
        .where(in_admin_scope(actor, Region.path))
        .order_by(Region.path, Store.name)
    )


def users_in_scope(actor: User):
    """Accounts holding a role on a place inside the actor's subtree."""
    from timebank.organizations.models import Organization
    from timebank.stations.models import Station
    from timebank.stores.models import Store

    if actor.is_superadmin:
        return db.select(User).order_by(User.name)
    region_ids = db.select(Region.id).where(in_admin_scope(actor, Region.path))
    station_ids = db.select(Station.id).where(Station.region_id.in_(region_ids))
    org_ids = db.select(Organization.id).where(Organization.region_id.in_(region_ids))
    store_ids = db.select(Store.id).where(Store.region_id.in_(region_ids))
    grant_users = db.select(RoleGrant.user_id).where(
        db.or_(
            db.and_(RoleGrant.scope_kind == ScopeKind.REGION, RoleGrant.scope_id.in_(region_ids)),
            db.and_(RoleGrant.scope_kind == ScopeKind.STATION, RoleGrant.scope_id.in_(station_ids)),
            db.and_(
                RoleGrant.scope_kind == ScopeKind.ORGANIZATION, RoleGrant.scope_id.in_(org_ids)
            ),
            db.and_(RoleGrant.scope_kind == ScopeKind.STORE, RoleGrant.scope_id.in_(store_ids)),
        )
    )
    return db.select(User).where(User.id.in_(grant_users)).order_by(User.name)


@bp.route("/admin/users")
@requires(Role.ADMIN)
def users():
    query = users_in_scope(current_user)
    q = request.args.get("q", "").strip()
    if q:
        like = f"%{q}%"
        query = query.where(
            db.or_(User.name.like(like), User.phone.like(like), User.username.like(like))
        )
    page = db.paginate(query, per_page=30, error_out=False)
    return render_template("auth/users.html", page=page, q=q)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def new_user():
    form = UserForm()
    form.role.choices = options(grantable_roles(current_user))
    form.scope.choices = options(scope_choices(current_user))
    if form.validate_on_submit():
        try:
            role, scope_id = parse_grant(form.role.data, form.scope.data)
            user = services.create_user(
                current_user,
                name=form.name.data,
                password=form.password.data,
                phone=form.phone.data or None,
                username=form.username.data or None,
            )
            services.grant_role(current_user, user, role, scope_id)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Account created for %(name)s.", name=user.name), "success")
            return redirect(url_for("auth.user", user_id=user.id))
    return render_template("auth/user_new.html", form=form)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@requires(Role.ADMIN)
def user(user_id: int):
    person = db.get_or_404(User, user_id)
    if not services.can_see_user(current_user, person):
        abort(404)
    form = GrantForm()
    form.role.choices = options(grantable_roles(current_user))
    form.scope.choices = options(scope_choices(current_user))
    if form.validate_on_submit():
        try:
            role, scope_id = parse_grant(form.role.data, form.scope.data)
            services.grant_role(current_user, person, role, scope_id)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Role granted."), "success")
            return redirect(url_for("auth.user", user_id=person.id))
    grants = [(g, services.describe_scope(g)) for g in person.grants]
    return render_template(
        "auth/user.html", person=person, form=form, grants=grants, revoke_form=EmptyForm()
    )


@bp.route("/admin/grants/<int:grant_id>/revoke", methods=["POST"])
@requires(Role.ADMIN)
def revoke_grant(grant_id: int):
    grant = db.get_or_404(RoleGrant, grant_id)
    user_id = grant.user_id
    if EmptyForm().validate_on_submit():
        try:
            services.revoke_grant(current_user, grant)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Role removed."), "info")
    return redirect(url_for("auth.user", user_id=user_id))
