"""API: real-name registration, profiles, verification, search and personal codes."""

from flask import current_app
from flask.views import MethodView
from flask_login import current_user

from timebank.auth.models import Role
from timebank.core.api import Blueprint, paginate
from timebank.core.errors import NotFound
from timebank.core.security import requires
from timebank.extensions import db, limiter
from timebank.ledger import services as ledger
from timebank.volunteers import codes, queries, services, stars
from timebank.volunteers.schemas import (
    CardSchema,
    CodeSchema,
    IdentifiedSchema,
    IdentifyRequestSchema,
    ProfileSchema,
    RegistrationSchema,
    RevealedSchema,
    StatusReasonSchema,
    VolunteerPageSchema,
    VolunteerQuerySchema,
    VolunteerSchema,
    VolunteerUpdateSchema,
)

blp = Blueprint("Volunteers", __name__, url_prefix="", description="Volunteers")

# Who may scan a personal code to identify the person in front of them.
SCANNING_ROLES = (Role.STATION_STAFF, Role.CASHIER, Role.TEAM_LEADER, Role.ADMIN)


def _limit():
    return current_app.config["REGISTER_LIMIT_PER_IP"]


def profile_body(volunteer):
    user = volunteer.user
    hours = ledger.find_person_account(user, ledger.AccountKind.HOURS)
    points = ledger.find_person_account(user, ledger.AccountKind.POINTS)
    volunteer.stars = stars.progress(volunteer)
    volunteer.hours_balance = ledger.balance_of(hours) if hours else 0
    volunteer.points_balance = ledger.balance_of(points) if points else 0
    return volunteer


def _mine():
    volunteer = services.profile_of(current_user)
    if volunteer is None:
        raise NotFound(_not_registered())
    return volunteer


def _not_registered():
    from flask_babel import gettext as _

    return _("You have not registered as a volunteer.")


@blp.route("/volunteers")
class Volunteers(MethodView):
    @limiter.limit(_limit, methods=["POST"], scope="register-ip")
    @blp.arguments(RegistrationSchema)
    @blp.response(201, VolunteerSchema)
    @blp.doc(security=[])
    def post(self, args):
        """Register under your real name (public, throttled per address)"""
        volunteer = services.register(None, services.Registration(**args))
        db.session.commit()
        return volunteer

    @requires(Role.STATION_STAFF, Role.ADMIN)
    @blp.arguments(VolunteerQuerySchema, location="query")
    @blp.response(200, VolunteerPageSchema)
    def get(self, args):
        """Volunteers the caller manages, searched by name, phone, ID tail, team, place, stars"""
        page, per_page = args.pop("page"), args.pop("per_page")
        return paginate(queries.search(current_user, args.pop("q", ""), **args), page, per_page)


@blp.route("/volunteers/<int:volunteer_id>")
class VolunteerById(MethodView):
    @requires()
    @blp.response(200, VolunteerSchema)
    def get(self, volunteer_id):
        """One volunteer: themselves, or one the caller manages (ID masked)"""
        return services.get_volunteer(current_user, volunteer_id)

    @requires()
    @blp.arguments(VolunteerUpdateSchema)
    @blp.response(200, VolunteerSchema)
    def patch(self, args, volunteer_id):
        """Change mobile number, skills or availability"""
        volunteer = services.get_volunteer(current_user, volunteer_id)
        services.update_profile(current_user, volunteer, **args)
        db.session.commit()
        return volunteer


def _decide(action, volunteer_id: int, reason: str):
    volunteer = services.get_volunteer(current_user, volunteer_id)
    action(current_user, volunteer, reason)
    db.session.commit()
    return volunteer


@blp.route("/volunteers/<int:volunteer_id>/verify", methods=["POST"])
@requires()
@blp.arguments(StatusReasonSchema)
@blp.response(200, VolunteerSchema)
def verify(args, volunteer_id):
    """Verify a volunteer's identity after seeing the document in person"""
    return _decide(services.verify, volunteer_id, args["reason"])


@blp.route("/volunteers/<int:volunteer_id>/suspend", methods=["POST"])
@requires()
@blp.arguments(StatusReasonSchema)
@blp.response(200, VolunteerSchema)
def suspend(args, volunteer_id):
    """Suspend a volunteer (reason required)"""
    return _decide(services.suspend, volunteer_id, args["reason"])


@blp.route("/volunteers/<int:volunteer_id>/reinstate", methods=["POST"])
@requires()
@blp.arguments(StatusReasonSchema)
@blp.response(200, VolunteerSchema)
def reinstate(args, volunteer_id):
    """Reinstate a suspended volunteer (reason required)"""
    return _decide(services.reinstate, volunteer_id, args["reason"])


@blp.route("/volunteers/<int:volunteer_id>/reveal", methods=["POST"])
@requires(Role.ADMIN)
@blp.arguments(StatusReasonSchema)
@blp.response(200, RevealedSchema)
def reveal(args, volunteer_id):
    """The full document number, for an administrator who states why (audited)"""
    volunteer = services.get_volunteer(current_user, volunteer_id)
    number = services.reveal_document(current_user, volunteer, args["reason"])
    db.session.commit()
    return {"document_type": volunteer.document_type, "document_number": number}


@blp.route("/volunteers/<int:volunteer_id>/card", methods=["POST"])
@requires()
@blp.response(200, CardSchema)
def reissue_card(volunteer_id):
    """Issue a new printed card; the old card's code stops working"""
    volunteer = services.get_volunteer(current_user, volunteer_id)
    services.reissue_card(current_user, volunteer)
    db.session.commit()
    return volunteer


@blp.route("/volunteers/identify", methods=["POST"])
@requires(*SCANNING_ROLES)
@blp.arguments(IdentifyRequestSchema)
@blp.response(200, IdentifiedSchema)
def identify(args):
    """Who a scanned personal code (phone or card) belongs to, while the code is valid"""
    presented = codes.resolve(args["token"])
    return {"via": presented.via, "volunteer": presented.volunteer}


@blp.route("/me/volunteer")
class MyProfile(MethodView):
    @requires()
    @blp.response(200, ProfileSchema)
    def get(self):
        """The caller's volunteer profile, star progress and balances"""
        return profile_body(_mine())


@blp.route("/me/code")
class MyCode(MethodView):
    @requires()
    @blp.response(200, CodeSchema)
    def get(self):
        """The caller's current personal code (rotates; fetch again when it expires)"""
        return codes.payload(_mine())
