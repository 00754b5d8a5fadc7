"""API: projects and their evaluation reports (being built; see issue 7)."""

from timebank.core.api import Blueprint

blp = Blueprint(
    "Projects",
    __name__,
    url_prefix="/projects",
    description="Projects and their evaluation reports",
)
