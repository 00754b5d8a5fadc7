"""API: bearer tokens (create, list, revoke) and the caller."""

from flask import current_app
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user

from timebank.auth import services
from timebank.auth.login import login_rate_limits
from timebank.auth.models import ApiToken
from timebank.auth.schemas import MeSchema, NewTokenSchema, TokenRequestSchema, TokenSchema
from timebank.core.api import Blueprint
from timebank.core.errors import DomainError, NotFound
from timebank.core.security import requires
from timebank.extensions import db

blp = Blueprint("Auth", __name__, url_prefix="", description="Sign-in tokens and the caller")


class Unauthenticated(DomainError):
    status = 401
    code = "invalid_credentials"


@blp.route("/auth/tokens")
class Tokens(MethodView):
    decorators = [login_rate_limits]

    @blp.arguments(TokenRequestSchema)
    @blp.response(201, NewTokenSchema)
    @blp.doc(security=[])
    def post(self, args):
        """Log in with mobile number or username and password; get a bearer token"""
        user = services.authenticate(args["login"], args["password"])
        if user is None:
            raise Unauthenticated(_("Wrong login or password."))
        token, plain = services.issue_token(
            user, args["name"], current_app.config["API_TOKEN_LIFETIME"]
        )
        db.session.commit()
        return {**{name: getattr(token, name) for name in TokenSchema().fields}, "token": plain}

    @requires()
    @blp.response(200, TokenSchema(many=True))
    def get(self):
        """The caller's tokens, newest first"""
        return db.session.scalars(
            db.select(ApiToken).filter_by(user_id=current_user.id).order_by(ApiToken.id.desc())
        ).all()


@blp.route("/auth/tokens/<int:token_id>")
class TokenById(MethodView):
    @requires()
    @blp.response(204)
    def delete(self, token_id):
        """Revoke one of the caller's tokens"""
        token = db.session.get(ApiToken, token_id)
        if token is None or token.user_id != current_user.id:
            raise NotFound(_("Not found."))
        services.revoke_token(current_user, token)
        db.session.commit()


@blp.route("/me")
class Me(MethodView):
    @requires()
    @blp.response(200, MeSchema)
    def get(self):
        """The caller, with roles"""
        return current_user._get_current_object()
