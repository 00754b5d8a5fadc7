"""Pages: the region tree an administrator manages."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from timebank.auth.models import Role
from timebank.core.errors import DomainError, ValidationFailed
from timebank.core.forms import options
from timebank.core.security import requires
from timebank.extensions import db
from timebank.regions import services
from timebank.regions.forms import RegionForm
from timebank.regions.models import Region

bp = Blueprint("regions", __name__, url_prefix="/admin/regions")


@bp.route("/", methods=["GET", "POST"])
@requires(Role.ADMIN)
def index():
    regions = db.session.scalars(services.regions_in_scope(current_user)).all()
    form = RegionForm()
    parents = [(r.id, f"{'— ' * r.depth}{r.name}") for r in regions if r.level_enum.child]
    if current_user.is_superadmin:
        parents.insert(0, ("", _("(top level: a new district)")))
    form.parent.choices = options(parents)
    if form.validate_on_submit():
        try:
            parent = None
            if form.parent.data:
                parent = db.session.get(Region, int(form.parent.data))
                if parent is None:
                    raise ValidationFailed(_("Choose a region."), field="parent")
            region = services.create_region(
                current_user, name=form.name.data, parent=parent, code=form.code.data
            )
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Region %(name)s added.", name=region.name), "success")
            return redirect(url_for("regions.index"))
    return render_template("regions/index.html", regions=regions, form=form)
