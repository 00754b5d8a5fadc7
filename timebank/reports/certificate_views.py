"""Pages: certificates (being built; see issue 7)."""

from flask import Blueprint

bp = Blueprint("certificates", __name__)
