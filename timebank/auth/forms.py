"""Sign-in, password, token and staff-account forms."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from timebank.core.forms import Form

REQUIRED = _l("This field is required.")


class LoginForm(Form):
    login = StringField(_l("Mobile number or username"), [DataRequired(REQUIRED), Length(max=64)])
    password = PasswordField(_l("Password"), [DataRequired(REQUIRED), Length(max=128)])
    remember = BooleanField(_l("Keep me signed in on this device"))
    submit = SubmitField(_l("Sign in"))


class PasswordForm(Form):
    current_password = PasswordField(_l("Current password"), [DataRequired(REQUIRED)])
    new_password = PasswordField(_l("New password"), [DataRequired(REQUIRED), Length(max=128)])
    confirm = PasswordField(
        _l("New password again"),
        [DataRequired(REQUIRED), EqualTo("new_password", _l("The two passwords differ."))],
    )
    submit = SubmitField(_l("Change password"))


class TokenForm(Form):
    name = StringField(_l("Token name"), [DataRequired(REQUIRED), Length(max=64)])
    submit = SubmitField(_l("Create token"))


class UserForm(Form):
    name = StringField(_l("Name"), [DataRequired(REQUIRED), Length(max=64)])
    phone = StringField(_l("Mobile number"), [Optional(), Length(max=20)])
    username = StringField(_l("Username"), [Optional(), Length(max=64)])
    password = PasswordField(_l("Initial password"), [DataRequired(REQUIRED), Length(max=128)])
    role = SelectField(_l("Role"), validate_choice=False)
    scope = SelectField(_l("Where"), validate_choice=False)
    submit = SubmitField(_l("Create account"))


class GrantForm(Form):
    role = SelectField(_l("Role"), validate_choice=False)
    scope = SelectField(_l("Where"), validate_choice=False)
    submit = SubmitField(_l("Grant role"))


class EmptyForm(Form):
    """A CSRF token and a button: for revoke and sign-out actions."""

    submit = SubmitField(_l("Confirm"))
