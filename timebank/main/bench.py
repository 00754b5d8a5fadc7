"""The bare endpoint benchmarks compare against; registered only with BENCH_ENDPOINTS on."""

from flask import Blueprint

bp = Blueprint("bench", __name__, url_prefix="/_bench")


@bp.route("/bare")
def bare():
    return {"ok": True}
