"""API: events, sign-ups, event QR codes, check-ins, staff scans and service records."""

from timebank.core.api import Blueprint

blp = Blueprint("Events", __name__, url_prefix="", description="Events and service records")
