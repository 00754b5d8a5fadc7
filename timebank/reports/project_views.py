"""Pages: projects (being built; see issue 7)."""

from flask import Blueprint

bp = Blueprint("projects", __name__)
