"""API: service-record certificates (being built; see issue 7)."""

from timebank.core.api import Blueprint

blp = Blueprint(
    "Certificates", __name__, url_prefix="/certificates", description="Service-record certificates"
)
