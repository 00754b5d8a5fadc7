"""Home page, language switch and health check."""

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from sqlalchemy import text

from timebank.auth.forms import EmptyForm
from timebank.core.web import safe_next
from timebank.extensions import db

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    return render_template("main/index.html", user=current_user)


@bp.route("/language", methods=["POST"])
def set_language():
    form = EmptyForm()
    lang = request.form.get("lang")
    if form.validate_on_submit() and lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated and current_user.locale != lang:
            current_user.locale = lang
            db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("main.index")))


@bp.route("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.route("/healthz")
def healthz():
    """Liveness plus the database's state: 503 when the database does not answer."""
    engine = db.engine
    body = {"status": "ok", "database": {"backend": engine.dialect.name}}
    try:
        db.session.execute(text("SELECT 1"))
        revision = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        body["database"].update(ok=True, revision=revision)
        status = 200
    except Exception as exc:  # any failure to reach the database is a 503, never a 500
        db.session.rollback()
        body["status"] = "unavailable"
        body["database"].update(ok=False, error=type(exc).__name__)
        status = 503
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, status
