"""Pages: upcoming events, event detail and sign-up, my events, the organizer's dashboard,
approvals, staff entries (补录), disputes, and /e/<token> where a scanned event code lands."""

from flask import Blueprint

bp = Blueprint("events", __name__)
