"""Pages: the dashboard for a scope and period, and its exports."""

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports")
