"""API: dashboard figures and exports (being built; see issue 7)."""

from timebank.core.api import Blueprint

blp = Blueprint(
    "Reports", __name__, url_prefix="/reports", description="Dashboard figures and exports"
)
