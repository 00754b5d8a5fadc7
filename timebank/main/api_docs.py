"""The API docs page: Swagger UI served from the swagger-ui-bundle package, no CDN."""

from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1/docs")

ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}


def _assets_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


@bp.route("/")
def index():
    return render_template("main/api_docs.html")


@bp.route("/assets/<name>")
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(_assets_dir(), name, max_age=86400)
